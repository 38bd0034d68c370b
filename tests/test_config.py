"""Every setting: its default, its parsing, and the one-line error for each bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import ConfigError, Secret, load_settings, read_environment

BASE = {"DISCORD_TOKEN": "tok.en-123", "MIDAPI_API_KEY": "mk-1"}


def load(**extra: str) -> object:
    return load_settings({**BASE, **extra})


def error(**extra: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE, **extra})
    return caught.value


def test_defaults() -> None:
    s = load_settings(BASE)
    assert s.discord_api_base_url == "https://discord.com/api/v10"
    assert s.discord_gateway_url.startswith("wss://gateway.discord.gg")
    assert s.mj_provider == "midapi" and s.midapi_base_url == "https://api.midapi.ai"
    assert s.midapi_image_index_base == 0
    assert s.vtrix_base_url == "https://api.vtrix.ai" and s.vtrix_submit_path == "/v1/tasks"
    assert s.vtrix_status_path == "/v1/tasks/{task_id}" and s.vtrix_imagine_model == "midjourney_imagine"
    assert s.database.path == "data/bot.sqlite3"
    assert s.callback_public_url is None and not s.callbacks_enabled
    assert (s.http_host, s.http_port) == ("127.0.0.1", 8080)
    assert s.download_allow_private is False
    assert (s.poll_first_s, s.poll_max_s, s.task_timeout_s) == (5, 30, 900)
    assert s.max_active_per_user == 3 and s.command_sync == "global" and s.dev_guild_ids == ()
    assert (s.log_level, s.log_format) == ("INFO", "text")


def test_every_variable_is_read() -> None:
    s = load_settings(
        {
            "DISCORD_TOKEN": "t0k",
            "DISCORD_API_BASE_URL": "http://127.0.0.1:9000/api/v10",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:9000/gateway",
            "MJ_PROVIDER": "vtrix",
            "VTRIX_API_KEY": "vk",
            "VTRIX_BASE_URL": "http://127.0.0.1:9001",
            "VTRIX_SUBMIT_PATH": "/api/v2/submit",
            "VTRIX_STATUS_PATH": "/api/v2/status/{task_id}",
            "VTRIX_IMAGINE_MODEL": "",
            "MIDAPI_IMAGE_INDEX_BASE": "1",
            "MIDAPI_BASE_URL": "http://127.0.0.1:9002",
            "DATABASE_URL": "sqlite:////tmp/x/bot.db",
            "CALLBACK_PUBLIC_URL": "https://bot.example.org/",
            "CALLBACK_SECRET": "0123456789abcdef0123",
            "HTTP_HOST": "0.0.0.0",
            "HTTP_PORT": "8099",
            "DOWNLOAD_ALLOW_PRIVATE": "TRUE",
            "POLL_FIRST_S": "0.5",
            "POLL_MAX_S": "2",
            "TASK_TIMEOUT_S": "60",
            "MAX_ACTIVE_PER_USER": "5",
            "COMMAND_SYNC": "guild",
            "DEV_GUILD_IDS": "1, 2",
            "LOG_LEVEL": "debug",
            "LOG_FORMAT": "json",
        }
    )
    assert s.discord_api_base_url == "http://127.0.0.1:9000/api/v10"
    assert s.discord_gateway_url == "ws://127.0.0.1:9000/gateway"
    assert s.mj_provider == "vtrix" and s.vtrix_api_key == Secret("vk")
    assert s.vtrix_submit_path == "/api/v2/submit" and s.vtrix_status_path == "/api/v2/status/{task_id}"
    assert s.vtrix_imagine_model == "" and s.midapi_image_index_base == 1
    assert s.database.path == "/tmp/x/bot.db"
    assert s.callback_public_url == "https://bot.example.org" and s.callbacks_enabled
    assert (s.http_host, s.http_port) == ("0.0.0.0", 8099) and s.download_allow_private
    assert (s.poll_first_s, s.poll_max_s, s.task_timeout_s) == (0.5, 2, 60)
    assert s.max_active_per_user == 5 and s.command_sync == "guild" and s.dev_guild_ids == (1, 2)
    assert (s.log_level, s.log_format) == ("DEBUG", "json")


def test_memory_database_is_refused() -> None:
    problem = error(DATABASE_URL="sqlite:///:memory:")
    assert problem.variable == "DATABASE_URL" and "lose every task on restart" in str(problem)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgres_database_hides_its_password(scheme: str) -> None:
    url = f"{scheme}://bot:s3cret-pw@db.internal:6543/mjbot"
    s = load_settings({**BASE, "DATABASE_URL": url})
    assert s.database.kind == "postgres" and s.database.url == url
    assert s.database.shown == f"{scheme}://bot:********@db.internal:6543/mjbot"
    assert "s3cret-pw" not in repr(s) + str(s) + repr(s.database)
    assert "s3cret-pw" in s.secrets()  # so the log filter scrubs it wherever it shows up


def test_sqlite_is_the_default_kind() -> None:
    s = load_settings(BASE)
    assert s.database.kind == "sqlite" and s.database.shown == "sqlite:///data/bot.sqlite3"


@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        ({"DISCORD_TOKEN": ""}, "DISCORD_TOKEN", "required"),
        ({"MJ_PROVIDER": "openai"}, "MJ_PROVIDER", "midapi, vtrix"),
        ({"MIDAPI_API_KEY": ""}, "MIDAPI_API_KEY", "required"),
        ({"MJ_PROVIDER": "vtrix"}, "VTRIX_API_KEY", "required"),
        ({"MIDAPI_IMAGE_INDEX_BASE": "2"}, "MIDAPI_IMAGE_INDEX_BASE", "0, 1"),
        ({"MIDAPI_BASE_URL": "api.midapi.ai"}, "MIDAPI_BASE_URL", "URL"),
        ({"VTRIX_BASE_URL": "ftp://x"}, "VTRIX_BASE_URL", "URL"),
        ({"VTRIX_SUBMIT_PATH": "v1/tasks"}, "VTRIX_SUBMIT_PATH", "start with '/'"),
        ({"VTRIX_STATUS_PATH": "/v1/tasks"}, "VTRIX_STATUS_PATH", "{task_id}"),
        ({"DISCORD_API_BASE_URL": "discord"}, "DISCORD_API_BASE_URL", "URL"),
        ({"DISCORD_GATEWAY_URL": "http://x"}, "DISCORD_GATEWAY_URL", "ws or wss"),
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL", "postgresql://user:password@host"),
        ({"DATABASE_URL": "postgresql://db:port/x"}, "DATABASE_URL", "port that is not a number"),
        ({"DATABASE_URL": "postgresql://db:5432"}, "DATABASE_URL", "names no database"),
        ({"DATABASE_URL": "postgresql:///x"}, "DATABASE_URL", "names no PostgreSQL host"),
        ({"DATABASE_URL": "sqlite:///:memory:"}, "DATABASE_URL", "lose every task"),
        ({"DATABASE_URL": "sqlite:///"}, "DATABASE_URL", "no file path"),
        ({"CALLBACK_PUBLIC_URL": "bot.example"}, "CALLBACK_PUBLIC_URL", "URL"),
        ({"CALLBACK_PUBLIC_URL": "https://bot.example"}, "CALLBACK_SECRET", "required"),
        ({"CALLBACK_PUBLIC_URL": "https://b.example", "CALLBACK_SECRET": "short"}, "CALLBACK_SECRET", "16"),
        ({"HTTP_PORT": "http"}, "HTTP_PORT", "whole number"),
        ({"DOWNLOAD_ALLOW_PRIVATE": "yes"}, "DOWNLOAD_ALLOW_PRIVATE", "true, false"),
        ({"HTTP_PORT": "70000"}, "HTTP_PORT", "at most 65535"),
        ({"POLL_FIRST_S": "soon"}, "POLL_FIRST_S", "number"),
        ({"POLL_FIRST_S": "0"}, "POLL_FIRST_S", "at least"),
        ({"POLL_MAX_S": "1", "POLL_FIRST_S": "5"}, "POLL_MAX_S", "at least POLL_FIRST_S"),
        ({"POLL_MAX_S": "nan"}, "POLL_MAX_S", "finite"),
        ({"TASK_TIMEOUT_S": "-5"}, "TASK_TIMEOUT_S", "at least"),
        ({"MAX_ACTIVE_PER_USER": "0"}, "MAX_ACTIVE_PER_USER", "at least 1"),
        ({"MAX_ACTIVE_PER_USER": "2.5"}, "MAX_ACTIVE_PER_USER", "whole number"),
        ({"COMMAND_SYNC": "sometimes"}, "COMMAND_SYNC", "global, guild, off"),
        ({"COMMAND_SYNC": "guild"}, "DEV_GUILD_IDS", "required when COMMAND_SYNC=guild"),
        ({"DEV_GUILD_IDS": "12,abc"}, "DEV_GUILD_IDS", "numeric"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL", "DEBUG"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT", "text, json"),
        ({"GUILD_DAILY_SPEND_USD": "lots"}, "GUILD_DAILY_SPEND_USD", "USD"),
        ({"USER_DAILY_REQUESTS": "-1"}, "USER_DAILY_REQUESTS", "at least 1"),
        ({"DISCORD_TOKEN": "two words"}, "DISCORD_TOKEN", "spaces"),
    ],
)
def test_each_bad_value_names_its_variable(env: dict[str, str], variable: str, words: str) -> None:
    problem = error(**env)
    assert problem.variable == variable
    assert words in str(problem)
    assert str(problem).startswith(f"{variable}: ")


def test_limits() -> None:
    s = load(GUILD_DAILY_SPEND_USD="$2.50", USER_DAILY_REQUESTS="20")
    assert s.guild_daily_spend_usd == Decimal("2.50") and s.user_daily_requests == 20  # type: ignore[attr-defined]
    s = load(GUILD_DAILY_SPEND_USD="0", USER_DAILY_REQUESTS="0")
    assert s.guild_daily_spend_usd is None and s.user_daily_requests is None  # type: ignore[attr-defined]


def test_secrets_are_masked_in_repr() -> None:
    s = load_settings({**BASE, "CALLBACK_PUBLIC_URL": "https://b.example", "CALLBACK_SECRET": "s" * 20})
    text = repr(s) + str(s)
    for secret in ("tok.en-123", "mk-1", "s" * 20):
        assert secret not in text
    assert "********" in text
    assert sorted(s.secrets()) == sorted(["tok.en-123", "mk-1", "s" * 20])


def test_env_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DISCORD_TOKEN=from-file\nMIDAPI_API_KEY=file-key\n")
    monkeypatch.setenv("MIDAPI_API_KEY", "env-key")
    merged = read_environment(env_file)
    assert merged["DISCORD_TOKEN"] == "from-file" and merged["MIDAPI_API_KEY"] == "env-key"


def test_python_m_bot_with_empty_environment_exits_2_naming_discord_token(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    assert len(lines) == 1 and "DISCORD_TOKEN" in lines[0]
    assert "Traceback" not in done.stderr
