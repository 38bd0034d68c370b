"""The engine's writes for one tick, applied to SQLite as ONE statement: one transaction, one sync.

Each change is a JSON object of the columns it sets (a column it leaves out keeps its value, a JSON
null sets NULL); `UPDATE … FROM json_each(?)` applies them all at once, releasing the changed tasks'
leases when asked. One statement cannot interleave with the other coroutines' writes on the shared
connection, so nothing else is swept into (or rolled back with) the batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .models import UPDATABLE, TaskState, TaskUpdate

if TYPE_CHECKING:
    from .sqlite import SqliteStore


def to_column(value: Any) -> Any:
    """A field's value as SQLite stores it."""
    if isinstance(value, TaskState):
        return value.value
    if isinstance(value, tuple | list):
        return json.dumps(list(value))
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _assignment(column: str) -> str:
    value = f"json_extract(change.value, '$.{column}')"
    given = f"json_type(change.value, '$.{column}') IS NOT NULL"
    if column == "state":
        # A cancelled task stays cancelled (see SqliteStore.update).
        return f"state = CASE WHEN tasks.state = 'cancelled' OR NOT {given} THEN tasks.state ELSE {value} END"
    return f"{column} = CASE WHEN {given} THEN {value} ELSE tasks.{column} END"


async def apply(
    store: SqliteStore, changes: Sequence[tuple[str, TaskUpdate]], *, release_owner: str | None
) -> None:
    if not changes:
        return
    columns = sorted({name for _task_id, fields in changes for name in fields})
    unknown = set(columns) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {unknown}")
    payload = [
        {"id": task_id, **{name: to_column(value) for name, value in fields.items()}}
        for task_id, fields in changes
    ]
    assignments = [_assignment(column) for column in columns]
    if release_owner is not None:
        assignments.append(
            "claimed_by = CASE WHEN tasks.claimed_by = :owner THEN NULL ELSE tasks.claimed_by END"
        )
        assignments.append(
            "lease_until = CASE WHEN tasks.claimed_by = :owner THEN NULL ELSE tasks.lease_until END"
        )
    sql = (
        f"UPDATE tasks SET {', '.join(assignments)} FROM json_each(:changes) AS change "
        "WHERE tasks.id = json_extract(change.value, '$.id')"
    )
    await store.db.execute(sql, {"changes": json.dumps(payload), "owner": release_owner})
