"""polling: status reads per task against detection lateness, fixed intervals vs the adaptive schedule.

The real engine and store follow a stream of tasks on the loopback midapi fake. Durations depend on
the kind, as they do at real providers (upscale 20-32 s, vary 30-48 s, imagine 38-60 s, uniform
within a kind; 20-60 s overall). Time is simulated: everything runs SCALE times faster than real
time (POLL_FIRST_S, POLL_MAX_S and the durations are divided by it), and the table reports
simulated seconds, i.e. what a member would wait.

Rows, all fed the same arrivals and durations in one run, side by side (each in its own process with
its own engine, store and provider fake, so they share the machine's conditions but not a GIL):

* fixed 1, 2, 3, 5, 10 s: a read every N s from submit. They ignore progress, so one sweep serves
  as the baseline curve (reads per task against p95 lateness) for both providers below.
* adaptive, provider reports progress; adaptive, provider reports none (0% until done).
* adaptive + callbacks (progress on): polling is only the safety net, so the goal is the floor of
  one read per task (the one the callback triggers) with p95 lateness under 1 s.

Lateness is provider finish → the status read that saw the result (at the provider, so only polling
and the engine's own lag count, not delivery). The first WARMUP tasks of each row are left out of
the figures: they are what teaches a fresh engine's duration model.

Goal: the adaptive schedule needs at most half the reads of the fixed curve at its own p95 lateness
(log-log interpolation between the two fixed rows around it; below the most punctual fixed row, that
row's reads, which understates what fixed polling would need; above the laziest, reads ∝ 1/lateness).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

from bench.common import Figures, Row, mean, percentile, sig, wait_until
from bot.callbacks import CallbackTokens
from bot.metrics import Metrics
from bot.providers.midapi import MidapiClient
from bot.store import Task, TaskKind, open_store
from bot.tasks import Admission, Engine, Outbox, SubmitRequest
from bot.web import WebServer
from sandbox.midapi import FakeMidapi
from tests.helpers import make_settings

NAME = "polling"
SCALE = 5.0  # simulated seconds per real second
KINDS: dict[TaskKind, tuple[float, float]] = {"upscale": (20, 32), "vary": (30, 48), "imagine": (38, 60)}
TASKS = 95
WARMUP = 45
ARRIVAL_S = 1.6  # one task every 1.6 s (simulated)
FIRST_S, MAX_S = 5.0, 30.0  # the bot's defaults for POLL_FIRST_S / POLL_MAX_S
FIXED = (1, 2, 3, 5, 10)
WAKE_EVERY_S = 0.02  # real seconds; see _keep_waking
TITLE = (
    f"polling: {TASKS - WARMUP} tasks of 20-60 s (+{WARMUP} warm-up), reads per task vs p95 lateness; "
    f"time simulated at {SCALE:g}x"
)


@dataclass(frozen=True)
class Scenario:
    key: str
    fixed_s: float | None = None
    progress: bool = True
    callbacks: bool = False


SCENARIOS = (
    *(Scenario(f"fixed_{s}s", fixed_s=s) for s in FIXED),
    Scenario("adaptive_progress"),
    Scenario("adaptive_no_progress", progress=False),
    Scenario("callbacks", callbacks=True),
)


@dataclass(frozen=True)
class Arrival:
    at_s: float  # simulated
    kind: TaskKind
    duration_s: float  # simulated


def plan(rng: random.Random) -> list[Arrival]:
    arrivals = []
    for n in range(TASKS):
        kind = rng.choice(list(KINDS))
        arrivals.append(Arrival(n * ARRIVAL_S, kind, rng.uniform(*KINDS[kind])))
    return arrivals


async def follow(scenario: Scenario, arrivals: list[Arrival]) -> Figures:
    scratch = Path(tempfile.mkdtemp(prefix=f"mjbot-bench-poll-{scenario.key}-"))
    first, longest = (scenario.fixed_s, scenario.fixed_s) if scenario.fixed_s else (FIRST_S, MAX_S)
    settings = make_settings(
        DATABASE_URL=f"sqlite:///{scratch / 'bot.sqlite3'}",
        POLL_FIRST_S=str(first / SCALE),
        POLL_MAX_S=str(longest / SCALE),
        TASK_TIMEOUT_S=str(900 / SCALE),
        MAX_ACTIVE_PER_USER="3",
    )
    fake = FakeMidapi()
    fake.reports_progress = scenario.progress
    await fake.start()
    store = await open_store(settings.database)
    lags: list[float] = []
    ids: list[str] = []
    web: WebServer | None = None
    try:
        async with aiohttp.ClientSession() as session:
            provider = MidapiClient(session, api_key="test-key", base_url=fake.base_url)
            # Delivered at once (nothing posted): an engine with results waiting to go out would wake
            # for them every tick, and one without delivery at all never sees them leave its schedule.
            engine = Engine(
                store, provider, settings, deliver=Outbox(store, _posted).deliver, metrics=Metrics()
            )
            if scenario.fixed_s is not None:
                gap = scenario.fixed_s / SCALE
                engine.follower.interval = lambda task, now=None, progress=None: gap  # type: ignore[method-assign]
            if scenario.callbacks:
                web = WebServer(engine=engine, store=store, metrics=Metrics(), tokens=None, max_lag_s=60)
                await web.start("127.0.0.1", 0)
                tokens = CallbackTokens("bench-secret-0123456789", f"http://127.0.0.1:{web.port}", "midapi")
                web.tokens = tokens
                engine.follower.callback_url = tokens.url
            admission = Admission(store, provider.name, provider.capabilities, settings)
            engine.start()
            sampler = asyncio.create_task(_sample_lag(engine, lags))
            waker = asyncio.create_task(_keep_waking(engine))
            started = time.monotonic()
            for n, arrival in enumerate(arrivals):
                await asyncio.sleep(max(0.0, started + arrival.at_s / SCALE - time.monotonic()))
                ids.append(await _submit(engine, admission, fake, n, arrival))
            last_needed = (max(KINDS["imagine"]) + 3 * MAX_S) / SCALE
            await wait_until(lambda: _all_seen(fake, ids), last_needed, interval=0.1)
            sampler.cancel()
            waker.cancel()
            await engine.stop()
    finally:
        if web is not None:
            await web.stop()
        await store.close()
        await fake.stop()
    return _figures(fake, ids, lags)


async def _posted(task: Task) -> int:
    return 1


async def _submit(engine: Engine, admission: Admission, fake: FakeMidapi, n: int, arrival: Arrival) -> str:
    parent = None if arrival.kind == "imagine" else fake.seed_task(f"parent {n}").task_id
    request = SubmitRequest(
        arrival.kind,
        user_id=n,
        guild_id=1,
        channel_id=1,
        prompt=f"task {n}" if parent is None else None,
        parent_provider_task_id=parent,
        index=None if parent is None else 1,
    )
    admitted = await admission.admit(request)
    fake.duration_s = arrival.duration_s / SCALE  # the create below makes a task this long
    task: Task = await engine.begin(admitted.task)
    return task.provider_task_id or ""


def _all_seen(fake: FakeMidapi, ids: list[str]) -> bool:
    """Every task has had a status read after its finish (the engine stops reading once it sees it)."""
    last = _last_reads(fake, ids)
    return all(last.get(i, 0.0) >= fake.tasks[i].created_at + fake.tasks[i].duration_s for i in ids)


def _last_reads(fake: FakeMidapi, ids: list[str]) -> dict[str, float]:
    wanted = set(ids)
    last: dict[str, float] = {}
    for request in fake.requests:
        task_id = request.query.get("taskId", "")
        if request.call == "status" and task_id in wanted:
            last[task_id] = request.at
    return last


async def _keep_waking(engine: Engine) -> None:
    """Wake the engine every WAKE_EVERY_S (its public `wake()`).

    The engine idles up to 1 s of real time when a check falls due between its tick and its sleep
    (engine.py, `_sleep`: nothing started, nothing in flight). That constant is not scaled with the
    rest, so at SCALE 5 it would add up to 5 simulated seconds to reads and swamp the difference
    between schedules. Waking it often bounds that to 0.1 simulated s until the engine is fixed.
    """
    while True:
        await asyncio.sleep(WAKE_EVERY_S)
        engine.wake()


async def _sample_lag(engine: Engine, lags: list[float]) -> None:
    while True:
        await asyncio.sleep(0.1)
        lags.append(engine.state.lag_s * SCALE)


def _figures(fake: FakeMidapi, ids: list[str], lags: list[float]) -> Figures:
    measured = ids[WARMUP:]
    last = _last_reads(fake, measured)
    late = []
    for task_id in measured:
        task = fake.tasks[task_id]
        finish = task.created_at + task.duration_s
        seen = last.get(task_id, math.inf)
        late.append(max(0.0, seen - finish) * SCALE if seen >= finish else math.inf)
    reads = [float(fake.tasks[i].status_reads) for i in measured]
    return {
        "reads_per_task": mean(reads),
        "late_p95_s": percentile(late, 95),
        "late_mean_s": mean([x for x in late if math.isfinite(x)]),
        "unseen": float(sum(1 for x in late if not math.isfinite(x))),
        "engine_lag_p99_s": percentile(lags, 99),
    }


async def measure() -> Figures:
    arrivals = json.dumps([asdict(a) for a in plan(random.Random())])
    results = await asyncio.gather(*(_in_own_process(s, arrivals) for s in SCENARIOS))
    return {
        f"{s.key}.{k}": v for s, figures in zip(SCENARIOS, results, strict=True) for k, v in figures.items()
    }


async def _in_own_process(scenario: Scenario, arrivals: str) -> Figures:
    root = Path(__file__).resolve().parents[1]
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.polling",
        scenario.key,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    # Bounded: the last arrival, the longest task and a generous tail, then the worker is killed.
    limit = (TASKS * ARRIVAL_S + max(KINDS["imagine"]) + 3 * MAX_S) / SCALE + 60
    try:
        out, err = await asyncio.wait_for(worker.communicate(arrivals.encode()), limit)
    except TimeoutError:
        worker.kill()
        await worker.wait()
        raise RuntimeError(f"polling worker {scenario.key} did not finish in {limit:.0f} s") from None
    if worker.returncode != 0:
        raise RuntimeError(f"polling worker {scenario.key} failed:\n{err.decode(errors='replace')[-3000:]}")
    figures: Figures = json.loads(out.decode().splitlines()[-1])
    return figures


def _worker(key: str) -> None:
    scenario = next(s for s in SCENARIOS if s.key == key)
    arrivals = [Arrival(**a) for a in json.loads(sys.stdin.read())]
    print(json.dumps(asyncio.run(follow(scenario, arrivals))))


def fixed_curve_reads(median: Figures, lateness: float) -> float:
    """Reads per task the fixed-interval curve needs at this p95 lateness (see the module docstring)."""
    points = sorted((median[f"fixed_{s}s.late_p95_s"], median[f"fixed_{s}s.reads_per_task"]) for s in FIXED)
    if lateness <= points[0][0]:
        return points[0][1]
    if lateness >= points[-1][0]:
        return points[-1][1] * points[-1][0] / lateness
    for (l0, r0), (l1, r1) in itertools.pairwise(points):
        if l0 <= lateness <= l1:
            if l1 == l0:
                return min(r0, r1)
            share = (math.log(lateness) - math.log(l0)) / (math.log(l1) - math.log(l0))
            return math.exp(math.log(r0) + share * (math.log(r1) - math.log(r0)))
    return math.nan


def rows(median: Figures) -> list[Row]:
    table = []
    for s in FIXED:
        key = f"fixed_{s}s"
        table.append(_context(f"fixed {s} s (baseline)", median, key))
    for key, label in (("adaptive_progress", "progress reported"), ("adaptive_no_progress", "no progress")):
        reads, late = median[f"{key}.reads_per_task"], median[f"{key}.late_p95_s"]
        fixed = fixed_curve_reads(median, late)
        table.append(
            Row(
                f"adaptive, {label}",
                "reads/task",
                sig(reads),
                f"≤ ½ × fixed at {sig(late)} s = {sig(fixed / 2)}",
                reads <= fixed / 2,
            )
        )
        table.append(
            Row("", "p95 lateness", f"{sig(late)} s (simulated)", f"(fixed: {sig(fixed)} reads at it)")
        )
        table.append(Row("", "engine lag p99", f"{sig(median[f'{key}.engine_lag_p99_s'])} s (simulated)"))
    reads, late = median["callbacks.reads_per_task"], median["callbacks.late_p95_s"]
    table.append(
        Row(
            "adaptive + callbacks",
            "reads/task",
            sig(reads),
            "≤ 1.1 (the callback's read; floor 1)",
            reads <= 1.1,
        )
    )
    table.append(Row("", "p95 lateness", f"{sig(late)} s (simulated)", "≤ 1 s", late <= 1.0))
    return table


def _context(subject: str, median: Figures, key: str) -> Row:
    return Row(
        subject,
        "reads/task | p95 late | lag p99",
        f"{sig(median[f'{key}.reads_per_task'])} | {sig(median[f'{key}.late_p95_s'])} s | "
        f"{sig(median[f'{key}.engine_lag_p99_s'])} s (simulated)",
    )


if __name__ == "__main__":
    _worker(sys.argv[1])
