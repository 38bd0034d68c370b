"""Keeps the engine honest when the store stops taking writes (disk full, read-only, locked).

While the store is down no new provider work starts: every status read or create would have to be
recorded, and an unrecorded one is repeated (or charged twice). Work that failed waits in memory with
its own backoff instead of being rescheduled by another write that would fail too. The store is
probed every few seconds; the operator gets one log line when it fails and one when it recovers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ..store.base import Store

log = logging.getLogger(__name__)

PROBE_EVERY_S = 2.0
HOLD_FIRST_S = 1.0
HOLD_LONGEST_S = 60.0


@dataclass
class _Hold:
    until: float
    attempts: int


class StoreWatch:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.fault: str | None = None
        self._next_probe = 0.0
        self._held: dict[str, _Hold] = {}

    @property
    def healthy(self) -> bool:
        return self.fault is None

    def failed(self, exc: BaseException) -> None:
        if self.fault is None:
            log.error(
                "store: cannot be used (%s: %s); no new provider work until it recovers",
                type(exc).__name__,
                exc,
            )
        self.fault = f"{type(exc).__name__}: {exc}"
        self._next_probe = time.monotonic() + PROBE_EVERY_S

    async def probe(self) -> bool:
        """Whether the store takes writes again; asks it at most every few seconds."""
        if self.fault is None:
            return True
        if time.monotonic() < self._next_probe:
            return False
        try:
            await self.store.check_writable()
        except Exception as exc:
            self.failed(exc)
            return False
        log.warning("store: writable again after %s; resuming", self.fault)
        self.fault = None
        return True

    def hold(self, task_id: str) -> None:
        """Keep a task off the schedule for a while, in memory (writing a new schedule could fail too)."""
        held = self._held.get(task_id)
        attempts = held.attempts + 1 if held else 1
        wait = min(HOLD_LONGEST_S, HOLD_FIRST_S * 2 ** (attempts - 1))
        self._held[task_id] = _Hold(time.time() + wait, attempts)

    def held(self, task_id: str, now: float) -> bool:
        held = self._held.get(task_id)
        return held is not None and held.until > now

    def release(self, task_id: str) -> None:
        self._held.pop(task_id, None)
