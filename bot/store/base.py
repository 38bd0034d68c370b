"""The one interface every store backend offers; the rest of the bot sees only this."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol, Unpack

from .models import GuildControls, NewTask, Strength, Task, TaskState, TaskUpdate, UserSettings


class StoreError(Exception):
    """The store cannot be opened or used; the message is one line for the operator."""


class Store(Protocol):
    async def close(self) -> None: ...

    async def check_writable(self) -> None:
        """A real write, so a read-only file or a full disk shows at start and in /healthz."""

    # --- tasks
    async def insert_task(self, new: NewTask, *, now: float | None = None) -> Task: ...

    async def update(self, task_id: str, **fields: Unpack[TaskUpdate]) -> Task: ...

    async def increment(self, task_id: str, column: str) -> None: ...

    async def get(self, task_id: str) -> Task | None: ...

    async def find(self, reference: str, provider: str) -> Task | None:
        """By the bot's short id first, then by the provider's task id."""

    async def active_duplicate(self, user_id: int, request_key: str) -> Task | None: ...

    async def unfinished_for_user(self, user_id: int) -> list[Task]: ...

    async def user_log(
        self, user_id: int, *, states: Sequence[TaskState] | None = None, page: int = 1, per_page: int = 10
    ) -> tuple[list[Task], int]: ...

    async def due_tasks(self, now: float, limit: int) -> list[Task]: ...

    async def undelivered(self, now: float, limit: int) -> list[Task]: ...

    async def next_wake_at(self) -> float | None: ...

    async def counts_by_state(self) -> dict[str, int]: ...

    async def undelivered_count(self) -> int: ...

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
