"""The leases one engine holds: work in flight keeps its claim, claimed-ahead work never outstays it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from bot.store import Task
from bot.tasks.leases import Leases
from bot.tasks.pacing import MAX_AHEAD
from sandbox.midapi import FakeMidapi
from tests.engine_rig import build
from tests.helpers import eventually


def test_work_in_flight_is_renewed_before_its_soonest_lease_ends_whatever_is_claimed_later() -> None:
    leases = Leases(30.0)
    leases.claimed(["old"], now=0.0)
    # Claims keep coming (a busy engine); the old work's lease still sets the renewal time.
    for second in range(1, 20):
        leases.claimed([f"new{second}"], now=float(second))
    assert leases.renew_at(["old", "new19"]) == 15.0
    leases.renewed(["old", "new19"], until=45.0)
    assert leases.renew_at(["old", "new19"]) == 30.0
    leases.dropped("old")
    assert leases.renew_at(["old"]) is None and len(leases) == 19


def test_claimed_ahead_work_starts_only_with_half_its_lease_left() -> None:
    leases = Leases(30.0)
    leases.claimed(["a"], now=100.0)
    assert leases.fresh("a", now=110.0) and leases.fresh("a", now=115.0)
    assert not leases.fresh("a", now=115.1)
    assert not leases.fresh("never-claimed", now=100.0)


async def test_an_engine_whose_slots_are_busy_leaves_due_work_to_other_processes(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    # One slot, held by a status read the provider keeps open: claiming more would park a due task
    # in this process while another process, with free slots, could follow it.
    rig = await build(
        tmp_path, session, fake_midapi, timeout_s=10, ENGINE_CONCURRENCY="1", POLL_FIRST_S="0.2"
    )
    try:
        fake_midapi.inject("status", "hold")
        first = await rig.imagine("held")
        await eventually(lambda: fake_midapi.calls("status"))
        second = await rig.imagine("waiting")
        await asyncio.sleep(2.5)  # due for 2.3 s: past the busy engine's longest sleep (1 s)
        waiting = await rig.store.get(second.id)
        assert waiting is not None and waiting.claimed_by is None and waiting.state == "submitted"
        fake_midapi.release_held()
        assert (await rig.finished(second.id)).state == "succeeded"
        assert (await rig.finished(first.id)).state == "succeeded"
    finally:
        await rig.close()


async def test_a_backlog_is_claimed_further_ahead_and_a_trickle_a_slot_s_worth_at_a_time(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After a restart with thousands due, claiming a slot's worth at a time would cost a store round
    # trip (and on SQLite a synced commit) per handful of reads; with little due, claiming small keeps
    # work spread over every process.
    rig = await build(tmp_path, session, fake_midapi, ENGINE_CONCURRENCY="2")
    limits: list[int] = []
    claim = rig.store.claim_due

    async def recording(owner: str, now: float, limit: int, lease_s: float) -> list[Task]:
        limits.append(limit)
        return await claim(owner, now, limit, lease_s)

    monkeypatch.setattr(rig.store, "claim_due", recording)
    try:
        for n in range(3):
            await rig.finished((await rig.imagine(f"trickle {n}")).id)
        assert limits and max(limits) <= 2 * 2
        backlog = await rig.seed_running(300)
        for task_id in backlog:
            await rig.finished(task_id)
        assert max(limits) > 2 * 2 * 2  # grew past twice the trickle's claim
        assert max(limits) <= 2 + 2 * MAX_AHEAD  # and stays bounded
        after = len(limits)
        await rig.finished((await rig.imagine("trickle again")).id)
        assert limits[after:] and max(limits[after:]) <= 2 * 2
        leased = [t for t in [await rig.store.get(i) for i in backlog] if t is not None and t.claimed_by]
        assert leased == []  # every lease of the backlog went back
    finally:
        await rig.close()
