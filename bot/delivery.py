"""Posting finished tasks to their channel with the bot token: images re-uploaded, fresh buttons.

A failure here is raised so the engine retries with backoff; only when the channel is gone (or the bot
may not post there) does the result go to the member by DM, and only when that fails too is it
`UndeliverableError`: the result then stays in the member's /tasks log.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import discord

from . import messages
from .discord_app import NEEDED, MJBot, Services
from .engine import UndeliverableError
from .images import DownloadError, Image, download_all, fit
from .progress import ProgressTracker
from .store import Task

log = logging.getLogger(__name__)


class Deliverer:
    def __init__(self, bot: MJBot, tracker: ProgressTracker) -> None:
        self.bot = bot
        self.tracker = tracker

    @property
    def services(self) -> Services:
        return self.bot.services

    async def deliver(self, task: Task) -> int | None:
        payload = await self._compose(task)
        channel = self._channel(task.channel_id)
        note = None
        if channel is not None:
            try:
                message = await channel.send(**self._build(payload))
            except discord.Forbidden as exc:
                missing = self._missing(channel)
                log.warning(
                    "task %s: cannot post in channel %s (%s; missing: %s); sending it by DM",
                    task.id,
                    task.channel_id,
                    exc.text or exc.status,
                    ", ".join(missing) or "unknown",
                )
                note = f"I couldn't post this in <#{task.channel_id}>" + (
                    f" (I'm missing **{', '.join(missing)}** there)." if missing else "."
                )
            except discord.NotFound:
                note = "The channel this was started in is gone, so here it is."
            else:
                await self._done(task, message)
                return int(message.id)
        else:
            note = "The channel this was started in is gone, so here it is."
        message = await self._dm(task, payload, note)
        await self._done(task, message)
        return int(message.id)

    async def _done(self, task: Task, message: discord.Message) -> None:
        if task.state == "succeeded":
            head = f"`{task.id}` · {messages.what(task)} · done"
            await self.tracker.update(task, final_text=f"{head} — posted: {message.jump_url}")

    def _channel(self, channel_id: int | None) -> Any:
        """The cached channel, or a partial one: a send needs no prior GET, and a 404 on it means gone."""
        if channel_id is None:
            return None
        return self.bot.get_channel(channel_id) or self.bot.get_partial_messageable(channel_id)

    def _missing(self, channel: Any) -> list[str]:
        guild = getattr(channel, "guild", None)
        if guild is None or guild.me is None:
            return []
        permissions = channel.permissions_for(guild.me)
        return [label for name, label in NEEDED.items() if not getattr(permissions, name)]

    async def _compose(self, task: Task) -> dict[str, Any]:
        from cogs.buttons import result_view

        if task.state != "succeeded":
            return {"content": messages.failure(task), "images": [], "urls": [], "view": None}
        settings = self.services.settings
        images: list[Image] = []
        try:
            images = await download_all(
                self.services.session, list(task.result_urls), max_bytes=settings.download_max_bytes
            )
            images = await fit(images, settings.upload_limit_bytes)
        except DownloadError as exc:
            log.warning("task %s: result images not re-uploaded (%s); posting links instead", task.id, exc)
            images = []
        view = result_view(task, self.services.provider.capabilities)
        content = messages.result(task, linked=not images)
        return {
            "content": content,
            "images": images,
            "urls": [] if images else list(task.result_urls),
            "view": view,
        }

    def _build(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Fresh `discord.File`s each attempt: a File is consumed by the send that uses it."""
        kwargs: dict[str, Any] = {
            "content": payload["content"],
            "allowed_mentions": discord.AllowedMentions(users=True, everyone=False, roles=False),
        }
        if payload["images"]:
            kwargs["files"] = [
                discord.File(io.BytesIO(image.data), filename=f"image_{n + 1}.{image.extension}")
                for n, image in enumerate(payload["images"])
            ]
        if payload["urls"]:
            # Embeds sharing one url render as a gallery, like an uploaded mosaic.
            kwargs["embeds"] = [
                discord.Embed(url=payload["urls"][0]).set_image(url=url) for url in payload["urls"][:4]
            ]
        if payload["view"] is not None:
            kwargs["view"] = payload["view"]
        return kwargs

    async def _dm(self, task: Task, payload: dict[str, Any], note: str | None) -> discord.Message:
        try:
            user = self.bot.get_user(task.user_id) or await self.bot.fetch_user(task.user_id)
            kwargs = self._build(payload)
            if note:
                kwargs["content"] = messages.shorten_block(f"{note}\n{kwargs['content']}")
            message: discord.Message = await user.send(**kwargs)
        except (discord.Forbidden, discord.NotFound) as exc:
            raise UndeliverableError(f"channel unusable and DM refused ({exc.status})") from exc
        return message
