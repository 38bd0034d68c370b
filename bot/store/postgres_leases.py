"""The PostgreSQL store's leases, wake time and shared provider pause.

A claim is one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`: a row another process is
claiming right now is skipped rather than waited for, and a row it has just claimed no longer
matches once its lock is released, so two processes never come away with the same task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .models import FINISHED, UNFINISHED, Task, sql_list
from .postgres_rows import COLUMNS
from .sqlite_leases import parse_pause, pause_value

if TYPE_CHECKING:
    from .postgres import PostgresStore

_UNFINISHED = sql_list(UNFINISHED)
_FINISHED = sql_list(FINISHED)
_FREE = "(claimed_by IS NULL OR lease_until IS NULL OR lease_until <= $3)"
# Another owner's live lease hides the task until the lease ends.
_LEASED_ELSEWHERE = (
    "(claimed_by IS NOT NULL AND claimed_by IS DISTINCT FROM $1::text AND lease_until > {due})"
)

_CLAIM_DUE = f"""
UPDATE tasks SET claimed_by = $1, lease_until = $2 WHERE id IN (
    SELECT id FROM tasks WHERE state IN {_UNFINISHED} AND next_check_at <= $3 AND {_FREE}
    ORDER BY next_check_at LIMIT $4 FOR UPDATE SKIP LOCKED)
RETURNING {COLUMNS}
"""
_CLAIM_UNDELIVERED = f"""
UPDATE tasks SET claimed_by = $1, lease_until = $2 WHERE id IN (
    SELECT id FROM tasks WHERE state IN {_FINISHED} AND delivered_at IS NULL
      AND COALESCE(next_delivery_at, 0) <= $3 AND {_FREE}
    ORDER BY finished_at LIMIT $4 FOR UPDATE SKIP LOCKED)
RETURNING {COLUMNS}
"""
_DUE_CHECK = "next_check_at"
_DUE_DELIVERY = "COALESCE(next_delivery_at, 0)"
_NEXT_WAKE = f"""
SELECT MIN(t) FROM (
  SELECT MIN(CASE WHEN {_LEASED_ELSEWHERE.format(due=_DUE_CHECK)} THEN lease_until ELSE {_DUE_CHECK} END) AS t
    FROM tasks WHERE state IN {_UNFINISHED}
  UNION ALL
  SELECT MIN(CASE WHEN {_LEASED_ELSEWHERE.format(due=_DUE_DELIVERY)} THEN lease_until ELSE {_DUE_DELIVERY} END)
    FROM tasks WHERE state IN {_FINISHED} AND delivered_at IS NULL) AS due
"""


async def claim_due(store: PostgresStore, owner: str, now: float, limit: int, lease_s: float) -> list[Task]:
    rows = await store.pool.fetch(_CLAIM_DUE, owner, now + lease_s, now, limit)
    tasks = [Task.from_row(dict(row)) for row in rows]
    return sorted(tasks, key=lambda task: (task.next_check_at or 0.0, task.id))


async def claim_undelivered(
    store: PostgresStore, owner: str, now: float, limit: int, lease_s: float
) -> list[Task]:
    rows = await store.pool.fetch(_CLAIM_UNDELIVERED, owner, now + lease_s, now, limit)
    tasks = [Task.from_row(dict(row)) for row in rows]
    return sorted(tasks, key=lambda task: (task.finished_at or 0.0, task.id))


async def renew(store: PostgresStore, owner: str, task_ids: Sequence[str], until: float) -> None:
    if task_ids:
        await store.pool.execute(
            "UPDATE tasks SET lease_until = $1 WHERE claimed_by = $2 AND id = ANY($3::text[])",
            until,
            owner,
            list(task_ids),
        )


async def release(store: PostgresStore, owner: str, task_id: str) -> None:
    await store.pool.execute(
        "UPDATE tasks SET claimed_by = NULL, lease_until = NULL WHERE id = $1 AND claimed_by = $2",
        task_id,
        owner,
    )


async def next_wake_at(store: PostgresStore, owner: str | None) -> float | None:
    value = await store.pool.fetchval(_NEXT_WAKE, owner)
    return float(value) if value is not None else None


async def set_provider_pause(store: PostgresStore, until: float, reason: str) -> None:
    await store.pool.execute(
        """INSERT INTO meta (key, value) VALUES ('provider_pause', $1)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
        pause_value(until, reason),
    )


async def provider_pause(store: PostgresStore) -> tuple[float, str | None]:
    return parse_pause(await store.pool.fetchval("SELECT value FROM meta WHERE key = 'provider_pause'"))
