"""The SQLite task store: one aiosqlite connection (the single writer), parameterised SQL, typed records.

aiosqlite runs SQLite on its own thread, so no query blocks the event loop. One process owns the file
(an exclusive lock on `<file>.lock`): two bots on one file would each poll, deliver and charge for
every task. Several processes need the PostgreSQL store.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Unpack

import aiosqlite

from ..config import DatabaseLocation
from . import sqlite_admission, sqlite_batch, sqlite_leases
from .base import AdmitRules, Admitted, SignalHandler, StoreError
from .migrations import LATEST, MIGRATIONS
from .models import (
    FINISHED,
    UNFINISHED,
    UPDATABLE,
    NewTask,
    Task,
    TaskState,
    TaskUpdate,
    new_short_id,
    sql_list,
)
from .sqlite_batch import to_column
from .sqlite_file import explain, lock_file, unlock_file
from .sqlite_settings import SettingsQueries

log = logging.getLogger(__name__)

_UNFINISHED_SQL = sql_list(UNFINISHED)
_FINISHED_SQL = sql_list(FINISHED)


class SqliteStore(SettingsQueries):
    def __init__(
        self, connection: aiosqlite.Connection, location: DatabaseLocation, lock_fd: int | None = None
    ) -> None:
        self._db = connection
        self.location = location
        self._lock_fd = lock_fd
        self._signals = sqlite_leases.LocalSignals()

    @property
    def db(self) -> aiosqlite.Connection:
        """The one connection, for this package's query modules."""
        return self._db

    # --- opening and closing ---------------------------------------------------------------------
    @classmethod
    async def open(cls, location: DatabaseLocation) -> SqliteStore:
        """Open (creating the data directory if missing), lock and migrate; raise `StoreError` clearly.

        Whatever fails, nothing stays open: a connection left behind keeps aiosqlite's thread, and
        with it the process, alive after the event loop ends.
        """
        lock_fd = None
        if not location.in_memory:
            path = Path(location.path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the data directory {path.parent}: {exc.strerror}") from exc
            if path.is_dir():  # noqa: ASYNC240 - one stat at start-up
                raise StoreError(f"database path {path} is a directory, not a file")
            lock_fd = lock_file(path)
        try:
            connection = await aiosqlite.connect(location.path, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            unlock_file(lock_fd)
            raise StoreError(f"cannot open the database {location.path}: {exc}") from exc
        connection.row_factory = aiosqlite.Row
        store = cls(connection, location, lock_fd)
        try:
            await store._prepare()
        except sqlite3.DatabaseError as exc:
            await store.close()
            raise StoreError(explain(location.path, exc)) from exc
        except BaseException:
            await store.close()
            raise
        return store

    async def _prepare(self) -> None:
        await self._db.execute("PRAGMA foreign_keys = ON")
        await self._db.execute("PRAGMA busy_timeout = 5000")
        if not self.location.in_memory:
            await self._db.execute("PRAGMA journal_mode = WAL")
            # FULL syncs the WAL at every commit: `create_started_at` must be on disk before a create
            # goes to the (paying) provider, or a power cut would send it again after restart. The bot
            # writes a few rows per request, so the extra fsync costs nothing that shows.
            await self._db.execute("PRAGMA synchronous = FULL")
        await self.migrate()
        await self.check_writable()
        # This process holds the file's lock, so any lease in it was left by a process that is gone
        # (killed mid-check): free its tasks now rather than after LEASE_S.
        await self._db.execute(
            "UPDATE tasks SET claimed_by = NULL, lease_until = NULL WHERE claimed_by IS NOT NULL"
        )

    async def migrate(self, target: int | None = None) -> int:
        """Apply every step above the file's version, each in its own transaction; return the version."""
        target = LATEST if target is None else target
        version = await self.schema_version()
        if version > LATEST:
            raise StoreError(
                f"database schema version {version} is newer than this bot ({LATEST}); upgrade the bot"
            )
        for number in range(version + 1, target + 1):
            statements = [s.strip() for s in MIGRATIONS[number - 1].split(";") if s.strip()]
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements:
                    await self._db.execute(statement)
                await self._db.execute(f"PRAGMA user_version = {number}")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")
            log.info("store: migrated to schema version %d", number)
        return await self.schema_version()

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def check_writable(self) -> None:
        """A real write, so a read-only file or full disk shows at start and in /healthz."""
        await self._db.execute("UPDATE meta SET value = ? WHERE key = 'heartbeat'", (str(time.time()),))

    async def close(self) -> None:
        try:
            await self._db.close()
        finally:
            unlock_file(self._lock_fd)
            self._lock_fd = None

    # --- tasks -----------------------------------------------------------------------------------
    async def insert_task(self, new: NewTask, *, now: float | None = None) -> Task:
        now = time.time() if now is None else now
        for _ in range(10):
            task_id = new_short_id()
            try:
                await self._db.execute(
                    """INSERT INTO tasks (id, provider, kind, parent_id, parent_provider_task_id, image_index,
                        strength, prompt, remix_prompt, request_key, user_id, guild_id, channel_id, state,
                        created_at, next_check_at, last_progress_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        task_id,
                        new.provider,
                        new.kind,
                        new.parent_id,
                        new.parent_provider_task_id,
                        new.image_index,
                        new.strength,
                        new.prompt,
                        new.remix_prompt,
                        new.request_key,
                        new.user_id,
                        new.guild_id,
                        new.channel_id,
                        TaskState.QUEUED.value,
                        now,
                        now,
                        now,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                if "tasks.id" in str(exc):
                    continue  # a short-id collision: draw again
                raise
            task = await self.get(task_id)
            assert task is not None
            return task
        raise StoreError("could not draw a free task id")

    async def update(self, task_id: str, **fields: Unpack[TaskUpdate]) -> Task:
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        values = [to_column(value) for value in fields.values()]
        # A cancelled task stays cancelled: work that was in flight when the member cancelled may
        # still record what it learnt (the provider's id, a read), but not move the task on.
        assignments = ", ".join(
            "state = CASE WHEN state = 'cancelled' THEN state ELSE ? END"
            if name == "state"
            else f"{name} = ?"
            for name in fields
        )
        await self._db.execute(f"UPDATE tasks SET {assignments} WHERE id = ?", (*values, task_id))
        task = await self.get(task_id)
        if task is None:
            raise KeyError(task_id)
        return task

    async def apply(
        self, changes: Sequence[tuple[str, TaskUpdate]], *, release_owner: str | None = None
    ) -> None:
        await sqlite_batch.apply(self, changes, release_owner=release_owner)

    async def increment(self, task_id: str, column: str) -> None:
        if column not in ("status_reads", "poll_count", "delivery_attempts"):
            raise ValueError(column)
        await self._db.execute(f"UPDATE tasks SET {column} = {column} + 1 WHERE id = ?", (task_id,))

    async def cancel(self, task_id: str, user_id: int, *, now: float) -> Task | None:
        rows = await self._db.execute_fetchall(
            f"""UPDATE tasks SET state = 'cancelled', finished_at = ?, next_check_at = NULL, delivered_at = ?
                WHERE id = ? AND user_id = ? AND state IN {_UNFINISHED_SQL} RETURNING *""",
            (now, now, task_id, user_id),
        )
        return next((Task.from_row(dict(row)) for row in rows), None)

    async def children(self, task_id: str) -> list[Task]:
        return await self._many("SELECT * FROM tasks WHERE parent_id = ? ORDER BY created_at", (task_id,))

    async def get(self, task_id: str) -> Task | None:
        return await self._one("SELECT * FROM tasks WHERE id = ?", (task_id,))

    async def by_provider_id(self, provider: str, provider_task_id: str) -> Task | None:
        return await self._one(
            "SELECT * FROM tasks WHERE provider = ? AND provider_task_id = ? ORDER BY created_at DESC LIMIT 1",
            (provider, provider_task_id),
        )

    async def find(self, reference: str, provider: str) -> Task | None:
        """By the bot's short id first, then by the provider's task id."""
        reference = reference.strip()
        return await self.get(reference.lower()) or await self.by_provider_id(provider, reference)

    async def active_duplicate(self, user_id: int, request_key: str) -> Task | None:
        return await self._one(
            f"""SELECT * FROM tasks WHERE user_id = ? AND request_key = ? AND state IN {_UNFINISHED_SQL}
                ORDER BY created_at LIMIT 1""",
            (user_id, request_key),
        )

    async def unfinished_for_user(self, user_id: int) -> list[Task]:
        return await self._many(
            f"SELECT * FROM tasks WHERE user_id = ? AND state IN {_UNFINISHED_SQL} ORDER BY created_at",
            (user_id,),
        )

    async def user_log(
        self, user_id: int, *, states: Sequence[TaskState] | None = None, page: int = 1, per_page: int = 10
    ) -> tuple[list[Task], int]:
        """One page of a member's tasks, newest first, and how many there are in all."""
        where, params = "user_id = ?", [user_id]
        if states:
            where += f" AND state IN {sql_list(tuple(states))}"
        async with self._db.execute(f"SELECT COUNT(*) FROM tasks WHERE {where}", params) as cursor:
            row = await cursor.fetchone()
        total = int(row[0]) if row else 0
        offset = max(0, page - 1) * per_page
        tasks = await self._many(
            f"SELECT * FROM tasks WHERE {where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
            (*params, per_page, offset),
        )
        return tasks, total

    async def due_tasks(self, now: float, limit: int) -> list[Task]:
        return await self._many(
            f"""SELECT * FROM tasks WHERE state IN {_UNFINISHED_SQL} AND next_check_at <= ?
                ORDER BY next_check_at LIMIT ?""",
            (now, limit),
        )

    async def undelivered(self, now: float, limit: int) -> list[Task]:
        return await self._many(
            f"""SELECT * FROM tasks WHERE state IN {_FINISHED_SQL} AND delivered_at IS NULL
                AND COALESCE(next_delivery_at, 0) <= ? ORDER BY finished_at LIMIT ?""",
            (now, limit),
        )

    async def next_wake_at(self, owner: str | None = None) -> float | None:
        """The earliest moment the engine has work: a due check or a due delivery."""
        return await sqlite_leases.next_wake_at(self, owner)

    # --- leases, signals and the shared provider pause (see sqlite_leases) --------------------
    async def claim_due(self, owner: str, now: float, limit: int, lease_s: float) -> list[Task]:
        return await sqlite_leases.claim_due(self, owner, now, limit, lease_s)

    async def claim_undelivered(self, owner: str, now: float, limit: int, lease_s: float) -> list[Task]:
        return await sqlite_leases.claim_undelivered(self, owner, now, limit, lease_s)

    async def renew(self, owner: str, task_ids: Sequence[str], until: float) -> None:
        await sqlite_leases.renew(self, owner, task_ids, until)

    async def release(self, owner: str, task_id: str) -> None:
        await sqlite_leases.release(self, owner, task_id)

    async def listen(self, handler: SignalHandler) -> None:
        self._signals.listen(handler)

    async def notify(self, channel: str, payload: str) -> None:
        self._signals.notify(channel, payload)

    async def set_provider_pause(self, until: float, reason: str) -> None:
        await self._db.execute(
            "INSERT INTO meta (key, value) VALUES ('provider_pause', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (sqlite_leases.pause_value(until, reason),),
        )

    async def provider_pause(self) -> tuple[float, str | None]:
        async with self._db.execute("SELECT value FROM meta WHERE key = 'provider_pause'") as cursor:
            row = await cursor.fetchone()
        return sqlite_leases.parse_pause(row[0] if row else None)

    async def counts_by_state(self, guild_id: int | None = None) -> dict[str, int]:
        where, params = ("WHERE guild_id = ?", (guild_id,)) if guild_id is not None else ("", ())
        async with self._db.execute(
            f"SELECT state, COUNT(*) FROM tasks {where} GROUP BY state", params
        ) as cursor:
            rows = await cursor.fetchall()
        counts: dict[str, int] = {state.value: 0 for state in TaskState}
        counts.update({str(row[0]): int(row[1]) for row in rows})
        return counts

    async def undelivered_count(self, guild_id: int | None = None) -> int:
        where, params = (" AND guild_id = ?", (guild_id,)) if guild_id is not None else ("", ())
        async with self._db.execute(
            f"SELECT COUNT(*) FROM tasks WHERE state IN {_FINISHED_SQL} AND delivered_at IS NULL{where}",
            params,
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    # --- admission and limits (one SQL statement each: see sqlite_admission) -----------------
    async def admit(self, new: NewTask, rules: AdmitRules, *, now: float) -> Admitted:
        return await sqlite_admission.admit(self, new, rules, now=now)

    async def promote_waiting(self, max_active: int, now: float, user_id: int | None = None) -> list[Task]:
        return await sqlite_admission.promote_waiting(self, max_active, now, user_id)

    async def queue_position(self, task: Task) -> int:
        return await sqlite_admission.queue_position(self, task)

    async def spend_since(self, guild_id: int, since: float, default_cost: Decimal) -> Decimal:
        """What a guild's requests cost since `since`: the provider's cost, or `default_cost` each
        for tasks still running or whose cost the provider never reported."""
        return await sqlite_admission.spend_since(self, guild_id, since, default_cost)

    async def requests_since(self, user_id: int, since: float) -> int:
        return await sqlite_admission.requests_since(self, user_id, since)

    # --- helpers ---------------------------------------------------------------------------------
    async def _one(self, sql: str, params: Iterable[Any]) -> Task | None:
        async with self._db.execute(sql, tuple(params)) as cursor:
            row = await cursor.fetchone()
        return Task.from_row(dict(row)) if row is not None else None

    async def _many(self, sql: str, params: Iterable[Any]) -> list[Task]:
        async with self._db.execute(sql, tuple(params)) as cursor:
            rows = await cursor.fetchall()
        return [Task.from_row(dict(row)) for row in rows]
