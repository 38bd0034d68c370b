"""/admin status|pause|resume|sync: hidden by default_permissions(manage_guild), checked again here."""

from __future__ import annotations

import time
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import MJBot, defer_private


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Admin(
    commands.GroupCog, group_name="admin", group_description="Server admin controls for the image bot"
):
    def __init__(self, bot: MJBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        # default_permissions only hides the group; server admins can re-grant it to anyone.
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            raise app_commands.CheckFailure("Only members with the Manage Server permission can use /admin.")
        return True

    @app_commands.command(name="status", description="Engine state, provider pause, queue depth, spend today")
    async def status(self, interaction: discord.Interaction[Any]) -> None:
        await defer_private(interaction)
        services = self.bot.services
        state = services.engine.state
        counts = await services.store.counts_by_state()
        undelivered = await services.store.undelivered_count()
        guild_id = interaction.guild_id or 0
        controls = await services.store.guild_controls(guild_id)
        spend = await services.limits.spend_today(guild_id)
        now = time.time()
        tick = f"{now - state.last_tick:.1f}s ago" if state.last_tick else "never"
        pause = (
            f"paused for {state.paused_until - now:.0f}s more ({state.pause_reason})"
            if state.paused(now)
            else "not paused"
        )
        cap = services.settings.guild_daily_spend_usd
        per_member = services.settings.user_daily_requests
        lines = [
            "**Image bot status**",
            f"Engine: {'running' if state.running else 'stopped'} · last tick {tick} · lag {state.lag_s:.1f}s · "
            f"{state.inflight} in flight · {state.errors} errors since start",
            f"Provider `{services.provider.name}`: {pause}",
            f"Queue: {counts['queued']} queued · {counts['submitted'] + counts['running']} running · "
            f"{undelivered} waiting to be posted",
            f"Spend today on this server: ${spend:.2f}"
            + (f" of ${cap:.2f} cap" if cap is not None else " (no cap)"),
            f"Per-member daily limit: {per_member if per_member is not None else 'none'}",
            f"New requests here: {'**paused** by <@' + str(controls.paused_by) + '>' if controls.paused else 'open'}",
        ]
        await interaction.edit_original_response(content="\n".join(lines))

    @app_commands.command(name="pause", description="Refuse new image requests on this server")
    async def pause(self, interaction: discord.Interaction[Any]) -> None:
        await defer_private(interaction)
        await self.bot.services.store.set_guild_paused(interaction.guild_id or 0, True, interaction.user.id)
        await interaction.edit_original_response(
            content="Paused: new requests on this server are refused until `/admin resume`. Running tasks still finish."
        )

    @app_commands.command(name="resume", description="Accept new image requests on this server again")
    async def resume(self, interaction: discord.Interaction[Any]) -> None:
        await defer_private(interaction)
        await self.bot.services.store.set_guild_paused(interaction.guild_id or 0, False, interaction.user.id)
        await interaction.edit_original_response(content="Resumed: members can make new requests again.")

    @app_commands.command(name="sync", description="Sync the slash commands with Discord now")
    async def sync(self, interaction: discord.Interaction[Any]) -> None:
        await defer_private(interaction)
        outcome = await self.bot.sync_commands()
        await interaction.edit_original_response(content=f"{outcome[0].upper()}{outcome[1:]}.")


async def setup(bot: MJBot) -> None:
    await bot.add_cog(Admin(bot))
