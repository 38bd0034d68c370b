"""Runtime faults end to end: the real bot process while its store stops taking writes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiohttp

from sandbox.world import world


def is_result(message: dict[str, object]) -> bool:
    return bool(message["attachments"])


async def test_a_locked_store_pauses_provider_work_and_nothing_is_posted_twice(tmp_path: Path) -> None:
    async with world(tmp_path, duration_s=1.0) as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a lighthouse in the fog")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        # Another process takes the file's write lock (a backup tool, a second bot, a full disk)
        # while the task runs and finishes at the provider.
        blocker = sqlite3.connect(w.data_dir / "bot.sqlite3", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            # SQLite waits 5 s for a lock before it gives up; then the bot must notice, once.
            for _ in range(200):
                if "store: cannot be used" in w.bot.log():
                    break
                await asyncio.sleep(0.1)
            assert "store: cannot be used" in w.bot.log()
            async with aiohttp.ClientSession() as http, http.get(f"{w.base_url}/healthz") as response:
                body = await response.json()
            assert response.status == 503 and any("store not writable" in r for r in body["reasons"])
            reads_at_fault = len(w.provider.calls("status"))
            # Not a wait for something to happen: a measured stretch of the lock's life. A bot that
            # spun would read status dozens of times in it; a slower machine only reads less.
            await asyncio.sleep(4.0)
            reads_during = len(w.provider.calls("status")) - reads_at_fault
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert reads_during <= 6, f"{reads_during} status reads while the store could not record them"
        grid = await w.discord.wait_for_message(w.channel, is_result, timeout=30)
        assert "a lighthouse in the fog" in grid["content"]
        await w.discord.wait_for_answer(ask, lambda t: "posted" in t)
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                async with http.get(f"{w.base_url}/healthz") as response:
                    if response.status == 200:
                        break
                await asyncio.sleep(0.1)
            assert response.status == 200
        with sqlite3.connect(w.data_dir / "bot.sqlite3") as db:
            delivered = db.execute("SELECT COUNT(*) FROM tasks WHERE delivered_at IS NOT NULL").fetchone()[0]
        assert delivered == 1
        assert len([m for m in w.discord.messages(w.channel) if is_result(m)]) == 1
        log = w.bot.log()
        assert "Traceback" not in log
        assert log.count("store: cannot be used") == 1 and log.count("store: writable again") == 1
