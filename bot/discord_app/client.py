"""The Discord client: a thin Bot whose `setup_hook` loads the cogs, registers the buttons, syncs
commands as configured and starts the engine; and the command tree with the one error handler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from .. import heap, messages
from ..config import Settings
from ..metrics import Metrics
from ..providers.base import Provider
from ..store.base import Store
from ..tasks.engine import Engine
from ..tasks.members import MemberSettings
from ..tasks.quota import Quota
from ..tasks.service import TaskService
from .acks import InFlight
from .interactions import report_error, respond
from .invite import invite_url
from .progress import ProgressTracker
from .views import DYNAMIC_ITEMS

if TYPE_CHECKING:
    from .delivery import Deliverer

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


class MJBot(commands.AutoShardedBot):
    def __init__(self, settings: Settings, wire: Callable[[MJBot], Services]) -> None:
        """`wire` builds the services from this client: delivery needs the client to post with,
        and the commands need the engine that delivery feeds, so the entry point wires both here."""
        intents = discord.Intents.none()
        intents.guilds = True
        # discord.py's sharding: unset, this process runs every shard Discord recommends; with
        # SHARD_COUNT and SHARD_IDS, only its own (each guild's events reach the shard that owns it).
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            shard_count=settings.shard_count,
            tree_cls=MJTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        if settings.shard_ids is not None:
            # Set here rather than passed: discord.py's typing of the keyword has no "unset", and
            # the settings already checked that SHARD_COUNT comes with it.
            self.shard_ids = list(settings.shard_ids)
        self.settings = settings
        self.tracker = ProgressTracker()
        self.in_flight = InFlight()
        self.accepting = True
        self._settled = False  # the heap is settled once, at the first READY
        self.services = wire(self)

    async def setup_hook(self) -> None:
        for name in EXTENSIONS:
            try:
                await self.load_extension(name)
            except Exception:
                log.exception("extension %s failed to load; the others keep loading", name)
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        if self.runs_shard_zero:
            await self.sync_commands()
        else:
            log.info("commands are synced by the process that runs shard 0")
        self.services.engine.start()

    @property
    def runs_shard_zero(self) -> bool:
        """Commands are synced once, by the process with shard 0, not by every process."""
        ids = self.settings.shard_ids
        return ids is None or 0 in ids

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
        # sessions already serve interactions.
        shards = self.shards
        return not self.is_closed() and bool(shards) and not any(s.is_closed() for s in shards.values())

    def shard_report(self) -> dict[str, object]:
        """This process's shards, for /healthz."""
        return {
            "count": self.shard_count,
            "ids": sorted(self.shards),
            "closed": sorted(shard_id for shard_id, shard in self.shards.items() if shard.is_closed()),
        }

    async def on_ready(self) -> None:
        user = self.user
        log.info(
            "connected to Discord as %s (%s) in %d guilds", user, user.id if user else "?", len(self.guilds)
        )
        # Logged on every start so an operator who lost the link can add the bot to another server.
        if self.application_id is not None:
            log.info("add the bot to a server with %s", invite_url(self.application_id))
        if not self._settled:
            self._settled = True
            heap.settle()

    async def close(self) -> None:
        self.accepting = False
        await super().close()
