"""`python -m bot copy-store`: move a SQLite store into an empty PostgreSQL database.

Everything goes in one transaction: the target ends up with all of it or none of it. Tasks keep every
column (spend is derived from them, so it moves too), then member settings and guild controls. The
source is opened like the bot opens it, so a bot still running on that file makes the copy refuse
rather than miss its latest writes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..config import ConfigError, DatabaseLocation, database_location
from .base import StoreError
from .postgres_rows import Connection
from .sqlite import SqliteStore

TABLES: tuple[str, ...] = ("tasks", "user_settings", "guild_controls")
BATCH = 5000  # rows per COPY: a large store never sits in memory whole


class CopyRefused(Exception):
    """The copy cannot start or must not go on; the message is one line for the operator."""


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot copy-store",
        description="Copy a SQLite store into an empty PostgreSQL database (one transaction).",
    )
    parser.add_argument("--from", dest="source", required=True, metavar="sqlite:///PATH")
    parser.add_argument("--to", dest="target", required=True, metavar="postgresql://USER@HOST/DB")
    options = parser.parse_args(args)
    target: DatabaseLocation | None = None
    try:
        source = _location("--from", options.source, "sqlite")
        target = _location("--to", options.target, "postgres")
        counts = asyncio.run(copy_store(source, target))
    except (CopyRefused, StoreError) as exc:
        text = str(exc)
        if target is not None and target.password:
            text = text.replace(target.password, "********")
        print(f"copy-store: {text}", file=sys.stderr)
        return 2
    for table in TABLES:
        print(f"{table}: {counts[table]} rows copied (source and target both hold {counts[table]})")
    print(f"OK: {source.shown} copied to {target.shown}")
    return 0


def _location(option: str, url: str, kind: str) -> DatabaseLocation:
    try:
        location = database_location(url)
    except ConfigError as exc:
        raise CopyRefused(f"{option}: {exc.problem}") from None
    if location.kind != kind:
        wanted = (
            "a SQLite file (sqlite:///path)" if kind == "sqlite" else "a PostgreSQL database (postgresql://…)"
        )
        raise CopyRefused(f"{option} must be {wanted}; got a {location.kind} URL")
    if kind == "sqlite" and not Path(location.path).is_file():
        # Opening would create an empty store there, and a typo would "copy" nothing successfully.
        raise CopyRefused(f"{option}: there is no SQLite file at {location.path}")
    return location


async def copy_store(source: DatabaseLocation, target: DatabaseLocation) -> dict[str, int]:
    """Copy every row of `TABLES`; return how many each holds in the target. Raise `CopyRefused` if
    the target holds anything already, `StoreError` if either store cannot be opened."""
    from .postgres import PostgresStore

    sqlite = await SqliteStore.open(source)
    try:
        postgres = await PostgresStore.open(target)
        try:
            async with postgres.pool.acquire() as conn, conn.transaction():
                # Nobody writes meanwhile: a bot started on the target too early waits for the copy.
                await conn.execute(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE")
                held = {table: int(await conn.fetchval(f"SELECT COUNT(*) FROM {table}")) for table in TABLES}
                if any(held.values()):
                    found = ", ".join(f"{count} {table}" for table, count in held.items() if count)
                    raise CopyRefused(
                        f"the target {target.shown} is not empty ({found}); copy-store only fills an empty "
                        "database, so nothing was copied"
                    )
                # A task may name a parent copied after it; the reference is checked at commit.
                await conn.execute("SET CONSTRAINTS ALL DEFERRED")
                counts = {}
                for table in TABLES:
                    sent = await _copy_table(sqlite, conn, table)
                    landed = int(await conn.fetchval(f"SELECT COUNT(*) FROM {table}"))
                    if landed != sent:
                        raise CopyRefused(
                            f"{table}: {sent} rows read but {landed} in the target; rolled back, nothing was copied"
                        )
                    counts[table] = landed
            return counts
        finally:
            await postgres.close()
    finally:
        await sqlite.close()


async def _copy_table(sqlite: SqliteStore, conn: Connection, table: str) -> int:
    """Stream one table with COPY, converting each value to its PostgreSQL column's type."""
    types = {
        str(row[0]): str(row[1])
        for row in await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1",
            table,
        )
    }
    columns = [str(row[1]) for row in await sqlite.db.execute_fetchall(f"PRAGMA table_info({table})")]
    missing = [column for column in columns if column not in types]
    if missing:
        raise CopyRefused(f"{table}: the target has no column {', '.join(missing)}; is it the same schema?")
    converters = [_CONVERT.get(types[column], _same) for column in columns]
    sent = 0
    async with sqlite.db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid") as cursor:
        while rows := await cursor.fetchmany(BATCH):
            records = [
                tuple(
                    None if value is None else convert(value)
                    for convert, value in zip(converters, row, strict=True)
                )
                for row in rows
            ]
            await conn.copy_records_to_table(table, records=records, columns=columns)
            sent += len(records)
    return sent


def _same(value: Any) -> Any:
    return value


# SQLite hands back int, float, str; PostgreSQL's binary COPY wants each column's exact type.
_CONVERT: dict[str, Callable[[Any], Any]] = {
    "bigint": int,
    "integer": int,
    "double precision": float,
    "numeric": lambda value: Decimal(str(value)),
    "boolean": bool,
    "text": str,
}
