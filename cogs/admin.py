"""/admin status|pause|resume|sync: hidden by default_permissions(manage_guild), checked again here."""

from __future__ import annotations

import time

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages
from bot.discord_app.client import MJBot
from bot.discord_app.interactions import defer_private
from bot.messages import AdminStatus


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Admin(
    commands.GroupCog, group_name="admin", group_description="Server admin controls for the image bot"
):
    def __init__(self, bot: MJBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction[discord.Client], /) -> bool:
        # default_permissions only hides the group; server admins can re-grant it to anyone.
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            raise app_commands.CheckFailure(messages.ADMIN_ONLY)
        return True

    @app_commands.command(name="status", description="Engine state, provider pause, queue depth, spend today")
    async def status(self, interaction: discord.Interaction[MJBot]) -> None:
        await defer_private(interaction)
        services = self.bot.services
        guild_id = interaction.guild_id or 0
        report = AdminStatus(
            engine=services.engine.state,
            pause=services.engine.pause,
            provider=services.provider.name,
            # This server's queue only: other servers' activity is theirs.
            counts=await services.store.counts_by_state(guild_id),
            undelivered=await services.store.undelivered_count(guild_id),
            controls=await services.store.guild_controls(guild_id),
            spend=await services.quota.spend_today(guild_id),
            spend_cap=services.settings.guild_daily_spend_usd,
            daily_requests=services.settings.user_daily_requests,
        )
        await interaction.edit_original_response(content=messages.admin_status(report, time.time()))

    @app_commands.command(name="pause", description="Refuse new image requests on this server")
    async def pause(self, interaction: discord.Interaction[MJBot]) -> None:
        await defer_private(interaction)
        await self.bot.services.store.set_guild_paused(interaction.guild_id or 0, True, interaction.user.id)
        await interaction.edit_original_response(content=messages.ADMIN_PAUSED)

    @app_commands.command(name="resume", description="Accept new image requests on this server again")
    async def resume(self, interaction: discord.Interaction[MJBot]) -> None:
        await defer_private(interaction)
        await self.bot.services.store.set_guild_paused(interaction.guild_id or 0, False, interaction.user.id)
        await interaction.edit_original_response(content=messages.ADMIN_RESUMED)

    @app_commands.command(name="sync", description="Sync the slash commands with Discord now")
    async def sync(self, interaction: discord.Interaction[MJBot]) -> None:
        await defer_private(interaction)
        outcome = await self.bot.sync_commands()
        await interaction.edit_original_response(content=f"{outcome[0].upper()}{outcome[1:]}.")


async def setup(bot: MJBot) -> None:
    await bot.add_cog(Admin(bot))
