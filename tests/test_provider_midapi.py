"""midapi client against its loopback fake: one test per code and parsing rule in docs/providers.md."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from bot.providers import TaskStatus, VaryRequest, errors
from bot.providers.midapi import MidapiClient, parse_record
from sandbox.midapi import FakeMidapi
from sandbox.provider import bound_port
from tests.helpers import eventually


async def finished_grid(midapi: MidapiClient, fake: FakeMidapi) -> str:
    task = fake.seed_task("a lighthouse at dusk")
    return task.task_id


async def test_imagine_then_status_until_success(midapi: MidapiClient, fake_midapi: FakeMidapi) -> None:
    task_id = await midapi.imagine("a red fox", callback_url="https://bot.example/cb/x")
    sent = fake_midapi.calls("imagine")[0].body
    assert sent == {
        "taskType": "mj_txt2img",
        "prompt": "a red fox",
        "callBackUrl": "https://bot.example/cb/x",
    }
    first = await midapi.status(task_id)
    assert first.state == "running"

    async def succeeded() -> TaskStatus | None:
        status = await midapi.status(task_id)
        return status if status.state != "running" else None

    done = await eventually(succeeded)
    assert done.state == "succeeded"
    assert len(done.result_urls) == 4 and all(url.endswith(".png") for url in done.result_urls)


@pytest.mark.parametrize(("base", "v", "sent"), [(0, 1, 0), (0, 4, 3), (1, 1, 1), (1, 4, 4)])
async def test_vary_maps_v_buttons_to_the_chosen_index_base(
    session: aiohttp.ClientSession, fake_midapi: FakeMidapi, base: int, v: int, sent: int
) -> None:
    fake_midapi.index_base = base
    client = MidapiClient(session, api_key="test-key", base_url=fake_midapi.base_url, index_base=base)
    parent = fake_midapi.seed_task().task_id
    await client.vary(VaryRequest(parent, v, "strong"))
    assert fake_midapi.calls("vary")[-1].body == {"taskId": parent, "imageIndex": sent}


async def test_capabilities_say_no_remix_and_no_strength(midapi: MidapiClient) -> None:
    # Admission refuses remix on midapi from these flags, before anything reaches the client.
    assert not midapi.capabilities.remix and not midapi.capabilities.vary_strength


async def test_callback_scheme_is_checked_locally(midapi: MidapiClient, fake_midapi: FakeMidapi) -> None:
    with pytest.raises(errors.InvalidRequest):
        await midapi.imagine("x", callback_url="ftp://nope")
    assert fake_midapi.requests == []


async def test_upscale_sends_task_and_index(midapi: MidapiClient, fake_midapi: FakeMidapi) -> None:
    parent = fake_midapi.seed_task().task_id
    await midapi.upscale(parent, 2)
    assert fake_midapi.calls("upscale")[0].body == {"taskId": parent, "imageIndex": 1}


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, errors.InvalidRequest),
        (401, errors.AuthError),
        (402, errors.OutOfCredits),
        (404, errors.NotFound),
        (422, errors.InvalidRequest),
        (429, errors.RateLimited),
        (455, errors.ProviderUnavailable),
        (500, errors.ProviderFailed),
        (501, errors.GenerationFailed),
        (505, errors.FeatureDisabled),
    ],
)
async def test_every_body_code_maps_to_its_domain_error(
    midapi: MidapiClient, fake_midapi: FakeMidapi, code: int, error: type[errors.ProviderError]
) -> None:
    fake_midapi.forced_code = code
    with pytest.raises(error) as caught:
        await midapi.imagine("a cat")
    assert caught.value.code == str(code)
    assert caught.value.code == str(code) and "provider code" not in caught.value.user_message
    assert not isinstance(caught.value, errors.OutcomeUnknown)


async def test_server_error_code_on_status_pauses_instead_of_failing(
    midapi: MidapiClient, fake_midapi: FakeMidapi
) -> None:
    # On a create, code 500 fails the task (above); on a status read it only means "ask again later".
    task_id = await midapi.imagine("a cat")
    fake_midapi.inject("status", "500")
    with pytest.raises(errors.ProviderUnavailable) as caught:
        await midapi.status(task_id)
    assert caught.value.code == "500" and not isinstance(caught.value, errors.ProviderFailed)


async def test_unknown_parent_is_not_found(midapi: MidapiClient) -> None:
    with pytest.raises(errors.NotFound) as caught:
        await midapi.vary(VaryRequest("no-such-task", 1, "strong"))
    assert "new grid" in caught.value.user_message


async def test_out_of_credits(midapi: MidapiClient, fake_midapi: FakeMidapi) -> None:
    fake_midapi.credits = 0
    with pytest.raises(errors.OutOfCredits) as caught:
        await midapi.imagine("a cat")
    assert "out of credits" in caught.value.user_message


async def test_wrong_key_is_auth_error(session: aiohttp.ClientSession, fake_midapi: FakeMidapi) -> None:
    client = MidapiClient(session, api_key="wrong", base_url=fake_midapi.base_url)
    with pytest.raises(errors.AuthError):
        await client.imagine("a cat")
    assert fake_midapi.requests[0].authorized is False


async def test_http_429_carries_retry_after(midapi: MidapiClient, fake_midapi: FakeMidapi) -> None:
    fake_midapi.inject("status", "429", retry_after=2)
    with pytest.raises(errors.RateLimited) as caught:
        await midapi.status("anything")
    assert caught.value.retry_after == 2


async def test_maintenance_455_on_status(midapi: MidapiClient, fake_midapi: FakeMidapi) -> None:
    fake_midapi.inject("status", "maintenance")
    with pytest.raises(errors.ProviderUnavailable) as caught:
        await midapi.status("anything")
    assert caught.value.code == "455" and "maintenance" in caught.value.user_message


async def test_http_5xx_is_outcome_unknown(midapi: MidapiClient, fake_midapi: FakeMidapi) -> None:
    fake_midapi.inject("create", "http500")
    with pytest.raises(errors.OutcomeUnknown):
        await midapi.imagine("a cat")


async def test_malformed_json_is_malformed_response(midapi: MidapiClient, fake_midapi: FakeMidapi) -> None:
    fake_midapi.inject("status", "malformed")
    with pytest.raises(errors.MalformedResponse):
        await midapi.status("anything")


async def test_dropped_connection_is_outcome_unknown(midapi: MidapiClient, fake_midapi: FakeMidapi) -> None:
    fake_midapi.inject("create", "drop")
    with pytest.raises(errors.OutcomeUnknown):
        await midapi.imagine("a cat")


async def test_slow_answer_times_out_as_outcome_unknown(
    session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    client = MidapiClient(session, api_key="test-key", base_url=fake_midapi.base_url, timeout_s=0.2)
    fake_midapi.inject("create", "slow", delay_s=1.0)
    with pytest.raises(errors.OutcomeUnknown):
        await client.imagine("a cat")


async def test_unreachable_provider_is_unavailable_not_unknown(session: aiohttp.ClientSession) -> None:
    client = MidapiClient(session, api_key="k", base_url="http://127.0.0.1:9", timeout_s=1)
    with pytest.raises(errors.ProviderUnavailable) as caught:
        await client.imagine("a cat")
    assert not isinstance(caught.value, errors.OutcomeUnknown)


@pytest.mark.parametrize(
    ("flag", "state"), [(0, "running"), (1, "succeeded"), (2, "failed"), (3, "failed"), ("1", "succeeded")]
)
def test_success_flags(flag: object, state: str) -> None:
    data = {
        "taskId": "t",
        "successFlag": flag,
        "resultInfoJson": {"resultUrls": [{"resultUrl": "https://x/1.png"}]},
    }
    assert parse_record("t", data).state == state


def test_failed_flag_keeps_code_and_message() -> None:
    status = parse_record("t", {"successFlag": 3, "errorCode": 501, "errorMessage": "banned prompt"})
    assert (status.error_code, status.error_message) == ("501", "banned prompt")


def test_result_info_as_json_string_and_unknown_flag() -> None:
    status = parse_record(
        "t", {"successFlag": 1, "resultInfoJson": '{"resultUrls": [{"resultUrl": "https://x/a.png"}]}'}
    )
    assert status.result_urls == ("https://x/a.png",)
    with pytest.raises(errors.MalformedResponse):
        parse_record("t", {"successFlag": 9})
    with pytest.raises(errors.MalformedResponse):
        parse_record("t", {"successFlag": 1, "resultInfoJson": {}})


def test_callback_task_id(midapi: MidapiClient) -> None:
    assert midapi.callback_task_id(b'{"code":200,"msg":"ok","data":{"taskId":"abc"}}') == "abc"
    assert midapi.callback_task_id(b"not json") is None
    assert midapi.callback_task_id(b'{"data": []}') is None


async def test_real_callback_is_posted(midapi: MidapiClient, fake_midapi: FakeMidapi) -> None:
    from aiohttp import web

    received: list[dict[str, object]] = []

    async def handler(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/cb", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = bound_port(site)
    try:
        task_id = await midapi.imagine("a cat", callback_url=f"http://127.0.0.1:{port}/cb")
        for _ in range(40):
            if received:
                break
            await asyncio.sleep(0.05)
        assert received and received[0]["data"]["taskId"] == task_id  # type: ignore[index]
    finally:
        await runner.cleanup()


async def test_each_request_is_counted_once_by_outcome(
    session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    seen: list[tuple[str, str, str]] = []
    client = MidapiClient(
        session, api_key="test-key", base_url=fake_midapi.base_url, observer=lambda *row: seen.append(row)
    )
    task_id = await client.imagine("a cat")
    await client.status(task_id)
    fake_midapi.inject("status", "maintenance")
    with pytest.raises(errors.ProviderUnavailable):
        await client.status(task_id)
    fake_midapi.inject("status", "429", retry_after=1)
    with pytest.raises(errors.RateLimited):
        await client.status(task_id)
    assert seen == [
        ("midapi", "imagine", "ok"),
        ("midapi", "status", "ok"),
        ("midapi", "status", "code_455"),
        ("midapi", "status", "http_429"),
    ]
