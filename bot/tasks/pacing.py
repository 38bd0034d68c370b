"""How much due work an engine tick claims, and when it looks for results to deliver.

A tick claims enough checks to fill its free slots and every slot once more: small, so that with
several processes the work spreads over all of them, and none while every slot is busy (slots stuck
on a slow provider must not hold work another process could do). While claims keep coming back full
(a backlog, as after a restart with thousands of tasks due), each tick claims twice as far ahead as
the last, up to `MAX_AHEAD` times the slots: every claim is a store round trip, and on SQLite a
synced commit, so a slot's worth at a time would spend more on claiming than on reading. The first
claim that comes back short ends the backlog, and the next claims are small again.

During a backlog a tick looks for results to deliver only when a task ended in this process, or
once `DELIVERY_SWEEP_S` has passed since the last look (a retry fell due, another process stopped
before delivering): otherwise every claim of checks would cost a second claim that finds nothing.
"""

from __future__ import annotations

MAX_AHEAD = 8
DELIVERY_SWEEP_S = 1.0


class Pacing:
    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.ahead = concurrency
        self.backlog = False
        self.full = False  # the last `wanted` claimed nothing: slots busy or enough claimed ahead
        self._deliveries_owed = True  # one look at start: results the last process left
        self._next_sweep_at = 0.0

    def wanted(self, busy: int, ready: int) -> int:
        """How many due checks to claim now, with `busy` slots working and `ready` claimed ones
        waiting for a slot."""
        free = self.concurrency - busy
        if free > 0 and self.backlog and ready < self.concurrency:
            self.ahead = min(self.concurrency * MAX_AHEAD, self.ahead * 2)
        wanted = max(0, free + self.ahead - ready) if free > 0 else 0
        self.full = wanted == 0
        return wanted

    @property
    def busy(self) -> bool:
        """Working through more than it can start: deliveries are looked for less often."""
        return self.full or self.backlog

    def claimed(self, wanted: int, got: int) -> None:
        self.backlog = got == wanted
        if not self.backlog:
            self.ahead = self.concurrency

    def ended_here(self) -> None:
        """A task ended in this process: its result is to be delivered."""
        self._deliveries_owed = True

    def look_for_deliveries(self, now: float, *, busy: bool) -> bool:
        """Whether this tick claims results to deliver (and if so, it is counted as the look)."""
        if busy and not self._deliveries_owed and now < self._next_sweep_at:
            return False
        self._deliveries_owed = False
        self._next_sweep_at = now + DELIVERY_SWEEP_S
        return True
