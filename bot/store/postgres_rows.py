"""Task rows on PostgreSQL: the column list every query returns, the insert, and value conversion."""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ..config import DatabaseLocation
from .base import StoreError
from .models import TASK_COLUMNS, NewTask, TaskState, new_short_id

# A connection of its own or one borrowed from the pool: the queries work on either.
Connection = asyncpg.Connection | PoolConnectionProxy

# Named columns, not `*`: the table also has `seq`, which is no field of `Task`.
COLUMNS = ", ".join(TASK_COLUMNS)


async def insert_row(
    conn: Connection, new: NewTask, now: float, next_check_at: float | None
) -> asyncpg.Record:
    """Insert a queued task under a fresh short id (drawn again on a collision); return its row."""
    for _ in range(10):
        row = await conn.fetchrow(
            f"""INSERT INTO tasks (id, provider, kind, parent_id, parent_provider_task_id, image_index,
                    strength, prompt, remix_prompt, request_key, user_id, guild_id, channel_id, state,
                    created_at, next_check_at, last_progress_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'queued', $14, $15, $14)
                ON CONFLICT (id) DO NOTHING RETURNING {COLUMNS}""",
            new_short_id(),
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
            now,
            next_check_at,
        )
        if row is not None:
            return row
    raise StoreError("could not draw a free task id")


def to_column(value: Any) -> Any:
    if isinstance(value, TaskState):
        return value.value
    if isinstance(value, tuple | list):
        return json.dumps(list(value))
    return value


# How long a connection attempt may take before start-up says PostgreSQL did not answer.
CONNECT_TIMEOUT_S = 10.0


def explain(location: DatabaseLocation, exc: BaseException) -> str:
    """One line for the operator on why PostgreSQL cannot be used; never the password."""
    where = _where(location)
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return (
            f"PostgreSQL at {where} has no such database ({exc}); create it or fix the name in DATABASE_URL"
        )
    if isinstance(exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
        return f"PostgreSQL at {where} refused the login ({exc}); check the user and password in DATABASE_URL"
    if isinstance(exc, TimeoutError):
        return f"PostgreSQL at {where} did not answer within {CONNECT_TIMEOUT_S:g}s; check the host and port"
    if isinstance(exc, OSError):
        reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
        return f"cannot reach PostgreSQL at {where} ({reason}); check that it runs and the host and port"
    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
        return f"PostgreSQL at {where} denied a change the bot needs ({exc}); grant the user rights on the database"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"PostgreSQL at {where} cannot be used: {text}"


def _where(location: DatabaseLocation) -> str:
    parts = urlsplit(location.url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}{parts.path or ''}"
