"""Small builders the tests share."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.config import Settings, load_settings


def make_settings(**env: str) -> Settings:
    """Test settings; `DATABASE_URL` is required (a file under the test's tmp_path): the store must
    persist, so there is no in-memory default."""
    if "DATABASE_URL" not in env:
        raise TypeError("make_settings needs DATABASE_URL=sqlite:///<a file under tmp_path>")
    base = {
        "DISCORD_TOKEN": "discord-test-token",
        "MIDAPI_API_KEY": "test-key",
        "VTRIX_API_KEY": "test-key",
        "POLL_FIRST_S": "0.05",
        "POLL_MAX_S": "0.2",
        "TASK_TIMEOUT_S": "30",
    }
    base.update(env)
    return load_settings(base)


async def eventually(
    check: Callable[[], Awaitable[Any] | Any], timeout: float = 5.0, interval: float = 0.02
) -> Any:
    """Wait until `check()` returns something truthy (a coroutine's result, or a plain value such as
    a fake's record); return it, or fail after `timeout`. The interval only paces the polling."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)
