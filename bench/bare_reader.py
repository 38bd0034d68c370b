"""The scale baseline: a bare aiohttp client that reads each task's status once and does nothing else.

Ids arrive on stdin (one per line), the midapi base URL and key as arguments; it prints the seconds
from its first request to its last answer. It reads with as many requests in flight as the engine's
default `ENGINE_CONCURRENCY`, over one session, so it is the floor under the bot's resume time on
the same machine and the same fake: what the HTTP reads alone cost, with no store, schedule or
state machine around them.
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp

from bot.config import DEFAULTS


async def read_all(base_url: str, api_key: str, ids: list[str], concurrency: int) -> float:
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
    pending = iter(ids)
    async with aiohttp.ClientSession() as session:

        async def reader() -> None:
            for task_id in pending:
                url = f"{base_url}/api/v1/mj/record-info"
                async with session.get(url, params={"taskId": task_id}, headers=headers) as response:
                    await response.json()

        started = time.perf_counter()
        await asyncio.gather(*(reader() for _ in range(concurrency)))
        return time.perf_counter() - started


def main() -> None:
    base_url, api_key = sys.argv[1], sys.argv[2]
    ids = sys.stdin.read().split()
    seconds = asyncio.run(read_all(base_url, api_key, ids, int(DEFAULTS["ENGINE_CONCURRENCY"])))
    print(f"{seconds:.4f}")


if __name__ == "__main__":
    main()
