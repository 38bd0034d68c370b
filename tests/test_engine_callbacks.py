"""Provider callbacks through the built-in web server: waking, reconciling, late results."""

from __future__ import annotations

import contextlib
from pathlib import Path

import aiohttp

from bot.callbacks import CallbackTokens
from bot.store import Task
from bot.web import WebServer
from sandbox.midapi import FakeMidapi
from tests.engine_rig import Rig, build, served
from tests.helpers import eventually


def callbacks_on(rig: Rig) -> contextlib.AbstractAsyncContextManager[tuple[WebServer, CallbackTokens]]:
    """The rig's engine with callbacks on: the web server that takes them and the tokens in their URLs."""
    return served(rig, engine_uses_it=True)


async def test_callback_wakes_task_and_forged_one_is_404(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    # Slow polling, so only the callback can explain a fast finish.
    rig = await build(tmp_path, session, fake_midapi, POLL_FIRST_S="20", POLL_MAX_S="30")
    async with callbacks_on(rig) as (server, tokens):
        task = await rig.imagine()
        assert fake_midapi.calls("imagine")[0].body["callBackUrl"] == tokens.url(task.id)
        done = await rig.finished(task.id)
        assert done.state == "succeeded" and done.status_reads == 1
        assert fake_midapi.callbacks_posted[0][2] == 200

        other = await rig.imagine("another")
        forged = f"http://127.0.0.1:{server.port}/callbacks/midapi/{other.id}.{'0' * 64}"
        async with session.post(forged, json={"code": 200, "data": {"taskId": "x"}}) as response:
            assert response.status == 404
        wrong_provider = tokens.url(other.id).replace("/midapi/", "/vtrix/")
        async with session.post(wrong_provider, json={}) as response:
            assert response.status == 404
        big = tokens.url(other.id)
        async with session.post(big, data=b"x" * (65 * 1024)) as response:
            assert response.status == 413
        unchanged = await rig.store.get(other.id)
        assert unchanged is not None and unchanged.next_check_at == other.next_check_at


async def test_callback_reconciles_an_unknown_create(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    rig = await build(tmp_path, session, fake_midapi)
    async with callbacks_on(rig):
        # The provider takes the create but the answer is lost (slower than the client's timeout).
        rig.fake.inject("create", "slow", delay_s=1.5)
        task = await rig.imagine()
        assert task.create_uncertain and task.provider_task_id is None
        done = await rig.finished(task.id)
        assert done.state == "succeeded" and done.provider_task_id in fake_midapi.tasks
        assert len(fake_midapi.creates()) == 1


async def test_a_callback_for_a_timed_out_task_still_brings_its_result_home(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    rig = await build(tmp_path, session, fake_midapi, TASK_TIMEOUT_S="1")
    async with callbacks_on(rig):
        task = await rig.imagine("slow to start [stuck]")
        timed_out = await rig.finished(task.id)
        assert timed_out.state == "timed_out"
        fake_midapi.tasks[timed_out.provider_task_id or ""].stuck = False  # the provider finishes after all

        async def succeeded() -> Task | None:
            fresh = await rig.store.get(task.id)
            return fresh if fresh and fresh.state == "succeeded" and fresh.delivered else None

        done = await eventually(succeeded, timeout=10)
        assert len(done.result_urls) == 4 and [t.state for t in rig.deliveries.tasks] == [
            "timed_out",
            "succeeded",
        ]


async def test_with_callbacks_a_task_costs_the_one_read_its_callback_triggers(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    # Reading starts at POLL_FIRST_S only without callbacks: here the first read is the safety net
    # (twice POLL_MAX_S), after the task's 1 s at the provider, so only the callback's read happens.
    rig = await build(tmp_path, session, fake_midapi, POLL_FIRST_S="0.2", POLL_MAX_S="2")
    fake_midapi.duration_s = 1.0
    async with callbacks_on(rig):
        task = await rig.imagine()
        assert task.next_check_at is not None and task.next_check_at - (task.submitted_at or 0) > 3.0
        done = await rig.finished(task.id)
        assert done.state == "succeeded" and done.status_reads == 1 and len(fake_midapi.calls("status")) == 1
