"""The grids this process posted or read lately, in memory, so the remix editor opens with no I/O.

The editor (a modal) must be a press's first answer, so the prompt it is pre-filled with has to be at
hand before anything else happens: reading it from the store first would put that read, queued behind
the writes of every other press in a burst, ahead of the acknowledgement. Each grid this process
delivers or reads is kept here (its prompt and when it finished; a few hundred bytes), the oldest
forgotten past `KEPT`. A press on a grid not kept here (posted before a restart, or by another
process) reads it from the store as before.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from ..store.models import Task, TaskState
from .admission import grid_expired

KEPT = 4096


class RecentGrids:
    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._prompts: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def remember(self, task: Task) -> None:
        """Keep a grid that can be varied (a finished imagine or variation with images)."""
        if task.kind == "upscale" or task.state != TaskState.SUCCEEDED or not task.provider_task_id:
            return
        self._prompts[task.id] = (task.effective_prompt or "", task.finished_at or time.time())
        self._prompts.move_to_end(task.id)
        while len(self._prompts) > self.kept:
            self._prompts.popitem(last=False)

    def prompt(self, task_id: str, now: float | None = None) -> str | None:
        """The grid's prompt, or None when it is not kept here or too old to vary (the store read
        that follows then says why)."""
        kept = self._prompts.get(task_id)
        if kept is None:
            return None
        prompt, finished_at = kept
        if grid_expired(finished_at, now):
            del self._prompts[task_id]
            return None
        return prompt

    def __len__(self) -> int:
        return len(self._prompts)
