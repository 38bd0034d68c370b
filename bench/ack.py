"""ack: interaction-to-acknowledgement latency under a burst of button presses.

The real bot (its own process) against a bare discord.py bot that only defers, both on the same
loopback Discord. Each member presses V1 on one grid at once; latency is measured by the fake Discord
from dispatch to the acknowledgement it received.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from bench.common import percentile, report
from sandbox.discord import FakeDiscord
from sandbox.midapi import FakeMidapi
from sandbox.world import BotProcess, bot_env, free_port, world

PRESSES = 100


async def burst(discord: FakeDiscord, grid: dict[str, object], channel: object) -> list[float]:
    members = [discord.add_user(f"member{n}") for n in range(PRESSES)]
    interactions = await asyncio.gather(*(discord.press(m, grid, "V1") for m in members))
    for _ in range(200):
        if all(i.answered for i in interactions):
            break
        await asyncio.sleep(0.05)
    return [i.ack_latency for i in interactions if i.ack_latency is not None]


async def run() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="mjbot-bench-ack-"))
    async with world(scratch, duration_s=0.2, MAX_ACTIVE_PER_USER="5") as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a grid to press")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        grid = await w.discord.wait_for_message(w.channel, lambda m: bool(m["attachments"]))
        w.provider.duration_s = 30  # keep the variations running; only the acknowledgement matters
        ours = await burst(w.discord, grid, w.channel)
        answered_ours = sum(i.answered for i in w.discord.interactions.values())

    discord = await FakeDiscord().start()
    fake = await FakeMidapi().start()
    try:
        admin = discord.add_user("admin")
        guild = discord.add_guild("Bench", admin)
        channel = discord.add_channel(guild, "bench")
        env = bot_env(discord, fake, scratch, free_port())
        bare = BotProcess(env, scratch / "bare.log")
        with bare.log_path.open("ab") as log:
            bare.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.bare_bot",
                cwd=Path(__file__).resolve().parents[1],
                env=env,
                stdout=log,
                stderr=log,
            )
        await asyncio.wait_for(discord.identified.wait(), 30)
        await asyncio.sleep(0.5)
        grid = {
            "id": "1",
            "channel_id": channel.id,
            "components": [
                {
                    "type": 1,
                    "components": [{"type": 2, "style": 2, "label": "V1", "custom_id": "vary:aaaaaa:1"}],
                }
            ],
            "attachments": [],
            "content": "",
            "embeds": [],
            "author": discord.bot.payload(),
            "timestamp": "2026-01-01T00:00:00+00:00",
            "type": 0,
            "flags": 0,
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "tts": False,
            "mention_everyone": False,
            "edited_timestamp": None,
        }
        baseline = await burst(discord, grid, channel)
        await bare.stop()
    finally:
        await fake.stop()
        await discord.stop()

    rows = [
        ["mjbot", len(ours), percentile(ours, 50) * 1000, percentile(ours, 99) * 1000, max(ours) * 1000],
        [
            "bare discord.py (defer only)",
            len(baseline),
            percentile(baseline, 50) * 1000,
            percentile(baseline, 99) * 1000,
            max(baseline) * 1000,
        ],
    ]
    report(
        "ack",
        f"ack: {PRESSES} simultaneous V1 presses, dispatch → acknowledgement (ms)",
        ["bot", "acked", "p50 ms", "p99 ms", "max ms"],
        rows,
        {"presses": PRESSES, "answered_total": answered_ours},
    )


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
