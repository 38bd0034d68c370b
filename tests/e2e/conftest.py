from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests import backends

pytestmark = pytest.mark.e2e


def rows(data_dir: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Read the bot's store as an operator would (the bot process owns the writes)."""
    with sqlite3.connect(data_dir / "bot.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(sql, params)]


def recorded(data_dir: Path, where: str) -> bool:
    """Whether some task matches `where` in the bot's store (for `eventually`)."""
    return bool(rows(data_dir, f"SELECT id FROM tasks WHERE {where}"))


@pytest.fixture
def pg_server() -> str:
    """The PostgreSQL server the scaled-out tests make their databases on (skip, or fail under
    REQUIRE_POSTGRES=1, when none answers)."""
    return backends.require_server()
