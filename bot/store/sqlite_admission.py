"""The SQLite store's admission and member queue: each decision is one SQL statement.

SQLite has one writer, so a single `INSERT … SELECT … WHERE <every limit>` is atomic: two requests
racing for the last slot, the last dollar of a spend cap or the same dedupe key cannot both pass.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .base import AdmitRules, Admitted, Refused, StoreError
from .models import FINISHED, UNFINISHED, NewTask, Task, TaskState, new_short_id, sql_list

if TYPE_CHECKING:
    from .sqlite import SqliteStore

_UNFINISHED = sql_list(UNFINISHED)
# A slot: at the provider, or admitted with a create about to go out (or waiting out a provider pause).
HOLDS_SLOT = "(state IN ('submitted', 'running') OR (state = 'queued' AND next_check_at IS NOT NULL))"
WAITING = "(state = 'queued' AND next_check_at IS NULL)"
# Everything counts toward the daily limits except a task that ended with nothing sent to the provider:
# queued, running and uncertain tasks hold their reservation until they end without a charge.
CHARGED_OR_RESERVED = (
    f"NOT (state IN {sql_list(FINISHED)} AND provider_task_id IS NULL AND create_uncertain = 0)"
)
# Money is compared in millionths of a dollar, as integers: float sums would miss a cap by a rounding.
_MICROS = "CAST(ROUND(CAST(COALESCE(cost, :reserve) AS REAL) * 1000000) AS INTEGER)"


def micros(amount: Decimal) -> int:
    return int((amount * 1_000_000).to_integral_value())


async def admit(store: SqliteStore, new: NewTask, rules: AdmitRules, *, now: float) -> Admitted:
    existing = await store.active_duplicate(new.user_id, new.request_key)
    if existing is not None:
        return Admitted(existing, existing=True)
    params = _params(new, rules, now)
    for _ in range(10):
        params["id"] = new_short_id()
        try:
            cursor = await store.db.execute(_ADMIT_SQL, params)
        except sqlite3.IntegrityError as exc:
            if "tasks.id" in str(exc):
                continue  # a short-id collision: draw again
            raise
        if cursor.rowcount == 1:
            task = await store.get(params["id"])
            assert task is not None
            return Admitted(task)
        twin = await store.active_duplicate(new.user_id, new.request_key)
        if twin is not None:
            return Admitted(twin, existing=True)  # the same request raced in just before this one
        raise await _refusal(store, new, rules, params)
    raise StoreError("could not draw a free task id")


def _params(new: NewTask, rules: AdmitRules, now: float) -> dict[str, Any]:
    return {
        "provider": new.provider,
        "kind": new.kind,
        "parent_id": new.parent_id,
        "parent_provider_task_id": new.parent_provider_task_id,
        "image_index": new.image_index,
        "strength": new.strength,
        "prompt": new.prompt,
        "remix_prompt": new.remix_prompt,
        "request_key": new.request_key,
        "user_id": new.user_id,
        "guild_id": new.guild_id,
        "channel_id": new.channel_id,
        "queued": TaskState.QUEUED.value,
        "now": now,
        "first_check": now if rules.first_check_at is None else rules.first_check_at,
        "max_active": rules.max_active,
        "max_unfinished": rules.max_active + rules.max_queued,
        "day_start": rules.day_start,
        "daily": rules.daily_requests,
        "cap": None if rules.spend_cap is None else micros(rules.spend_cap),
        "reserve": str(rules.reserve),
        "reserve_micros": micros(rules.reserve),
    }


async def _refusal(store: SqliteStore, new: NewTask, rules: AdmitRules, params: dict[str, Any]) -> Refused:
    """The insert found a limit in the way; say which, with the figures the message needs."""
    if new.guild_id is not None and await _scalar(store, _PAUSED_SQL, params):
        return Refused("paused")
    used = int(await _scalar(store, _REQUESTS_SQL, params))
    if rules.daily_requests is not None and used >= rules.daily_requests:
        return Refused("daily_requests", used=used, limit=rules.daily_requests)
    if rules.spend_cap is not None and new.guild_id is not None:
        spent = Decimal(int(await _scalar(store, _SPEND_SQL, params))) / 1_000_000
        if spent + rules.reserve > rules.spend_cap:
            return Refused("spend_cap", used=spent, limit=rules.spend_cap)
    unfinished = await store.unfinished_for_user(new.user_id)
    return Refused(
        "queue_full", used=len(unfinished), limit=params["max_unfinished"], unfinished=tuple(unfinished)
    )


async def spend_since(store: SqliteStore, guild_id: int, since: float, reserve: Decimal) -> Decimal:
    params = {"guild_id": guild_id, "day_start": since, "reserve": str(reserve)}
    return Decimal(int(await _scalar(store, _SPEND_SQL, params))) / 1_000_000


async def requests_since(store: SqliteStore, user_id: int, since: float) -> int:
    return int(await _scalar(store, _REQUESTS_SQL, {"user_id": user_id, "day_start": since}))


async def _scalar(store: SqliteStore, sql: str, params: dict[str, Any]) -> Any:
    async with store.db.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return row[0] if row and row[0] is not None else 0


async def promote_waiting(
    store: SqliteStore, max_active: int, now: float, user_id: int | None = None
) -> list[Task]:
    rows = await store.db.execute_fetchall(
        _PROMOTE_SQL, {"max_active": max_active, "now": now, "user_id": user_id}
    )
    return [Task.from_row(dict(row)) for row in rows]


async def queue_position(store: SqliteStore, task: Task) -> int:
    if task.state != TaskState.QUEUED or task.next_check_at is not None:
        return 0
    ahead = await _scalar(
        store,
        f"""SELECT COUNT(*) FROM tasks WHERE user_id = :user_id AND {WAITING}
            AND (created_at < :created_at OR (created_at = :created_at AND id < :id))""",
        {"user_id": task.user_id, "created_at": task.created_at, "id": task.id},
    )
    return int(ahead) + 1


_PAUSED_SQL = "SELECT paused FROM guild_controls WHERE guild_id = :guild_id"
_REQUESTS_SQL = f"SELECT COUNT(*) FROM tasks WHERE user_id = :user_id AND created_at >= :day_start AND {CHARGED_OR_RESERVED}"
_SPEND_SQL = f"""SELECT COALESCE(SUM({_MICROS}), 0) FROM tasks
    WHERE guild_id = :guild_id AND created_at >= :day_start AND {CHARGED_OR_RESERVED}"""
_ADMIT_SQL = f"""
INSERT INTO tasks (id, provider, kind, parent_id, parent_provider_task_id, image_index, strength, prompt,
    remix_prompt, request_key, user_id, guild_id, channel_id, state, created_at, next_check_at,
    last_progress_at)
SELECT :id, :provider, :kind, :parent_id, :parent_provider_task_id, :image_index, :strength, :prompt,
    :remix_prompt, :request_key, :user_id, :guild_id, :channel_id, :queued, :now,
    CASE WHEN (SELECT COUNT(*) FROM tasks WHERE user_id = :user_id AND {HOLDS_SLOT}) < :max_active
         THEN :first_check END,
    :now
WHERE NOT EXISTS (SELECT 1 FROM guild_controls WHERE guild_id = :guild_id AND paused = 1)
  AND (:daily IS NULL OR ({_REQUESTS_SQL}) < :daily)
  AND (:cap IS NULL OR :guild_id IS NULL OR ({_SPEND_SQL}) + :reserve_micros <= :cap)
  AND (SELECT COUNT(*) FROM tasks WHERE user_id = :user_id AND state IN {_UNFINISHED}) < :max_unfinished
  AND NOT EXISTS (SELECT 1 FROM tasks WHERE user_id = :user_id AND request_key = :request_key
                  AND state IN {_UNFINISHED})
"""
# A waiting task gets a slot when the member's slot holders plus the waiting tasks ahead of it are
# fewer than `max_active`; the oldest go first.
_PROMOTE_SQL = """
UPDATE tasks SET next_check_at = :now WHERE id IN (
    SELECT w.id FROM tasks AS w
    WHERE w.state = 'queued' AND w.next_check_at IS NULL AND (:user_id IS NULL OR w.user_id = :user_id)
      AND (SELECT COUNT(*) FROM tasks AS a WHERE a.user_id = w.user_id
             AND (a.state IN ('submitted', 'running') OR (a.state = 'queued' AND a.next_check_at IS NOT NULL)))
        + (SELECT COUNT(*) FROM tasks AS e WHERE e.user_id = w.user_id AND e.state = 'queued'
             AND e.next_check_at IS NULL AND (e.created_at < w.created_at
                                              OR (e.created_at = w.created_at AND e.id < w.id)))
        < :max_active)
RETURNING *
"""
