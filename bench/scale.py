"""scale: the bot resuming 100 / 1,000 / 10,000 unfinished tasks — resume time, engine lag, memory.

For each size, a store holding that many running tasks (each known to the loopback midapi fake,
which keeps them running) is written before the bot starts; then the real bot (`python -m bot`, its
own process, default settings) starts on the loopback Discord. Measured:

* resume: from the bot's first status read to every task having been read once (at the provider);
* engine lag p99: the engine's own `mjbot_engine_lag_seconds` (how far behind its schedule it runs),
  sampled from /metrics every 0.2 s. Twice: while *catching up*, the CATCH_UP_S right after the
  resume (every task read at about the same moment falls due again at about the same moment, on the
  shortest gaps, so a large resume is followed by a stretch where the schedule asks for more reads
  than the machine can make), and in *steady state*, STEADY_S from SETTLE_S after the resume, once
  the schedule has spread out. The goal is judged on the steady state, the catch-up is shown beside
  it;
* RSS of the bot process at the end, against a bare discord.py bot (`bench/bare_bot.py`) connected
  to the same loopback Discord.

The resume time's baseline is `bench/bare_reader.py`: a bare aiohttp client, in its own process,
reading each of the same tasks once from the same fake with the engine's default concurrency. It is
the floor: what the HTTP reads alone cost on this machine.

Goals: every task read within 3 s of the first read, even at 10,000; lag p99 under 1 s; RSS at most
the bare bot's + 30 MB. Growth per 1,000 tasks is shown so linear (or worse) growth is visible.
Everything is bounded: a resume not done in RESUME_CAP_S is reported as such, and the bot is stopped
(SIGTERM, then killed) whatever happens.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import Figures, Row, percentile, sig
from bot.config import DatabaseLocation
from bot.store.models import TaskState, new_short_id
from bot.store.sqlite import SqliteStore
from sandbox.discord import FakeDiscord
from sandbox.midapi import FakeMidapi
from sandbox.world import PROVIDER_KEY, BotProcess, bot_env, free_port

NAME = "scale"
SIZES = (100, 1_000, 10_000)
RESUME_CAP_S = 40.0
CATCH_UP_S = 6.0
SETTLE_S = 20.0
STEADY_S = 10.0
TITLE = f"scale: the bot resuming {' / '.join(f'{n:,}' for n in SIZES)} unfinished tasks"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def seed(path: Path, fake: FakeMidapi, count: int, guild: int, channel: int) -> None:
    """Create the schema through the store, then write every task in one transaction, directly."""
    store = await SqliteStore.open(DatabaseLocation(f"sqlite:///{path}", str(path)))
    await store.close()
    now = time.time()
    ids: set[str] = set()
    rows = []
    for n in range(count):
        task_id = new_short_id()
        while task_id in ids:
            task_id = new_short_id()
        ids.add(task_id)
        provider_id = fake.new_task("imagine", f"prompt {n}").task_id
        rows.append(
            (task_id, "midapi", "imagine", f"prompt {n}", f"k{n}", 1000 + n % 500, guild, channel,
             TaskState.RUNNING.value, now, now, now - 1, now, provider_id)
        )  # fmt: skip
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            """INSERT INTO tasks (id, provider, kind, prompt, request_key, user_id, guild_id, channel_id,
                state, created_at, submitted_at, next_check_at, last_progress_at, provider_task_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows,
        )
    db.close()


async def lag_s(session: aiohttp.ClientSession, port: int) -> float | None:
    try:
        async with session.get(
            f"http://127.0.0.1:{port}/metrics", timeout=aiohttp.ClientTimeout(total=2)
        ) as r:
            for line in (await r.text()).splitlines():
                # `mjbot_engine_lag_seconds 0.0`, or with the process's instance label.
                if line.startswith(("mjbot_engine_lag_seconds ", "mjbot_engine_lag_seconds{")):
                    return float(line.rsplit(" ", 1)[1])
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    return None


async def floor_s(fake: FakeMidapi) -> float:
    """The bare reader's time to read every task once; the fake's read counts are reset after it."""
    reader = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.bare_reader", fake.base_url, PROVIDER_KEY,
        cwd=Path(__file__).resolve().parents[1],
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(reader.communicate("\n".join(fake.tasks).encode()), RESUME_CAP_S * 2)
    for task in fake.tasks.values():
        task.status_reads, task.first_read_at = 0, None
    return float(out.decode().strip() or "nan")


async def resume(discord: FakeDiscord, count: int, guild: int, channel: int) -> Figures:
    scratch = Path(tempfile.mkdtemp(prefix="mjbot-bench-scale-"))
    fake = FakeMidapi(duration_s=86_400, api_key=PROVIDER_KEY)
    fake.reports_progress = False  # no progress messages to edit: the engine alone is measured
    await fake.start()
    await seed(scratch / "bot.sqlite3", fake, count, guild, channel)
    figures: Figures = {"floor_s": await floor_s(fake)}
    port = free_port()
    env = bot_env(discord, fake, scratch, port, POLL_FIRST_S="5", POLL_MAX_S="30", TASK_TIMEOUT_S="86400")
    bot = BotProcess(env, scratch / "bot.log")
    tasks = list(fake.tasks.values())
    try:
        await bot.start()
        assert bot.process is not None
        spawned = time.monotonic()
        first = all_read = None
        while time.monotonic() - spawned < RESUME_CAP_S + 15:
            await asyncio.sleep(0.05)
            read = sum(1 for t in tasks if t.status_reads)
            first = first or (time.monotonic() if read else None)
            if read == count:
                all_read = time.monotonic()
                break
            if first and time.monotonic() - first > RESUME_CAP_S:
                break
        figures["startup_s"] = (first or time.monotonic()) - spawned
        # Timed at the provider, read by read: finer than this loop's 50 ms look.
        reads = [t.first_read_at for t in tasks if t.first_read_at is not None]
        figures["resume_s"] = (max(reads) - min(reads)) if all_read and reads else float("inf")
        figures["read_once"] = float(sum(1 for t in tasks if t.status_reads))
        resumed = time.monotonic()
        catching_up: list[float] = []
        steady: list[float] = []
        reads_before = 0
        async with aiohttp.ClientSession() as session:
            while (since := time.monotonic() - resumed) < SETTLE_S + STEADY_S:
                if since >= SETTLE_S and not steady:
                    reads_before = sum(t.status_reads for t in tasks)
                lag = await lag_s(session, port)
                if lag is not None and since < CATCH_UP_S:
                    catching_up.append(lag)
                elif lag is not None and since >= SETTLE_S:
                    steady.append(lag)
                await asyncio.sleep(0.2)
        figures["catch_up_lag_p99_s"] = percentile(catching_up, 99)
        figures["lag_p99_s"] = percentile(steady, 99)
        figures["reads_per_s"] = (sum(t.status_reads for t in tasks) - reads_before) / STEADY_S
        figures["rss_mb"] = rss_mb(bot.process.pid)
    finally:
        await bot.stop()
        await fake.stop()
    return figures


async def bare_rss(discord: FakeDiscord) -> float:
    scratch = Path(tempfile.mkdtemp(prefix="mjbot-bench-bare-"))
    fake = FakeMidapi(api_key=PROVIDER_KEY)
    env = bot_env(discord, fake, scratch, free_port())
    discord.forget_connections()
    discord.identified.clear()
    bare = BotProcess(env, scratch / "bare.log")
    with bare.log_path.open("ab") as log:
        bare.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.bare_bot", cwd=Path(__file__).resolve().parents[1],
            env=env, stdout=log, stderr=log,
        )  # fmt: skip
    try:
        await asyncio.wait_for(discord.identified.wait(), 30)
        await asyncio.sleep(1.0)
        return rss_mb(bare.process.pid)
    finally:
        await bare.stop()


async def measure() -> Figures:
    discord = await FakeDiscord().start()
    try:
        admin = discord.add_user("admin")
        guild = discord.add_guild("Bench", admin)
        channel = discord.add_channel(guild, "bench")
        figures = {"bare_rss_mb": await bare_rss(discord)}
        for count in SIZES:
            discord.forget_connections()
            discord.command_syncs.clear()
            measured = await resume(discord, count, int(guild.id), int(channel.id))
            figures.update({f"{count}.{key}": value for key, value in measured.items()})
    finally:
        await discord.stop()
    return figures


def rows(m: Figures) -> list[Row]:
    bare = m["bare_rss_mb"]
    table = [Row("bare discord.py bot", "RSS", f"{sig(bare)} MB", "(baseline)")]
    for count in SIZES:
        k = f"{count}."
        resumed = m[k + "resume_s"]
        figure = (
            f"{sig(resumed)} s"
            if resumed != float("inf")
            else f"not done in {RESUME_CAP_S:g} s ({m[k + 'read_once']:.0f} read)"
        )
        table += [
            Row(f"{count:,} tasks", "resume (first read → all read)", figure, "≤ 3 s", resumed <= 3.0),
            Row("", "bare client reading each once (floor)", f"{sig(m[k + 'floor_s'])} s ({sig(resumed / m[k + 'floor_s'])}× to resume)"),
            Row("", "resume per 1,000 tasks", f"{sig(resumed / count * 1000)} s"),
            Row("", f"engine lag p99, catching up (first {CATCH_UP_S:g} s)", f"{sig(m[k + 'catch_up_lag_p99_s'])} s"),
            Row("", f"engine lag p99, steady state (from {SETTLE_S:g} s)", f"{sig(m[k + 'lag_p99_s'])} s", "< 1 s", m[k + "lag_p99_s"] < 1.0),
            Row("", "RSS (over bare)", f"{sig(m[k + 'rss_mb'])} MB (+{sig(m[k + 'rss_mb'] - bare)})", f"≤ {sig(bare + 30)} MB", m[k + "rss_mb"] <= bare + 30),
            Row("", "start → first read | reads/s steady", f"{sig(m[k + 'startup_s'])} s | {sig(m[k + 'reads_per_s'])}"),
        ]  # fmt: skip
    return table
