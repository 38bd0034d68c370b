"""The loopback Discord's world: users, guilds, channels, messages, interactions, and Discord's limits."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Permission bits (https://discord.com/developers/docs/topics/permissions)
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_HISTORY = 1 << 16
USE_APP_COMMANDS = 1 << 31
MANAGE_GUILD = 1 << 5
ADMINISTRATOR = 1 << 3
BOT_DEFAULT = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_HISTORY | USE_APP_COMMANDS
MEMBER_DEFAULT = VIEW_CHANNEL | SEND_MESSAGES | READ_HISTORY | USE_APP_COMMANDS | EMBED_LINKS | ATTACH_FILES
PERMISSION_NAMES = {"send_messages": SEND_MESSAGES, "attach_files": ATTACH_FILES, "embed_links": EMBED_LINKS}


class DiscordError(Exception):
    """A refusal as Discord words it: the HTTP status, Discord's JSON error code and its message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


DISCORD_EPOCH_MS = 1420070400000
Shard = tuple[int, int]  # (shard_id, shard_count), as in IDENTIFY's "shard" field


class Snowflakes:
    """Unique, increasing ids shaped like Discord's: milliseconds since 2015 above bit 22.

    The millisecond part is what sharding looks at, so an id for a given shard is found by moving that
    part forward to the next value that lands there; later ids continue from it and stay increasing.
    """

    def __init__(self) -> None:
        self.last = (int(time.time() * 1000 - DISCORD_EPOCH_MS) << 22) + (1 << 12)

    def next(self, shard: Shard | None = None) -> int:
        candidate = self.last + 1
        if shard is not None:
            shard_id, count = check_shard(shard)
            ms = candidate >> 22
            wanted = ms + (shard_id - ms) % count
            if wanted != ms:
                candidate = (wanted << 22) + (1 << 12)
        self.last = candidate
        return candidate


def check_shard(shard: Any) -> Shard:
    """A valid [shard_id, shard_count] pair, or ValueError (the gateway closes with 4010 for it)."""
    if not isinstance(shard, list | tuple) or len(shard) != 2:
        raise ValueError(f"shard must be [shard_id, shard_count], not {shard!r}")
    shard_id, count = shard
    if not (isinstance(shard_id, int) and isinstance(count, int) and 0 <= shard_id < count):
        raise ValueError(f"invalid shard {shard!r}")
    return shard_id, count


def shard_of(guild_id: str | None, count: int) -> int:
    """Discord's rule: a guild lives on shard (guild_id >> 22) % shard_count; DMs live on shard 0."""
    return 0 if guild_id is None else (int(guild_id) >> 22) % count


_snowflakes = Snowflakes()


def snowflake(shard: Shard | None = None) -> str:
    """A fresh id; with `shard`, one whose guild would live on that shard."""
    return str(_snowflakes.next(shard))


def iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), UTC).isoformat()


@dataclass
class User:
    id: str
    name: str
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.name,
            "global_name": self.name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }


@dataclass
class Channel:
    id: str
    name: str
    guild_id: str | None
    kind: int = 0  # 0 text, 1 DM
    bot_denied: int = 0
    recipient: str | None = None
    deleted: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)

    def payload(self, users: dict[str, User] | None = None) -> dict[str, Any]:
        if self.kind == 1:
            recipients = [users[self.recipient].payload()] if users and self.recipient in users else []
            return {"id": self.id, "type": 1, "recipients": recipients, "last_message_id": None}
        data: dict[str, Any] = {
            "id": self.id,
            "type": 0,
            "name": self.name,
            "guild_id": self.guild_id,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
        }
        return data


@dataclass
class Guild:
    id: str
    name: str
    owner_id: str
    channels: dict[str, Channel] = field(default_factory=dict)
    admins: set[str] = field(default_factory=set)


@dataclass
class Interaction:
    id: str
    token: str
    kind: int  # 2 command, 3 component, 5 modal submit
    user_id: str
    channel_id: str
    guild_id: str | None
    name: str
    dispatched_at: float
    acked_at: float | None = None
    ack_type: int | None = None
    ephemeral: bool = False
    original: dict[str, Any] | None = None
    followups: list[dict[str, Any]] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    source_message: dict[str, Any] | None = None

    @property
    def answered(self) -> bool:
        return self.acked_at is not None

    @property
    def ack_latency(self) -> float | None:
        return None if self.acked_at is None else self.acked_at - self.dispatched_at

    def visible_text(self) -> str:
        """What the member sees as the answer: the last follow-up, else the (edited) original, else, for
        a press answered by updating its own message (callback type 6 or 7), that message."""
        if self.followups:
            return str(self.followups[-1].get("content") or "")
        if self.original is not None:
            return str(self.original.get("content") or "")
        if self.ack_type in (6, 7) and self.source_message is not None:
            return str(self.source_message.get("content") or "")
        return ""


def new_token() -> str:
    return "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)


@dataclass
class Limits:
    content: int = 2000
    rows: int = 5
    per_row: int = 5
    custom_id: int = 100
    label: int = 80
    attachments: int = 10
    embeds: int = 10
    upload_bytes: int = 10 * 1024 * 1024
    ack_deadline_s: float = 3.0
    token_ttl_s: float = 15 * 60
