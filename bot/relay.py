"""What the other processes say (PostgreSQL LISTEN/NOTIFY; within the process on SQLite), relayed to
the parts of this one that care: the engine, the member settings, and the members' private replies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from . import messages
from .discord_app.progress import ProgressTracker
from .store.base import SignalHandler, Store
from .store.models import TaskState
from .tasks.engine import Engine
from .tasks.members import MemberSettings

log = logging.getLogger(__name__)


class Relay:
    def __init__(
        self, store: Store, engine: Engine, members: MemberSettings, tracker: ProgressTracker
    ) -> None:
        self.store = store
        self.engine = engine
        self.members = members
        self.tracker = tracker
        self._running: set[asyncio.Task[None]] = set()

    @property
    def handler(self) -> SignalHandler:
        return self.receive

    def receive(self, channel: str, payload: str) -> None:
        if channel == "wake":
            if payload:
                self.engine.woken(payload)
            else:
                self.engine.wake()
        elif channel == "pause" and payload:
            until, _, reason = payload.partition("|")
            try:
                self.engine.paused_elsewhere(float(until), reason or None)
            except ValueError:
                log.warning("relay: unreadable pause signal %r", payload)
        elif channel == "settings":
            self._later(self.members.reload(int(payload) if payload.isdigit() else None))
        elif channel == "task" and payload and self.tracker.watching(payload):
            self._later(self._show(payload))

    async def _show(self, task_id: str) -> None:
        """Another process moved a task whose member's reply this process holds: show it."""
        task = await self.store.get(task_id)
        if task is None:
            return
        if task.state == TaskState.SUCCEEDED and task.delivered:
            link = messages.message_link(task)
            if link:
                await self.tracker.update(task, final_text=messages.posted(task, link))
            return
        await self.tracker.update(task, await self.store.queue_position(task))

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except Exception as exc:
                log.warning("relay: could not act on a signal (%s)", exc)

        task = asyncio.create_task(guarded())
        self._running.add(task)
        task.add_done_callback(self._running.discard)
