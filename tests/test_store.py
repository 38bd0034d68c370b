"""The store's queries, admission and member queue, on every backend: each test runs once on a SQLite
file and once on PostgreSQL (the `store` fixture in conftest), and both must give the same records."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from bot.store import AdmitRules, NewTask, Refused, Store, TaskState
from bot.store.models import TASK_COLUMNS


def new(user: int = 1, key: str = "k", guild: int | None = 10, **fields: object) -> NewTask:
    return NewTask(
        provider="midapi",
        kind="imagine",
        user_id=user,
        guild_id=guild,
        channel_id=20,
        request_key=key,
        prompt="p",
        **fields,  # type: ignore[arg-type]
    )


def rules(**changes: object) -> AdmitRules:
    values: dict[str, object] = {
        "max_active": 2,
        "max_queued": 1,
        "day_start": 0.0,
        "daily_requests": None,
        "spend_cap": None,
        "reserve": Decimal("0.05"),
    }
    values.update(changes)
    return AdmitRules(**values)  # type: ignore[arg-type]


async def test_insert_and_lookups(store: Store) -> None:
    task = await store.insert_task(new())
    assert len(task.id) == 6 and task.state == "queued" and task.result_urls == ()
    assert task.claimed_by is None and task.lease_until is None
    await store.update(task.id, provider_task_id="P-1", result_urls=("a", "b"), cost=Decimal("0.04"))
    found = await store.find("P-1", "midapi")
    assert found is not None and found.id == task.id and found.result_urls == ("a", "b")
    assert found.cost == Decimal("0.04")
    assert (await store.find(task.id.upper(), "midapi")) is not None
    assert await store.find("P-1", "vtrix") is None


async def test_update_round_trips_every_kind_of_value(store: Store) -> None:
    task = await store.insert_task(new(user=2**62, guild=2**61), now=1700000000.123456)
    updated = await store.update(
        task.id,
        state=TaskState.SUCCEEDED,
        create_uncertain=True,
        cost=Decimal("0.125"),
        result_message_id=2**60,
        finished_at=1700000001.5,
        error_message="ünïcode ✓",
    )
    again = await store.get(task.id)
    assert again == updated
    assert (again.user_id, again.guild_id, again.result_message_id) == (2**62, 2**61, 2**60)
    assert again.created_at == 1700000000.123456 and again.create_uncertain is True
    assert again.cost == Decimal("0.125") and again.error_message == "ünïcode ✓"
    await store.increment(task.id, "poll_count")
    assert (await store.get(task.id)).poll_count == 1  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        await store.update(task.id, user_id=3)  # type: ignore[call-arg]
    with pytest.raises(KeyError):
        await store.update("nope00", progress=1)


async def test_user_log_pages_newest_first_and_filters(store: Store) -> None:
    ids = []
    for n in range(23):
        task = await store.insert_task(new(key=f"k{n}"), now=1000.0 + n)
        ids.append(task.id)
        if n % 2:
            await store.update(task.id, state=TaskState.SUCCEEDED)
    await store.insert_task(new(user=2))
    page1, total = await store.user_log(1, page=1)
    assert total == 23 and [t.id for t in page1] == ids[::-1][:10]
    page3, _ = await store.user_log(1, page=3)
    assert [t.id for t in page3] == ids[::-1][20:]
    done, total_done = await store.user_log(1, states=[TaskState.SUCCEEDED])
    assert total_done == 11 and all(t.state == "succeeded" for t in done)


async def test_user_log_keeps_insertion_order_within_one_instant(store: Store) -> None:
    ids = [(await store.insert_task(new(key=f"same{n}"), now=5.0)).id for n in range(5)]
    page, _ = await store.user_log(1)
    assert [t.id for t in page] == ids[::-1]


async def test_due_undelivered_and_wake_time(store: Store) -> None:
    a = await store.insert_task(new(key="a"), now=100.0)
    b = await store.insert_task(new(key="b"), now=100.0)
    await store.update(a.id, next_check_at=50.0)
    await store.update(b.id, next_check_at=500.0)
    assert [t.id for t in await store.due_tasks(100.0, 10)] == [a.id]
    assert await store.next_wake_at() == 50.0
    await store.update(
        a.id, state=TaskState.SUCCEEDED, next_check_at=None, finished_at=60.0, next_delivery_at=70.0
    )
    assert [t.id for t in await store.undelivered(100.0, 10)] == [a.id]
    assert await store.next_wake_at() == 70.0
    await store.update(a.id, delivered_at=101.0)
    assert await store.undelivered(200.0, 10) == []
    assert await store.undelivered_count() == 0
    counts = await store.counts_by_state()
    assert counts["succeeded"] == 1 and counts["queued"] == 1 and counts["failed"] == 0


async def test_duplicates_and_unfinished(store: Store) -> None:
    a = await store.insert_task(new(key="same"))
    assert (await store.active_duplicate(1, "same")).id == a.id  # type: ignore[union-attr]
    assert await store.active_duplicate(2, "same") is None
    assert [t.id for t in await store.unfinished_for_user(1)] == [a.id]
    await store.update(a.id, state=TaskState.FAILED)
    assert await store.active_duplicate(1, "same") is None
    assert await store.unfinished_for_user(1) == []


async def test_settings_keep_the_other_value(store: Store) -> None:
    assert (await store.user_settings(7)).strength == "strong"
    await store.save_user_settings(7, remix=True)
    saved = await store.save_user_settings(7, strength="subtle")
    assert (saved.strength, saved.remix) == ("subtle", True)
    assert (await store.user_settings(7)).remix is True
    assert [(s.user_id, s.strength, s.remix) for s in await store.all_user_settings()] == [
        (7, "subtle", True)
    ]


async def test_guild_pause_is_kept(store: Store) -> None:
    assert (await store.guild_controls(5)).paused is False
    await store.set_guild_paused(5, True, by=99)
    controls = await store.guild_controls(5)
    assert (controls.paused, controls.paused_by) == (True, 99) and controls.paused_at is not None


async def test_spend_and_request_counts(store: Store) -> None:
    a = await store.insert_task(new(key="a"), now=1000.0)
    b = await store.insert_task(new(key="b"), now=1000.0)
    await store.insert_task(new(key="c"), now=1000.0)  # queued: its reservation holds until it ends
    d = await store.insert_task(new(key="d"), now=1000.0)
    await store.update(a.id, provider_task_id="x", cost=Decimal("0.10"))
    await store.update(b.id, provider_task_id="y")
    await store.update(d.id, state=TaskState.FAILED)  # ended with nothing sent: no charge, no count
    assert await store.spend_since(10, 999.0, Decimal("0.05")) == Decimal("0.20")
    assert await store.spend_since(10, 1001.0, Decimal("0.05")) == Decimal("0")
    assert await store.requests_since(1, 999.0) == 3


async def test_counts_for_one_server_leave_other_servers_out(store: Store) -> None:
    await store.insert_task(new(key="ours"))
    await store.insert_task(new(key="theirs", guild=99))
    assert (await store.counts_by_state(10))["queued"] == 1
    assert (await store.counts_by_state())["queued"] == 2
    assert await store.undelivered_count(99) == 0


# --- admission ------------------------------------------------------------------------------------
async def test_admit_gives_slots_then_queues_then_refuses(store: Store) -> None:
    first = await store.admit(new(key="1"), rules(), now=10.0)
    second = await store.admit(new(key="2"), rules(), now=11.0)
    third = await store.admit(new(key="3"), rules(), now=12.0)
    assert (first.task.next_check_at, second.task.next_check_at, third.task.next_check_at) == (
        10.0,
        11.0,
        None,
    )
    assert [await store.queue_position(t.task) for t in (first, second, third)] == [0, 0, 1]
    with pytest.raises(Refused) as refused:
        await store.admit(new(key="4"), rules(), now=13.0)
    assert refused.value.reason == "queue_full" and (refused.value.used, refused.value.limit) == (3, 3)
    assert [t.id for t in refused.value.unfinished] == [first.task.id, second.task.id, third.task.id]
    again = await store.admit(new(key="2"), rules(), now=14.0)
    assert again.existing and again.task.id == second.task.id

    await store.update(first.task.id, state=TaskState.SUCCEEDED)
    promoted = await store.promote_waiting(2, 20.0)
    assert [t.id for t in promoted] == [third.task.id] and promoted[0].next_check_at == 20.0
    assert await store.promote_waiting(2, 21.0, user_id=1) == []


async def test_admit_refusals_name_the_limit_and_figures(store: Store) -> None:
    await store.admit(new(user=1, key="a"), rules(daily_requests=1), now=10.0)
    with pytest.raises(Refused) as daily:
        await store.admit(new(user=1, key="b"), rules(daily_requests=1), now=11.0)
    assert (daily.value.reason, daily.value.used, daily.value.limit) == ("daily_requests", 1, 1)

    cap = rules(spend_cap=Decimal("0.10"))
    await store.admit(new(user=2, key="c"), cap, now=12.0)  # 0.05 (user 1) + 0.05 reserved
    with pytest.raises(Refused) as spend:
        await store.admit(new(user=3, key="d"), cap, now=13.0)
    assert (spend.value.reason, spend.value.used, spend.value.limit) == (
        "spend_cap",
        Decimal("0.1"),
        Decimal("0.10"),
    )
    assert (await store.admit(new(user=3, key="d", guild=None), cap, now=13.0)).task.guild_id is None

    await store.set_guild_paused(10, True, by=1)
    with pytest.raises(Refused) as paused:
        await store.admit(new(user=4, key="e"), rules(), now=14.0)
    assert paused.value.reason == "paused"


async def test_a_task_read_back_has_exactly_the_dataclass_fields(store: Store) -> None:
    # `Task.from_row` fills a whole row straight into the instance (no __init__), so the table's
    # columns must be the dataclass's fields, name for name, on every backend.
    task = await store.insert_task(new())
    await store.update(task.id, provider_task_id="P-9", result_urls=("u",), cost=Decimal("0.5"))
    read = await store.get(task.id)
    assert read is not None
    assert sorted(vars(read)) == sorted(TASK_COLUMNS)
    assert dataclasses.replace(read) == read  # the same values through the checked constructor
    assert read.state == TaskState.QUEUED and read.result_urls == ("u",) and read.cost == Decimal("0.5")
