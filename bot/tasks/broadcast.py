"""Telling the other processes: wake-ups, moved tasks and provider pauses, sent in the background.

With one process (SQLite) the store delivers these within the process. Sending never blocks the
caller and never fails it: a signal that cannot be sent is logged, and the others still find the
work through the schedule in the store, only later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from ..store.base import Store

log = logging.getLogger(__name__)


class Broadcast:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._background: set[asyncio.Task[None]] = set()

    def send(self, channel: str, payload: str) -> None:
        self._spawn(self._notify(channel, payload))

    def pause(self, until: float, reason: str) -> None:
        """The provider asked us to wait: stored for processes that start later, and signalled."""

        async def share() -> None:
            try:
                await self.store.set_provider_pause(until, reason)
            except Exception as exc:
                log.warning("engine: could not share the provider pause (%s)", exc)
            await self._notify("pause", f"{until}|{reason}")

        self._spawn(share())

    async def _notify(self, channel: str, payload: str) -> None:
        try:
            await self.store.notify(channel, payload)
        except Exception as exc:
            log.warning("engine: could not signal %s to other processes (%s)", channel, exc)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)  # a reference, so the task is not collected mid-flight
        task.add_done_callback(self._background.discard)
