"""The task store: one interface (`Store`), SQLite or PostgreSQL behind it, numbered migrations."""

from ..config import DatabaseLocation
from .base import (
    SIGNAL_CHANNELS,
    AdmitRules,
    Admitted,
    Refused,
    SignalHandler,
    Store,
    StoreError,
    StoreUnavailable,
    is_store_fault,
)
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
    "SIGNAL_CHANNELS",
    "UNFINISHED",
    "AdmitRules",
    "Admitted",
    "GuildControls",
    "NewTask",
    "Refused",
    "SignalHandler",
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
    if location.kind == "postgres":
        # Imported here: a SQLite deployment never loads the PostgreSQL driver.
        from .postgres import PostgresStore

        return await PostgresStore.open(location)
    return await SqliteStore.open(location)
