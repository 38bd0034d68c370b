"""The Discord client: a thin Bot whose `setup_hook` wires cogs, buttons, command sync and the engine."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from .config import Settings
from .engine import Engine
from .limits import Limits
from .metrics import Metrics
from .progress import ProgressTracker
from .providers.base import Provider
from .providers.errors import BotError
from .service import Actor, Reply, TaskService
from .store import Store

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.imagine", "cogs.buttons", "cogs.tasks", "cogs.settings", "cogs.admin")
RESTARTING = "The bot is restarting right now. Try again in a minute; nothing you started is lost."
APOLOGY = "Sorry, something went wrong on my side. It has been logged; please try again."


def point_discord_at(settings: Settings) -> None:
    """Send REST and gateway traffic where the settings say (a REST proxy, or the loopback fake)."""
    discord.http.Route.BASE = settings.discord_api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
    # This bot never joins voice; the missing-voice-library warnings would only confuse operators.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


@dataclass
class Services:
    settings: Settings
    store: Store
    engine: Engine
    provider: Provider
    metrics: Metrics
    tasks: TaskService
    limits: Limits
    session: aiohttp.ClientSession


async def respond(
    interaction: discord.Interaction[Any], content: str, *, ephemeral: bool = True, **kwargs: Any
) -> None:
    """Answer an interaction whether or not it was already acknowledged; never raise for a dead token."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(content, ephemeral=ephemeral, **kwargs)
        else:
            await interaction.response.send_message(content, ephemeral=ephemeral, **kwargs)
    except discord.NotFound:
        log.warning("interaction %s expired before it could be answered", interaction.id)
    except discord.HTTPException as exc:
        log.warning("could not answer interaction %s: %s", interaction.id, exc)


async def defer_private(interaction: discord.Interaction[Any]) -> None:
    """Acknowledge at once with a private "thinking…" reply that the work edits later."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    observe_ack(interaction)


def observe_ack(interaction: discord.Interaction[Any]) -> None:
    client = interaction.client
    if isinstance(client, MJBot):
        latency = max(0.0, time.time() - interaction.created_at.timestamp())
        client.services.metrics.interaction_ack_seconds.observe(latency)


async def report_error(interaction: discord.Interaction[Any], error: BaseException, where: str) -> None:
    """The one place unexpected and expected failures turn into member-facing text."""
    original = error
    while (
        isinstance(original, app_commands.CommandInvokeError | app_commands.TransformerError)
        and original.__cause__
    ):
        original = original.__cause__
    if isinstance(original, BotError):
        await respond(interaction, original.user_message)
        return
    if isinstance(original, app_commands.CheckFailure):
        await respond(interaction, str(original) or "You can't use that here.")
        return
    if isinstance(original, app_commands.CommandSignatureMismatch):
        log.warning("%s: Discord sent an outdated form of the command; an admin may run /admin sync", where)
        await respond(
            interaction,
            "Discord sent an older version of this command (it is still being updated). "
            "Try again in a minute; if it persists, ask an admin to run /admin sync.",
        )
        return
    if isinstance(error, app_commands.TransformerError):
        await respond(
            interaction, f"`{error.value}` is not a valid value there. Check the option and try again."
        )
        return
    options = (
        interaction.namespace.__dict__
        if interaction.type is discord.InteractionType.application_command
        else {}
    )
    log.error(
        "unexpected error in %s (member %s, guild %s, options %s)",
        where,
        interaction.user.id,
        interaction.guild_id,
        options,
        exc_info=original,
    )
    await respond(interaction, APOLOGY)


class MJTree(app_commands.CommandTree["MJBot"]):
    async def interaction_check(self, interaction: discord.Interaction[MJBot]) -> bool:
        if not interaction.client.accepting:
            await respond(interaction, RESTARTING)
            return False
        return True

    async def on_error(
        self, interaction: discord.Interaction[MJBot], error: app_commands.AppCommandError
    ) -> None:
        name = interaction.command.qualified_name if interaction.command else "unknown command"
        await report_error(interaction, error, f"/{name}")


class MJBot(commands.Bot):
    def __init__(self, services: Services) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=MJTree,
            help_command=None,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
        )
        self.services = services
        self.tracker = ProgressTracker()
        self.accepting = True
        self.extension_failures: list[str] = []

    async def setup_hook(self) -> None:
        for name in EXTENSIONS:
            try:
                await self.load_extension(name)
            except Exception:
                self.extension_failures.append(name)
                log.exception("extension %s failed to load; the others keep loading", name)
        await self.sync_commands()
        self.services.engine.start()

    async def sync_commands(self) -> str:
        """Sync as `COMMAND_SYNC` says; the outcome is logged and returned, never silently skipped."""
        settings = self.services.settings
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

    async def close(self) -> None:
        self.accepting = False
        await super().close()


NEEDED = {"send_messages": "Send Messages", "attach_files": "Attach Files", "embed_links": "Embed Links"}


def require_post_permissions(interaction: discord.Interaction[Any]) -> None:
    """Refuse up front when results could not be posted here, naming what is missing."""
    if interaction.guild_id is None:
        return
    permissions = interaction.app_permissions
    if permissions.value == 0:
        return  # not reported (user-installed contexts); delivery handles a refusal on its own
    missing = [label for name, label in NEEDED.items() if not getattr(permissions, name)]
    if missing:
        log.warning(
            "channel %s in guild %s: bot lacks %s; refused a request from %s",
            interaction.channel_id,
            interaction.guild_id,
            ", ".join(missing),
            interaction.user.id,
        )
        raise BotError(
            f"I can't post results in this channel: I'm missing the **{'**, **'.join(missing)}** "
            f"permission{'s' if len(missing) > 1 else ''}. Ask a server admin to grant "
            f"{'them' if len(missing) > 1 else 'it'}, or use another channel."
        )


def actor_of(interaction: discord.Interaction[Any]) -> Actor:
    return Actor(interaction.user.id, interaction.guild_id, interaction.channel_id)


def services_of(interaction: discord.Interaction[Any]) -> Services:
    client = interaction.client
    assert isinstance(client, MJBot)
    return client.services


Action = Callable[[TaskService, Actor], Awaitable[Reply]]


async def submit_from(interaction: discord.Interaction[Any], action: Action, where: str) -> None:
    """Defer at once (ephemeral), run the request, answer, and follow the task in that reply."""
    client = interaction.client
    assert isinstance(client, MJBot)
    if not client.accepting:
        await respond(interaction, RESTARTING)
        return
    try:
        if not interaction.response.is_done():
            await defer_private(interaction)
        require_post_permissions(interaction)
        reply = await action(client.services.tasks, actor_of(interaction))
        await interaction.edit_original_response(content=reply.content)
        if reply.task is not None:
            client.tracker.watch(reply.task, interaction)
    except Exception as exc:
        await report_error(interaction, exc, where)
