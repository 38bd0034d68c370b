"""`python -m bot` with a store it cannot use: exit 2 and one line naming DATABASE_URL, like any other
configuration error, and no traceback or hang (a store left open would keep the process alive)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from bot.config import DatabaseLocation
from bot.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[1]


def start_bot(cwd: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": "t0ken-value",
        "MIDAPI_API_KEY": "k3y-value",
        "DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("configuration error: DATABASE_URL: ")
    return lines[0]


def test_corrupt_sqlite_file(tmp_path: Path) -> None:
    (tmp_path / "bot.sqlite3").write_bytes(b"garbage" * 1000)
    line = one_line(start_bot(tmp_path, f"sqlite:///{tmp_path / 'bot.sqlite3'}"))
    assert "corrupt or not a SQLite file" in line


def test_sqlite_schema_newer_than_the_bot(tmp_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "bot.sqlite3") as raw:
        raw.execute("PRAGMA user_version = 99")
    line = one_line(start_bot(tmp_path, f"sqlite:///{tmp_path / 'bot.sqlite3'}"))
    assert "newer than this bot" in line


def test_unreachable_postgres(tmp_path: Path) -> None:
    line = one_line(start_bot(tmp_path, "postgresql://postgres:pw-not-shown@127.0.0.1:1/x"))
    assert "cannot reach PostgreSQL at 127.0.0.1:1/x" in line and "pw-not-shown" not in line


async def test_a_second_process_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    first = await SqliteStore.open(DatabaseLocation(f"sqlite:///{path}", str(path)))
    try:
        line = one_line(await asyncio.to_thread(start_bot, tmp_path, f"sqlite:///{path}"))
    finally:
        await first.close()
    assert "in use by another bot process" in line and "PostgreSQL" in line
