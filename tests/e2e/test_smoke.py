from __future__ import annotations

from pathlib import Path

from tests.e2e.harness import world


async def test_imagine_then_v2_by_another_member(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        inter = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a lighthouse at dusk")
        text = await w.discord.wait_for_answer(inter, lambda t: "Started" in t)
        grid = await w.discord.wait_for_message(w.channel, lambda m: bool(m["attachments"]))
        print(
            text,
            grid["content"],
            [c["label"] for r in grid["components"] for c in r["components"] if c.get("label")],
        )
        press = await w.discord.press(w.bob, grid, "V2")
        print(await w.discord.wait_for_answer(press, lambda t: "Started" in t))
        variation = await w.discord.wait_for_message(
            w.channel, lambda m: "V2" in m["content"] and bool(m["attachments"])
        )
        print(variation["content"])
        print(w.discord.violations, w.bot.log()[-3000:])
