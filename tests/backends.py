"""The store backends the tests run against: a SQLite file per test, and a PostgreSQL database per
test session (emptied before each test) on the server `TEST_DATABASE_URL` names.

Without a reachable server the PostgreSQL tests skip, saying how to run them; `REQUIRE_POSTGRES=1`
(CI sets it) makes that a failure instead, so CI never passes with them silently skipped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.config import DatabaseLocation
from bot.store import Store
from bot.store.sqlite import SqliteStore

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
T = TypeVar("T")


def server_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_SERVER


def on_the_side(work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` on an event loop of its own in another thread: session-wide set-up and tear-down
    must not touch the loop a test runs on."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()  # type: ignore[arg-type]


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def require_server() -> str:
    """The server URL, or skip (fail under REQUIRE_POSTGRES=1) with how to run these tests."""
    import asyncpg

    url = server_url()

    async def probe() -> None:
        connection = await asyncpg.connect(url, timeout=5)
        await connection.close()

    try:
        on_the_side(probe)
    except Exception as exc:
        shown = DatabaseLocation(url, "", "postgres").shown
        reason = (
            f"PostgreSQL not reachable at {shown} ({type(exc).__name__}: {exc}); to run the PostgreSQL "
            "store tests start a server there or set TEST_DATABASE_URL=postgresql://user@host:port/db "
            "(a user that may CREATE DATABASE)"
        )
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return url


def create_database(server: str) -> str:
    """A fresh database of this session's own; returns its URL."""
    import asyncpg

    name = f"mjbot_test_{os.getpid()}_{secrets.token_hex(3)}"

    async def create() -> None:
        connection = await asyncpg.connect(server)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    on_the_side(create)
    return with_database(server, name)


def drop_database(server: str, url: str) -> None:
    import asyncpg

    name = urlsplit(url).path.strip("/")

    async def drop() -> None:
        connection = await asyncpg.connect(server)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    on_the_side(drop)


def empty_database(url: str) -> None:
    """Back to no tables at all, so every test migrates from nothing."""
    import asyncpg

    async def empty() -> None:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await connection.close()

    on_the_side(empty)


@dataclass(frozen=True)
class Backend:
    """One store location and how to open it; `name` is "sqlite" or "postgres"."""

    name: str
    location: DatabaseLocation

    async def open(self) -> Store:
        if self.name == "postgres":
            from bot.store.postgres import PostgresStore

            return await PostgresStore.open(self.location)
        return await SqliteStore.open(self.location)


def sqlite_backend(tmp_path: Path) -> Backend:
    path = tmp_path / "bot.sqlite3"
    return Backend("sqlite", DatabaseLocation(f"sqlite:///{path}", str(path)))


def postgres_backend(url: str) -> Backend:
    return Backend("postgres", DatabaseLocation(url, "", "postgres"))
