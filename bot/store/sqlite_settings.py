"""Member settings and server controls in SQLite: small tables, read and written whole."""

from __future__ import annotations

import time

import aiosqlite

from .models import GuildControls, Strength, UserSettings


class SettingsQueries:
    _db: aiosqlite.Connection

    # --- member settings and guild controls ------------------------------------------------------
    async def user_settings(self, user_id: int) -> UserSettings:
        async with self._db.execute(
            "SELECT strength, remix FROM user_settings WHERE user_id = ?", (user_id,)
        ) as c:
            row = await c.fetchone()
        if row is None:
            return UserSettings(user_id)
        return UserSettings(user_id, row[0], bool(row[1]))

    async def all_user_settings(self) -> list[UserSettings]:
        rows = await self._db.execute_fetchall("SELECT user_id, strength, remix FROM user_settings")
        return [UserSettings(int(row[0]), row[1], bool(row[2])) for row in rows]

    async def save_user_settings(
        self, user_id: int, *, strength: Strength | None = None, remix: bool | None = None
    ) -> UserSettings:
        current = await self.user_settings(user_id)
        updated = UserSettings(
            user_id, strength or current.strength, current.remix if remix is None else remix
        )
        await self._db.execute(
            """INSERT INTO user_settings (user_id, strength, remix, updated_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (user_id) DO UPDATE SET strength = excluded.strength, remix = excluded.remix,
               updated_at = excluded.updated_at""",
            (user_id, updated.strength, int(updated.remix), time.time()),
        )
        return updated

    async def guild_controls(self, guild_id: int) -> GuildControls:
        async with self._db.execute(
            "SELECT paused, paused_by, paused_at FROM guild_controls WHERE guild_id = ?", (guild_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return (
            GuildControls(guild_id) if row is None else GuildControls(guild_id, bool(row[0]), row[1], row[2])
        )

    async def set_guild_paused(self, guild_id: int, paused: bool, by: int | None) -> GuildControls:
        now = time.time()
        await self._db.execute(
            """INSERT INTO guild_controls (guild_id, paused, paused_by, paused_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (guild_id) DO UPDATE SET paused = excluded.paused, paused_by = excluded.paused_by,
               paused_at = excluded.paused_at""",
            (guild_id, int(paused), by, now),
        )
        return GuildControls(guild_id, paused, by, now)
