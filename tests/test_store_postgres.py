"""The PostgreSQL store where it differs from SQLite: migrations kept in the database, and several
processes (here: several pools) sharing one database safely."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest

from bot.config import DatabaseLocation
from bot.store import SIGNAL_CHANNELS, AdmitRules, NewTask, Refused, StoreError, open_store
from bot.store.migrations_pg import LATEST, MIGRATIONS, VERSION_TABLE
from bot.store.postgres import PostgresStore
from tests.backends import Backend


def new(user: int, key: str = "k", guild: int = 10) -> NewTask:
    return NewTask("midapi", "imagine", user, guild, 20, key, prompt="p")


def rules(**changes: object) -> AdmitRules:
    values: dict[str, object] = {
        "max_active": 3,
        "max_queued": 10,
        "day_start": 0.0,
        "daily_requests": None,
        "spend_cap": None,
        "reserve": Decimal("0.05"),
    }
    values.update(changes)
    return AdmitRules(**values)  # type: ignore[arg-type]


@pytest.fixture
async def two(pg_backend: Backend) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores with pools of their own: two bot processes, as far as the database can tell."""
    first = await PostgresStore.open(pg_backend.location)
    second = await PostgresStore.open(pg_backend.location)
    yield first, second
    await first.close()
    await second.close()


async def raw(pg_backend: Backend) -> asyncpg.Connection:
    return await asyncpg.connect(pg_backend.location.url)


async def test_open_store_picks_postgres_and_records_the_version(pg_backend: Backend) -> None:
    store = await open_store(pg_backend.location)
    try:
        assert isinstance(store, PostgresStore) and await store.schema_version() == LATEST
    finally:
        await store.close()
    connection = await raw(pg_backend)
    try:
        assert await connection.fetchval("SELECT version FROM schema_version") == LATEST
    finally:
        await connection.close()


@pytest.mark.parametrize("start", range(LATEST))
async def test_migrates_from_every_earlier_version(pg_backend: Backend, start: int) -> None:
    connection = await raw(pg_backend)
    try:
        await connection.execute(VERSION_TABLE)
        for number in range(1, start + 1):
            await connection.execute(MIGRATIONS[number - 1])
            await connection.execute("UPDATE schema_version SET version = $1", number)
        if start >= 1:
            await connection.execute(
                "INSERT INTO tasks (id, provider, kind, request_key, user_id, state, created_at) "
                "VALUES ('old111', 'midapi', 'imagine', 'k', 5, 'succeeded', 1.0)"
            )
    finally:
        await connection.close()
    store = await PostgresStore.open(pg_backend.location)
    try:
        assert await store.schema_version() == LATEST
        if start >= 1:
            task = await store.get("old111")
            assert task is not None and task.user_id == 5 and task.claimed_by is None
    finally:
        await store.close()


async def test_processes_starting_together_migrate_once(
    pg_backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.store.postgres")
    stores = await asyncio.gather(*(PostgresStore.open(pg_backend.location) for _ in range(3)))
    try:
        assert [await store.schema_version() for store in stores] == [LATEST] * 3
        steps = [r.getMessage() for r in caplog.records if "migrated to schema version" in r.getMessage()]
        assert len(steps) == LATEST
    finally:
        for store in stores:
            await store.close()


async def test_failed_migration_rolls_back_and_keeps_version(
    pg_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.store import postgres as module

    monkeypatch.setattr(module, "MIGRATIONS", [*MIGRATIONS, "CREATE TABLE ok (x int); CREATE TABLE broken ("])
    monkeypatch.setattr(module, "LATEST", LATEST + 1)
    with pytest.raises(StoreError, match="cannot be used"):
        await PostgresStore.open(pg_backend.location)
    connection = await raw(pg_backend)
    try:
        assert await connection.fetchval("SELECT version FROM schema_version") == LATEST
        assert await connection.fetchval("SELECT to_regclass('ok')") is None
    finally:
        await connection.close()


async def test_newer_schema_is_refused(pg_backend: Backend) -> None:
    await (await PostgresStore.open(pg_backend.location)).close()
    connection = await raw(pg_backend)
    try:
        await connection.execute("UPDATE schema_version SET version = 99")
    finally:
        await connection.close()
    with pytest.raises(StoreError, match="newer than this bot"):
        await PostgresStore.open(pg_backend.location)


async def test_spend_cap_holds_across_two_processes(two: tuple[PostgresStore, PostgresStore]) -> None:
    # $0.05 reserved a request under a $0.10 cap: 12 members at once, half through each process.
    cap = rules(spend_cap=Decimal("0.10"))
    outcomes = await asyncio.gather(
        *(two[n % 2].admit(new(user=100 + n, key=f"burst {n}"), cap, now=1000.0) for n in range(12)),
        return_exceptions=True,
    )
    admitted = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, Refused)]
    assert len(admitted) == 2 and len(refused) == 10
    assert {r.reason for r in refused} == {"spend_cap"}
    assert await two[0].spend_since(10, 0.0, Decimal("0.05")) == Decimal("0.10")


async def test_member_slots_and_dedupe_hold_across_two_processes(
    two: tuple[PostgresStore, PostgresStore],
) -> None:
    limits = rules(max_active=2, max_queued=1)
    outcomes = await asyncio.gather(
        *(two[n % 2].admit(new(user=7, key=f"k{n}"), limits, now=1000.0 + n) for n in range(12)),
        return_exceptions=True,
    )
    admitted = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(admitted) == 3 and sum(1 for o in outcomes if isinstance(o, Refused)) == 9
    assert sorted(a.task.next_check_at is not None for a in admitted) == [False, True, True]

    same = await asyncio.gather(*(two[n % 2].admit(new(user=8), limits, now=2000.0) for n in range(8)))
    assert len({a.task.id for a in same}) == 1 and sum(1 for a in same if not a.existing) == 1


async def test_claims_from_two_processes_never_overlap(two: tuple[PostgresStore, PostgresStore]) -> None:
    ids = set()
    for n in range(30):
        task = await two[0].insert_task(new(user=n, key=f"k{n}"), now=1.0)
        await two[0].update(task.id, next_check_at=float(n))
        ids.add(task.id)
    claimed: list[list[str]] = [[], []]

    async def drain(side: int) -> None:
        while batch := await two[side].claim_due(f"owner{side}", 100.0, 3, 60.0):
            claimed[side] += [task.id for task in batch]

    await asyncio.gather(drain(0), drain(1))
    assert not set(claimed[0]) & set(claimed[1])
    assert set(claimed[0]) | set(claimed[1]) == ids and len(claimed[0]) + len(claimed[1]) == 30


async def test_notify_reaches_a_listener_in_another_process(two: tuple[PostgresStore, PostgresStore]) -> None:
    received: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    await two[0].listen(lambda channel, payload: received.put_nowait((channel, payload)))
    await two[1].notify("wake", "t1")
    await two[1].notify("settings", "42")
    async with asyncio.timeout(10):
        assert [await received.get(), await received.get()] == [("wake", "t1"), ("settings", "42")]


async def test_listener_comes_back_after_its_connection_is_killed(
    two: tuple[PostgresStore, PostgresStore],
) -> None:
    received: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    await two[0].listen(lambda channel, payload: received.put_nowait((channel, payload)))
    listener = two[0]._signals._connection
    assert listener is not None
    await two[1].pool.execute("SELECT pg_terminate_backend($1)", listener.get_server_pid())
    async with asyncio.timeout(30):
        # Back: every channel is told that something may have been missed.
        assert {await received.get() for _ in SIGNAL_CHANNELS} == {
            (channel, "") for channel in SIGNAL_CHANNELS
        }
        await two[1].notify("wake", "after")
        assert await received.get() == ("wake", "after")


async def test_provider_pause_is_shared(two: tuple[PostgresStore, PostgresStore]) -> None:
    await two[0].set_provider_pause(1700000500.25, "rate limited")
    assert await two[1].provider_pause() == (1700000500.25, "rate limited")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql://postgres:hunter2secret@127.0.0.1:1/x", "cannot reach PostgreSQL at 127.0.0.1:1/x"),
        ("postgresql://postgres:hunter2secret@127.0.0.1:5432/no_such_db_here", "no such database"),
    ],
)
async def test_open_errors_are_one_line_without_the_password(
    pg_backend: Backend, url: str, words: str
) -> None:
    with pytest.raises(StoreError) as caught:
        await PostgresStore.open(DatabaseLocation(url, "", "postgres"))
    text = str(caught.value)
    assert words in text and ("DATABASE_URL" in text or "host and port" in text)
    assert "hunter2secret" not in text and "\n" not in text
