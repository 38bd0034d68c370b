"""The task store: one interface (`Store`), SQLite behind it, numbered migrations."""

from ..config import DatabaseLocation
from .base import AdmitRules, Admitted, Refused, Store, StoreError, StoreUnavailable, is_store_fault
from .models import (
    DEFAULT_STRENGTH,
    FINISHED,
    UNFINISHED,
    GuildControls,
    NewTask,
    Strength,
    Task,
    TaskKind,
    TaskState,
    TaskUpdate,
    UserSettings,
)
from .sqlite import SqliteStore

__all__ = [
    "DEFAULT_STRENGTH",
    "FINISHED",
    "UNFINISHED",
    "AdmitRules",
    "Admitted",
    "GuildControls",
    "NewTask",
    "Refused",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Strength",
    "Task",
    "TaskKind",
    "TaskState",
    "TaskUpdate",
    "UserSettings",
    "is_store_fault",
    "open_store",
]


async def open_store(location: DatabaseLocation) -> Store:
    """Open (and migrate) the store the settings name; raise `StoreError` with one clear line."""
    return await SqliteStore.open(location)
