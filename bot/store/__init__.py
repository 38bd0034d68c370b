"""The task store (SPEC section 6): SQLite through aiosqlite, numbered migrations."""

from .models import FINISHED, UNFINISHED, GuildControls, NewTask, Task, TaskState, UserSettings
from .repository import Store, StoreError

__all__ = [
    "FINISHED",
    "UNFINISHED",
    "GuildControls",
    "NewTask",
    "Store",
    "StoreError",
    "Task",
    "TaskState",
    "UserSettings",
]
