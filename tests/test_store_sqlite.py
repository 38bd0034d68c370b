"""The SQLite store on real files: migrations, durability, the one-process lock, clear start-up errors."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from bot.config import DatabaseLocation
from bot.store import NewTask, StoreError
from bot.store.migrations import LATEST, MIGRATIONS
from bot.store.sqlite import SqliteStore


def location(path: Path) -> DatabaseLocation:
    return DatabaseLocation(f"sqlite:///{path}", str(path))


async def test_fresh_file_migrates_to_latest_with_wal_and_full_sync(tmp_path: Path) -> None:
    store = await SqliteStore.open(location(tmp_path / "sub" / "bot.sqlite3"))
    try:
        assert await store.schema_version() == LATEST
        async with store.db.execute("PRAGMA synchronous") as cursor:
            assert (await cursor.fetchone())[0] == 2  # type: ignore[index]  # 2 = FULL
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
            assert task is not None and task.user_id == 5 and task.claimed_by is None
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


async def test_newer_schema_is_refused_and_the_file_is_left_free(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer than this bot"):
        await SqliteStore.open(location(path))
    with pytest.raises(StoreError, match="newer than this bot"):  # not "in use": the lock was let go
        await SqliteStore.open(location(path))


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
    from bot.store.sqlite_file import explain

    text = explain("/data/bot.sqlite3", sqlite3.OperationalError("attempt to write a readonly database"))
    assert "read-only" in text and "write access" in text


async def test_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="data directory"):
        await SqliteStore.open(location(blocker / "sub" / "bot.sqlite3"))


async def test_a_second_store_on_the_same_file_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    # flock locks belong to an open file description, so a second open in this process conflicts
    # exactly as a second process would (test_config runs the real second process).
    first = await SqliteStore.open(location(tmp_path / "bot.sqlite3"))
    try:
        with pytest.raises(StoreError) as refused:
            await SqliteStore.open(location(tmp_path / "bot.sqlite3"))
        text = str(refused.value)
        assert "in use by another bot process" in text and "DATABASE_URL" in text and "PostgreSQL" in text
        assert "\n" not in text
        await first.check_writable()  # the first store goes on working
    finally:
        await first.close()
    second = await SqliteStore.open(location(tmp_path / "bot.sqlite3"))
    await second.close()


async def test_leases_left_by_a_killed_process_are_freed_on_open(tmp_path: Path) -> None:
    # One process owns a SQLite file, so a lease found at open belongs to a process that died
    # mid-check: its task must be claimable at once, not after LEASE_S.
    first = await SqliteStore.open(location(tmp_path / "bot.sqlite3"))
    task = await first.insert_task(NewTask("midapi", "imagine", 1, 10, 20, "k", prompt="p"), now=1.0)
    await first.update(task.id, next_check_at=5.0)
    assert [t.id for t in await first.claim_due("dead-1", 10.0, 5, 1_000_000.0)] == [task.id]
    await first.close()
    second = await SqliteStore.open(location(tmp_path / "bot.sqlite3"))
    try:
        assert [t.id for t in await second.claim_due("new-2", 10.0, 5, 30.0)] == [task.id]
    finally:
        await second.close()
