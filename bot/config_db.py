"""DATABASE_URL: where the task store lives (a SQLite file, or PostgreSQL for several processes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from .config_errors import ConfigError


@dataclass(frozen=True)
class DatabaseLocation:
    """Where the store lives: a SQLite file (`path`) or a PostgreSQL database (`url`).

    `url` may hold a password, so `repr` and `shown` mask it: print `shown`, never `url`.
    """

    url: str
    path: str  # the SQLite file; empty for PostgreSQL
    kind: Literal["sqlite", "postgres"] = "sqlite"

    @property
    def in_memory(self) -> bool:
        return self.kind == "sqlite" and self.path == ":memory:"

    @property
    def password(self) -> str | None:
        return urlsplit(self.url).password if self.kind == "postgres" else None

    @property
    def shown(self) -> str:
        """The URL with its password replaced by `********`, for logs and messages."""
        password = self.password
        if not password:
            return self.url
        parts = urlsplit(self.url)
        user, _, host = parts.netloc.rpartition("@")
        name = user.split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{name}:********@{host}"))

    def __repr__(self) -> str:
        return f"DatabaseLocation({self.shown!r}, kind={self.kind!r})"


def database_location(url: str) -> DatabaseLocation:
    """Parse DATABASE_URL; an error names the scheme or the part at fault, never the whole URL (it may
    hold a password)."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else url
    if scheme in ("postgresql", "postgres"):
        return _postgres(url)
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ConfigError(
            "DATABASE_URL",
            f"unsupported store {scheme!r}; use sqlite:///relative/path, sqlite:////absolute/path "
            "or postgresql://user:password@host:5432/database",
        )
    path = url[len(prefix) :]
    if not path:
        raise ConfigError("DATABASE_URL", "has no file path after sqlite:///")
    if path == ":memory:":
        # A task store in memory forgets every task, charge and settings change on restart.
        raise ConfigError(
            "DATABASE_URL",
            "sqlite:///:memory: would lose every task on restart; use a file such as "
            "sqlite:///data/bot.sqlite3",
        )
    return DatabaseLocation(url, path)


def _postgres(url: str) -> DatabaseLocation:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ConfigError(
            "DATABASE_URL", "has a port that is not a number (postgresql://host:5432/db)"
        ) from None
    if not parts.hostname and "host=" not in parts.query:
        raise ConfigError("DATABASE_URL", "names no PostgreSQL host (postgresql://user@host:5432/database)")
    if not parts.path.strip("/"):
        raise ConfigError(
            "DATABASE_URL", "names no database after the host (postgresql://host:5432/database)"
        )
    return DatabaseLocation(url, "", "postgres")
