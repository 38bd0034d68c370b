"""What the member-experience tests share: reading posts and replies as a member does, and waiting on
the store and the fakes (never on the clock) before asserting that something did not happen."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.discord import Channel, Interaction
from sandbox.world import World
from tests.e2e.conftest import rows

Message = dict[str, Any]


def labels(message: Message) -> list[str]:
    return [
        str(button.get("label") or (button.get("emoji") or {}).get("name"))
        for row in message.get("components") or []
        for button in row.get("components") or []
    ]


def task_id(text: str) -> str:
    """The first `id` in a reply ("Started `abc123` (imagine)…")."""
    found = re.search(r"`([a-z0-9]{6})`", text)
    assert found, f"no task id in {text!r}"
    return found.group(1)


def small_text(message: Message) -> str:
    """The `-# …` line under a caption (Discord's small grey text)."""
    lines = [line for line in str(message["content"]).splitlines() if line.startswith("-# ")]
    assert lines, f"no small text in {message['content']!r}"
    return lines[0]


def result_of(task: str) -> Callable[[Message], bool]:
    """The post of task `task`: its id opens the small text, and it carries images."""
    return lambda m: f"-# `{task}`" in str(m["content"]) and bool(m["attachments"] or m["embeds"])


async def started(w: World, interaction: Interaction) -> str:
    """The id of the task a command or press started (or queued)."""
    text = await w.discord.wait_for_answer(interaction, lambda t: "Started" in t or "Queued" in t)
    return task_id(text)


async def posted(w: World, task: str, channel: Channel | None = None, timeout: float = 20) -> Message:
    return await w.discord.wait_for_message(channel or w.channel, result_of(task), timeout=timeout)


async def grid(w: World, prompt: str, channel: Channel | None = None) -> tuple[str, Message]:
    """Alice's /imagine, to its post: (task id, message)."""
    ask = await w.discord.slash(w.alice, channel or w.channel, "imagine", prompt=prompt)
    grid_id = await started(w, ask)
    return grid_id, await posted(w, grid_id, channel)


async def ask(w: World, who: Any, command: str, **options: Any) -> str:
    """Run a slash command in #art and return its private answer."""
    interaction = await w.discord.slash(who, w.channel, command, **options)
    return await w.discord.wait_for_answer(interaction)


async def wait_for_row(
    data_dir: Path, sql: str, *params: Any, check: Callable[[list[dict[str, Any]]], bool] = bool
) -> list[dict[str, Any]]:
    """Poll the bot's store until `sql` reads as `check` wants (the bot writes; we only read)."""
    deadline = time.monotonic() + 20
    while True:
        found = rows(data_dir, sql, *params)
        if check(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"store never matched: {sql} {params} -> {found}")
        await asyncio.sleep(0.05)


async def delivered(w: World, task: str) -> dict[str, Any]:
    """The task's row once the outbox has finished with it (posted, told, or given up)."""
    found = await wait_for_row(
        w.data_dir, "SELECT * FROM tasks WHERE id = ? AND delivered_at IS NOT NULL", task
    )
    return found[0]


def state_of(w: World, task: str) -> str:
    return str(rows(w.data_dir, "SELECT state FROM tasks WHERE id = ?", task)[0]["state"])


def bot_posts(channel: Channel) -> list[Message]:
    return [m for m in channel.messages if m["author"].get("bot")]
