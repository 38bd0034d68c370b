"""Edits each member's private reply as their task moves (queued → running N% → done or failed).

Interaction tokens live 15 minutes, so a reply is only edited for 14; the result itself never depends
on this (it is a channel message sent with the bot token). Kept in memory on purpose: tokens are
short-lived secrets with no value after a restart.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from .. import messages
from ..store.models import Task, TaskState

if TYPE_CHECKING:
    from .client import MJBot

log = logging.getLogger(__name__)

TOKEN_LIFETIME_S = 14 * 60
MIN_EDIT_GAP_S = 1.5
TOLD_MEMORY = 1000


@dataclass
class _Watch:
    interaction: discord.Interaction[MJBot]
    since: float
    last_edit: float = 0.0
    last_text: str = ""
    # The place in the member's queue the reply last showed: a move is always shown at once (it may
    # not come again for a whole task's run); only progress within the same place waits for the gap.
    last_position: int = 0


class ProgressTracker:
    def __init__(self) -> None:
        self._watching: dict[str, _Watch] = {}
        # Finished tasks whose ending reached the member in their reply (so delivery need not DM them).
        self._told: dict[str, None] = {}

    def watch(
        self, task: Task, interaction: discord.Interaction[MJBot], text: str, position: int = 0
    ) -> None:
        if not task.finished:
            now = time.monotonic()
            self._watching[task.id] = _Watch(interaction, now, now, text, position)

    def watching(self, task_id: str) -> bool:
        return task_id in self._watching

    def was_told(self, task_id: str) -> bool:
        return task_id in self._told

    async def update(self, task: Task, position: int = 0, *, final_text: str | None = None) -> None:
        watch = self._watching.get(task.id)
        if watch is None:
            return
        now = time.monotonic()
        if now - watch.since > TOKEN_LIFETIME_S:
            self._watching.pop(task.id, None)
            return
        if task.state == TaskState.SUCCEEDED and final_text is None:
            return  # the deliverer edits once the post is really in the channel
        text = final_text or messages.progress(task, position)
        moved = position != watch.last_position
        if text == watch.last_text or (
            not task.finished and not moved and now - watch.last_edit < MIN_EDIT_GAP_S
        ):
            return
        watch.last_edit, watch.last_text, watch.last_position = now, text, position
        try:
            if task.finished:
                # The Cancel button goes with the last edit: there is nothing left to cancel.
                await watch.interaction.edit_original_response(content=text, view=None)
            else:
                await watch.interaction.edit_original_response(content=text)
        except discord.HTTPException as exc:
            log.debug("progress edit for %s skipped: %s", task.id, exc)
            self._watching.pop(task.id, None)
            return
        if task.finished:
            self._watching.pop(task.id, None)
            self._told[task.id] = None
            while len(self._told) > TOLD_MEMORY:
                self._told.pop(next(iter(self._told)))
