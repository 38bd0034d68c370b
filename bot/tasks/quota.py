"""What the limits have used up today, for /tasks and /admin status (admission enforces them)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from ..config import Settings
from ..store.base import Store
from .admission import day_start


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


class Quota:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

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
