"""Typed settings read from the environment and `.env`, validated once at start.

A missing or malformed value raises `ConfigError`, which `python -m bot` turns into one line naming the
variable and the problem, and exit code 2.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

from .config_db import DatabaseLocation, database_location
from .config_errors import ConfigError

__all__ = [
    "DEFAULTS",
    "ConfigError",
    "DatabaseLocation",
    "Secret",
    "Settings",
    "database_location",
    "load_settings",
    "read_environment",
]

T = TypeVar("T")


class Secret:
    """A string that never shows itself in `repr`, `str` or a log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__


# Every setting's default, written as an operator would write it in `.env`: `load_settings` parses a
# default exactly like a value from the environment, so this table is the only place defaults live.
# An empty string means "unset" (an optional setting, or a required one with no default).
DEFAULTS: dict[str, str] = {
    "DISCORD_TOKEN": "",
    "DISCORD_API_BASE_URL": "https://discord.com/api/v10",
    "DISCORD_GATEWAY_URL": "wss://gateway.discord.gg/",
    "MJ_PROVIDER": "midapi",
    "MIDAPI_API_KEY": "",
    "MIDAPI_BASE_URL": "https://api.midapi.ai",
    "MIDAPI_IMAGE_INDEX_BASE": "0",
    "VTRIX_API_KEY": "",
    "VTRIX_BASE_URL": "https://api.vtrix.ai",
    "VTRIX_SUBMIT_PATH": "/v1/tasks",
    "VTRIX_STATUS_PATH": "/v1/tasks/{task_id}",
    "VTRIX_IMAGINE_MODEL": "midjourney_imagine",
    "DATABASE_URL": "sqlite:///data/bot.sqlite3",
    "SHARD_COUNT": "",
    "SHARD_IDS": "",
    "INSTANCE_NAME": "",
    "LEASE_S": "30",
    "CALLBACK_PUBLIC_URL": "",
    # Loopback unless told otherwise: the port belongs behind a reverse proxy (the image sets 0.0.0.0).
    "HTTP_HOST": "127.0.0.1",
    "HTTP_PORT": "8080",
    "CALLBACK_SECRET": "",
    "POLL_FIRST_S": "5",
    "POLL_MAX_S": "30",
    "TASK_TIMEOUT_S": "900",
    "MAX_ACTIVE_PER_USER": "3",
    "MAX_QUEUED_PER_USER": "10",
    "COMMAND_SYNC": "global",
    "DEV_GUILD_IDS": "",
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "text",
    "ENGINE_CONCURRENCY": "8",
    "PROVIDER_TIMEOUT_S": "30",
    "DOWNLOAD_MAX_BYTES": str(25 * 1024 * 1024),
    "UPLOAD_LIMIT_BYTES": str(10 * 1024 * 1024),
    "DOWNLOAD_ALLOW_PRIVATE": "false",
    "HEALTH_MAX_LAG_S": "60",
    "GUILD_DAILY_SPEND_USD": "",
    "USER_DAILY_REQUESTS": "",
    "DEFAULT_REQUEST_COST_USD": "0.05",
}


@dataclass(frozen=True)
class Settings:
    discord_token: Secret
    discord_api_base_url: str
    discord_gateway_url: str
    mj_provider: Literal["midapi", "vtrix"]
    midapi_api_key: Secret
    midapi_base_url: str
    midapi_image_index_base: int
    vtrix_api_key: Secret
    vtrix_base_url: str
    vtrix_submit_path: str
    vtrix_status_path: str
    vtrix_imagine_model: str
    database: DatabaseLocation
    shard_count: int | None
    shard_ids: tuple[int, ...] | None
    instance_name: str
    lease_s: float
    callback_public_url: str | None
    http_host: str
    http_port: int
    callback_secret: Secret
    poll_first_s: float
    poll_max_s: float
    task_timeout_s: float
    max_active_per_user: int
    max_queued_per_user: int
    command_sync: Literal["global", "guild", "off"]
    dev_guild_ids: tuple[int, ...]
    log_level: str
    log_format: Literal["text", "json"]
    engine_concurrency: int
    provider_timeout_s: float
    download_max_bytes: int
    upload_limit_bytes: int
    download_allow_private: bool
    health_max_lag_s: float
    guild_daily_spend_usd: Decimal | None
    user_daily_requests: int | None
    default_request_cost_usd: Decimal

    @property
    def callbacks_enabled(self) -> bool:
        return self.callback_public_url is not None

    def secrets(self) -> list[str]:
        """Every secret value, so the log filter can scrub them wherever they appear."""
        values = [self.discord_token, self.midapi_api_key, self.vtrix_api_key, self.callback_secret]
        found = [secret.get() for secret in values if secret]
        # The PostgreSQL password sits inside DATABASE_URL; an asyncpg error could still echo it.
        return found + ([self.database.password] if self.database.password else [])


def read_environment(env_file: str | Path | None = ".env") -> dict[str, str]:
    """The process environment over the values of `.env`; the real environment always wins."""
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({key: value for key, value in dotenv_values(env_file).items() if value is not None})
    merged.update(os.environ)
    return merged


def load_settings(env: Mapping[str, str]) -> Settings:
    """Parse and validate every setting; raise `ConfigError` on the first bad one."""
    read = _Reader(env)
    provider = read.choice("MJ_PROVIDER", ("midapi", "vtrix"))
    callback_public_url = read.url("CALLBACK_PUBLIC_URL", schemes=("http", "https"))
    poll_first = read.number("POLL_FIRST_S", minimum=0.05)
    poll_max = read.number("POLL_MAX_S", minimum=0.05)
    if poll_max < poll_first:
        raise ConfigError("POLL_MAX_S", f"must be at least POLL_FIRST_S ({poll_first:g}), got {poll_max:g}")
    shard_count = read.optional_integer("SHARD_COUNT", minimum=1)
    shard_ids = read.id_list("SHARD_IDS") or None
    if shard_ids is not None:
        if shard_count is None:
            raise ConfigError("SHARD_IDS", "needs SHARD_COUNT (the total number of shards) as well")
        wrong = [shard for shard in shard_ids if shard >= shard_count]
        if wrong:
            raise ConfigError("SHARD_IDS", f"shard {wrong[0]} is not below SHARD_COUNT ({shard_count})")
    command_sync = read.choice("COMMAND_SYNC", ("global", "guild", "off"))
    dev_guild_ids = read.id_list("DEV_GUILD_IDS")
    if command_sync == "guild" and not dev_guild_ids:
        raise ConfigError("DEV_GUILD_IDS", "is required when COMMAND_SYNC=guild (comma-separated guild ids)")

    settings = Settings(
        discord_token=read.secret("DISCORD_TOKEN", required=True),
        discord_api_base_url=read.url("DISCORD_API_BASE_URL", schemes=("http", "https")) or "",
        discord_gateway_url=read.url("DISCORD_GATEWAY_URL", schemes=("ws", "wss")) or "",
        mj_provider="vtrix" if provider == "vtrix" else "midapi",
        midapi_api_key=read.secret("MIDAPI_API_KEY", required=provider == "midapi"),
        midapi_base_url=read.url("MIDAPI_BASE_URL", schemes=("http", "https")) or "",
        midapi_image_index_base=int(read.choice("MIDAPI_IMAGE_INDEX_BASE", ("0", "1"))),
        vtrix_api_key=read.secret("VTRIX_API_KEY", required=provider == "vtrix"),
        vtrix_base_url=read.url("VTRIX_BASE_URL", schemes=("http", "https")) or "",
        vtrix_submit_path=read.path("VTRIX_SUBMIT_PATH"),
        vtrix_status_path=read.path("VTRIX_STATUS_PATH", placeholder="{task_id}"),
        vtrix_imagine_model=read.text("VTRIX_IMAGINE_MODEL"),
        database=database_location(read.text("DATABASE_URL")),
        shard_count=shard_count,
        shard_ids=shard_ids,
        instance_name=read.text("INSTANCE_NAME") or f"{socket.gethostname()}-{os.getpid()}",
        lease_s=read.number("LEASE_S", minimum=5.0),
        callback_public_url=callback_public_url.rstrip("/") if callback_public_url else None,
        http_host=read.text("HTTP_HOST") or DEFAULTS["HTTP_HOST"],
        http_port=read.integer("HTTP_PORT", minimum=0, maximum=65535),
        callback_secret=read.secret("CALLBACK_SECRET", required=callback_public_url is not None),
        poll_first_s=poll_first,
        poll_max_s=poll_max,
        task_timeout_s=read.number("TASK_TIMEOUT_S", minimum=1.0),
        max_active_per_user=read.integer("MAX_ACTIVE_PER_USER", minimum=1, maximum=100),
        max_queued_per_user=read.integer("MAX_QUEUED_PER_USER", minimum=0, maximum=1000),
        command_sync="guild" if command_sync == "guild" else "off" if command_sync == "off" else "global",
        dev_guild_ids=dev_guild_ids,
        log_level=read.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), upper=True),
        log_format="json" if read.choice("LOG_FORMAT", ("text", "json")) == "json" else "text",
        engine_concurrency=read.integer("ENGINE_CONCURRENCY", minimum=1, maximum=256),
        provider_timeout_s=read.number("PROVIDER_TIMEOUT_S", minimum=0.1),
        download_max_bytes=read.integer("DOWNLOAD_MAX_BYTES", minimum=1024),
        upload_limit_bytes=read.integer("UPLOAD_LIMIT_BYTES", minimum=1024),
        download_allow_private=read.choice("DOWNLOAD_ALLOW_PRIVATE", ("true", "false")) == "true",
        health_max_lag_s=read.number("HEALTH_MAX_LAG_S", minimum=1.0),
        guild_daily_spend_usd=read.money("GUILD_DAILY_SPEND_USD"),
        user_daily_requests=read.optional_integer("USER_DAILY_REQUESTS", minimum=1),
        default_request_cost_usd=read.money("DEFAULT_REQUEST_COST_USD") or Decimal("0"),
    )
    if settings.callback_secret and len(settings.callback_secret.get()) < 16:
        raise ConfigError("CALLBACK_SECRET", "must be at least 16 characters (use a long random string)")
    return settings


class _Reader:
    """Reads one variable at a time, naming it in every error."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        """The value set, else the default from `DEFAULTS`; None when neither is (an unset option)."""
        value = self._env.get(name)
        if value is None or not value.strip():
            value = DEFAULTS[name]
        return value.strip() or None

    def text(self, name: str) -> str:
        """Free text, where an explicitly empty value means something (it turns a feature off)."""
        raw = self._env.get(name)
        return DEFAULTS[name] if raw is None else raw.strip()

    def secret(self, name: str, *, required: bool) -> Secret:
        raw = self._raw(name)
        if raw is None:
            if required:
                raise ConfigError(name, "is required but not set (put it in the environment or .env)")
            return Secret("")
        if any(ch.isspace() for ch in raw):
            raise ConfigError(name, "must not contain spaces or line breaks")
        return Secret(raw)

    def choice(self, name: str, allowed: tuple[str, ...], *, upper: bool = False) -> str:
        raw = self._raw(name) or ""
        value = raw.upper() if upper else raw.lower()
        if value not in allowed:
            raise ConfigError(name, f"must be one of {', '.join(allowed)}; got {raw!r}")
        return value

    def _parse(self, name: str, raw: str, parse: Callable[[str], T], kind: str) -> T:
        try:
            return parse(raw)
        except (ValueError, InvalidOperation):
            raise ConfigError(name, f"must be {kind}; got {raw!r}") from None

    def integer(self, name: str, *, minimum: int, maximum: int | None = None) -> int:
        raw = self._raw(name) or ""
        value = self._parse(name, raw, int, "a whole number")
        self._bounds(name, value, minimum, maximum)
        return value

    def optional_integer(self, name: str, *, minimum: int) -> int | None:
        raw = self._raw(name)
        if raw is None or raw == "0":
            return None
        value = self._parse(name, raw, int, "a whole number (0 or empty turns it off)")
        self._bounds(name, value, minimum, None)
        return value

    def number(self, name: str, *, minimum: float) -> float:
        raw = self._raw(name) or ""
        value = self._parse(name, raw, float, "a number of seconds")
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(name, f"must be a finite number; got {raw!r}")
        self._bounds(name, value, minimum, None)
        return value

    def money(self, name: str) -> Decimal | None:
        raw = self._raw(name)
        if raw is None:
            return None
        value = self._parse(name, raw.lstrip("$"), Decimal, "an amount in USD such as 5 or 2.50")
        if not value.is_finite() or value < 0:
            raise ConfigError(name, f"must be an amount of 0 or more; got {raw!r}")
        return value if value > 0 else None

    @staticmethod
    def _bounds(name: str, value: float, minimum: float, maximum: float | None) -> None:
        if value < minimum:
            raise ConfigError(name, f"must be at least {minimum:g}; got {value:g}")
        if maximum is not None and value > maximum:
            raise ConfigError(name, f"must be at most {maximum:g}; got {value:g}")

    def url(self, name: str, *, schemes: tuple[str, ...]) -> str | None:
        raw = self._raw(name)
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not parts.netloc:
            raise ConfigError(name, f"must be a {' or '.join(schemes)} URL with a host; got {raw!r}")
        return raw

    def path(self, name: str, *, placeholder: str | None = None) -> str:
        raw = self._raw(name) or ""
        if not raw.startswith("/"):
            raise ConfigError(name, f"must start with '/'; got {raw!r}")
        if placeholder and placeholder not in raw:
            raise ConfigError(name, f"must contain {placeholder}; got {raw!r}")
        return raw

    def id_list(self, name: str) -> tuple[int, ...]:
        raw = self._raw(name)
        if raw is None:
            return ()
        ids: list[int] = []
        for part in raw.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit():
                raise ConfigError(name, f"must be comma-separated numeric ids; got {part!r}")
            ids.append(int(part))
        return tuple(ids)
