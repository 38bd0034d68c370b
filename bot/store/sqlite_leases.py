"""The SQLite store's leases, wake time, signals and shared provider pause.

One process owns a SQLite file (see `SqliteStore.open`), so leases never actually compete here; they
exist so the engine is written once for both backends. Each claim is one `UPDATE … RETURNING`, which
SQLite's single writer makes atomic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .base import SIGNAL_CHANNELS, SignalHandler
from .models import FINISHED, UNFINISHED, Task, sql_list

if TYPE_CHECKING:
    from .sqlite import SqliteStore

log = logging.getLogger(__name__)

_UNFINISHED = sql_list(UNFINISHED)
_FINISHED = sql_list(FINISHED)
_FREE = "(claimed_by IS NULL OR lease_until IS NULL OR lease_until <= :now)"
# Another owner's live lease hides the task until the lease ends.
_LEASED_ELSEWHERE = "(claimed_by IS NOT NULL AND claimed_by IS NOT :owner AND lease_until > {due})"

_CLAIM_DUE = f"""
UPDATE tasks SET claimed_by = :owner, lease_until = :until WHERE id IN (
    SELECT id FROM tasks WHERE state IN {_UNFINISHED} AND next_check_at <= :now AND {_FREE}
    ORDER BY next_check_at LIMIT :limit)
RETURNING *
"""
_CLAIM_UNDELIVERED = f"""
UPDATE tasks SET claimed_by = :owner, lease_until = :until WHERE id IN (
    SELECT id FROM tasks WHERE state IN {_FINISHED} AND delivered_at IS NULL
      AND COALESCE(next_delivery_at, 0) <= :now AND {_FREE}
    ORDER BY finished_at LIMIT :limit)
RETURNING *
"""
_DUE_CHECK = "next_check_at"
_DUE_DELIVERY = "COALESCE(next_delivery_at, 0)"
_NEXT_WAKE = f"""
SELECT MIN(t) FROM (
  SELECT MIN(CASE WHEN {_LEASED_ELSEWHERE.format(due=_DUE_CHECK)} THEN lease_until ELSE {_DUE_CHECK} END) AS t
    FROM tasks WHERE state IN {_UNFINISHED}
  UNION ALL
  SELECT MIN(CASE WHEN {_LEASED_ELSEWHERE.format(due=_DUE_DELIVERY)} THEN lease_until ELSE {_DUE_DELIVERY} END)
    FROM tasks WHERE state IN {_FINISHED} AND delivered_at IS NULL)
"""


async def claim_due(store: SqliteStore, owner: str, now: float, limit: int, lease_s: float) -> list[Task]:
    tasks = await _claim(store, _CLAIM_DUE, owner, now, limit, lease_s)
    return sorted(tasks, key=lambda task: (task.next_check_at or 0.0, task.id))


async def claim_undelivered(
    store: SqliteStore, owner: str, now: float, limit: int, lease_s: float
) -> list[Task]:
    tasks = await _claim(store, _CLAIM_UNDELIVERED, owner, now, limit, lease_s)
    return sorted(tasks, key=lambda task: (task.finished_at or 0.0, task.id))


async def _claim(
    store: SqliteStore, sql: str, owner: str, now: float, limit: int, lease_s: float
) -> list[Task]:
    params = {"owner": owner, "until": now + lease_s, "now": now, "limit": limit}
    rows = await store.db.execute_fetchall(sql, params)
    return [Task.from_row(dict(row)) for row in rows]


async def renew(store: SqliteStore, owner: str, task_ids: Sequence[str], until: float) -> None:
    if not task_ids:
        return
    marks = ", ".join("?" for _ in task_ids)
    await store.db.execute(
        f"UPDATE tasks SET lease_until = ? WHERE claimed_by = ? AND id IN ({marks})",
        (until, owner, *task_ids),
    )


async def release(store: SqliteStore, owner: str, task_id: str) -> None:
    await store.db.execute(
        "UPDATE tasks SET claimed_by = NULL, lease_until = NULL WHERE id = ? AND claimed_by = ?",
        (task_id, owner),
    )


async def next_wake_at(store: SqliteStore, owner: str | None) -> float | None:
    async with store.db.execute(_NEXT_WAKE, {"owner": owner}) as cursor:
        row = await cursor.fetchone()
    return float(row[0]) if row and row[0] is not None else None


class LocalSignals:
    """Signals within this one process: the same delivery as PostgreSQL's, on the next loop turn."""

    def __init__(self) -> None:
        self._handlers: list[SignalHandler] = []

    def listen(self, handler: SignalHandler) -> None:
        self._handlers.append(handler)

    def notify(self, channel: str, payload: str) -> None:
        check_channel(channel)
        loop = asyncio.get_running_loop()
        for handler in self._handlers:
            # Later, not now: a handler that signals again must not recurse, as with PostgreSQL.
            loop.call_soon(deliver, handler, channel, payload)


def check_channel(channel: str) -> None:
    if channel not in SIGNAL_CHANNELS:
        raise ValueError(f"unknown signal channel {channel!r}; use one of {', '.join(SIGNAL_CHANNELS)}")


def deliver(handler: SignalHandler, channel: str, payload: str) -> None:
    """Run one handler; its failure is logged and never stops the other handlers or the listener."""
    try:
        handler(channel, payload)
    except Exception:
        log.exception("store: the %r signal handler failed (payload %r)", channel, payload)


def pause_value(until: float, reason: str) -> str:
    return f"{until!r}|{reason}"


def parse_pause(value: str | None) -> tuple[float, str | None]:
    if not value:
        return 0.0, None
    until, _, reason = value.partition("|")
    return float(until), reason
