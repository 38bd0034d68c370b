"""/settings: per-member defaults for V buttons (strength, remix), each option independent."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import MJBot, defer_private

STRENGTHS = [
    app_commands.Choice(name="subtle", value="subtle"),
    app_commands.Choice(name="strong", value="strong"),
]
REMIX = [app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")]


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
    @app_commands.choices(strength=STRENGTHS)
    @app_commands.choices(remix=REMIX)
    async def settings(
        self,
        interaction: discord.Interaction[Any],
        strength: app_commands.Choice[str] | None = None,
        remix: app_commands.Choice[str] | None = None,
    ) -> None:
        await defer_private(interaction)
        text = await self.bot.services.tasks.update_settings(
            interaction.user.id, strength.value if strength else None, remix.value if remix else None
        )
        await interaction.edit_original_response(content=text)


async def setup(bot: MJBot) -> None:
    await bot.add_cog(Settings(bot))
