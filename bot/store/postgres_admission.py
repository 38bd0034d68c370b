"""The PostgreSQL store's admission and member queue, atomic across processes.

Each admission is one transaction that first takes advisory locks for the member and for the guild:
every other admission of that member or into that guild, in any process, waits for it. Under those
locks the checks and the insert see a stable picture, so two requests racing for the last slot, the
last dollar of a spend cap or the same dedupe key cannot both pass. Locks are always taken member
first, then guild, so two admissions never wait on each other in a circle.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import TYPE_CHECKING

from .base import AdmitRules, Admitted, Refused
from .models import FINISHED, UNFINISHED, NewTask, Task, TaskState, sql_list
from .postgres_rows import COLUMNS, Connection, insert_row
from .sqlite_admission import HOLDS_SLOT, WAITING, micros

if TYPE_CHECKING:
    from .postgres import PostgresStore

_UNFINISHED = sql_list(UNFINISHED)
# As on SQLite: everything counts toward the daily limits except a task that ended with nothing sent.
CHARGED_OR_RESERVED = (
    f"NOT (state IN {sql_list(FINISHED)} AND provider_task_id IS NULL AND NOT create_uncertain)"
)
# NUMERIC is exact, so millionths of a dollar come out as whole numbers with no float rounding.
_SPEND_SQL = f"""SELECT COALESCE(SUM(ROUND(COALESCE(cost, $3::numeric) * 1000000)), 0)::bigint FROM tasks
    WHERE guild_id = $1 AND created_at >= $2 AND {CHARGED_OR_RESERVED}"""
_REQUESTS_SQL = (
    f"SELECT COUNT(*) FROM tasks WHERE user_id = $1 AND created_at >= $2 AND {CHARGED_OR_RESERVED}"
)


def lock_key(kind: str, ident: int) -> int:
    """A signed 64-bit advisory-lock key for one member, guild or job, in this bot's own namespace
    (another application's advisory locks on the same server are unlikely to collide)."""
    digest = hashlib.blake2b(f"mjbot:{kind}:{ident}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def admit(store: PostgresStore, new: NewTask, rules: AdmitRules, *, now: float) -> Admitted:
    async with store.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key("member", new.user_id))
        if new.guild_id is not None:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key("guild", new.guild_id))
        existing = await conn.fetchrow(
            f"""SELECT {COLUMNS} FROM tasks WHERE user_id = $1 AND request_key = $2
                AND state IN {_UNFINISHED} ORDER BY created_at LIMIT 1""",
            new.user_id,
            new.request_key,
        )
        if existing is not None:
            return Admitted(Task.from_row(dict(existing)), existing=True)
        await _check_limits(conn, new, rules)
        unfinished = await conn.fetch(
            f"SELECT {COLUMNS} FROM tasks WHERE user_id = $1 AND state IN {_UNFINISHED} ORDER BY created_at",
            new.user_id,
        )
        if len(unfinished) >= rules.max_active + rules.max_queued:
            raise Refused(
                "queue_full",
                used=len(unfinished),
                limit=rules.max_active + rules.max_queued,
                unfinished=tuple(Task.from_row(dict(row)) for row in unfinished),
            )
        holding = await conn.fetchval(
            f"SELECT COUNT(*) FROM tasks WHERE user_id = $1 AND {HOLDS_SLOT}", new.user_id
        )
        first_check = now if rules.first_check_at is None else rules.first_check_at
        row = await insert_row(conn, new, now, first_check if holding < rules.max_active else None)
        return Admitted(Task.from_row(dict(row)))


async def _check_limits(conn: Connection, new: NewTask, rules: AdmitRules) -> None:
    """Raise `Refused` for the first limit in the way, in the SQLite store's order, with its figures."""
    if new.guild_id is not None and await conn.fetchval(
        "SELECT paused FROM guild_controls WHERE guild_id = $1", new.guild_id
    ):
        raise Refused("paused")
    if rules.daily_requests is not None:
        used = int(await conn.fetchval(_REQUESTS_SQL, new.user_id, rules.day_start))
        if used >= rules.daily_requests:
            raise Refused("daily_requests", used=used, limit=rules.daily_requests)
    if rules.spend_cap is not None and new.guild_id is not None:
        spent = int(await conn.fetchval(_SPEND_SQL, new.guild_id, rules.day_start, rules.reserve))
        if spent + micros(rules.reserve) > micros(rules.spend_cap):
            raise Refused("spend_cap", used=Decimal(spent) / 1_000_000, limit=rules.spend_cap)


async def spend_since(store: PostgresStore, guild_id: int, since: float, reserve: Decimal) -> Decimal:
    return Decimal(int(await store.pool.fetchval(_SPEND_SQL, guild_id, since, reserve))) / 1_000_000


async def requests_since(store: PostgresStore, user_id: int, since: float) -> int:
    return int(await store.pool.fetchval(_REQUESTS_SQL, user_id, since))


async def promote_waiting(
    store: PostgresStore, max_active: int, now: float, user_id: int | None = None
) -> list[Task]:
    """Per member, under the member's admission lock, so a promotion and an admission never both
    take the member's last free slot."""
    if user_id is None:
        rows = await store.pool.fetch(f"SELECT DISTINCT user_id FROM tasks WHERE {WAITING} ORDER BY user_id")
        members = [int(row[0]) for row in rows]
    else:
        members = [user_id]
    promoted: list[Task] = []
    for member in members:
        async with store.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key("member", member))
            rows = await conn.fetch(_PROMOTE_SQL, max_active, now, member)
        promoted += sorted((Task.from_row(dict(row)) for row in rows), key=lambda t: (t.created_at, t.id))
    return promoted


async def queue_position(store: PostgresStore, task: Task) -> int:
    if task.state != TaskState.QUEUED or task.next_check_at is not None:
        return 0
    ahead = await store.pool.fetchval(
        f"""SELECT COUNT(*) FROM tasks WHERE user_id = $1 AND {WAITING}
            AND (created_at < $2 OR (created_at = $2 AND id < $3))""",
        task.user_id,
        task.created_at,
        task.id,
    )
    return int(ahead) + 1


# As on SQLite: a waiting task gets a slot when the member's slot holders plus the waiting tasks ahead
# of it are fewer than `max_active`; the oldest go first.
_PROMOTE_SQL = f"""
UPDATE tasks SET next_check_at = $2 WHERE id IN (
    SELECT w.id FROM tasks AS w
    WHERE w.state = 'queued' AND w.next_check_at IS NULL AND w.user_id = $3
      AND (SELECT COUNT(*) FROM tasks AS a WHERE a.user_id = w.user_id
             AND (a.state IN ('submitted', 'running') OR (a.state = 'queued' AND a.next_check_at IS NOT NULL)))
        + (SELECT COUNT(*) FROM tasks AS e WHERE e.user_id = w.user_id AND e.state = 'queued'
             AND e.next_check_at IS NULL AND (e.created_at < w.created_at
                                              OR (e.created_at = w.created_at AND e.id < w.id)))
        < $1)
RETURNING {COLUMNS}
"""
