"""`python -m bot copy-store`: a SQLite store with tasks in every state arrives in PostgreSQL field for
field, in one go, and the command refuses a target that already holds data or the wrong kinds of URL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from bot.config import DatabaseLocation
from bot.store import NewTask, Task, TaskState
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore
from tests.backends import Backend

ROOT = Path(__file__).resolve().parents[1]


def copy_store(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "bot", "copy-store", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def fill(store: SqliteStore) -> list[Task]:
    """One task in each state a store holds, with the columns each state sets."""

    async def task(key: str, user: int = 1, **fields: object) -> Task:
        created = await store.insert_task(
            NewTask("midapi", "imagine", user, 10, 20, key, prompt=f"p {key}"), now=1000.5
        )
        return await store.update(created.id, **fields) if fields else created  # type: ignore[arg-type]

    grid = await task(
        "grid",
        state=TaskState.SUCCEEDED,
        provider_task_id="P-grid",
        result_urls=("https://cdn.example/1.png", "https://cdn.example/2.png"),
        cost=Decimal("0.045"),
        submitted_at=1001.25,
        finished_at=1010.0,
        delivered_at=1011.0,
        result_message_id=2**60,
        progress=100,
        status_reads=4,
        poll_count=3,
    )
    child = await store.insert_task(
        NewTask(
            "midapi",
            "vary",
            2,
            10,
            20,
            "vary",
            parent_id=grid.id,
            parent_provider_task_id="P-grid",
            image_index=2,
            strength="subtle",
            remix_prompt="remixed",
        ),
        now=1020.0,
    )
    tasks = [
        grid,
        await store.update(
            child.id,
            state=TaskState.SUCCEEDED,
            provider_task_id="P-v",
            finished_at=1030.0,
            next_delivery_at=1040.0,
            delivery_attempts=2,
            delivery_error="Discord said 503",
        ),
        await task("waiting", next_check_at=None),
        await task("slot", next_check_at=1000.5),
        await task(
            "submitted",
            state=TaskState.SUBMITTED,
            create_started_at=1000.75,
            create_uncertain=True,
            next_check_at=1006.0,
        ),
        await task(
            "running",
            user=3,
            state=TaskState.RUNNING,
            provider_task_id="P-r",
            progress=40,
            last_checked_at=1005.0,
            last_progress_at=1004.0,
            next_check_at=1009.0,
        ),
        await task(
            "failed",
            state=TaskState.FAILED,
            error_code="banned_prompt",
            error_message="no",
            finished_at=1003.0,
        ),
        await task(
            "timed",
            state=TaskState.TIMED_OUT,
            provider_task_id="P-t",
            finished_at=1900.0,
            cost=Decimal("0.05"),
        ),
        await task("cancelled", state=TaskState.CANCELLED, finished_at=1002.0, delivered_at=1002.5),
    ]
    claimed = await store.claim_due("old-process", 1009.0, 1, 30.0)
    assert [t.id for t in claimed] == [tasks[3].id]
    await store.save_user_settings(1, strength="subtle", remix=True)
    await store.save_user_settings(2**62, remix=False)
    await store.set_guild_paused(10, True, by=1)
    await store.set_guild_paused(11, False, by=None)
    return [t for t in [await store.get(t.id) for t in tasks] if t is not None]


async def test_copies_every_task_field_for_field_and_refuses_a_second_run(
    tmp_path: Path, pg_backend: Backend
) -> None:
    path = tmp_path / "bot.sqlite3"
    source = DatabaseLocation(f"sqlite:///{path}", str(path))
    sqlite = await SqliteStore.open(source)
    try:
        originals = await fill(sqlite)
        settings, controls = (
            await sqlite.all_user_settings(),
            [await sqlite.guild_controls(g) for g in (10, 11)],
        )
        spend = await sqlite.spend_since(10, 0.0, Decimal("0.05"))
        log, _ = await sqlite.user_log(1, per_page=50)
    finally:
        await sqlite.close()
    assert {t.state for t in originals} == set(TaskState)

    done = await asyncio.to_thread(copy_store, "--from", source.url, "--to", pg_backend.location.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "tasks: 9 rows copied (source and target both hold 9)",
        "user_settings: 2 rows copied (source and target both hold 2)",
        "guild_controls: 2 rows copied (source and target both hold 2)",
        f"OK: {source.url} copied to {pg_backend.location.shown}",
    ]

    postgres = await PostgresStore.open(pg_backend.location)
    try:
        # Field for field, except a lease: the SQLite bot is stopped, so its leases are dead ones,
        # freed when copy-store opens the file, not carried into the new store to block a process.
        assert any(original.claimed_by for original in originals)
        for original in originals:
            assert await postgres.get(original.id) == replace(original, claimed_by=None, lease_until=None)
        assert await postgres.all_user_settings() == settings
        assert [await postgres.guild_controls(g) for g in (10, 11)] == controls
        assert await postgres.spend_since(10, 0.0, Decimal("0.05")) == spend
        unleased = [replace(task, claimed_by=None, lease_until=None) for task in log]
        assert (await postgres.user_log(1, per_page=50))[0] == unleased
    finally:
        await postgres.close()

    again = await asyncio.to_thread(copy_store, "--from", source.url, "--to", pg_backend.location.url)
    assert again.returncode == 2 and again.stdout == ""
    assert again.stderr.splitlines() == [
        f"copy-store: the target {pg_backend.location.shown} is not empty (9 tasks, 2 user_settings, "
        "2 guild_controls); copy-store only fills an empty database, so nothing was copied"
    ]


def test_refuses_the_wrong_kinds_of_store(tmp_path: Path) -> None:
    missing_url = f"sqlite:///{tmp_path / 'missing.sqlite3'}"
    source = tmp_path / "bot.sqlite3"
    source.write_bytes(b"")  # never opened: each refusal comes before either store is touched
    sqlite_url = f"sqlite:///{source}"
    backwards = copy_store("--from", "postgresql://u@h/db", "--to", sqlite_url)
    assert backwards.returncode == 2
    assert backwards.stderr.splitlines() == [
        "copy-store: --from must be a SQLite file (sqlite:///path); got a postgres URL"
    ]
    to_sqlite = copy_store("--from", sqlite_url, "--to", sqlite_url)
    assert to_sqlite.returncode == 2
    assert to_sqlite.stderr.splitlines() == [
        "copy-store: --to must be a PostgreSQL database (postgresql://…); got a sqlite URL"
    ]
    missing = copy_store("--from", missing_url, "--to", "postgresql://u@h/db")
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        f"copy-store: --from: there is no SQLite file at {tmp_path / 'missing.sqlite3'}"
    ]
    memory = copy_store("--from", "sqlite:///:memory:", "--to", "postgresql://u@h/db")
    assert memory.returncode == 2 and "lose every task on restart" in memory.stderr
    assert not (tmp_path / "missing.sqlite3").exists() and source.read_bytes() == b""
