"""`python -m bot backup [--to PATH]`: a consistent copy of the SQLite store, safe while the bot runs.

Copying the file by hand while the bot writes can catch a half-written page, and misses whatever still
sits in the `-wal` file; the image has no `sqlite3` tool to do better. SQLite's online backup API
(`Connection.backup`) copies one consistent snapshot instead, without stopping the bot.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from .config import DEFAULTS, read_environment

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgres://", "postgresql://", "postgresql+")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot backup",
        description="Write a consistent copy of the bot's SQLite store (DATABASE_URL), safe while the bot "
        "runs, and print where it went and how many tasks it holds.",
    )
    parser.add_argument(
        "--to",
        metavar="PATH",
        help="where to write the copy (default: backup-YYYYmmdd-HHMMSS.sqlite3, UTC, next to the store)",
    )
    args = parser.parse_args(argv)

    # Only DATABASE_URL is read, not the whole configuration: a backup must work even while another
    # setting is missing or broken (a key being rotated, a backup host without the Discord token).
    url = read_environment().get("DATABASE_URL", "").strip() or DEFAULTS["DATABASE_URL"]
    if url.startswith(POSTGRES_PREFIXES):
        print(
            'DATABASE_URL is a PostgreSQL database: back it up with pg_dump (pg_dump --format=custom --file=mjbot.dump "$DATABASE_URL"); this command copies SQLite stores only',
            file=sys.stderr,
        )
        return 2
    if not url.startswith(SQLITE_PREFIX) or not url[len(SQLITE_PREFIX) :]:
        print(
            "configuration error: DATABASE_URL: must be sqlite:///relative/path or sqlite:////absolute/path "
            f"to back up; got {url!r}",
            file=sys.stderr,
        )
        return 2
    source = Path(url[len(SQLITE_PREFIX) :])
    if str(source) == ":memory:":
        print(
            "DATABASE_URL is an in-memory store (sqlite:///:memory:); it has nothing to back up",
            file=sys.stderr,
        )
        return 2
    if not source.is_file():
        print(f"no store at {source} (from DATABASE_URL); nothing to back up", file=sys.stderr)
        return 1

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = Path(args.to) if args.to else source.parent / f"backup-{stamp}.sqlite3"
    if target.exists():
        print(f"{target} already exists; choose another --to or move the old backup away", file=sys.stderr)
        return 1
    try:
        tasks, version = backup(source, target)
    except (sqlite3.Error, OSError) as exc:
        print(f"backup of {source} to {target} failed: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {target}: {tasks} tasks, schema version {version}, a consistent copy of {source}")
    return 0


def backup(source: Path, target: Path) -> tuple[int, int]:
    """Copy `source` to `target` consistently; return the copy's task count and schema version.

    The copy is written beside the target under a `.part` name and renamed only once it is complete and
    checked, so a file with the backup's name is always a whole one.
    """
    partial = target.with_name(target.name + ".part")
    partial.unlink(missing_ok=True)
    # mode=rw: never create an empty database where the store should be.
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            # One step (all pages at once) reads a single snapshot; stepwise copies restart whenever the
            # bot writes in between.
            src.backup(dst)
            # The snapshot carries the store's WAL mode; a backup is easier to move as one plain file.
            dst.execute("PRAGMA journal_mode = DELETE")
            check = dst.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its integrity check: {check}")
            tasks = int(dst.execute("SELECT count(*) FROM tasks").fetchone()[0])
            version = int(dst.execute("PRAGMA user_version").fetchone()[0])
        finally:
            dst.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    # The copy holds the same member data as the store, so it gets the same access rights.
    shutil.copymode(source, partial)
    partial.replace(target)
    return tasks, version
