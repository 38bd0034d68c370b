"""`make demo`: the whole product offline.

Starts the loopback Discord, a loopback provider and the real bot (`python -m bot`), twice: once on
midapi (a grid, U1–U4 and an upscale, variations, a member's queue, Cancel, lineage in /task, /show,
a failure told privately) and once on Vtrix (variation strength from /settings and from /vary, the
remix editor). Prints a readable transcript and writes `demo-out/transcript.html`: one self-contained
page with the images, the buttons, the remix editor and every edit of each private reply.
No token, no key, no network.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .discord import Channel, Interaction, User
from .transcript import Message, Transcript
from .world import World, world

OUT = Path(__file__).resolve().parents[1] / "demo-out"
WAIT_S = 40.0
# Long enough for the private replies to show progress on the way (they are edited every 1.5 s).
DURATION_S = 4.0
POLL_FIRST_S, POLL_MAX_S = "0.5", "1"


def task_id(text: str) -> str:
    found = re.search(r"`([a-z0-9]{6})`", text)
    assert found, f"no task id in {text!r}"
    return found.group(1)


class Session:
    """The scripted members of one world, writing into the transcript as they go."""

    def __init__(self, w: World, t: Transcript) -> None:
        self.w, self.t, self.discord = w, t, w.discord

    async def reply(
        self, who: User, interaction: Interaction, check: Callable[[str], bool] = lambda s: "`" in s
    ) -> str:
        text = await self.discord.wait_for_answer(interaction, check, timeout=WAIT_S)
        self.t.private(who, interaction)
        return text

    async def until(self, interaction: Interaction, words: str) -> str:
        """Until the private reply says `words` (its edits are all kept for the page)."""
        return await self.discord.wait_for_answer(interaction, lambda s: words in s, timeout=WAIT_S)

    async def command(
        self, who: User, command: str, channel: Channel | None = None, **options: Any
    ) -> Interaction:
        shown = " ".join(f"{k}: {v}" for k, v in options.items())
        self.t.say(who, f"used `/{command}{' ' + shown if shown else ''}`")
        return await self.discord.slash(who, channel or self.w.channel, command, **options)

    async def press(self, who: User, message: Message, label: str, whose: str) -> Interaction:
        self.t.say(who, f"pressed **{label}** under {whose}")
        return await self.discord.press(who, message, label)

    async def post(self, task: str, channel: Channel | None = None) -> Message:
        message = await self.discord.wait_for_message(
            channel or self.w.channel,
            lambda m: f"-# `{task}`" in m["content"] and bool(m["attachments"]),
            WAIT_S,
        )
        self.t.post(message)
        return message

    async def made(self, who: User, interaction: Interaction, channel: Channel | None = None) -> Message:
        """A request through to its post, with the private reply followed to 'posted'."""
        task = task_id(await self.discord.wait_for_answer(interaction, lambda s: "`" in s, timeout=WAIT_S))
        await self.until(interaction, "posted")
        self.t.private(who, interaction)
        return await self.post(task, channel)


async def midapi_part(w: World, t: Transcript) -> None:
    s, alice, bob = Session(w, t), w.alice, w.bob
    t.part(
        w,
        "Part 1 — midapi",
        "The bot on midapi (no variation strength, no remix; upscales). Each member may run one task "
        "at a time here (MAX_ACTIVE_PER_USER=1); more wait in their own queue.",
    )
    t.scene("A new grid: the private reply follows the task")
    ask = await s.command(alice, "imagine", prompt="a lighthouse on a cliff at dusk, oil painting")
    grid = await s.made(alice, ask)
    grid_id = task_id(grid["content"].split("-# ")[1])

    t.scene("U1–U4: one image of the grid, upscaled")
    upscaled = await s.made(bob, await s.press(bob, grid, "U2", "alice's grid"))
    del upscaled

    t.scene("V1–V4: variations of one image")
    variation = await s.made(bob, await s.press(bob, grid, "V3", "alice's grid"))
    v3_id = task_id(variation["content"].split("-# ")[1])

    t.scene("A member's queue, and Cancel on a waiting task")
    asks = []
    for prompt in ("a harbour at dawn", "a harbour at noon", "a harbour at night"):
        asks.append(await s.command(alice, "imagine", prompt=prompt))
        await s.reply(alice, asks[-1])
    dawn, noon, night = asks
    await s.press(alice, noon.original or {}, "Cancel", "her reply about the noon harbour")
    await s.until(noon, "Cancelled")
    t.private(alice, noon)
    t.note("the night harbour moves up to number 1 in alice's queue")
    await s.until(night, "number 1 in your queue")
    t.private(alice, night)
    t.note("when the dawn harbour is done, the night harbour starts by itself")
    for interaction in (dawn, night):
        await s.until(interaction, "posted")
        t.private(alice, interaction)
        await s.post(task_id(interaction.visible_text()))

    t.scene("/cancel on a running task")
    storm = await s.command(bob, "imagine", prompt="a storm over the sea")
    storm_id = task_id(await s.until(storm, "`"))
    await s.until(storm, "running")
    t.private(bob, storm)
    await s.reply(bob, await s.command(bob, "cancel", id=storm_id))
    await s.until(storm, "cancelled")
    t.private(bob, storm)
    t.note("the provider finishes the storm anyway; the bot no longer follows it and never posts it")

    t.scene("Lineage in /task")
    await s.reply(bob, await s.command(bob, "task", id=v3_id), lambda x: "Made from" in x)
    await s.reply(alice, await s.command(alice, "task", id=grid_id), lambda x: "↳" in x)

    t.scene("/show: a finished grid again, in another channel, with live buttons")
    gallery = w.discord.add_channel(w.guild, "gallery")
    t.know(gallery)
    await s.reply(alice, await s.command(alice, "show", gallery, id=grid_id), lambda x: "Posted" in x)
    again = await w.discord.wait_for_message(gallery, lambda m: bool(m["attachments"]), WAIT_S)
    t.post(again)
    await s.made(bob, await s.press(bob, again, "V1", "the grid shown again in #gallery"), gallery)

    t.scene("A failure is told privately, worded for what the member did")
    bad = await s.command(alice, "imagine", prompt="something the moderation filter rejects [fail]")
    await s.until(bad, "did not work")
    t.private(alice, bad)
    t.note("nothing about it in #art; /task shows the provider's code")
    await s.reply(alice, await s.command(alice, "task", id=task_id(bad.visible_text())), lambda x: "Why" in x)


async def vtrix_part(w: World, t: Transcript) -> None:
    s, alice, bob = Session(w, t), w.alice, w.bob
    t.part(
        w,
        "Part 2 — Vtrix",
        "The bot on Vtrix: variations are Strong or Subtle, and a remix changes the prompt. "
        "No upscale here, so grids carry only V1–V4 and 🔄.",
    )
    t.scene("A new grid")
    grid = await s.made(alice, await s.command(alice, "imagine", prompt="a quiet forest in the morning mist"))
    grid_id = task_id(grid["content"].split("-# ")[1])

    t.scene("Strength from /settings, for the V buttons and for /vary")
    await s.reply(bob, await s.command(bob, "settings", strength="subtle"), bool)
    await s.made(bob, await s.press(bob, grid, "V1", "alice's grid"))
    await s.made(alice, await s.command(alice, "vary", task=grid_id, image=2, strength="strong"))

    t.scene("Remix: the editor opens with the grid's prompt")
    await s.reply(bob, await s.command(bob, "settings", remix="on"), bool)
    press = await s.press(bob, grid, "V4", "alice's grid")
    for _ in range(200):
        if press.modal:
            break
        await asyncio.sleep(0.05)
    assert press.modal is not None, "the remix editor never opened"
    remix = "a quiet forest in the first snow, morning mist"
    t.modal(bob, press, remix)
    await s.made(bob, await w.discord.submit_modal(bob, press, {"*": remix}))

    t.scene("The member's own log")
    await s.reply(bob, await s.command(bob, "tasks"), lambda x: "Your tasks" in x)


def rule_breaks(w: World) -> list[str]:
    """What real Discord would have refused, or shown members as "This interaction failed"."""
    return w.discord.violations + [f"unanswered: {i.name}" for i in w.discord.unanswered()]


async def main() -> int:
    OUT.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="mjbot-demo-"))
    t = Transcript("MJBot — a scripted session against the loopback Discord and providers")
    problems: list[str] = []
    try:
        print("The real bot runs against a loopback Discord and a loopback provider: no token, no network.")
        (scratch / "midapi").mkdir()
        async with world(
            scratch / "midapi",
            "midapi",
            duration_s=DURATION_S,
            MAX_ACTIVE_PER_USER="1",
            POLL_FIRST_S=POLL_FIRST_S,
            POLL_MAX_S=POLL_MAX_S,
        ) as w:
            await midapi_part(w, t)
            problems += rule_breaks(w)
        (scratch / "vtrix").mkdir()
        async with world(
            scratch / "vtrix",
            "vtrix",
            duration_s=DURATION_S,
            POLL_FIRST_S=POLL_FIRST_S,
            POLL_MAX_S=POLL_MAX_S,
        ) as w:
            await vtrix_part(w, t)
            problems += rule_breaks(w)
        t.write_html(OUT / "transcript.html")
        print(f"\nHTML transcript (images, buttons, every edit of each reply): {OUT / 'transcript.html'}")
        if problems:
            print("Discord rule violations:", problems)
            return 1
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
