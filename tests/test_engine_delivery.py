"""Delivery bookkeeping: retries, undeliverable results, and a post the store could not record."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.store import Task, TaskState
from bot.tasks import Outbox
from sandbox.midapi import FakeMidapi
from tests.engine_rig import Rig, build
from tests.helpers import eventually


async def test_delivery_retries_until_it_succeeds(rig: Rig) -> None:
    rig.deliveries.fail_times = 2
    done = await rig.finished((await rig.imagine()).id)
    assert done.delivery_attempts == 2 and done.result_message_id is not None and done.delivery_error is None


async def test_undeliverable_result_stays_in_the_log(rig: Rig) -> None:
    rig.deliveries.gone = True
    done = await rig.finished((await rig.imagine()).id)
    assert done.state == "succeeded" and "channel deleted" in (done.delivery_error or "")


async def test_a_result_posted_while_the_store_refused_the_record_is_not_posted_again(rig: Rig) -> None:
    await rig.engine.stop()
    task = await rig.imagine()
    finished = await rig.engine.follower.finish(task, TaskState.SUCCEEDED, result_urls=("http://x/1.png",))
    outbox = Outbox(rig.store, rig.deliveries)
    real_update = rig.store.update
    refusals = {"left": 1}

    async def flaky_update(task_id: str, **fields: Any) -> Task:
        if "delivered_at" in fields and refusals["left"]:
            refusals["left"] -= 1
            raise sqlite3.OperationalError("database is locked")
        return await real_update(task_id, **fields)

    rig.store.update = flaky_update  # type: ignore[method-assign]
    with pytest.raises(sqlite3.OperationalError):
        await outbox.deliver(finished)
    await outbox.deliver(finished)  # the store is back: the post is recorded, not repeated
    assert [t.id for t in rig.deliveries.tasks] == [task.id]
    recorded = await rig.store.get(task.id)
    assert recorded is not None and recorded.delivered and recorded.result_message_id == 9001


async def test_a_result_left_undelivered_elsewhere_is_delivered_while_a_backlog_is_worked_through(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    # A backlog of checks (none finishing; one slot, 10 ms a read: 4 s a round) keeps every tick
    # busy claiming; a result another process finished but did not deliver must not wait for it.
    rig = await build(tmp_path, session, fake_midapi, ENGINE_CONCURRENCY="1")
    try:
        await backlog_and_orphan(rig)
    finally:
        await rig.close()


async def backlog_and_orphan(rig: Rig) -> None:
    rig.fake.duration_s = 3600
    rig.fake.inject("status", "slow", times=100_000, delay_s=0.01)
    backlog = await rig.seed_running(400)
    await eventually(lambda: sum(1 for t in rig.fake.tasks.values() if t.status_reads) > 20)
    now = time.time()
    (orphan,) = await rig.seed_running(
        1, state="succeeded", finished_at=now, next_check_at=None, next_delivery_at=now,
        result_urls='["http://x/1.png"]', claimed_by="bot-gone", lease_until=now - 1,
    )  # fmt: skip
    delivered = await rig.finished(orphan)
    assert delivered.result_message_id is not None and [t.id for t in rig.deliveries.tasks] == [orphan]
    assert sum(1 for t in rig.fake.tasks.values() if t.status_reads) < len(backlog)  # still working
