"""What the scaled-out tests share: asking in a guild of either shard, and reading posts per task."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sandbox.cluster import Cluster, Node
from sandbox.discord import Channel, Interaction, User
from tests.e2e.members import result_of, task_id
from tests.helpers import eventually


async def imagine(c: Cluster, who: User, node: Node, prompt: str) -> Interaction:
    return await c.discord.slash(who, node.channel, "imagine", prompt=prompt)


async def started(c: Cluster, interaction: Interaction, timeout: float = 15.0) -> str:
    text = await c.discord.wait_for_answer(interaction, lambda t: "Started" in t, timeout=timeout)
    return task_id(text)


def posts_of(channel: Channel, task: str) -> list[dict[str, Any]]:
    """The channel's result posts of `task` (its id opens the small text, and it carries images)."""
    return [m for m in channel.messages if result_of(task)(m)]


async def all_posted(channels: dict[str, Channel], timeout: float) -> None:
    """Until every task in `channels` (task id → its channel) has at least one post."""

    def missing() -> list[str]:
        return [task for task, channel in channels.items() if not posts_of(channel, task)]

    try:
        await eventually(lambda: not missing(), timeout=timeout, interval=0.1)
    except AssertionError:
        raise AssertionError(f"never posted: {missing()}") from None


def creates_per_request(c: Cluster) -> Counter[tuple[str, ...]]:
    """How often the provider was asked to create each request: an imagine by its prompt, a
    variation by its grid and image."""
    counted: Counter[tuple[str, ...]] = Counter()
    for request in c.provider.creates():
        body = request.body
        if request.call == "imagine":
            counted[("imagine", str(body["prompt"]))] += 1
        else:
            counted[(request.call, str(body["taskId"]), str(body["imageIndex"]))] += 1
    return counted


async def claimed(c: Cluster, node: Node) -> int:
    return int((await c.health(node))["engine"]["claimed_since_start"])


async def both_claimed(c: Cluster, timeout: float = 20.0) -> None:
    """Until each process's /healthz shows engine work it claimed itself."""

    async def check() -> bool:
        counts = await asyncio.gather(*(claimed(c, node) for node in c.nodes))
        return all(count > 0 for count in counts)

    await eventually(check, timeout=timeout, interval=0.1)


async def posted(c: Cluster, task: str, channel: Channel, timeout: float = 20.0) -> dict[str, Any]:
    return await c.discord.wait_for_message(channel, result_of(task), timeout=timeout)
