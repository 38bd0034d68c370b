"""Vtrix client against its loopback fake: every documented code, every parsing variant in docs/providers.md."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import pytest

from bot.errors import Unsupported
from bot.providers import VaryRequest, errors
from bot.providers.vtrix import VtrixClient
from sandbox.vtrix import FakeVtrix


async def test_variation_request_shape(vtrix: VtrixClient, fake_vtrix: FakeVtrix) -> None:
    parent = fake_vtrix.seed_task().task_id
    await vtrix.vary(
        VaryRequest(parent, 2, "subtle", remix_prompt="now in winter", callback_url="https://b/cb")
    )
    assert fake_vtrix.calls("vary")[0].body == {
        "model": "midjourney_variation",
        "jobId": parent,
        "imageNo": 1,
        "type": 0,
        "callback": "https://b/cb",
        "remixPrompt": "now in winter",
    }
    await vtrix.vary(VaryRequest(parent, 4, "strong"))
    assert fake_vtrix.calls("vary")[1].body == {
        "model": "midjourney_variation",
        "jobId": parent,
        "imageNo": 3,
        "type": 1,
    }


async def test_imagine_uses_configured_model(session: aiohttp.ClientSession, fake_vtrix: FakeVtrix) -> None:
    fake_vtrix.imagine_model = "mj_custom"
    client = VtrixClient(session, api_key="test-key", base_url=fake_vtrix.base_url, imagine_model="mj_custom")
    await client.imagine("a tree")
    assert fake_vtrix.calls("imagine")[0].body == {"model": "mj_custom", "prompt": "a tree"}


async def test_empty_imagine_model_disables_imagine(
    session: aiohttp.ClientSession, fake_vtrix: FakeVtrix
) -> None:
    client = VtrixClient(session, api_key="k", base_url=fake_vtrix.base_url, imagine_model="")
    assert not client.capabilities.imagine
    with pytest.raises(Unsupported):
        await client.imagine("a tree")
    assert fake_vtrix.requests == []


async def test_paths_come_from_settings(session: aiohttp.ClientSession) -> None:
    async with FakeVtrix(submit_path="/api/generate", status_prefix="/api/result/", duration_s=0) as fake:
        client = VtrixClient(
            session,
            api_key="test-key",
            base_url=fake.base_url,
            submit_path="/api/generate",
            status_path="/api/result/{task_id}",
        )
        task_id = await client.imagine("x")
        await asyncio.sleep(0.01)
        assert (await client.status(task_id)).state == "succeeded"


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("jobId", None, 8004004001),
        ("imageNo", None, 8004004002),
        ("imageNo", 7, 8004004003),
        ("type", None, 8004004004),
        ("type", 2, 8004004005),
        ("callback", "ftp://x", 8004004006),
        ("remixPrompt", "", 8004004007),
    ],
)
@pytest.mark.parametrize("style", ["nested", "flat"])
async def test_every_validation_code_maps_to_invalid_request(
    session: aiohttp.ClientSession, fake_vtrix: FakeVtrix, field: str, value: object, code: int, style: str
) -> None:
    """The fake answers each bad field with the real code; the client maps each answer."""
    fake_vtrix.error_style = style
    parent = fake_vtrix.seed_task().task_id
    body: dict[str, object] = {"model": "midjourney_variation", "jobId": parent, "imageNo": 0, "type": 1}
    if value is None:
        body.pop(field)
    else:
        body[field] = value
    # Sent as is: the client's own checks would never let most of these bodies out.
    url = fake_vtrix.base_url + fake_vtrix.submit_path
    async with session.post(url, json=body, headers={"Authorization": "Bearer test-key"}) as response:
        assert str(code) in await response.text()
    # The same code, in the same envelope, answering a request the client does send.
    fake_vtrix.inject("create", str(code))
    client = VtrixClient(session, api_key="test-key", base_url=fake_vtrix.base_url)
    with pytest.raises(errors.InvalidRequest) as caught:
        await client.vary(VaryRequest(parent, 1, "strong"))
    assert caught.value.code == str(code)
    assert caught.value.code == str(code) and "provider code" not in caught.value.user_message


@pytest.mark.parametrize(
    "request_",
    [
        VaryRequest("j", 1, "strong", remix_prompt=""),
        VaryRequest("j", 1, "strong", remix_prompt="x" * 8193),
        VaryRequest("j", 1, "strong", callback_url="ftp://x"),
    ],
)
async def test_local_validation_sends_nothing(
    vtrix: VtrixClient, fake_vtrix: FakeVtrix, request_: VaryRequest
) -> None:
    with pytest.raises(errors.InvalidRequest):
        await vtrix.vary(request_)
    assert fake_vtrix.requests == []


async def test_remix_at_the_limit_is_accepted(vtrix: VtrixClient, fake_vtrix: FakeVtrix) -> None:
    parent = fake_vtrix.seed_task().task_id
    await vtrix.vary(VaryRequest(parent, 1, "strong", remix_prompt="x" * 8192))
    assert len(fake_vtrix.calls("vary")[0].body["remixPrompt"]) == 8192


async def test_generation_failed_8004004098(vtrix: VtrixClient, fake_vtrix: FakeVtrix) -> None:
    fake_vtrix.duration_s = 0
    task_id = await vtrix.imagine("something [fail]")
    status = await vtrix.status(task_id)
    assert (status.state, status.error_code) == ("failed", "8004004098")


async def test_provider_unavailable_8004004099(vtrix: VtrixClient, fake_vtrix: FakeVtrix) -> None:
    fake_vtrix.unavailable = True
    with pytest.raises(errors.ProviderUnavailable) as caught:
        await vtrix.imagine("x")
    assert caught.value.code == "8004004099"


async def test_unknown_job_is_not_found(vtrix: VtrixClient) -> None:
    with pytest.raises(errors.NotFound):
        await vtrix.vary(VaryRequest("missing", 1, "strong"))
    with pytest.raises(errors.NotFound):
        await vtrix.status("missing")


@pytest.mark.parametrize("status", [401, 403])
async def test_http_401_403_are_auth_errors(
    session: aiohttp.ClientSession, fake_vtrix: FakeVtrix, status: int
) -> None:
    if status == 403:
        fake_vtrix.inject("create", "http403")
    client = VtrixClient(
        session, api_key="wrong" if status == 401 else "test-key", base_url=fake_vtrix.base_url
    )
    with pytest.raises(errors.AuthError):
        await client.imagine("x")


async def test_http_429_with_retry_after(vtrix: VtrixClient, fake_vtrix: FakeVtrix) -> None:
    fake_vtrix.inject("create", "429", retry_after=3)
    with pytest.raises(errors.RateLimited) as caught:
        await vtrix.imagine("x")
    assert caught.value.retry_after == 3


@pytest.mark.parametrize("fault", ["http500", "drop"])
async def test_5xx_and_dropped_connections_are_outcome_unknown(
    vtrix: VtrixClient, fake_vtrix: FakeVtrix, fault: str
) -> None:
    fake_vtrix.inject("create", fault)
    with pytest.raises(errors.OutcomeUnknown):
        await vtrix.imagine("x")


async def test_malformed_body(vtrix: VtrixClient, fake_vtrix: FakeVtrix) -> None:
    fake_vtrix.inject("status", "malformed")
    with pytest.raises(errors.MalformedResponse):
        await vtrix.status("x")


@pytest.mark.parametrize("id_key", ["id", "task_id", "taskId"])
@pytest.mark.parametrize("nest", [True, False])
async def test_task_id_wherever_it_sits(session: aiohttp.ClientSession, id_key: str, nest: bool) -> None:
    async with FakeVtrix(id_key=id_key, nest=nest, duration_s=0) as fake:
        client = VtrixClient(session, api_key="test-key", base_url=fake.base_url)
        task_id = await client.imagine("x")
        assert task_id in fake.tasks
        status = await client.status(task_id)
        assert status.task_id == task_id and status.state == "succeeded"
        assert (
            client.callback_task_id(json.dumps(fake.callback_body(fake.tasks[task_id])).encode()) == task_id
        )


@pytest.mark.parametrize("word", ["pending", "queued", "submitted", "processing", "running", "in_progress"])
async def test_unfinished_words(session: aiohttp.ClientSession, word: str) -> None:
    async with FakeVtrix(words=(word, "completed", "failed"), duration_s=5) as fake:
        client = VtrixClient(session, api_key="test-key", base_url=fake.base_url)
        task_id = await client.imagine("x")
        await asyncio.sleep(0.06)
        assert (await client.status(task_id)).state == "running"


@pytest.mark.parametrize("word", ["completed", "succeeded", "success"])
async def test_done_words_with_cost(session: aiohttp.ClientSession, word: str) -> None:
    async with FakeVtrix(words=("processing", word, "failed"), duration_s=0, cost="0.12") as fake:
        client = VtrixClient(session, api_key="test-key", base_url=fake.base_url)
        status = await client.status(await client.imagine("x"))
        assert status.state == "succeeded" and status.cost == Decimal("0.12") and len(status.result_urls) == 4


@pytest.mark.parametrize("word", ["failed", "error", "cancelled"])
async def test_over_words(session: aiohttp.ClientSession, word: str) -> None:
    async with FakeVtrix(words=("processing", "completed", word), duration_s=0) as fake:
        client = VtrixClient(session, api_key="test-key", base_url=fake.base_url)
        status = await client.status(await client.imagine("x [fail]"))
        assert status.state == "failed" and status.error_code == "8004004098"


async def test_unknown_status_is_unfinished_and_logged_once(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeVtrix(words=("warming_up", "completed", "failed"), duration_s=5) as fake:
        client = VtrixClient(session, api_key="test-key", base_url=fake.base_url)
        task_id = await client.imagine("x")
        await asyncio.sleep(0.06)
        assert (await client.status(task_id)).state == "running"
        await client.status(task_id)
    assert sum("warming_up" in r.getMessage() for r in caplog.records) == 1
