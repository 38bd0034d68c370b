"""Edits each member's deferred reply as their task moves (queued → running N% → done or failed).

Interaction tokens live 15 minutes, so a reply is only edited for 14; the final result never depends
on this (it is a channel message sent with the bot token). Kept in memory on purpose: tokens are
short-lived secrets with no value after a restart.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

if TYPE_CHECKING:
    from .client import MJBot

from .. import messages
from ..store import Task

log = logging.getLogger(__name__)

TOKEN_LIFETIME_S = 14 * 60
MIN_EDIT_GAP_S = 1.5


@dataclass
class _Watch:
    interaction: discord.Interaction[MJBot]
    since: float
    last_edit: float = 0.0
    last_text: str = ""


class ProgressTracker:
    def __init__(self) -> None:
        self._watching: dict[str, _Watch] = {}

    def watch(self, task: Task, interaction: discord.Interaction[MJBot]) -> None:
        if not task.finished:
            self._watching[task.id] = _Watch(
                interaction, time.monotonic(), time.monotonic(), messages.accepted(task, existing=False)
            )

    async def update(self, task: Task, *, final_text: str | None = None) -> None:
        watch = self._watching.get(task.id)
        if watch is None:
            return
        now = time.monotonic()
        if now - watch.since > TOKEN_LIFETIME_S:
            self._watching.pop(task.id, None)
            return
        if task.state == "succeeded" and final_text is None:
            return  # the deliverer edits once the post is really in the channel
        text = final_text or messages.progress(task)
        if text == watch.last_text or (not task.finished and now - watch.last_edit < MIN_EDIT_GAP_S):
            return
        if task.finished:
            self._watching.pop(task.id, None)
        watch.last_edit, watch.last_text = now, text
        try:
            await watch.interaction.edit_original_response(content=text)
        except discord.HTTPException as exc:
            log.debug("progress edit for %s skipped: %s", task.id, exc)
            self._watching.pop(task.id, None)
