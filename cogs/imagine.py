"""/imagine and /vary."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import MJBot, submit_from
from bot.store import Strength

# Discord caps a string option at 6000 characters; longer prompts are refused by Discord itself.
OPTION_TEXT_MAX = 6000


class Imagine(commands.Cog):
    def __init__(self, bot: MJBot) -> None:
        self.bot = bot

    @app_commands.command(name="imagine", description="Make a new 2×2 grid of images from a prompt")
    @app_commands.describe(prompt="What to draw (Midjourney prompt syntax works)")
    async def imagine(
        self, interaction: discord.Interaction[MJBot], prompt: app_commands.Range[str, 1, OPTION_TEXT_MAX]
    ) -> None:
        await submit_from(interaction, lambda tasks, actor: tasks.imagine(actor, prompt), "/imagine")

    @app_commands.command(name="vary", description="Make variations of one image of a grid")
    @app_commands.describe(
        task="The grid: the bot's short id from /tasks, or the provider's task id",
        image="Which image of the grid (1 top left, 2 top right, 3 bottom left, 4 bottom right)",
        strength="How far the variations may wander",
        remix="Optional new prompt for the variations (providers with remix only)",
    )
    async def vary(
        self,
        interaction: discord.Interaction[MJBot],
        task: app_commands.Range[str, 1, 100],
        image: Literal[1, 2, 3, 4],
        strength: Strength,
        remix: app_commands.Range[str, 1, OPTION_TEXT_MAX] | None = None,
    ) -> None:
        await submit_from(
            interaction,
            lambda tasks, actor: tasks.vary(actor, task, image, strength, remix),
            "/vary",
        )


async def setup(bot: MJBot) -> None:
    await bot.add_cog(Imagine(bot))
