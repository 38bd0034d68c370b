"""End to end: the real bot process under hostile input on its web port and unlucky result deliveries."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp

from bot import messages
from sandbox.discord import Interaction
from sandbox.world import World, world
from tests.e2e.conftest import rows
from tests.e2e.test_flows import is_result
from tests.helpers import eventually

# The bot itself needs only a dozen descriptors, so it takes more half-open connections than the
# common 1,024-descriptor limit to leave it none for Discord, the provider and the store.
HALF_OPEN = 1100
OPEN_FILES = 1024


async def test_half_open_connections_on_the_web_port_do_not_stop_the_bot(tmp_path: Path) -> None:
    async with asyncio.timeout(100), world(tmp_path, max_open_files=OPEN_FILES) as w:
        held: list[asyncio.StreamWriter] = []
        refused = 0
        try:
            while len(held) < HALF_OPEN and refused < 5:
                try:
                    _reader, writer = await asyncio.wait_for(
                        asyncio.open_connection("127.0.0.1", w.http_port), 1
                    )
                except (OSError, TimeoutError):
                    refused += 1  # a full backlog drops the handshake: the flood has done its worst
                    continue
                writer.write(b"GET /heal")  # a request line that never ends
                held.append(writer)

            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{w.base_url}/healthz", timeout=aiohttp.ClientTimeout(total=15)) as response,
            ):
                assert response.status == 200, await response.text()

            ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a crowded harbour")
            started = await w.discord.wait_for_answer(ask, lambda t: "Started" in t, timeout=15)
            task_id = started.split("`")[1]
            await w.discord.wait_for_message(w.channel, is_result("imagine"), timeout=20)
            await w.discord.wait_for_answer(ask, lambda t: "posted" in t, timeout=10)
            stored = rows(w.data_dir, "SELECT state, result_message_id FROM tasks WHERE id = ?", task_id)
            assert stored[0]["state"] == "succeeded" and stored[0]["result_message_id"]
        finally:
            for writer in held:
                with contextlib.suppress(Exception):
                    writer.close()


def is_linked(task_word: str):  # type: ignore[no-untyped-def]
    """A result posted as the provider's links; `imagine` matches a new grid."""
    if task_word == "imagine":
        return lambda m: " of `" not in m["content"] and bool(m["embeds"]) and not m["attachments"]
    return lambda m: task_word in m["content"] and bool(m["embeds"]) and not m["attachments"]


async def started(w: World, ask: Interaction) -> str:
    return (await w.discord.wait_for_answer(ask, lambda t: "Started" in t)).split("`")[1]


async def delivered(w: World, task_id: str) -> dict[str, Any]:
    """The task's row once the bot has recorded where its result went."""

    async def recorded() -> Any:
        found = rows(w.data_dir, "SELECT state, result_message_id FROM tasks WHERE id = ?", task_id)
        return found[0] if found and found[0]["result_message_id"] else None

    return await eventually(recorded, timeout=10)  # type: ignore[no-any-return]


async def test_result_links_on_loopback_are_not_fetched_by_default(tmp_path: Path) -> None:
    # The fake provider's result links point at 127.0.0.1: exactly what the bot must not fetch.
    async with world(tmp_path, DOWNLOAD_ALLOW_PRIVATE="false") as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="an inside job")
        task_id = await started(w, ask)
        post = await w.discord.wait_for_message(w.channel, is_linked("imagine"), timeout=15)
        assert f"<@{w.alice.id}>" in post["content"] and messages.LINKED_NOTE in post["content"]
        assert len(post["embeds"]) == 4
        stored = await delivered(w, task_id)
        assert stored == {"state": "succeeded", "result_message_id": int(post["id"])}
        assert "not a public address" in w.bot.log()


async def test_an_upload_discord_refuses_is_posted_as_links(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.discord.limits.upload_bytes = 1000  # every grid is now "Request entity too large" (a 400 here)
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a very large canvas")
        task_id = await started(w, ask)
        post = await w.discord.wait_for_message(w.channel, is_linked("imagine"), timeout=15)
        assert messages.LINKED_NOTE in post["content"] and len(post["embeds"]) == 4
        stored = await delivered(w, task_id)
        assert stored == {"state": "succeeded", "result_message_id": int(post["id"])}


async def test_a_result_with_eleven_images_posts_four(tmp_path: Path) -> None:
    async with world(tmp_path, duration_s=2.0) as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="too many pictures")
        task_id = await started(w, ask)
        next(iter(w.provider.tasks.values())).images = 11  # before it finishes
        post = await w.discord.wait_for_message(w.channel, is_result("imagine"), timeout=15)
        assert len(post["attachments"]) == 4
        stored = await delivered(w, task_id)
        assert stored == {"state": "succeeded", "result_message_id": int(post["id"])}
