"""ack: interaction → acknowledgement latency under bursts, the bot against a bare discord.py bot.

The real bot (`python -m bot`, its own process, the bot's default poll settings) on the loopback
Discord and midapi fake. BURSTS bursts of BURST interactions each, dispatched at once: three in five
are V1-V4 presses on a grid (each a new member, so each admits and creates a task: the provider's
tasks run long, so the bot keeps following everything pressed so far while later bursts arrive), the
rest are /tasks. Then the same bursts go, on the same loopback Discord, to a bare discord.py bot
(`bench/bare_bot.py`) that only defers. Latency is measured by the loopback Discord: from dispatching
the interaction to receiving its acknowledgement.

Goal: the bot's p99 at most 1.2x the bare bot's.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Figures, Row, percentile, sig, wait_until
from sandbox.discord import Channel, FakeDiscord, Interaction
from sandbox.world import BotProcess, world

NAME = "ack"
BURSTS = 7
BURST = 250
PRESS_SHARE = 0.6
TITLE = f"ack: {BURSTS * BURST:,} interactions in bursts of {BURST} (V presses and /tasks), dispatch → acknowledgement"


async def bursts(discord: FakeDiscord, grid: dict[str, Any], channel: Channel, tag: str) -> list[Interaction]:
    done: list[Interaction] = []
    presses = int(BURST * PRESS_SHARE)
    for b in range(BURSTS):
        members = [discord.add_user(f"{tag}{b}-{n}") for n in range(BURST)]
        sent = await asyncio.gather(
            *(discord.press(m, grid, f"V{1 + n % 4}") for n, m in enumerate(members[:presses])),
            *(discord.slash(m, channel, "tasks") for m in members[presses:]),
        )
        # Discord gives up on an acknowledgement after 3 s; a little longer, then the next burst.
        await wait_until(lambda: all(i.answered for i in sent), 4.0)  # noqa: B023 - awaited here
        done.extend(sent)
        await asyncio.sleep(0.5)
    return done


def latencies(sent: list[Interaction]) -> list[float]:
    return [i.ack_latency * 1000 for i in sent if i.ack_latency is not None]


async def measure() -> Figures:
    scratch = Path(tempfile.mkdtemp(prefix="mjbot-bench-ack-"))
    # The bot's defaults for polling, so following the pressed tasks costs what it costs in production.
    async with world(scratch, duration_s=0.2, POLL_FIRST_S="5", POLL_MAX_S="30") as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a grid to press")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        grid = await w.discord.wait_for_message(w.channel, lambda m: bool(m["attachments"]), timeout=20)
        w.provider.duration_s = 3600  # keep the variations running: only acknowledgements are measured
        ours = await bursts(w.discord, grid, w.channel, "m")
        await w.bot.stop()
        w.discord.forget_connections()
        w.discord.identified.clear()
        bare = BotProcess(w.bot.env, scratch / "bare.log")
        with bare.log_path.open("ab") as log:
            bare.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.bare_bot", cwd=Path(__file__).resolve().parents[1],
                env=w.bot.env, stdout=log, stderr=log,
            )  # fmt: skip
        try:
            await asyncio.wait_for(w.discord.identified.wait(), 30)
            await asyncio.sleep(0.5)  # let discord.py take in GUILD_CREATE
            baseline = await bursts(w.discord, grid, w.channel, "b")
        finally:
            await bare.stop()
    mine, theirs = latencies(ours), latencies(baseline)
    return {
        "bot_p50_ms": percentile(mine, 50),
        "bot_p99_ms": percentile(mine, 99),
        "bot_max_ms": max(mine, default=float("nan")),
        "bot_unanswered": float(len(ours) - len(mine)),
        "bot_late": float(sum(1 for i in ours if i.errors)),
        "bare_p50_ms": percentile(theirs, 50),
        "bare_p99_ms": percentile(theirs, 99),
        "bare_max_ms": max(theirs, default=float("nan")),
        "bare_unanswered": float(len(baseline) - len(theirs)),
    }


def rows(m: Figures) -> list[Row]:
    limit = 1.2 * m["bare_p99_ms"]
    return [
        Row("bare discord.py, defer only", "p50 / p99 / max", f"{sig(m['bare_p50_ms'])} / {sig(m['bare_p99_ms'])} / {sig(m['bare_max_ms'])} ms", "(baseline)"),
        Row("mjbot", "p50 / max", f"{sig(m['bot_p50_ms'])} / {sig(m['bot_max_ms'])} ms"),
        Row("", "p99", f"{sig(m['bot_p99_ms'])} ms", f"≤ 1.2 × bare = {sig(limit)} ms", m["bot_p99_ms"] <= limit),
        Row("", "not acknowledged in 3 s", f"{m['bot_unanswered'] + m['bot_late']:.0f} of {BURSTS * BURST:,}", "0", m["bot_unanswered"] + m["bot_late"] == 0),
    ]  # fmt: skip
