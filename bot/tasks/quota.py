"""The server's and the member's limits: the admin pause, requests per member and spend per day."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from .. import messages
from ..config import Settings
from ..errors import BotError
from ..store import Store


@dataclass(frozen=True)
class Usage:
    requests_today: int
    request_limit: int | None
    spend_today: Decimal | None
    spend_cap: Decimal | None

    def header(self) -> str:
        parts = []
        if self.request_limit is not None:
            parts.append(f"{self.requests_today}/{self.request_limit} requests today")
        if self.spend_cap is not None and self.spend_today is not None:
            parts.append(f"server spend ${self.spend_today:.2f}/${self.spend_cap:.2f} today")
        return " · ".join(parts)


def day_start(now: float) -> float:
    return now - (now % 86400)


class Quota:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    async def check(self, user_id: int, guild_id: int | None) -> None:
        now = time.time()
        if guild_id is not None and (await self.store.guild_controls(guild_id)).paused:
            raise BotError(messages.GUILD_PAUSED)
        limit = self.settings.user_daily_requests
        if limit is not None and await self.store.requests_since(user_id, day_start(now)) >= limit:
            raise BotError(messages.daily_limit_reached(limit, now))
        cap = self.settings.guild_daily_spend_usd
        if cap is not None and guild_id is not None:
            spent = await self.spend_today(guild_id, now)
            if spent >= cap:
                raise BotError(messages.spend_cap_reached(spent, cap, now))

    async def spend_today(self, guild_id: int, now: float | None = None) -> Decimal:
        now = time.time() if now is None else now
        return await self.store.spend_since(guild_id, day_start(now), self.settings.default_request_cost_usd)

    async def usage(self, user_id: int, guild_id: int | None) -> Usage:
        now = time.time()
        spend = await self.spend_today(guild_id, now) if guild_id is not None else None
        return Usage(
            await self.store.requests_since(user_id, day_start(now)),
            self.settings.user_daily_requests,
            spend,
            self.settings.guild_daily_spend_usd,
        )
