"""The PostgreSQL task store: an asyncpg pool, the same records and semantics as the SQLite store.

Several bot processes may share one database: admission serialises per member and per guild with
advisory locks (see postgres_admission), due work is leased with `FOR UPDATE SKIP LOCKED`, and
processes signal each other with LISTEN/NOTIFY (see postgres_signals).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Unpack

import asyncpg

from ..config import DatabaseLocation
from . import postgres_admission, postgres_leases
from .base import AdmitRules, Admitted, SignalHandler, StoreError
from .migrations_pg import LATEST, MIGRATIONS, VERSION_TABLE
from .models import (
    FINISHED,
    UNFINISHED,
    UPDATABLE,
    GuildControls,
    NewTask,
    Strength,
    Task,
    TaskState,
    TaskUpdate,
    UserSettings,
    sql_list,
)
from .postgres_rows import COLUMNS, CONNECT_TIMEOUT_S, explain, insert_row, to_column
from .postgres_signals import Signals

log = logging.getLogger(__name__)

_UNFINISHED_SQL = sql_list(UNFINISHED)
_FINISHED_SQL = sql_list(FINISHED)
# A handful of connections covers a bot's load (each query is short); several processes share the
# server's connection limit, so each keeps few.
POOL_MIN, POOL_MAX = 1, 10
MIGRATION_LOCK = postgres_admission.lock_key("migrate", 0)


class PostgresStore:
    def __init__(self, pool: asyncpg.Pool, location: DatabaseLocation) -> None:
        self._pool = pool
        self.location = location
        self._signals = Signals(location, CONNECT_TIMEOUT_S)

    @property
    def pool(self) -> asyncpg.Pool:
        """The connection pool, for this package's query modules."""
        return self._pool

    # --- opening and closing ---------------------------------------------------------------------
    @classmethod
    async def open(cls, location: DatabaseLocation) -> PostgresStore:
        """Connect and migrate; raise `StoreError` with one line that never shows the password."""
        try:
            pool = await asyncpg.create_pool(
                location.url, min_size=POOL_MIN, max_size=POOL_MAX, timeout=CONNECT_TIMEOUT_S
            )
        except Exception as exc:
            raise StoreError(explain(location, exc)) from exc
        store = cls(pool, location)
        try:
            await store.migrate()
            await store.check_writable()
        except StoreError:
            await store.close()
            raise
        except Exception as exc:
            await store.close()
            raise StoreError(explain(location, exc)) from exc
        return store

    async def migrate(self, target: int | None = None) -> int:
        """Apply every step above the database's version, each in one transaction; return the version."""
        target = LATEST if target is None else target
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                # Held to the end of this transaction: a second process waits, then sees the new version.
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                await conn.execute(VERSION_TABLE)
                version = int(await conn.fetchval("SELECT version FROM schema_version"))
                if version > LATEST:
                    raise StoreError(
                        f"database schema version {version} is newer than this bot ({LATEST}); upgrade the bot"
                    )
                if version >= target:
                    return version
                await conn.execute(MIGRATIONS[version])
                await conn.execute("UPDATE schema_version SET version = $1", version + 1)
            log.info("store: migrated to schema version %d", version + 1)

    async def schema_version(self) -> int:
        return int(await self._pool.fetchval("SELECT version FROM schema_version"))

    async def check_writable(self) -> None:
        """A real write, so a read-only server or a full disk shows at start and in /healthz."""
        await self._pool.execute("UPDATE meta SET value = $1 WHERE key = 'heartbeat'", str(time.time()))

    async def close(self) -> None:
        await self._signals.close()
        await self._pool.close()

    # --- tasks -----------------------------------------------------------------------------------
    async def insert_task(self, new: NewTask, *, now: float | None = None) -> Task:
        now = time.time() if now is None else now
        async with self._pool.acquire() as conn:
            row = await insert_row(conn, new, now, now)
        return Task.from_row(dict(row))

    async def update(self, task_id: str, **fields: Unpack[TaskUpdate]) -> Task:
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        values = [to_column(value) for value in fields.values()]
        # A cancelled task stays cancelled (see SqliteStore.update).
        assignments = ", ".join(
            f"state = CASE WHEN state = 'cancelled' THEN state ELSE ${n} END"
            if name == "state"
            else f"{name} = ${n}"
            for n, name in enumerate(fields, start=1)
        )
        row = await self._pool.fetchrow(
            f"UPDATE tasks SET {assignments} WHERE id = ${len(values) + 1} RETURNING {COLUMNS}",
            *values,
            task_id,
        )
        if row is None:
            raise KeyError(task_id)
        return Task.from_row(dict(row))

    async def apply(
        self, changes: Sequence[tuple[str, TaskUpdate]], *, release_owner: str | None = None
    ) -> None:
        """One transaction, one statement per shape of change (executemany)."""
        if not changes:
            return
        shapes: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for task_id, fields in changes:
            unknown = set(fields) - UPDATABLE
            if unknown:
                raise ValueError(f"not updatable: {sorted(unknown)}")
            names = tuple(fields)
            if not names:
                continue  # only its lease goes back (below); `SET` with nothing to set is invalid SQL
            shapes.setdefault(names, []).append((*(to_column(v) for v in fields.values()), task_id))
        async with self._pool.acquire() as connection, connection.transaction():
            for names, rows in shapes.items():
                assignments = [
                    f"state = CASE WHEN state = 'cancelled' THEN state ELSE ${n} END"
                    if name == "state"
                    else f"{name} = ${n}"
                    for n, name in enumerate(names, start=1)
                ]
                await connection.executemany(
                    f"UPDATE tasks SET {', '.join(assignments)} WHERE id = ${len(names) + 1}", rows
                )
            if release_owner is not None:
                await connection.execute(
                    "UPDATE tasks SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = $1 AND id = ANY($2)",
                    release_owner,
                    [task_id for task_id, _fields in changes],
                )

    async def increment(self, task_id: str, column: str) -> None:
        if column not in ("status_reads", "poll_count", "delivery_attempts"):
            raise ValueError(column)
        await self._pool.execute(f"UPDATE tasks SET {column} = {column} + 1 WHERE id = $1", task_id)

    async def get(self, task_id: str) -> Task | None:
        return await self._one(f"SELECT {COLUMNS} FROM tasks WHERE id = $1", task_id)

    async def cancel(self, task_id: str, user_id: int, *, now: float) -> Task | None:
        return await self._one(
            f"""UPDATE tasks SET state = 'cancelled', finished_at = $1, next_check_at = NULL, delivered_at = $1
                WHERE id = $2 AND user_id = $3 AND state IN {_UNFINISHED_SQL} RETURNING {COLUMNS}""",
            now,
            task_id,
            user_id,
        )

    async def children(self, task_id: str) -> list[Task]:
        return await self._many(
            f"SELECT {COLUMNS} FROM tasks WHERE parent_id = $1 ORDER BY created_at, seq", task_id
        )

    async def find(self, reference: str, provider: str) -> Task | None:
        """By the bot's short id first, then by the provider's task id."""
        reference = reference.strip()
        return await self.get(reference.lower()) or await self._one(
            f"""SELECT {COLUMNS} FROM tasks WHERE provider = $1 AND provider_task_id = $2
                ORDER BY created_at DESC LIMIT 1""",
            provider,
            reference,
        )

    async def active_duplicate(self, user_id: int, request_key: str) -> Task | None:
        return await self._one(
            f"""SELECT {COLUMNS} FROM tasks WHERE user_id = $1 AND request_key = $2
                AND state IN {_UNFINISHED_SQL} ORDER BY created_at LIMIT 1""",
            user_id,
            request_key,
        )

    async def unfinished_for_user(self, user_id: int) -> list[Task]:
        return await self._many(
            f"SELECT {COLUMNS} FROM tasks WHERE user_id = $1 AND state IN {_UNFINISHED_SQL} ORDER BY created_at",
            user_id,
        )

    async def user_log(
        self, user_id: int, *, states: Sequence[TaskState] | None = None, page: int = 1, per_page: int = 10
    ) -> tuple[list[Task], int]:
        """One page of a member's tasks, newest first, and how many there are in all."""
        where = "user_id = $1" + (f" AND state IN {sql_list(tuple(states))}" if states else "")
        total = int(await self._pool.fetchval(f"SELECT COUNT(*) FROM tasks WHERE {where}", user_id))
        tasks = await self._many(
            f"SELECT {COLUMNS} FROM tasks WHERE {where} ORDER BY created_at DESC, seq DESC LIMIT $2 OFFSET $3",
            user_id,
            per_page,
            max(0, page - 1) * per_page,
        )
        return tasks, total

    async def due_tasks(self, now: float, limit: int) -> list[Task]:
        return await self._many(
            f"""SELECT {COLUMNS} FROM tasks WHERE state IN {_UNFINISHED_SQL} AND next_check_at <= $1
                ORDER BY next_check_at LIMIT $2""",
            now,
            limit,
        )

    async def undelivered(self, now: float, limit: int) -> list[Task]:
        return await self._many(
            f"""SELECT {COLUMNS} FROM tasks WHERE state IN {_FINISHED_SQL} AND delivered_at IS NULL
                AND COALESCE(next_delivery_at, 0) <= $1 ORDER BY finished_at LIMIT $2""",
            now,
            limit,
        )

    async def counts_by_state(self, guild_id: int | None = None) -> dict[str, int]:
        if guild_id is None:
            rows = await self._pool.fetch("SELECT state, COUNT(*) FROM tasks GROUP BY state")
        else:
            rows = await self._pool.fetch(
                "SELECT state, COUNT(*) FROM tasks WHERE guild_id = $1 GROUP BY state", guild_id
            )
        counts: dict[str, int] = {state.value: 0 for state in TaskState}
        counts.update({str(row[0]): int(row[1]) for row in rows})
        return counts

    async def undelivered_count(self, guild_id: int | None = None) -> int:
        sql = f"SELECT COUNT(*) FROM tasks WHERE state IN {_FINISHED_SQL} AND delivered_at IS NULL"
        if guild_id is None:
            return int(await self._pool.fetchval(sql))
        return int(await self._pool.fetchval(sql + " AND guild_id = $1", guild_id))

    # --- admission and limits (see postgres_admission) -------------------------------------------
    async def admit(self, new: NewTask, rules: AdmitRules, *, now: float) -> Admitted:
        return await postgres_admission.admit(self, new, rules, now=now)

    async def promote_waiting(self, max_active: int, now: float, user_id: int | None = None) -> list[Task]:
        return await postgres_admission.promote_waiting(self, max_active, now, user_id)

    async def queue_position(self, task: Task) -> int:
        return await postgres_admission.queue_position(self, task)

    async def spend_since(self, guild_id: int, since: float, default_cost: Decimal) -> Decimal:
        """What a guild's requests cost since `since`: the provider's cost, or `default_cost` each
        for tasks still running or whose cost the provider never reported."""
        return await postgres_admission.spend_since(self, guild_id, since, default_cost)

    async def requests_since(self, user_id: int, since: float) -> int:
        return await postgres_admission.requests_since(self, user_id, since)

    # --- leases, signals and the shared provider pause ------------------------------------------
    async def next_wake_at(self, owner: str | None = None) -> float | None:
        """The earliest moment the engine has work: a due check or a due delivery."""
        return await postgres_leases.next_wake_at(self, owner)

    async def claim_due(self, owner: str, now: float, limit: int, lease_s: float) -> list[Task]:
        return await postgres_leases.claim_due(self, owner, now, limit, lease_s)

    async def claim_undelivered(self, owner: str, now: float, limit: int, lease_s: float) -> list[Task]:
        return await postgres_leases.claim_undelivered(self, owner, now, limit, lease_s)

    async def renew(self, owner: str, task_ids: Sequence[str], until: float) -> None:
        await postgres_leases.renew(self, owner, task_ids, until)

    async def release(self, owner: str, task_id: str) -> None:
        await postgres_leases.release(self, owner, task_id)

    async def listen(self, handler: SignalHandler) -> None:
        await self._signals.listen(handler)

    async def notify(self, channel: str, payload: str) -> None:
        await self._signals.notify(self._pool, channel, payload)

    async def set_provider_pause(self, until: float, reason: str) -> None:
        await postgres_leases.set_provider_pause(self, until, reason)

    async def provider_pause(self) -> tuple[float, str | None]:
        return await postgres_leases.provider_pause(self)

    # --- member settings and guild controls ------------------------------------------------------
    async def user_settings(self, user_id: int) -> UserSettings:
        row = await self._pool.fetchrow(
            "SELECT strength, remix FROM user_settings WHERE user_id = $1", user_id
        )
        return UserSettings(user_id) if row is None else UserSettings(user_id, row[0], bool(row[1]))

    async def all_user_settings(self) -> list[UserSettings]:
        rows = await self._pool.fetch("SELECT user_id, strength, remix FROM user_settings")
        return [UserSettings(int(row[0]), row[1], bool(row[2])) for row in rows]

    async def save_user_settings(
        self, user_id: int, *, strength: Strength | None = None, remix: bool | None = None
    ) -> UserSettings:
        # One statement: a missing value keeps the stored one, so two processes never undo each other.
        row = await self._pool.fetchrow(
            """INSERT INTO user_settings (user_id, strength, remix, updated_at)
               VALUES ($1, COALESCE($2, 'strong'), COALESCE($3, FALSE), $4)
               ON CONFLICT (user_id) DO UPDATE SET
                 strength = COALESCE($2, user_settings.strength), remix = COALESCE($3, user_settings.remix),
                 updated_at = excluded.updated_at
               RETURNING strength, remix""",
            user_id,
            strength,
            remix,
            time.time(),
        )
        assert row is not None
        return UserSettings(user_id, row[0], bool(row[1]))

    async def guild_controls(self, guild_id: int) -> GuildControls:
        row = await self._pool.fetchrow(
            "SELECT paused, paused_by, paused_at FROM guild_controls WHERE guild_id = $1", guild_id
        )
        return (
            GuildControls(guild_id) if row is None else GuildControls(guild_id, bool(row[0]), row[1], row[2])
        )

    async def set_guild_paused(self, guild_id: int, paused: bool, by: int | None) -> GuildControls:
        now = time.time()
        async with self._pool.acquire() as conn, conn.transaction():
            # The guild's admission lock: a request admitted just now finishes its check first.
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1)", postgres_admission.lock_key("guild", guild_id)
            )
            await conn.execute(
                """INSERT INTO guild_controls (guild_id, paused, paused_by, paused_at) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (guild_id) DO UPDATE SET paused = excluded.paused,
                   paused_by = excluded.paused_by, paused_at = excluded.paused_at""",
                guild_id,
                paused,
                by,
                now,
            )
        return GuildControls(guild_id, paused, by, now)

    # --- helpers ---------------------------------------------------------------------------------
    async def _one(self, sql: str, *params: Any) -> Task | None:
        row = await self._pool.fetchrow(sql, *params)
        return Task.from_row(dict(row)) if row is not None else None

    async def _many(self, sql: str, *params: Any) -> list[Task]:
        return [Task.from_row(dict(row)) for row in await self._pool.fetch(sql, *params)]
