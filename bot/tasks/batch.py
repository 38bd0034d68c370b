"""The engine's routine writes (a status read's outcome, the next check time), gathered per tick.

Thousands of tasks each read every few seconds would otherwise cost a transaction (and, on SQLite,
a sync to disk) each. Writes that must be durable before something else happens (the create marker
before a create leaves, a task's ending) stay immediate; these can be lost in a crash at no cost
beyond reading a status again. The engine flushes the batch before it looks for due work, so it
never acts on a schedule the batch has already moved.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from ..store.base import Store
from ..store.models import TaskUpdate


class WriteBatch:
    def __init__(self, store: Store, owner: str) -> None:
        self.store = store
        self.owner = owner
        self._changes: dict[str, TaskUpdate] = {}
        self._woken: set[str] = set()

    def __len__(self) -> int:
        return len(self._changes)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._changes

    def add(self, task_id: str, fields: TaskUpdate) -> None:
        self._changes.setdefault(task_id, {}).update(fields)

    def release(self, task_ids: Iterable[str]) -> None:
        """Hand these tasks' leases back at the next flush (their work here is done)."""
        for task_id in task_ids:
            self._changes.setdefault(task_id, {})

    def wake(self, task_id: str) -> None:
        """A callback came while this task's outcome waits here: check it again at once, whatever
        schedule the pending change sets."""
        self._woken.add(task_id)

    async def flush(self) -> int:
        """Apply everything in one transaction; on failure the changes stay for the next try."""
        if not self._changes:
            return 0
        # Taken whole before the await: work finishing meanwhile adds to a fresh batch.
        changes, self._changes = self._changes, {}
        now = time.time()
        for task_id in self._woken & changes.keys():
            if "next_check_at" in changes[task_id]:
                changes[task_id]["next_check_at"] = now
        try:
            await self.store.apply(list(changes.items()), release_owner=self.owner)
        except BaseException:
            for task_id, fields in changes.items():  # kept for the next try; newer values win
                self._changes[task_id] = {**fields, **self._changes.get(task_id, {})}
            raise
        self._woken -= changes.keys()
        return len(changes)
