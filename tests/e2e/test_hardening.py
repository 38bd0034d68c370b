"""End to end: the real bot process under hostile input on its web port and unlucky result deliveries."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp

from tests.e2e.conftest import rows
from tests.e2e.harness import world
from tests.e2e.test_flows import is_result

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
