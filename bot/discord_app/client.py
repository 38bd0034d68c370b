"""The Discord client: a thin Bot whose `setup_hook` loads the cogs, registers the buttons, syncs
commands as configured and starts the engine; and the command tree with the one error handler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from .. import messages
from ..config import Settings
from ..metrics import Metrics
from ..providers import Provider
from ..store import Store
from ..tasks import Engine, MemberSettings, Quota, TaskService
from .delivery import Deliverer
from .interactions import report_error, respond
from .invite import invite_url
from .progress import ProgressTracker
from .views import DYNAMIC_ITEMS

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.imagine", "cogs.tasks", "cogs.settings", "cogs.admin")


def point_discord_at(settings: Settings) -> None:
    """Send REST and gateway traffic where the settings say (a REST proxy, or the loopback fake).

    discord.py reads both from class attributes, so this is the one place the bot sets them.
    """
    discord.http.Route.BASE = settings.discord_api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
    # This bot never joins voice; the missing-voice-library warnings would only confuse operators.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


@dataclass(frozen=True)
class Services:
    """What the commands and buttons work with; built once by the entry point."""

    settings: Settings
    store: Store
    engine: Engine
    provider: Provider
    metrics: Metrics
    tasks: TaskService
    quota: Quota
    members: MemberSettings
    session: aiohttp.ClientSession
    deliverer: Deliverer


class MJTree(app_commands.CommandTree["MJBot"]):
    async def interaction_check(self, interaction: discord.Interaction[MJBot]) -> bool:
        if not interaction.client.accepting:
            await respond(interaction, messages.RESTARTING)
            return False
        return True

    async def on_error(
        self, interaction: discord.Interaction[MJBot], error: app_commands.AppCommandError
    ) -> None:
        name = interaction.command.qualified_name if interaction.command else "unknown command"
        await report_error(interaction, error, f"/{name}")


class MJBot(commands.Bot):
    def __init__(self, settings: Settings, wire: Callable[[MJBot], Services]) -> None:
        """`wire` builds the services from this client: delivery needs the client to post with,
        and the commands need the engine that delivery feeds, so the entry point wires both here."""
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=MJTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.settings = settings
        self.tracker = ProgressTracker()
        self.accepting = True
        self.services = wire(self)

    async def setup_hook(self) -> None:
        for name in EXTENSIONS:
            try:
                await self.load_extension(name)
            except Exception:
                log.exception("extension %s failed to load; the others keep loading", name)
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        await self.sync_commands()
        self.services.engine.start()

    async def sync_commands(self) -> str:
        """Sync as `COMMAND_SYNC` says; the outcome is logged and returned, never silently skipped."""
        settings = self.settings
        try:
            if settings.command_sync == "off":
                outcome = "command sync is off (COMMAND_SYNC=off); commands stay as last synced"
            elif settings.command_sync == "guild":
                counts = []
                for guild_id in settings.dev_guild_ids:
                    guild = discord.Object(guild_id)
                    self.tree.copy_global_to(guild=guild)
                    synced = await self.tree.sync(guild=guild)
                    counts.append(f"{len(synced)} to guild {guild_id}")
                outcome = "synced commands: " + ", ".join(counts)
            else:
                synced = await self.tree.sync()
                outcome = f"synced {len(synced)} global commands"
        except discord.HTTPException as exc:
            outcome = f"command sync failed: {exc}"
            log.error(outcome)
            return outcome
        log.info(outcome)
        return outcome

    @property
    def gateway_connected(self) -> bool:
        # Not is_ready(): discord.py delays READY ~2 s after the last GUILD_CREATE, while the
        # session already serves interactions.
        return not self.is_closed() and self.ws is not None and self.ws.open

    async def on_ready(self) -> None:
        user = self.user
        log.info(
            "connected to Discord as %s (%s) in %d guilds", user, user.id if user else "?", len(self.guilds)
        )
        # Logged on every start so an operator who lost the link can add the bot to another server.
        if self.application_id is not None:
            log.info("add the bot to a server with %s", invite_url(self.application_id))

    async def close(self) -> None:
        self.accepting = False
        await super().close()
