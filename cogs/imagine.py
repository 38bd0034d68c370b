"""/imagine and /vary."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import MJBot, submit_from

IMAGES = [app_commands.Choice(name=str(n), value=n) for n in range(1, 5)]
STRENGTHS = [
    app_commands.Choice(name="subtle", value="subtle"),
    app_commands.Choice(name="strong", value="strong"),
]


class Imagine(commands.Cog):
    def __init__(self, bot: MJBot) -> None:
        self.bot = bot

    @app_commands.command(name="imagine", description="Make a new 2×2 grid of images from a prompt")
    @app_commands.describe(prompt="What to draw (Midjourney prompt syntax works)")
    async def imagine(
        self, interaction: discord.Interaction[Any], prompt: app_commands.Range[str, 1, 6000]
    ) -> None:
        await submit_from(interaction, lambda tasks, actor: tasks.imagine(actor, prompt), "/imagine")

    @app_commands.command(name="vary", description="Make variations of one image of a grid")
    @app_commands.describe(
        task="The grid: the bot's short id from /tasks, or the provider's task id",
        image="Which image of the grid (1 top left, 2 top right, 3 bottom left, 4 bottom right)",
        strength="How far the variations may wander",
        remix="Optional new prompt for the variations (providers with remix only)",
    )
    @app_commands.choices(image=IMAGES)
    @app_commands.choices(strength=STRENGTHS)
    async def vary(
        self,
        interaction: discord.Interaction[Any],
        task: app_commands.Range[str, 1, 100],
        image: app_commands.Choice[int],
        strength: app_commands.Choice[str],
        remix: app_commands.Range[str, 1, 6000] | None = None,
    ) -> None:
        await submit_from(
            interaction,
            lambda tasks, actor: tasks.vary(actor, task, image.value, strength.value, remix),
            "/vary",
        )


async def setup(bot: MJBot) -> None:
    await bot.add_cog(Imagine(bot))
