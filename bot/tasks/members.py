"""Each member's /settings, held in memory and written through to the store.

A V press must be acknowledged (deferred, or answered with the remix editor) before any I/O, and
whether to open the editor depends on the member's remix setting; so every setting is loaded once at
start and kept here. Only members who changed a default have a row, so this stays small.
"""

from __future__ import annotations

import logging

from ..store.base import Store
from ..store.models import Strength, UserSettings

log = logging.getLogger(__name__)


class MemberSettings:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._known: dict[int, UserSettings] = {}

    async def load(self) -> None:
        self._known = {settings.user_id: settings for settings in await self.store.all_user_settings()}

    def get(self, user_id: int) -> UserSettings:
        """No I/O: a member with no saved row has the defaults."""
        return self._known.get(user_id) or UserSettings(user_id)

    async def save(self, user_id: int, *, strength: Strength | None, remix: bool | None) -> UserSettings:
        saved = await self.store.save_user_settings(user_id, strength=strength, remix=remix)
        self._known[user_id] = saved
        try:
            await self.store.notify("settings", str(user_id))  # other processes read it again
        except Exception as exc:
            log.warning("settings of %s saved but not signalled to other processes (%s)", user_id, exc)
        return saved

    async def reload(self, user_id: int | None) -> None:
        """Another process changed a member's settings (None: maybe anyone's, after a reconnect)."""
        if user_id is None:
            await self.load()
        else:
            self._known[user_id] = await self.store.user_settings(user_id)
