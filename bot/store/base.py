"""The one interface every store backend offers; the rest of the bot sees only this."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol, Unpack

from .models import GuildControls, NewTask, Strength, Task, TaskState, TaskUpdate, UserSettings


class StoreError(Exception):
    """The store cannot be opened or used; the message is one line for the operator."""


class StoreUnavailable(StoreError):
    """The store refused a read or write at runtime (locked, read-only, disk full, connection lost)."""


def is_store_fault(exc: BaseException) -> bool:
    """A failure of the store itself, worth waiting out, as opposed to a bug in a query's logic."""
    return isinstance(exc, StoreError | sqlite3.OperationalError | OSError)


# The cross-process signals: "wake" (payload: a task id with new work: a new task or a callback),
# "pause" (payload "<until>|<reason>": the provider pause changed), "settings" (payload: the member id
# whose settings changed), "task" (payload: a task id whose state the member's private reply shows
# moved). An empty payload means "something may have been missed: re-read it all".
SIGNAL_CHANNELS: tuple[str, ...] = ("wake", "pause", "settings", "task")

SignalHandler = Callable[[str, str], None]


class Store(Protocol):
    async def close(self) -> None: ...

    async def check_writable(self) -> None:
        """A real write, so a read-only file or a full disk shows at start and in /healthz."""

    # --- tasks
    async def insert_task(self, new: NewTask, *, now: float | None = None) -> Task: ...

    async def admit(self, new: NewTask, rules: AdmitRules, *, now: float) -> Admitted:
        """Record a new task if the rules allow it, atomically with the checks, even across processes.

        An unfinished task of the same member with the same request key is returned instead
        (`existing`). The new task holds a slot at once (`next_check_at` = now) when the member has
        fewer than `max_active` tasks holding one; otherwise it waits in the member's queue
        (`next_check_at` NULL) until `promote_waiting` gives it a slot. Raises `Refused`.
        """

    async def promote_waiting(self, max_active: int, now: float, user_id: int | None = None) -> list[Task]:
        """Give free slots to the oldest waiting tasks (of one member, or everyone); return them."""

    async def queue_position(self, task: Task) -> int:
        """1 for the next waiting task of its member, 2 for the one after, ...; 0 if it holds a slot."""

    async def update(self, task_id: str, **fields: Unpack[TaskUpdate]) -> Task: ...

    async def apply(
        self, changes: Sequence[tuple[str, TaskUpdate]], *, release_owner: str | None = None
    ) -> None:
        """Many tasks' changes in one transaction (the engine's writes of one tick); with
        `release_owner`, the changed tasks' leases held by that owner are released too."""

    async def increment(self, task_id: str, column: str) -> None: ...

    async def get(self, task_id: str) -> Task | None: ...

    async def cancel(self, task_id: str, user_id: int, *, now: float) -> Task | None:
        """End a member's own unfinished task as `cancelled` (nothing left to deliver); None when it
        is not theirs or already finished. Later updates never move a cancelled task's state."""

    async def children(self, task_id: str) -> list[Task]:
        """The tasks made from this one (its variations, upscales, remixes), oldest first."""

    async def find(self, reference: str, provider: str) -> Task | None:
        """By the bot's short id first, then by the provider's task id."""

    async def active_duplicate(self, user_id: int, request_key: str) -> Task | None: ...

    async def unfinished_for_user(self, user_id: int) -> list[Task]: ...

    async def user_log(
        self, user_id: int, *, states: Sequence[TaskState] | None = None, page: int = 1, per_page: int = 10
    ) -> tuple[list[Task], int]: ...

    async def due_tasks(self, now: float, limit: int) -> list[Task]: ...

    async def undelivered(self, now: float, limit: int) -> list[Task]: ...

    async def next_wake_at(self, owner: str | None = None) -> float | None:
        """The earliest due check or delivery. A task leased by another owner than `owner` counts
        from the end of its lease, so an idle process wakes when a dead process's lease runs out."""

    # --- leases: which process works on which due task (several processes may share one store)
    async def claim_due(self, owner: str, now: float, limit: int, lease_s: float) -> list[Task]:
        """Lease up to `limit` unfinished tasks due by `now` (`next_check_at` first) that nobody holds
        or whose lease ran out, to `owner` until `now + lease_s`; return them. Two owners never get
        the same task while its lease runs."""

    async def claim_undelivered(self, owner: str, now: float, limit: int, lease_s: float) -> list[Task]:
        """The same for finished, undelivered tasks whose delivery is due (oldest finish first)."""

    async def renew(self, owner: str, task_ids: Sequence[str], until: float) -> None:
        """Extend `owner`'s leases on these tasks to `until`; tasks another owner took are left alone."""

    async def release(self, owner: str, task_id: str) -> None:
        """Clear the task's lease if `owner` still holds it."""

    # --- signals between processes (PostgreSQL LISTEN/NOTIFY; within the process on SQLite)
    async def listen(self, handler: SignalHandler) -> None:
        """Call `handler(channel, payload)` for every signal on `SIGNAL_CHANNELS`, this process's own
        included. After a lost connection comes back, each channel gets an empty payload once."""

    async def notify(self, channel: str, payload: str) -> None:
        """Send a signal to every listening process; `channel` is one of `SIGNAL_CHANNELS`."""

    async def set_provider_pause(self, until: float, reason: str) -> None:
        """Record the provider pause every process honours, one starting later included; others
        learn of it through `notify("pause", f"{until}|{reason}")`."""

    async def provider_pause(self) -> tuple[float, str | None]:
        """The recorded pause: its end and reason; `(0.0, None)` if none was ever set."""

    async def counts_by_state(self, guild_id: int | None = None) -> dict[str, int]:
        """Tasks by state, of one server or (for /metrics) of all."""

    async def undelivered_count(self, guild_id: int | None = None) -> int: ...

    # --- limits
    async def spend_since(self, guild_id: int, since: float, default_cost: Decimal) -> Decimal: ...

    async def requests_since(self, user_id: int, since: float) -> int: ...

    # --- member settings and guild controls
    async def user_settings(self, user_id: int) -> UserSettings: ...

    async def all_user_settings(self) -> list[UserSettings]: ...

    async def save_user_settings(
        self, user_id: int, *, strength: Strength | None = None, remix: bool | None = None
    ) -> UserSettings: ...

    async def guild_controls(self, guild_id: int) -> GuildControls: ...

    async def set_guild_paused(self, guild_id: int, paused: bool, by: int | None) -> GuildControls: ...


@dataclass(frozen=True)
class AdmitRules:
    """The limits a new task is admitted under, checked atomically with its insert."""

    max_active: int  # tasks one member may have at the provider (or about to be sent)
    max_queued: int  # further tasks that wait in the member's queue
    day_start: float  # the daily limits count from here (UTC midnight)
    daily_requests: int | None  # per member; None: no limit
    spend_cap: Decimal | None  # per server per day; None: no cap
    reserve: Decimal  # what a request is assumed to cost until the provider reports its cost
    # When a task that gets a slot is first due: later than now when the admitting process sends the
    # create itself, so no other process takes it meanwhile. None: at once.
    first_check_at: float | None = None


@dataclass(frozen=True)
class Admitted:
    task: Task
    existing: bool = False  # the same request was already unfinished: nothing new was recorded


class Refused(Exception):
    """A limit said no; `reason` names which, and the figures say how far."""

    def __init__(
        self,
        reason: Literal["paused", "daily_requests", "spend_cap", "queue_full"],
        *,
        used: Decimal | int = 0,
        limit: Decimal | int = 0,
        unfinished: tuple[Task, ...] = (),
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.used = used
        self.limit = limit
        self.unfinished = unfinished
