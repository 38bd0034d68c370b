"""Leases on due work, signals and the shared provider pause, on every backend (the `store` fixture)."""

from __future__ import annotations

import asyncio

import pytest

from bot.store import NewTask, Store, TaskState
from tests.backends import Backend


def new(key: str) -> NewTask:
    return NewTask("midapi", "imagine", 1, 10, 20, key, prompt="p")


async def due(store: Store, *times: float) -> list[str]:
    ids = []
    for n, at in enumerate(times):
        task = await store.insert_task(new(f"k{n}"), now=1.0)
        await store.update(task.id, next_check_at=at)
        ids.append(task.id)
    return ids


async def test_two_owners_claim_disjoint_sets_oldest_first(store: Store) -> None:
    ids = await due(store, 40.0, 10.0, 30.0, 20.0, 500.0)
    first = await store.claim_due("a", 100.0, 2, 60.0)
    second = await store.claim_due("b", 100.0, 10, 60.0)
    assert [t.id for t in first] == [ids[1], ids[3]]
    assert [t.id for t in second] == [ids[2], ids[0]]  # the rest that is due; 500.0 is not
    assert {(t.claimed_by, t.lease_until) for t in first} == {("a", 160.0)}
    assert await store.claim_due("c", 100.0, 10, 60.0) == []


async def test_an_expired_lease_is_claimable_by_another_owner(store: Store) -> None:
    (task_id,) = await due(store, 10.0)
    await store.claim_due("a", 100.0, 10, 60.0)
    assert await store.claim_due("b", 159.0, 10, 60.0) == []
    taken = await store.claim_due("b", 160.0, 10, 60.0)
    assert [(t.id, t.claimed_by, t.lease_until) for t in taken] == [(task_id, "b", 220.0)]


async def test_renew_keeps_the_lease_and_release_frees_it(store: Store) -> None:
    (task_id,) = await due(store, 10.0)
    await store.claim_due("a", 100.0, 10, 60.0)
    await store.renew("a", [task_id], 1000.0)
    await store.renew("b", [task_id], 5000.0)  # not b's: left alone
    assert await store.claim_due("b", 500.0, 10, 60.0) == []
    assert (await store.get(task_id)).lease_until == 1000.0  # type: ignore[union-attr]
    await store.release("b", task_id)  # not b's: still a's
    assert await store.claim_due("b", 500.0, 10, 60.0) == []
    await store.release("a", task_id)
    assert [t.claimed_by for t in await store.claim_due("b", 500.0, 10, 60.0)] == ["b"]


async def test_claim_undelivered_leases_finished_work(store: Store) -> None:
    ids = await due(store, 10.0, 10.0, 10.0)
    for n, task_id in enumerate(ids):
        await store.update(
            task_id,
            state=TaskState.SUCCEEDED,
            next_check_at=None,
            finished_at=50.0 - n,
            next_delivery_at=None,
        )
    await store.update(ids[2], next_delivery_at=900.0)  # a delivery retry later on
    first = await store.claim_undelivered("a", 100.0, 1, 1000.0)
    second = await store.claim_undelivered("b", 100.0, 10, 1000.0)
    assert [t.id for t in first] == [ids[1]] and [t.id for t in second] == [ids[0]]
    assert await store.claim_undelivered("c", 100.0, 10, 30.0) == []
    assert [t.id for t in await store.claim_undelivered("c", 900.0, 10, 30.0)] == [ids[2]]


async def test_next_wake_at_waits_out_another_owners_lease(store: Store) -> None:
    (task_id,) = await due(store, 10.0)
    await store.claim_due("dead-process", 100.0, 10, 60.0)
    assert await store.next_wake_at() == 160.0
    assert await store.next_wake_at(owner="live-process") == 160.0
    assert await store.next_wake_at(owner="dead-process") == 10.0  # its own lease does not hide it
    await store.release("dead-process", task_id)
    assert await store.next_wake_at() == 10.0


async def test_signals_reach_the_listener(store: Store) -> None:
    received: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    await store.listen(lambda channel, payload: received.put_nowait((channel, payload)))
    await store.notify("wake", "abc123")
    await store.notify("pause", "1700000000.0|maintenance")
    await store.notify("settings", "42")
    async with asyncio.timeout(10):
        got = [await received.get() for _ in range(3)]
    assert got == [("wake", "abc123"), ("pause", "1700000000.0|maintenance"), ("settings", "42")]
    with pytest.raises(ValueError, match="wake, pause, settings"):
        await store.notify("other", "x")


async def test_a_failing_handler_does_not_stop_the_others(store: Store) -> None:
    received: asyncio.Queue[str] = asyncio.Queue()

    def broken(channel: str, payload: str) -> None:
        raise RuntimeError("handler bug")

    await store.listen(broken)
    await store.listen(lambda channel, payload: received.put_nowait(payload))
    await store.notify("wake", "t1")
    async with asyncio.timeout(10):
        assert await received.get() == "t1"


async def test_provider_pause_is_honoured_by_a_later_start(backend: Backend) -> None:
    first = await backend.open()
    try:
        assert await first.provider_pause() == (0.0, None)
        await first.set_provider_pause(1700000123.5, "provider maintenance | back soon")
    finally:
        await first.close()
    later = await backend.open()
    try:
        assert await later.provider_pause() == (1700000123.5, "provider maintenance | back soon")
    finally:
        await later.close()


async def test_a_batch_that_only_hands_leases_back_applies(store: Store) -> None:
    # The engine's write batch releases a finished piece of work's lease as a change with no fields.
    released, changed = await due(store, 10.0, 10.0)
    await store.claim_due("a", 100.0, 10, 60.0)
    await store.apply([(released, {}), (changed, {"next_check_at": 300.0})], release_owner="a")
    assert [t.id for t in await store.claim_due("b", 100.0, 10, 60.0)] == [released]
    task = await store.get(changed)
    assert task is not None and (task.claimed_by, task.next_check_at) == (None, 300.0)
