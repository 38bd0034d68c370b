"""The engine under the admission limits: dedupe, running slots and the queue, the spend cap."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from bot.errors import BotError, TooManyActive
from bot.store import Task
from bot.tasks import SubmitRequest
from sandbox.midapi import FakeMidapi
from tests.engine_rig import Rig, build


async def test_dedupe_returns_the_existing_task(rig: Rig) -> None:
    parent = await rig.finished((await rig.imagine()).id)
    request = SubmitRequest("vary", 3, 10, 20, parent=parent, index=1, strength="strong")
    first, second = await asyncio.gather(rig.submit(request), rig.submit(request))
    assert {first.existing, second.existing} == {False, True}
    assert first.task.id == second.task.id and len(rig.fake.calls("vary")) == 1


async def test_over_the_running_cap_a_request_waits_in_the_queue_and_starts_by_itself(rig: Rig) -> None:
    rig.fake.duration_s = 1.0
    running = [await rig.imagine(f"prompt {n}", user=4) for n in range(3)]
    waiting = await rig.imagine("the fourth", user=4)
    assert waiting.state == "queued" and waiting.next_check_at is None
    assert await rig.store.queue_position(waiting) == 1 and len(rig.fake.creates()) == 3
    other = await rig.imagine("someone else", user=5)  # another member's slots are their own
    assert other.state == "submitted"
    done = await rig.finished(waiting.id)
    assert done.state == "succeeded" and len(rig.fake.creates()) == 5
    finished = [(await rig.finished(t.id)).finished_at or 0.0 for t in running]
    assert (done.submitted_at or 0) >= min(finished)  # it started only once a slot was free


async def test_a_full_queue_is_refused_with_the_unfinished_tasks_listed(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    rig = await build(tmp_path, session, fake_midapi, MAX_ACTIVE_PER_USER="2", MAX_QUEUED_PER_USER="1")
    try:
        rig.fake.duration_s = 5
        tasks = [await rig.imagine(f"prompt {n}", user=4) for n in range(3)]
        with pytest.raises(TooManyActive) as caught:
            await rig.imagine("one too many", user=4)
        for task in tasks:
            assert task.id in caught.value.user_message
        assert "the limit is 2 running and 1 waiting" in caught.value.user_message
        assert len(rig.fake.creates()) == 2
    finally:
        await rig.close()


@pytest.mark.parametrize("provider_down", [False, True])
async def test_spend_cap_holds_under_a_burst_and_counts_queued_work(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi, provider_down: bool
) -> None:
    # $0.05 a request and a $0.10 cap: two requests, however many arrive at once, and even while the
    # provider is down and everything admitted waits in the queue.
    rig = await build(tmp_path, session, fake_midapi, GUILD_DAILY_SPEND_USD="0.10")
    try:
        if provider_down:
            rig.fake.inject("create", "maintenance")
        outcomes = await asyncio.gather(
            *(rig.imagine(f"burst {n}", user=100 + n) for n in range(12)), return_exceptions=True
        )
        admitted = [o for o in outcomes if isinstance(o, Task)]
        refused = [o for o in outcomes if isinstance(o, BotError)]
        assert len(admitted) == 2 and len(refused) == 10
        assert all("daily spend cap" in r.user_message for r in refused)
        for task in admitted:
            assert (await rig.finished(task.id)).state == "succeeded"
        assert len({c.body["prompt"] for c in rig.fake.creates()}) == 2
    finally:
        await rig.close()
