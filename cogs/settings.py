"""/settings: per-member defaults for V buttons (strength, remix), each option independent."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app.client import MJBot
from bot.discord_app.interactions import defer_private
from bot.store.models import Strength


class Settings(commands.Cog):
    def __init__(self, bot: MJBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="settings", description="Your defaults for the V buttons; no options shows them"
    )
    @app_commands.describe(
        strength="Variation strength the V buttons use (default strong)",
        remix="With remix on, a V press opens a prompt editor first",
    )
    async def settings(
        self,
        interaction: discord.Interaction[MJBot],
        strength: Strength | None = None,
        remix: Literal["on", "off"] | None = None,
    ) -> None:
        await defer_private(interaction)
        text = await self.bot.services.tasks.update_settings(
            interaction.user.id, strength, None if remix is None else remix == "on"
        )
        await interaction.edit_original_response(content=text)


async def setup(bot: MJBot) -> None:
    await bot.add_cog(Settings(bot))
