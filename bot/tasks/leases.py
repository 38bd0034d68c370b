"""The leases this process holds: when each claimed task's lease ends, and when to renew them.

A claim (`Store.claim_due`, `Store.claim_undelivered`) leases a task for `LEASE_S`. Work in flight
is renewed for all of it once the soonest of its leases is half spent, so a slow provider or a big
upload never loses its claim. Checks claimed ahead and still waiting for a slot are *not* renewed:
one that waited past half its lease is handed back instead of started, so a task is never started
on a lease about to lapse (another process could then take it too), and a process whose slots are
stuck cannot sit on work another process could do.
"""

from __future__ import annotations

from collections.abc import Iterable


class Leases:
    def __init__(self, lease_s: float) -> None:
        self.lease_s = lease_s
        self._ends: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._ends)

    def claimed(self, task_ids: Iterable[str], now: float) -> None:
        for task_id in task_ids:
            self._ends[task_id] = now + self.lease_s

    def renewed(self, task_ids: Iterable[str], until: float) -> None:
        for task_id in task_ids:
            if task_id in self._ends:
                self._ends[task_id] = until

    def dropped(self, task_id: str) -> None:
        """The work ended (its lease goes back with the next write batch) or was handed back."""
        self._ends.pop(task_id, None)

    def fresh(self, task_id: str, now: float) -> bool:
        """Enough of this lease is left to start work on it (at least half)."""
        return self._ends.get(task_id, 0.0) - now >= self.lease_s / 2

    def renew_at(self, in_flight: Iterable[str]) -> float | None:
        """When the work in flight must be renewed: half a lease before the soonest one ends."""
        soonest = min((self._ends[task_id] for task_id in in_flight if task_id in self._ends), default=None)
        return None if soonest is None else soonest - self.lease_s / 2
