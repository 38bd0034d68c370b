"""drain: 10,000 due tasks drained by one, two and three engine processes on PostgreSQL, against one
process on SQLite — throughput per process and in total.

Each row starts from a fresh store holding 10,000 running tasks, all due now, each already finished
at the loopback midapi fake (which runs here, in the benchmark's own process, and answers each read
after PROVIDER_LATENCY_S, as across a network): one status read finishes a task, and nothing is
delivered (no Discord; the engine gets no delivery hook). Each
engine process is `python -m bench.drain_worker`: the bot's own `Engine` and `PostgresStore` (or
`SqliteStore`), claiming work with leases as the bot does. All processes of a row start at one
agreed moment; the row's time runs from then to the last `finished_at` in the store.

Goal: two processes drain at least 1.5× as fast as one (both on PostgreSQL). Every row is capped
at CAP_S, stray workers are killed, and every database made here is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import Figures, Row, sig
from bot.config import DatabaseLocation
from bot.store.models import TaskState, new_short_id
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore
from sandbox.cluster import PostgresUnavailable, create_database, drop_database
from sandbox.midapi import FakeMidapi
from sandbox.world import PROVIDER_KEY

NAME = "drain"
TASKS = 10_000
# Each status read answers after this long, as a provider across a network does (real ones take
# 100-400 ms): what a process's slots wait on, and what more processes overlap. With an instant fake
# the fake, PostgreSQL and the engines would all compete for the same two cores, and the figure
# would measure the machine's CPU, not how the work is shared.
PROVIDER_LATENCY_S = 0.02
PROCESSES = (1, 2, 3)
CAP_S = 90.0
# Time for the workers to start Python and open the store before the agreed moment.
START_DELAY_S = 4.0
SERVER = os.environ.get("TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parents[1]
TITLE = f"drain: {TASKS:,} due tasks by 1 / 2 / 3 engine processes on PostgreSQL, and 1 on SQLite"

COLUMNS = (
    "id", "provider", "kind", "prompt", "request_key", "user_id", "guild_id", "channel_id", "state",
    "created_at", "submitted_at", "next_check_at", "last_progress_at", "provider_task_id",
)  # fmt: skip


def task_rows(fake: FakeMidapi) -> list[tuple[Any, ...]]:
    """The 10,000 rows every store of a run gets, each a task the fake has already finished."""
    now = time.time()
    ids: set[str] = set()
    rows = []
    for n in range(TASKS):
        task_id = new_short_id()
        while task_id in ids:
            task_id = new_short_id()
        ids.add(task_id)
        provider_id = fake.seed_task(f"prompt {n}").task_id
        rows.append(
            (task_id, "midapi", "imagine", f"prompt {n}", f"k{n}", 1000 + n % 500, 1, 2,
             TaskState.RUNNING.value, now, now, now - 1, now, provider_id)
        )  # fmt: skip
    return rows


async def seed_sqlite(path: Path, rows: list[tuple[Any, ...]]) -> str:
    url = f"sqlite:///{path}"
    store = await SqliteStore.open(DatabaseLocation(url, str(path)))  # creates the schema
    await store.close()
    db = sqlite3.connect(path)
    with db:
        marks = ", ".join("?" for _ in COLUMNS)
        db.executemany(f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({marks})", rows)
    db.close()
    return url


async def seed_postgres(url: str, rows: list[tuple[Any, ...]]) -> None:
    store = await PostgresStore.open(DatabaseLocation(url, "", "postgres"))  # migrates
    await store.close()
    connection = await asyncpg.connect(url)
    try:
        await connection.copy_records_to_table("tasks", records=rows, columns=list(COLUMNS))
    finally:
        await connection.close()


async def finished(database: str) -> tuple[int, float | None]:
    """How many tasks ended, and when the last one did, read from the store."""
    sql = "SELECT count(*), max(finished_at) FROM tasks WHERE finished_at IS NOT NULL"
    if database.startswith("sqlite"):
        db = sqlite3.connect(database.removeprefix("sqlite:///"))
        count, last = db.execute(sql).fetchone()
        db.close()
        return int(count), last
    connection = await asyncpg.connect(database)
    try:
        row = await connection.fetchrow(sql)
    finally:
        await connection.close()
    assert row is not None
    return int(row[0]), row[1]


async def spawn(
    database: str, name: str, fake: FakeMidapi, start_at: float, deadline: float
) -> asyncio.subprocess.Process:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    arguments = {
        "--database": database,
        "--provider": fake.base_url,
        "--api-key": PROVIDER_KEY,
        "--name": name,
        "--start-at": str(start_at),
        "--deadline": str(deadline),
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.drain_worker",
        *(part for pair in arguments.items() for part in pair),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_row(database: str, processes: int, fake: FakeMidapi) -> Figures:
    start_at = time.time() + START_DELAY_S
    deadline = start_at + CAP_S
    workers = [await spawn(database, f"drain-{n}", fake, start_at, deadline) for n in range(processes)]
    reports: list[dict[str, Any]] = []
    for worker in workers:
        try:
            out, err = await asyncio.wait_for(worker.communicate(), deadline - time.time() + 20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                worker.kill()
            await worker.wait()
            continue
        lines = out.decode().strip().splitlines()
        if worker.returncode != 0 or not lines:
            print(f"  drain worker failed ({worker.returncode}): {err.decode()[-800:]}", flush=True)
            continue
        reports.append(json.loads(lines[-1]))
    done, last = await finished(database)
    elapsed = (last - start_at) if last is not None and done == TASKS else math.inf
    figures: Figures = {"drained": float(done), "elapsed_s": elapsed, "total_per_s": TASKS / elapsed}
    for n in range(max(PROCESSES)):
        claimed = reports[n]["claimed"] if n < len(reports) else math.nan
        figures[f"p{n}_per_s"] = claimed / elapsed if n < processes else math.nan
    return figures


async def measure() -> Figures:
    figures: Figures = {}
    fake = FakeMidapi(api_key=PROVIDER_KEY)
    fake.reports_progress = False
    fake.latency_s = PROVIDER_LATENCY_S
    await fake.start()
    scratch = Path(tempfile.mkdtemp(prefix="mjbot-bench-drain-"))
    try:
        rows = task_rows(fake)
        sqlite_url = await seed_sqlite(scratch / "bot.sqlite3", rows)
        figures.update({f"sqlite.1.{k}": v for k, v in (await run_row(sqlite_url, 1, fake)).items()})
        for processes in PROCESSES:
            try:
                url = await create_database(SERVER, prefix="mjbot_bench_drain")
            except PostgresUnavailable as exc:
                print(f"  drain: no PostgreSQL at {SERVER} ({exc}); its rows read n/a", flush=True)
                break
            try:
                await seed_postgres(url, rows)
                measured = await run_row(url, processes, fake)
            finally:
                await drop_database(SERVER, url)
            figures.update({f"pg.{processes}.{k}": v for k, v in measured.items()})
    finally:
        await fake.stop()
    for key in [f"pg.{p}.{k}" for p in PROCESSES for k in ("drained", "elapsed_s", "total_per_s")]:
        figures.setdefault(key, math.nan)
    for p in PROCESSES:
        for n in range(max(PROCESSES)):
            figures.setdefault(f"pg.{p}.p{n}_per_s", math.nan)
    return figures


def _per_process(m: Figures, prefix: str, processes: int) -> str:
    return " + ".join(sig(m[f"{prefix}.p{n}_per_s"]) for n in range(processes))


def rows(m: Figures) -> list[Row]:
    one = m["pg.1.total_per_s"]
    two = m["pg.2.total_per_s"]
    table = [
        Row("SQLite, 1 process", "tasks/s total", f"{sig(m['sqlite.1.total_per_s'])}", "(baseline)"),
        Row("PostgreSQL, 1 process", "tasks/s total", f"{sig(one)}", "(baseline)"),
        Row(
            "PostgreSQL, 2 processes",
            "tasks/s total (per process)",
            f"{sig(two)} ({_per_process(m, 'pg.2', 2)})",
            f"≥ 1.5 × 1 process ({sig(1.5 * one)})",
            (two >= 1.5 * one) if not math.isnan(one) and not math.isnan(two) else False,
        ),
        Row(
            "PostgreSQL, 3 processes",
            "tasks/s total (per process)",
            f"{sig(m['pg.3.total_per_s'])} ({_per_process(m, 'pg.3', 3)})",
        ),
    ]
    drained = [m["sqlite.1.drained"], *(m[f"pg.{p}.drained"] for p in PROCESSES)]
    table.append(
        Row(
            "every row",
            f"drained within {CAP_S:g} s",
            " / ".join(sig(d) if not math.isnan(d) else "n/a" for d in drained),
            f"{TASKS:,} each",
            all(d == TASKS for d in drained),
        )
    )
    return table
