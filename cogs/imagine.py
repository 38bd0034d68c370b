"""/imagine and /vary, registered in the shape the configured provider supports.

A provider without variation strength or remix gets a /vary without those options, and one that
cannot make new grids gets no /imagine: members are never offered an option that would be ignored.
"""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app.client import MJBot
from bot.discord_app.submitting import submit_from
from bot.store.models import Strength

# Discord caps a string option at 6000 characters; longer prompts are refused by Discord itself.
OPTION_TEXT_MAX = 6000
Image = Literal[1, 2, 3, 4]
TASK_HELP = "The grid: the bot's short id from /tasks, or the provider's task id"
IMAGE_HELP = "Which image of the grid (1 top left, 2 top right, 3 bottom left, 4 bottom right)"


class Imagine(commands.Cog):
    def __init__(self, bot: MJBot) -> None:
        self.bot = bot

    @app_commands.command(name="imagine", description="Make a new 2×2 grid of images from a prompt")
    @app_commands.describe(prompt="What to draw (Midjourney prompt syntax works)")
    async def imagine(
        self, interaction: discord.Interaction[MJBot], prompt: app_commands.Range[str, 1, OPTION_TEXT_MAX]
    ) -> None:
        await submit_from(interaction, lambda tasks, actor: tasks.imagine(actor, prompt), "/imagine")


class Vary(commands.Cog):
    """/vary where the provider has strength and remix."""

    def __init__(self, bot: MJBot) -> None:
        self.bot = bot

    @app_commands.command(name="vary", description="Make variations of one image of a grid")
    @app_commands.describe(
        task=TASK_HELP,
        image=IMAGE_HELP,
        strength="How far the variations may wander (default: yours from /settings)",
        remix="A new prompt for the variations",
    )
    async def vary(
        self,
        interaction: discord.Interaction[MJBot],
        task: app_commands.Range[str, 1, 100],
        image: Image,
        strength: Strength | None = None,
        remix: app_commands.Range[str, 1, OPTION_TEXT_MAX] | None = None,
    ) -> None:
        await submit_from(
            interaction, lambda tasks, actor: tasks.vary(actor, task, image, strength, remix), "/vary"
        )


class PlainVary(commands.Cog):
    """/vary where the provider has neither strength nor remix."""

    def __init__(self, bot: MJBot) -> None:
        self.bot = bot

    @app_commands.command(name="vary", description="Make variations of one image of a grid")
    @app_commands.describe(task=TASK_HELP, image=IMAGE_HELP)
    async def vary(
        self, interaction: discord.Interaction[MJBot], task: app_commands.Range[str, 1, 100], image: Image
    ) -> None:
        await submit_from(
            interaction, lambda tasks, actor: tasks.vary(actor, task, image, None, None), "/vary"
        )


async def setup(bot: MJBot) -> None:
    caps = bot.services.provider.capabilities
    if caps.imagine:
        await bot.add_cog(Imagine(bot))
    await bot.add_cog(Vary(bot) if caps.vary_strength or caps.remix else PlainVary(bot))
