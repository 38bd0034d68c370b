"""Delivery bookkeeping: retries, undeliverable results, and a post the store could not record."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from bot.store import Task, TaskState
from bot.tasks import Outbox
from tests.engine_rig import Rig


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
