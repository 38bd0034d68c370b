"""The loopback Discord's world model: who and what exists (users, guilds, channels, messages,
interactions, registered commands), what the bot may do where, and how it all looks on the wire.

The REST routes, the gateway and the member driver are built on this state; changes that Discord
announces to the bot (a channel's permissions, a deleted channel) go through `_announce`, which the
gateway implements.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from .messages import Files, apply_edit, build_message, public
from .model import (
    ADMINISTRATOR,
    BOT_DEFAULT,
    MANAGE_GUILD,
    MEMBER_DEFAULT,
    PERMISSION_NAMES,
    Channel,
    DiscordError,
    Guild,
    Interaction,
    Limits,
    Shard,
    User,
    iso,
    snowflake,
)

API = "/api/v10"


def json_response(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json", as Discord sends it: discord.py compares the header verbatim.
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


class DiscordState:
    def __init__(self, *, token: str, host: str, recommended_shards: int = 1) -> None:
        self.token = token
        self.host = host
        # What GET /gateway/bot answers as "shards": how many shards a bot is told to run.
        self.recommended_shards = recommended_shards
        self.port = 0
        self.limits = Limits()
        self.application_id = snowflake()
        self.bot = User(self.application_id, "MJBot", bot=True)
        self.users: dict[str, User] = {self.bot.id: self.bot}
        self.guilds: dict[str, Guild] = {}
        self.channels: dict[str, Channel] = {}
        self.interactions: dict[str, Interaction] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[str, list[dict[str, Any]]] = {}
        self.command_syncs: list[str] = []
        self.violations: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.dm_closed: set[str] = set()
        self._message_waiters: list[asyncio.Event] = []

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    # --- building the world ----------------------------------------------------------------------
    def add_user(self, name: str) -> User:
        user = User(snowflake(), name)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str, owner: User, *, shard: Shard | None = None) -> Guild:
        """A guild owned (and administered) by `owner`; with `shard=(shard_id, shard_count)` its id is
        chosen so that Discord's sharding rule puts it on that shard."""
        guild = Guild(snowflake(shard), name, owner.id, admins={owner.id})
        self.guilds[guild.id] = guild
        return guild

    def add_channel(self, guild: Guild, name: str, *, bot_denied: int = 0) -> Channel:
        channel = Channel(snowflake(), name, guild.id, bot_denied=bot_denied)
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def add_message(self, channel: Channel, author: User, content: str) -> dict[str, Any]:
        """A message a member posted, for the bot to reply to. It is not dispatched over the gateway:
        this bot asks for no message intents, so Discord would not send it MESSAGE_CREATE either."""
        message = self._message(channel.id, {"content": content}, [], author=author)
        channel.messages.append(message)
        self._notify_messages()
        return message

    def deny(self, channel: Channel, *permissions: str) -> None:
        """Take permissions from the bot in a channel; like Discord, tell the bot with CHANNEL_UPDATE."""
        for name in permissions:
            channel.bot_denied |= PERMISSION_NAMES[name]
        self._announce("CHANNEL_UPDATE", self._channel_payload(channel))

    def delete_channel(self, channel: Channel) -> None:
        channel.deleted = True
        self._announce("CHANNEL_DELETE", self._channel_payload(channel))

    def _announce(self, event: str, payload: dict[str, Any]) -> None:
        """Tell connected bots about a change; without a gateway there is nobody to tell."""

    # --- reading the world -----------------------------------------------------------------------
    def bot_permissions(self, channel: Channel) -> int:
        return BOT_DEFAULT & ~channel.bot_denied

    def member_permissions(self, guild: Guild | None, user_id: str) -> int:
        if guild is None:
            return MEMBER_DEFAULT
        if user_id in guild.admins:
            return MEMBER_DEFAULT | MANAGE_GUILD | ADMINISTRATOR
        return MEMBER_DEFAULT

    def messages(self, channel: Channel) -> list[dict[str, Any]]:
        return channel.messages

    def dm_channel(self, user: User) -> Channel | None:
        return next((c for c in self.channels.values() if c.kind == 1 and c.recipient == user.id), None)

    def _channel(self, channel_id: str) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None or channel.deleted:
            raise DiscordError(404, 10003, "Unknown Channel")
        return channel

    # --- messages --------------------------------------------------------------------------------
    def _message(
        self,
        channel_id: str,
        payload: dict[str, Any],
        files: Files,
        *,
        author: User | None = None,
        flags: int = 0,
    ) -> dict[str, Any]:
        channel = self.channels.get(channel_id)
        return build_message(
            payload,
            files,
            channel_id=channel_id,
            guild_id=channel.guild_id if channel else None,
            author=author or self.bot,
            users=self.users,
            attachment_base=f"http://{self.host}:{self.port}/attachments",
            limits=self.limits,
            flags=flags,
            replied_author=self._replied_author(channel_id, payload),
        )

    def _apply_edit(self, message: dict[str, Any], data: dict[str, Any], files: Files) -> None:
        replied_author = self._replied_author(message["channel_id"], message)
        apply_edit(message, data, files, self.limits, users=self.users, replied_author=replied_author)

    def _replied_author(self, channel_id: str, body: dict[str, Any]) -> str | None:
        """The author of the message `body` replies to, if it replies to one the fake knows."""
        reference = body.get("message_reference") or {}
        channel = self.channels.get(str(reference.get("channel_id") or channel_id))
        if channel is None or "message_id" not in reference:
            return None
        target = next((m for m in channel.messages if m["id"] == str(reference["message_id"])), None)
        return None if target is None else str(target["author"]["id"])

    @staticmethod
    def _public(message: dict[str, Any]) -> dict[str, Any]:
        return public(message)

    def _notify_messages(self) -> None:
        for event in self._message_waiters:
            event.set()
        self._message_waiters.clear()

    # --- the world as the gateway describes it ---------------------------------------------------
    def _channel_payload(self, channel: Channel) -> dict[str, Any]:
        data = channel.payload(self.users)
        if channel.bot_denied:
            data["permission_overwrites"] = [
                {"id": self.bot.id, "type": 1, "allow": "0", "deny": str(channel.bot_denied)}
            ]
        return data

    def _member_payload(self, user: User) -> dict[str, Any]:
        return {
            "user": user.payload(),
            "roles": [],
            "joined_at": iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
        }

    def _guild_payload(self, guild: Guild) -> dict[str, Any]:
        channels = [self._channel_payload(c) for c in guild.channels.values() if not c.deleted]
        everyone = {
            "id": guild.id,
            "name": "@everyone",
            "permissions": str(BOT_DEFAULT),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        return {
            "id": guild.id,
            "name": guild.name,
            "icon": None,
            "owner_id": guild.owner_id,
            "unavailable": False,
            "member_count": len(self.users),
            "large": False,
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": [everyone],
            "channels": channels,
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "members": [self._member_payload(self.bot)],
            "joined_at": iso(),
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "system_channel_flags": 0,
            "nsfw_level": 0,
        }
