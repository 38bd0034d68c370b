"""scale: 10,000 unfinished tasks — resident memory, engine lag, start-up resume time.

A store holding 10,000 running tasks (known to the loopback provider) is opened by a fresh engine; we
measure how long until every task has been checked once, the engine's lag meanwhile, and the
process's resident memory, against the same engine resuming 100 tasks measured beside it.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import report
from bot.providers.midapi import MidapiClient
from bot.store import NewTask, TaskState, open_store
from bot.store.sqlite import SqliteStore
from bot.tasks import Engine
from sandbox.midapi import FakeMidapi
from tests.helpers import make_settings


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def resume(count: int) -> list[object]:
    scratch = Path(tempfile.mkdtemp(prefix="mjbot-bench-scale-"))
    fake = await FakeMidapi(duration_s=3600).start()
    settings = make_settings(
        DATABASE_URL=f"sqlite:///{scratch / 'bot.sqlite3'}",
        POLL_FIRST_S="5",
        POLL_MAX_S="30",
        MAX_ACTIVE_PER_USER="100",
        ENGINE_CONCURRENCY="32",
        TASK_TIMEOUT_S="3600",
    )
    seed = await SqliteStore.open(settings.database)  # one transaction for the whole seed: fast
    now = time.time()
    await seed._db.execute("BEGIN")
    for n in range(count):
        provider_task = fake.new_task("imagine", f"prompt {n}")
        task = await seed.insert_task(
            NewTask("midapi", "imagine", n % 500, 1, 1, f"k{n}", prompt=f"prompt {n}"), now=now
        )
        await seed.update(
            task.id,
            state=TaskState.RUNNING,
            provider_task_id=provider_task.task_id,
            submitted_at=now,
            next_check_at=now - 1,
        )
    await seed._db.execute("COMMIT")
    await seed.close()

    gc.collect()
    before = rss_mb()
    started = time.monotonic()
    store = await open_store(settings.database)
    lags = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        provider = MidapiClient(session, api_key="test-key", base_url=fake.base_url)
        engine = Engine(store, provider, settings)
        engine.start()
        while True:
            await asyncio.sleep(0.25)
            lags.append(engine.state.lag_s)
            checked = sum(1 for t in fake.tasks.values() if t.status_reads > 0)
            if checked >= count or time.monotonic() - started > 300:
                break
        resumed = time.monotonic() - started
        peak = rss_mb()
        await engine.stop()
    await store.close()
    await fake.stop()
    return [f"{count} tasks", checked, resumed, max(lags), peak - before, peak]


async def run() -> None:
    rows = [await resume(100), await resume(10_000)]
    report(
        "scale",
        "scale: a fresh engine resuming unfinished tasks from the store",
        ["store", "checked", "resume s", "max lag s", "RSS growth MB", "RSS MB"],
        rows,
    )


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
