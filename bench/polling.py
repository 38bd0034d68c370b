"""polling: provider requests per finished task and detection lateness.

The engine's adaptive schedule (with and without callbacks) against fixed 3 s polling, on a loopback
provider whose tasks take a realistic 20-60 s. Time is scaled 1:10 so a run takes seconds; the table
reports real-world seconds (measured × 10).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import mean, percentile, report
from bot.callbacks import CallbackTokens
from bot.metrics import Metrics
from bot.providers.midapi import MidapiClient
from bot.store import Task, open_store
from bot.tasks import Admission, Engine, Outbox, SubmitRequest
from bot.web import WebServer
from sandbox.midapi import FakeMidapi
from tests.helpers import make_settings

SCALE = 10.0
TASKS = 40


def fixed_interval(task: Task, now: float | None = None) -> float:
    """The baseline: a status read every 3 s, no backoff, no estimate."""
    return 3.0 / SCALE


async def scenario(
    name: str, first_s: float, max_s: float, callbacks: bool, seed: int, *, fixed: bool = False
) -> list[object]:
    rng = random.Random(seed)
    scratch = Path(tempfile.mkdtemp(prefix="mjbot-bench-poll-"))
    fake = await FakeMidapi().start()
    settings = make_settings(
        DATABASE_URL=f"sqlite:///{scratch / 'bot.sqlite3'}",
        POLL_FIRST_S=str(first_s / SCALE),
        POLL_MAX_S=str(max_s / SCALE),
        MAX_ACTIVE_PER_USER="100",
        ENGINE_CONCURRENCY="32",
    )
    store = await open_store(settings.database)
    finished_at: dict[str, float] = {}
    detected: dict[str, float] = {}

    async def deliver(task: object) -> int:
        detected[task.id] = time.monotonic()  # type: ignore[attr-defined]
        return 1

    async with aiohttp.ClientSession() as session:
        provider = MidapiClient(session, api_key="test-key", base_url=fake.base_url)
        engine = Engine(store, provider, settings, deliver=Outbox(store, deliver).deliver, metrics=Metrics())
        if fixed:
            engine.follower.interval = fixed_interval  # type: ignore[method-assign]
        admission = Admission(store, provider.name, provider.capabilities, settings)
        web = None
        if callbacks:
            web = WebServer(engine=engine, store=store, metrics=Metrics(), tokens=None, max_lag_s=60)
            await web.start("127.0.0.1", 0)
            tokens = CallbackTokens("bench-secret-0123456789", f"http://127.0.0.1:{web.port}", "midapi")
            web.tokens = tokens
            engine.follower.callback_url = tokens.url
        engine.start()
        ids = []
        for n in range(TASKS):
            fake.duration_s = rng.uniform(20, 60) / SCALE
            admitted = await admission.admit(SubmitRequest("imagine", n, 1, 1, prompt=f"task {n}"))
            task = await engine.begin(admitted.task)
            ids.append(task.id)
            provider_task = fake.tasks[task.provider_task_id or ""]
            finished_at[task.id] = provider_task.created_at + provider_task.duration_s
        deadline = time.monotonic() + 15
        while len(detected) < TASKS and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await engine.stop()
        if web:
            await web.stop()
    reads = [fake.tasks[(await store.get(i)).provider_task_id].status_reads for i in ids]  # type: ignore[union-attr,index]
    lateness = [max(0.0, detected[i] - finished_at[i]) * SCALE for i in ids if i in detected]
    await store.close()
    await fake.stop()
    return [name, len(lateness), mean([float(r) for r in reads]), mean(lateness), percentile(lateness, 95)]


async def run() -> None:
    rows = [
        await scenario("fixed 3 s polling (baseline)", 3, 3, False, 1, fixed=True),
        await scenario("mjbot adaptive 5→30 s", 5, 30, False, 1),
        await scenario("mjbot adaptive + callbacks", 5, 30, True, 1),
    ]
    report(
        "polling",
        f"polling: {TASKS} tasks of 20-60 s, status reads per task and detection lateness (real-world s)",
        ["schedule", "finished", "reads/task", "late mean s", "late p95 s"],
        rows,
        {"time_scale": SCALE},
    )


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
