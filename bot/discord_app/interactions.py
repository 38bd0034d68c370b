"""Interaction helpers: acknowledge, answer, map errors to member-facing text, check post permissions.

Every command and button goes through these, so the rules for answering live in one place: defer
first, answer privately, never leave an interaction unanswered, never show a traceback.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import discord
from discord import app_commands

from .. import messages
from ..errors import BotError
from ..tasks.actor import Actor

if TYPE_CHECKING:
    from .client import MJBot

log = logging.getLogger(__name__)

# What the bot needs in a channel to post results there, by discord.py's permission names.
NEEDED = {"send_messages": "Send Messages", "attach_files": "Attach Files", "embed_links": "Embed Links"}

Interaction: TypeAlias = "discord.Interaction[MJBot]"


def own(interaction: discord.Interaction[discord.Client]) -> Interaction:
    """discord.py types component, modal and cog-check callbacks over any client; this process runs
    exactly one client, an MJBot, so this is the one place that says so."""
    return cast("Interaction", interaction)


async def respond(interaction: Interaction, content: str, **kwargs: Any) -> None:
    """Answer privately whether or not it was already acknowledged; never raise for a dead token."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(content, ephemeral=True, **kwargs)
        else:
            await interaction.response.send_message(content, ephemeral=True, **kwargs)
    except discord.NotFound:
        log.warning("interaction %s expired before it could be answered", interaction.id)
    except discord.HTTPException as exc:
        log.warning("could not answer interaction %s: %s", interaction.id, exc)


async def defer_private(interaction: Interaction) -> None:
    """Acknowledge at once with a private "thinking…" reply that the work edits later. The work goes
    on once the interactions arriving with this one are acknowledged too, and a shutdown waits for
    it (`InFlight`)."""
    acks = interaction.client.in_flight
    acks.arrived()
    try:
        await interaction.response.defer(ephemeral=True, thinking=True)
    finally:
        acks.acknowledged()
    observe_ack(interaction)
    await acks.settled()


def observe_ack(interaction: Interaction) -> None:
    latency = max(0.0, time.time() - interaction.created_at.timestamp())
    interaction.client.services.metrics.interaction_ack_seconds.observe(latency)


async def report_error(interaction: Interaction, error: BaseException, where: str) -> None:
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
        await respond(interaction, str(original) or messages.NOT_ALLOWED)
        return
    if isinstance(original, app_commands.CommandSignatureMismatch):
        log.warning("%s: Discord sent an outdated form of the command; an admin may run /admin sync", where)
        await respond(interaction, messages.OUTDATED_COMMAND)
        return
    if isinstance(error, app_commands.TransformerError):
        await respond(interaction, messages.invalid_value(error.value))
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
    await respond(interaction, messages.APOLOGY)


def require_post_permissions(interaction: Interaction) -> None:
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
        raise BotError(messages.missing_permissions(missing))


def actor_of(interaction: Interaction) -> Actor:
    return Actor(interaction.user.id, interaction.guild_id, interaction.channel_id)
