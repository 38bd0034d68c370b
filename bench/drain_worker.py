"""One engine process of the drain benchmark: `python -m bench.drain_worker` (see bench/drain.py).

It builds the bot's own `Engine` over the store that `--database` names and the midapi client
pointed at `--provider`, exactly as `bot/app.py` does minus Discord (nothing is delivered: the
tasks' delivery is a no-op), waits for `--start-at` so every process of a row begins together, and
runs until the store holds no unfinished task or `--deadline` passes. Its last line on stdout is
JSON: its name and how many pieces of work its engine claimed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time

import aiohttp

from bot.config import load_settings
from bot.providers import make_provider
from bot.store import open_store
from bot.tasks import Engine

# How often the worker asks the store whether anything is left: cheap next to the work itself.
DONE_CHECK_S = 0.25


async def drain(args: argparse.Namespace) -> dict[str, object]:
    settings = load_settings(
        {
            "DISCORD_TOKEN": "unused-by-the-engine",
            "DATABASE_URL": args.database,
            "MJ_PROVIDER": "midapi",
            "MIDAPI_API_KEY": args.api_key,
            "MIDAPI_BASE_URL": args.provider,
            "INSTANCE_NAME": args.name,
            "ENGINE_CONCURRENCY": str(args.concurrency),
            "TASK_TIMEOUT_S": "86400",
        }
    )
    store = await open_store(settings.database)
    try:
        async with aiohttp.ClientSession() as session:
            engine = Engine(store, make_provider(settings, session), settings)
            await asyncio.sleep(max(0.0, args.start_at - time.time()))
            engine.start()
            while time.time() < args.deadline:
                counts = await store.counts_by_state()
                if not any(counts.get(state, 0) for state in ("queued", "submitted", "running")):
                    break
                await asyncio.sleep(DONE_CHECK_S)
            await engine.stop()
            return {"name": args.name, "claimed": engine.state.claimed, "errors": engine.state.errors}
    finally:
        await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drain_worker")
    parser.add_argument("--database", required=True)
    parser.add_argument("--provider", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--start-at", type=float, required=True)
    parser.add_argument("--deadline", type=float, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(asyncio.run(drain(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
