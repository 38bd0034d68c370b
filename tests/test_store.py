"""The store on real SQLite files: migrations, queries, and clear start-up errors."""

from __future__ import annotations

import os
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import DatabaseLocation
from bot.store import NewTask, Store, StoreError, TaskState
from bot.store.migrations import LATEST, MIGRATIONS
from bot.store.sqlite import SqliteStore


def location(path: Path) -> DatabaseLocation:
    return DatabaseLocation(f"sqlite:///{path}", str(path))


def new(user: int = 1, key: str = "k", **fields: object) -> NewTask:
    return NewTask(
        provider="midapi",
        kind="imagine",
        user_id=user,
        guild_id=10,
        channel_id=20,
        request_key=key,
        prompt="p",
        **fields,  # type: ignore[arg-type]
    )


async def test_fresh_file_migrates_to_latest_with_wal(tmp_path: Path) -> None:
    store = await SqliteStore.open(location(tmp_path / "sub" / "bot.sqlite3"))
    try:
        assert await store.schema_version() == LATEST
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "sub" / "bot.sqlite3") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST


@pytest.mark.parametrize("start", range(LATEST))
async def test_migrates_from_every_earlier_version(tmp_path: Path, start: int) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as raw:
        for number in range(1, start + 1):
            raw.executescript(MIGRATIONS[number - 1])
            raw.execute(f"PRAGMA user_version = {number}")
        if start >= 1:
            raw.execute(
                "INSERT INTO tasks (id, provider, kind, request_key, user_id, state, created_at) "
                "VALUES ('old111', 'midapi', 'imagine', 'k', 5, 'succeeded', 1.0)"
            )
    store = await SqliteStore.open(location(path))
    try:
        assert await store.schema_version() == LATEST
        if start >= 1:
            task = await store.get("old111")
            assert task is not None and task.user_id == 5
        assert (await store.guild_controls(1)).paused is False
    finally:
        await store.close()


async def test_failed_migration_rolls_back_and_keeps_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.store import sqlite as repository

    monkeypatch.setattr(repository, "MIGRATIONS", [*MIGRATIONS, "CREATE TABLE ok (x); CREATE TABLE broken ("])
    monkeypatch.setattr(repository, "LATEST", LATEST + 1)
    with pytest.raises(StoreError):
        await SqliteStore.open(location(tmp_path / "x.sqlite3"))
    with sqlite3.connect(tmp_path / "x.sqlite3") as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST
        assert raw.execute("SELECT name FROM sqlite_master WHERE name = 'ok'").fetchone() is None


async def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    path.write_bytes(b"this is not sqlite" * 200)
    with pytest.raises(StoreError, match="corrupt or not a SQLite file"):
        await SqliteStore.open(location(path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
async def test_read_only_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    store = await SqliteStore.open(location(path))
    await store.close()
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="read-only"):
            await SqliteStore.open(location(path))
    finally:
        tmp_path.chmod(0o755)


def test_read_only_message_names_the_fix() -> None:
    from bot.store.sqlite_file import explain as _explain

    text = _explain("/data/bot.sqlite3", sqlite3.OperationalError("attempt to write a readonly database"))
    assert "read-only" in text and "write access" in text


async def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="data directory"):
        await SqliteStore.open(location(blocker / "sub" / "bot.sqlite3"))


async def test_memory_store() -> None:
    store = await SqliteStore.open(DatabaseLocation("sqlite:///:memory:", ":memory:"))
    assert await store.schema_version() == LATEST
    await store.close()


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    opened = await SqliteStore.open(location(tmp_path / "bot.sqlite3"))
    yield opened
    await opened.close()


async def test_insert_and_lookups(store: Store) -> None:
    task = await store.insert_task(new())
    assert len(task.id) == 6 and task.state == "queued" and task.result_urls == ()
    await store.update(task.id, provider_task_id="P-1", result_urls=("a", "b"), cost=Decimal("0.04"))
    found = await store.find("P-1", "midapi")
    assert found is not None and found.id == task.id and found.result_urls == ("a", "b")
    assert found.cost == Decimal("0.04")
    assert (await store.find(task.id.upper(), "midapi")) is not None
    assert await store.find("P-1", "vtrix") is None


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
