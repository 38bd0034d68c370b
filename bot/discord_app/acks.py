"""Interactions in flight: their acknowledgements go first, and a shutdown waits for their work.

Discord drops an interaction not acknowledged within 3 s, and the work behind an acknowledgement
(admission, a provider create, editing the reply) competes with the acknowledgements still to come
for the event loop and for connections to Discord. So each interaction's work waits until every
interaction that has started to acknowledge has done so, for at most `MAX_WAIT_S`: nothing at all
when the bot is idle, a fraction of a second in a burst, and never starved by a steady stream.

A member whose press was acknowledged is owed its outcome, so on SIGTERM the bot stops taking new
interactions and lets the work of acknowledged ones finish (`drain`) before it closes the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

log = logging.getLogger(__name__)

MAX_WAIT_S = 0.5


class InFlight:
    def __init__(self, max_wait_s: float = MAX_WAIT_S) -> None:
        self.max_wait_s = max_wait_s
        self._pending = 0
        self._clear = asyncio.Event()
        self._clear.set()
        self._working: set[asyncio.Task[Any]] = set()

    # --- acknowledgements first ------------------------------------------------------------------
    def arrived(self) -> None:
        """An acknowledgement is about to be sent; the interaction's work is kept for `drain`."""
        self._pending += 1
        self._clear.clear()
        task = asyncio.current_task()
        if task is not None and task not in self._working:
            self._working.add(task)
            task.add_done_callback(self._working.discard)

    def acknowledged(self) -> None:
        self._pending = max(0, self._pending - 1)
        if self._pending == 0:
            self._clear.set()

    @property
    def pending(self) -> int:
        return self._pending

    async def settled(self) -> None:
        """Return once no acknowledgement is pending, or after `max_wait_s`."""
        if self._pending:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.max_wait_s):
                    await self._clear.wait()

    # --- shutdown --------------------------------------------------------------------------------
    async def drain(self, grace_s: float) -> None:
        """Wait for the work of every acknowledged interaction, up to `grace_s` seconds."""
        current = asyncio.current_task()
        pending = [task for task in self._working if task is not current and not task.done()]
        if not pending:
            return
        log.info("waiting for the work of %d acknowledged interactions", len(pending))
        _done, still = await asyncio.wait(pending, timeout=grace_s)
        if still:
            log.warning(
                "%d interactions were still working after %.0f s; their members may see no answer",
                len(still),
                grace_s,
            )
