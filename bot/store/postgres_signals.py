"""Signals between bot processes over PostgreSQL LISTEN/NOTIFY, on one dedicated connection.

A pooled connection cannot listen (it goes back to the pool), so one connection of its own stays
open for the process's life. If it drops, a supervisor reconnects with backoff, logging once when it
is lost and once when it is back; signals sent meanwhile are gone, so after a reconnect every
channel gets an empty payload, which handlers read as "re-read everything".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from ..config import DatabaseLocation
from .base import SIGNAL_CHANNELS, SignalHandler, StoreError
from .sqlite_leases import check_channel, deliver

log = logging.getLogger(__name__)

# PostgreSQL channels are per database; the prefix keeps them apart from another application's.
PREFIX = "mjbot_"
PING_S = 15.0  # a connection lost without a word (a dead network path) shows at the next ping
PING_TIMEOUT_S = 5.0
BACKOFF_MAX_S = 30.0
UNAVAILABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Signals:
    def __init__(self, location: DatabaseLocation, connect_timeout_s: float) -> None:
        self._location = location
        self._connect_timeout_s = connect_timeout_s
        self._handlers: list[SignalHandler] = []
        self._connection: asyncpg.Connection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    async def listen(self, handler: SignalHandler) -> None:
        """Add a handler; the first one opens the listening connection (a failure is a `StoreError`)."""
        self._handlers.append(handler)
        if self._supervisor is not None:
            return
        from .postgres_rows import explain

        try:
            self._connection = await self._connect()
        except UNAVAILABLE as exc:
            self._handlers.remove(handler)
            raise StoreError(f"cannot listen for signals: {explain(self._location, exc)}") from exc
        self._supervisor = asyncio.create_task(self._supervise(), name="store-signals")

    async def notify(self, pool: asyncpg.Pool, channel: str, payload: str) -> None:
        check_channel(channel)
        await pool.execute("SELECT pg_notify($1, $2)", PREFIX + channel, payload)

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._drop()

    async def _connect(self) -> asyncpg.Connection:
        connection = await asyncpg.connect(self._location.url, timeout=self._connect_timeout_s)
        try:
            for channel in SIGNAL_CHANNELS:
                await connection.add_listener(PREFIX + channel, self._on_notification)
        except BaseException:
            await connection.close()
            raise
        self._lost.clear()
        connection.add_termination_listener(lambda _connection: self._lost.set())
        return connection

    def _on_notification(self, _connection: object, _pid: int, channel: str, payload: object) -> None:
        name = channel.removeprefix(PREFIX)
        for handler in list(self._handlers):
            deliver(handler, name, str(payload))

    async def _supervise(self) -> None:
        while True:
            await self._until_lost()
            log.warning("store: lost the PostgreSQL signal connection; reconnecting in the background")
            await self._drop()
            backoff = 1.0
            while self._connection is None:
                try:
                    self._connection = await self._connect()
                except UNAVAILABLE as exc:
                    log.debug("store: signal connection still down (%s); next try in %.0fs", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX_S)
            log.info("store: the PostgreSQL signal connection is back; re-reading what may have been missed")
            for channel in SIGNAL_CHANNELS:
                self._on_notification(None, 0, PREFIX + channel, "")

    async def _until_lost(self) -> None:
        """Return once the connection is closed, or fails a ping."""
        while True:
            try:
                async with asyncio.timeout(PING_S):
                    await self._lost.wait()
                return
            except TimeoutError:
                pass
            connection = self._connection
            if connection is None or connection.is_closed():
                return
            try:
                await connection.execute("SELECT 1", timeout=PING_TIMEOUT_S)
            except UNAVAILABLE:
                return

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            # A dead peer may never answer the goodbye: abandon the socket rather than wait on it.
            connection.terminate()
