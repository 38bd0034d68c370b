"""`python -m bot backup` as an operator runs it, against a store the bot holds open and is writing to."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import sys
from pathlib import Path

from bot.config import DatabaseLocation
from bot.store import NewTask
from bot.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[1]


async def backup(tmp_path: Path, database_url: str, *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr; only DATABASE_URL is set, as on a host without the bot's secrets."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "backup",
        *args,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def task(n: int) -> NewTask:
    return NewTask(
        provider="midapi",
        kind="imagine",
        user_id=n,
        guild_id=10,
        channel_id=20,
        request_key=f"key-{n}",
        prompt=f"prompt {n}",
    )


def task_rows(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, prompt FROM tasks ORDER BY id").fetchall()


async def test_backup_of_a_live_store_is_a_readable_copy_with_the_same_rows(tmp_path: Path) -> None:
    path = tmp_path / "data" / "bot.sqlite3"
    store = await SqliteStore.open(DatabaseLocation(f"sqlite:///{path}", str(path)))
    try:
        committed = [await store.insert_task(task(n)) for n in range(3)]
        # A writer is mid-write while the backup runs: an open transaction holding an uncommitted row.
        writer = sqlite3.connect(path, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE tasks SET prompt = 'half-written' WHERE id = ?", (committed[0].id,))
            target = tmp_path / "backups" / "copy.sqlite3"
            target.parent.mkdir()

            code, out, err = await backup(tmp_path, f"sqlite:///{path}", "--to", str(target))
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        assert code == 0, err
        assert (
            out.strip()
            == f"wrote {target}: 3 tasks, schema version {await store.schema_version()}, a consistent copy of {path}"
        )
        expected = sorted((t.id, f"prompt {n}") for n, t in enumerate(committed))
        assert task_rows(target) == expected  # committed rows only, the half-written one is not in
        assert task_rows(path) == expected
    finally:
        await store.close()
    # One self-contained file, nothing half-done beside it.
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.sqlite3"]


async def test_default_backup_goes_next_to_the_store_with_a_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    store = await SqliteStore.open(DatabaseLocation(f"sqlite:///{path}", str(path)))
    await store.insert_task(task(1))
    try:
        code, out, _ = await backup(tmp_path, f"sqlite:///{path}")
    finally:
        await store.close()
    assert code == 0
    written = re.fullmatch(r"wrote (\S+): 1 tasks, schema version \d+, a consistent copy of \S+\n", out)
    assert written, out
    copy = Path(written.group(1))
    assert copy.parent == tmp_path and re.fullmatch(r"backup-\d{8}-\d{6}\.sqlite3", copy.name)
    assert len(task_rows(copy)) == 1


async def test_backup_never_overwrites_or_invents_a_store(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "bot.sqlite3"
    code, out, err = await backup(tmp_path, f"sqlite:///{missing}")
    assert code == 1 and out == ""
    assert err.strip() == f"no store at {missing} (from DATABASE_URL); nothing to back up"
    assert not missing.parent.exists()

    path = tmp_path / "bot.sqlite3"
    store = await SqliteStore.open(DatabaseLocation(f"sqlite:///{path}", str(path)))
    await store.close()
    taken = tmp_path / "old-backup.sqlite3"
    taken.write_text("an older backup")
    code, _, err = await backup(tmp_path, f"sqlite:///{path}", "--to", str(taken))
    assert code == 1 and "already exists" in err
    assert taken.read_text() == "an older backup"


async def test_postgres_is_pointed_at_pg_dump(tmp_path: Path) -> None:
    code, out, err = await backup(tmp_path, "postgresql://mjbot:secret@db.internal/mjbot")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "pg_dump" in err and "secret" not in err
