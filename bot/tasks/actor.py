"""Who asked: the member, and the server and channel they asked in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user_id: int
    guild_id: int | None
    channel_id: int | None
