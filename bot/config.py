"""Typed settings read from the environment and `.env`, validated once at start (SPEC section 3).

A missing or malformed value raises `ConfigError`, which `python -m bot` turns into one line naming the
variable and the problem, and exit code 2.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

T = TypeVar("T")

DEFAULT_DISCORD_API = "https://discord.com/api/v10"
DEFAULT_DISCORD_GATEWAY = "wss://gateway.discord.gg/"


class ConfigError(Exception):
    """A setting is missing or malformed; `str()` is the one line shown to the operator."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


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


@dataclass(frozen=True)
class DatabaseLocation:
    """Where the SQLite store lives; `path` is `:memory:` for an in-memory store."""

    url: str
    path: str

    @property
    def in_memory(self) -> bool:
        return self.path == ":memory:"


@dataclass(frozen=True)
class Settings:
    discord_token: Secret
    discord_api_base_url: str = DEFAULT_DISCORD_API
    discord_gateway_url: str = DEFAULT_DISCORD_GATEWAY
    mj_provider: Literal["midapi", "vtrix"] = "midapi"
    midapi_api_key: Secret = field(default_factory=lambda: Secret(""))
    midapi_base_url: str = "https://api.midapi.ai"
    midapi_image_index_base: int = 0
    vtrix_api_key: Secret = field(default_factory=lambda: Secret(""))
    vtrix_base_url: str = "https://api.vtrix.ai"
    vtrix_submit_path: str = "/v1/tasks"
    vtrix_status_path: str = "/v1/tasks/{task_id}"
    vtrix_imagine_model: str = "midjourney_imagine"
    database: DatabaseLocation = field(
        default_factory=lambda: DatabaseLocation("sqlite:///data/bot.sqlite3", "data/bot.sqlite3")
    )
    callback_public_url: str | None = None
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    callback_secret: Secret = field(default_factory=lambda: Secret(""))
    poll_first_s: float = 5.0
    poll_max_s: float = 30.0
    task_timeout_s: float = 900.0
    max_active_per_user: int = 3
    command_sync: Literal["global", "guild", "off"] = "global"
    dev_guild_ids: tuple[int, ...] = ()
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    # Not in SPEC section 3 but needed by the engine and the production issue; all optional.
    engine_concurrency: int = 8
    provider_timeout_s: float = 30.0
    download_max_bytes: int = 25 * 1024 * 1024
    upload_limit_bytes: int = 10 * 1024 * 1024
    health_max_lag_s: float = 60.0
    guild_daily_spend_usd: Decimal | None = None
    user_daily_requests: int | None = None
    default_request_cost_usd: Decimal = Decimal("0.05")

    @property
    def callbacks_enabled(self) -> bool:
        return self.callback_public_url is not None

    @property
    def provider_api_key(self) -> Secret:
        return self.midapi_api_key if self.mj_provider == "midapi" else self.vtrix_api_key

    def secrets(self) -> list[str]:
        """Every secret value, so the log filter can scrub them wherever they appear."""
        values = [self.discord_token, self.midapi_api_key, self.vtrix_api_key, self.callback_secret]
        return [secret.get() for secret in values if secret]


def read_environment(env_file: str | Path | None = ".env") -> dict[str, str]:
    """The process environment over the values of `.env`; the real environment always wins."""
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({key: value for key, value in dotenv_values(env_file).items() if value is not None})
    merged.update(os.environ)
    return merged


def load_settings(env: Mapping[str, str]) -> Settings:
    """Parse and validate every setting; raise `ConfigError` on the first bad one."""
    reader = _Reader(env)
    provider = reader.choice("MJ_PROVIDER", ("midapi", "vtrix"), "midapi")
    callback_public_url = reader.url("CALLBACK_PUBLIC_URL", None, schemes=("http", "https"))
    poll_first = reader.number("POLL_FIRST_S", 5.0, minimum=0.05)
    poll_max = reader.number("POLL_MAX_S", 30.0, minimum=0.05)
    if poll_max < poll_first:
        raise ConfigError("POLL_MAX_S", f"must be at least POLL_FIRST_S ({poll_first:g}), got {poll_max:g}")
    command_sync = reader.choice("COMMAND_SYNC", ("global", "guild", "off"), "global")
    dev_guild_ids = reader.id_list("DEV_GUILD_IDS")
    if command_sync == "guild" and not dev_guild_ids:
        raise ConfigError("DEV_GUILD_IDS", "is required when COMMAND_SYNC=guild (comma-separated guild ids)")

    settings = Settings(
        discord_token=reader.secret("DISCORD_TOKEN", required=True),
        discord_api_base_url=reader.url(
            "DISCORD_API_BASE_URL", DEFAULT_DISCORD_API, schemes=("http", "https")
        )
        or DEFAULT_DISCORD_API,
        discord_gateway_url=reader.url("DISCORD_GATEWAY_URL", DEFAULT_DISCORD_GATEWAY, schemes=("ws", "wss"))
        or DEFAULT_DISCORD_GATEWAY,
        mj_provider=provider,  # type: ignore[arg-type]
        midapi_api_key=reader.secret("MIDAPI_API_KEY", required=provider == "midapi"),
        midapi_base_url=reader.url("MIDAPI_BASE_URL", "https://api.midapi.ai", schemes=("http", "https"))
        or "https://api.midapi.ai",
        midapi_image_index_base=int(reader.choice("MIDAPI_IMAGE_INDEX_BASE", ("0", "1"), "0")),
        vtrix_api_key=reader.secret("VTRIX_API_KEY", required=provider == "vtrix"),
        vtrix_base_url=reader.url("VTRIX_BASE_URL", "https://api.vtrix.ai", schemes=("http", "https"))
        or "https://api.vtrix.ai",
        vtrix_submit_path=reader.path("VTRIX_SUBMIT_PATH", "/v1/tasks"),
        vtrix_status_path=reader.path("VTRIX_STATUS_PATH", "/v1/tasks/{task_id}", placeholder="{task_id}"),
        vtrix_imagine_model=reader.text("VTRIX_IMAGINE_MODEL", "midjourney_imagine"),
        database=_database(reader.text("DATABASE_URL", "sqlite:///data/bot.sqlite3")),
        callback_public_url=callback_public_url.rstrip("/") if callback_public_url else None,
        http_host=reader.text("HTTP_HOST", "0.0.0.0") or "0.0.0.0",
        http_port=reader.integer("HTTP_PORT", 8080, minimum=0, maximum=65535),
        callback_secret=reader.secret("CALLBACK_SECRET", required=callback_public_url is not None),
        poll_first_s=poll_first,
        poll_max_s=poll_max,
        task_timeout_s=reader.number("TASK_TIMEOUT_S", 900.0, minimum=1.0),
        max_active_per_user=reader.integer("MAX_ACTIVE_PER_USER", 3, minimum=1, maximum=100),
        command_sync=command_sync,  # type: ignore[arg-type]
        dev_guild_ids=dev_guild_ids,
        log_level=reader.choice(
            "LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), "INFO", upper=True
        ),
        log_format=reader.choice("LOG_FORMAT", ("text", "json"), "text"),  # type: ignore[arg-type]
        engine_concurrency=reader.integer("ENGINE_CONCURRENCY", 8, minimum=1, maximum=256),
        provider_timeout_s=reader.number("PROVIDER_TIMEOUT_S", 30.0, minimum=0.1),
        download_max_bytes=reader.integer("DOWNLOAD_MAX_BYTES", 25 * 1024 * 1024, minimum=1024),
        upload_limit_bytes=reader.integer("UPLOAD_LIMIT_BYTES", 10 * 1024 * 1024, minimum=1024),
        health_max_lag_s=reader.number("HEALTH_MAX_LAG_S", 60.0, minimum=1.0),
        guild_daily_spend_usd=reader.money("GUILD_DAILY_SPEND_USD", None),
        user_daily_requests=reader.optional_integer("USER_DAILY_REQUESTS", minimum=1),
        default_request_cost_usd=reader.money("DEFAULT_REQUEST_COST_USD", Decimal("0.05")) or Decimal("0"),
    )
    if settings.callback_secret and len(settings.callback_secret.get()) < 16:
        raise ConfigError("CALLBACK_SECRET", "must be at least 16 characters (use a long random string)")
    return settings


def _database(url: str) -> DatabaseLocation:
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        scheme = url.split(":", 1)[0] if ":" in url else url
        raise ConfigError(
            "DATABASE_URL",
            f"unsupported store {scheme!r}; use sqlite:///relative/path, sqlite:////absolute/path "
            "or sqlite:///:memory: (PostgreSQL is not supported yet)",
        )
    path = url[len(prefix) :]
    if not path:
        raise ConfigError("DATABASE_URL", "has no file path after sqlite:///")
    return DatabaseLocation(url, path)


class _Reader:
    """Reads one variable at a time, naming it in every error."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        raw = self._env.get(name)
        return default if raw is None else raw.strip()

    def secret(self, name: str, *, required: bool) -> Secret:
        raw = self._raw(name)
        if raw is None:
            if required:
                raise ConfigError(name, "is required but not set (put it in the environment or .env)")
            return Secret("")
        if any(ch.isspace() for ch in raw):
            raise ConfigError(name, "must not contain spaces or line breaks")
        return Secret(raw)

    def choice(self, name: str, allowed: tuple[str, ...], default: str, *, upper: bool = False) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        value = raw.upper() if upper else raw.lower()
        if value not in allowed:
            raise ConfigError(name, f"must be one of {', '.join(allowed)}; got {raw!r}")
        return value

    def _parse(self, name: str, raw: str, parse: Callable[[str], T], kind: str) -> T:
        try:
            return parse(raw)
        except (ValueError, InvalidOperation):
            raise ConfigError(name, f"must be {kind}; got {raw!r}") from None

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
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

    def number(self, name: str, default: float, *, minimum: float) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        value = self._parse(name, raw, float, "a number of seconds")
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(name, f"must be a finite number; got {raw!r}")
        self._bounds(name, value, minimum, None)
        return value

    def money(self, name: str, default: Decimal | None) -> Decimal | None:
        raw = self._raw(name)
        if raw is None:
            return default
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

    def url(self, name: str, default: str | None, *, schemes: tuple[str, ...]) -> str | None:
        raw = self._raw(name)
        if raw is None:
            return default
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not parts.netloc:
            raise ConfigError(name, f"must be a {' or '.join(schemes)} URL with a host; got {raw!r}")
        return raw

    def path(self, name: str, default: str, *, placeholder: str | None = None) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
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
                raise ConfigError(name, f"must be comma-separated numeric guild ids; got {part!r}")
            ids.append(int(part))
        return tuple(ids)
