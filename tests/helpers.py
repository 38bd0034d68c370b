"""Small builders the tests share."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from bot.config import Settings, load_settings
from bot.store import Task, TaskState


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


# A task record for pure policy tests: a running imagine; `task_record` varies it.
TASK = Task(
    id="a1b2c3",
    provider="midapi",
    provider_task_id="p",
    kind="imagine",
    parent_id=None,
    parent_provider_task_id=None,
    image_index=None,
    strength=None,
    prompt="x",
    remix_prompt=None,
    request_key="k",
    user_id=1,
    guild_id=1,
    channel_id=1,
    state=TaskState.RUNNING,
    progress=0,
    error_code=None,
    error_message=None,
    result_urls=(),
    result_message_id=None,
    cost=None,
    create_started_at=None,
    create_uncertain=False,
    status_reads=0,
    poll_count=0,
    created_at=1000.0,
    submitted_at=1000.0,
    last_checked_at=None,
    next_check_at=None,
    last_progress_at=None,
    finished_at=None,
    delivered_at=None,
    delivery_attempts=0,
    next_delivery_at=None,
    delivery_error=None,
)


def task_record(task_id: str, **fields: Any) -> Task:
    return replace(TASK, id=task_id, **fields)
