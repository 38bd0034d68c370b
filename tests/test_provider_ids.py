"""Provider task ids: plain ids only, in both directions, and never a way out of the request path."""

from __future__ import annotations

import aiohttp
import pytest

from bot.errors import BotError
from bot.providers.base import is_task_id
from bot.providers.errors import MalformedResponse, NotFound
from bot.providers.midapi import MidapiClient
from bot.providers.vtrix import VtrixClient
from sandbox.midapi import FakeMidapi
from sandbox.vtrix import FakeVtrix
from tests.service_rig import ALICE, Setup

HOSTILE = ["../../v1/account", "x?delete=1", "a/b", "x#frag", "%2e%2e", "id with space", "é", "x" * 101]


@pytest.mark.parametrize("value", ["midapi-0001-ab12cd", "a", "A_b-9", "x" * 100])
def test_plain_ids_are_task_ids(value: str) -> None:
    assert is_task_id(value)


@pytest.mark.parametrize("value", ["", *HOSTILE])
def test_anything_else_is_not(value: str) -> None:
    assert not is_task_id(value)


@pytest.mark.parametrize("task_id", HOSTILE)
async def test_vtrix_status_path_stays_one_segment(
    vtrix: VtrixClient, fake_vtrix: FakeVtrix, task_id: str
) -> None:
    with pytest.raises(NotFound):
        await vtrix.status(task_id)
    [sent] = fake_vtrix.requests
    # The fake logs the decoded path: the whole id came back as the last segment, with no query.
    assert sent.path == "/v1/tasks/" + task_id and sent.query == {} and sent.call == "status"


@pytest.mark.parametrize("nest", [True, False])
async def test_a_malformed_id_in_a_vtrix_create_answer_is_malformed(
    session: aiohttp.ClientSession, nest: bool
) -> None:
    async with FakeVtrix(duration_s=0.3, nest=nest) as fake:
        fake.make_id = lambda: "../../v1/account"  # type: ignore[method-assign]
        client = VtrixClient(session, api_key="test-key", base_url=fake.base_url, timeout_s=2)
        with pytest.raises(MalformedResponse):
            await client.imagine("a castle")


async def test_a_malformed_id_in_a_midapi_create_answer_is_malformed(
    midapi: MidapiClient, fake_midapi: FakeMidapi
) -> None:
    fake_midapi.make_id = lambda: "x?delete=1"  # type: ignore[method-assign]
    with pytest.raises(MalformedResponse):
        await midapi.imagine("a castle")


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": {"id": "../../v1/account", "status": "completed"}}',
        b'{"id": "x?delete=1"}',
    ],
)
def test_vtrix_callback_with_a_malformed_id_reconciles_nothing(vtrix: VtrixClient, body: bytes) -> None:
    assert vtrix.callback_task_id(body) is None
    assert vtrix.callback_task_id(b'{"data": {"id": "vtrix-0001-abcdef"}}') == "vtrix-0001-abcdef"


def test_midapi_callback_with_a_malformed_id_reconciles_nothing(midapi: MidapiClient) -> None:
    assert midapi.callback_task_id(b'{"code": 200, "data": {"taskId": "../x"}}') is None
    assert midapi.callback_task_id(b'{"code": 200, "data": {"taskId": "m-1"}}') == "m-1"


@pytest.mark.parametrize("reference", ["../../v1/account", "x?delete=1", "a/b"])
async def test_vary_refuses_a_path_as_a_task_id_before_any_request(
    vtrix_setup: Setup, reference: str
) -> None:
    with pytest.raises(BotError) as caught:
        await vtrix_setup.service.vary(ALICE, reference, 1, None, None)
    assert "is not a task id" in caught.value.user_message
    assert vtrix_setup.fake.requests == []
    assert (await vtrix_setup.store.user_log(ALICE.user_id))[1] == 0
