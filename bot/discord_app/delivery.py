"""Posting finished tasks to their channel with the bot token: images re-uploaded, fresh buttons.

A failure here is raised so the outbox retries with backoff; only when the channel is gone (or the bot
may not post there) does the result go to the member by DM, and only when that fails too is it
`UndeliverableError`: the result then stays in the member's /tasks log. Images that cannot be fetched
or decoded, and a post Discord refuses as malformed (400/413), fall back to the provider's links, so no
result is retried forever over its images.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import aiohttp
import discord

from .. import messages
from ..config import Settings
from ..errors import UndeliverableError
from ..images import DownloadError, Image, download_all, fit
from ..netguard import address_check
from ..providers.base import Capabilities
from ..store.base import Store
from ..store.models import Task, TaskState
from .interactions import NEEDED
from .progress import ProgressTracker
from .views import result_view

log = logging.getLogger(__name__)

# A grid is four images; a provider answering with more (one sent eleven) would make Discord refuse
# the post with a 400 on every retry.
MAX_RESULT_IMAGES = 4
# What Discord answers a body it will never take (bad form, too large): retrying it unchanged is futile.
REFUSED_BODY = (400, 413)


class Deliverer:
    def __init__(
        self,
        client: discord.Client,
        session: aiohttp.ClientSession,
        settings: Settings,
        capabilities: Capabilities,
        tracker: ProgressTracker,
        store: Store,
    ) -> None:
        self.client = client
        self.session = session  # for downloads: resolves through netguard (see app.run)
        self.check = address_check(settings.download_allow_private)
        self.settings = settings
        self.capabilities = capabilities
        self.tracker = tracker
        self.store = store

    async def post(self, task: Task) -> int | None:
        """Deliver a finished task: a result to its channel; a failure privately to its member."""
        if task.state != TaskState.SUCCEEDED:
            return await self._tell_failure(task)
        payload = await self._compose(task)
        channel = self._channel(task.channel_id, task.guild_id)
        note = None
        if channel is not None:
            try:
                message = await self._send(channel, task, payload)
            except discord.Forbidden as exc:
                missing = self._missing(channel)
                log.warning(
                    "task %s: cannot post in channel %s (%s; missing: %s); sending it by DM",
                    task.id,
                    task.channel_id,
                    exc.text or exc.status,
                    ", ".join(missing) or "unknown",
                )
                note = messages.cannot_post_in(task.channel_id, missing)
            except discord.NotFound:
                note = messages.CHANNEL_GONE
            else:
                await self._done(task, message)
                return int(message.id)
        else:
            note = messages.CHANNEL_GONE
        message = await self._dm(task, payload, note)
        await self._done(task, message)
        return int(message.id)

    async def show(self, task: Task, channel_id: int, guild_id: int | None) -> discord.Message:
        """Post a finished grid again in another channel, with live buttons (/show)."""
        channel = self._channel(channel_id, guild_id)
        return await self._send(channel, task, await self._compose(task))

    async def _tell_failure(self, task: Task) -> int | None:
        """Failures are private: the member's reply if it was updated, else a DM, else a short note
        in the channel that carries neither the prompt nor the reason (both are in /task)."""
        if task.state == TaskState.CANCELLED or self.tracker.was_told(task.id):
            return None
        try:
            user = self.client.get_user(task.user_id) or await self.client.fetch_user(task.user_id)
            message: discord.Message = await user.send(messages.failure_notice(task))
            return int(message.id)
        except (discord.Forbidden, discord.NotFound) as exc:
            log.info(
                "task %s: member %s takes no DMs (%s); leaving a short note",
                task.id,
                task.user_id,
                exc.status,
            )
        channel = self._channel(task.channel_id, task.guild_id)
        if channel is None:
            raise UndeliverableError("no reply, no DM and no channel to say the task failed")
        try:
            note: discord.Message = await channel.send(
                messages.failure_channel_note(task), allowed_mentions=_only(task.user_id)
            )
        except (discord.Forbidden, discord.NotFound) as exc:
            raise UndeliverableError(f"no reply, no DM, and the channel refused ({exc.status})") from exc
        return int(note.id)

    async def _send(
        self, target: Any, task: Task, payload: dict[str, Any], note: str | None = None
    ) -> discord.Message:
        """Send; if Discord refuses the body itself and it carried files, send once more as links."""
        try:
            message: discord.Message = await target.send(**self._build(payload, note))
        except (discord.Forbidden, discord.NotFound):
            raise
        except discord.HTTPException as exc:
            if exc.status not in REFUSED_BODY or not payload["images"]:
                raise
            log.warning(
                "task %s: Discord refused the upload (HTTP %s: %s); posting links instead",
                task.id,
                exc.status,
                exc.text,
            )
            payload.update(
                images=[],
                urls=list(task.result_urls[:MAX_RESULT_IMAGES]),
                content=messages.result(task, parent_link=payload["parent_link"], linked=True),
            )
            message = await target.send(**self._build(payload, note))
        return message

    async def _done(self, task: Task, message: discord.Message) -> None:
        if task.state == TaskState.SUCCEEDED:
            await self.tracker.update(task, final_text=messages.posted(task, message.jump_url))

    def _channel(self, channel_id: int | None, guild_id: int | None) -> Any:
        """The cached channel, or a partial one: a send needs no prior GET, and a 404 on it means gone.
        The partial one knows its server, so its messages' jump links point there and not at DMs."""
        if channel_id is None:
            return None
        return self.client.get_channel(channel_id) or self.client.get_partial_messageable(
            channel_id, guild_id=guild_id
        )

    def _missing(self, channel: Any) -> list[str]:
        guild = getattr(channel, "guild", None)
        if guild is None or guild.me is None:
            return []
        permissions = channel.permissions_for(guild.me)
        return [label for name, label in NEEDED.items() if not getattr(permissions, name)]

    async def _compose(self, task: Task) -> dict[str, Any]:
        settings = self.settings
        urls = list(task.result_urls[:MAX_RESULT_IMAGES])
        images: list[Image] = []
        try:
            images = await download_all(
                self.session, urls, max_bytes=settings.download_max_bytes, check=self.check
            )
            images = await fit(images, settings.upload_limit_bytes)
        except DownloadError as exc:
            log.warning("task %s: result images not re-uploaded (%s); posting links instead", task.id, exc)
            images = []
        view = result_view(task, self.capabilities)
        parent = await self.store.get(task.parent_id) if task.parent_id else None
        parent_link = messages.message_link(parent) if parent else None
        content = messages.result(task, parent_link=parent_link, linked=not images)
        return {
            "content": content,
            "images": images,
            "urls": [] if images else urls,
            "view": view,
            "user": task.user_id,
            "parent_link": parent_link,
        }

    def _build(self, payload: dict[str, Any], note: str | None = None) -> dict[str, Any]:
        """Fresh `discord.File`s each attempt: a File is consumed by the send that uses it."""
        content = payload["content"]
        kwargs: dict[str, Any] = {
            "content": messages.shorten_block(f"{note}\n{content}") if note else content,
            # Only the requester may be pinged, whatever a prompt contains.
            "allowed_mentions": _only(payload["user"]),
        }
        if payload["images"]:
            kwargs["files"] = [
                discord.File(io.BytesIO(image.data), filename=f"image_{n + 1}.{image.extension}")
                for n, image in enumerate(payload["images"])
            ]
        if payload["urls"]:
            # Embeds sharing one url render as a gallery, like an uploaded mosaic.
            kwargs["embeds"] = [
                discord.Embed(url=payload["urls"][0]).set_image(url=url)
                for url in payload["urls"][:MAX_RESULT_IMAGES]
            ]
        if payload["view"] is not None:
            kwargs["view"] = payload["view"]
        return kwargs

    async def _dm(self, task: Task, payload: dict[str, Any], note: str | None) -> discord.Message:
        try:
            user = self.client.get_user(task.user_id) or await self.client.fetch_user(task.user_id)
            message = await self._send(user, task, payload, note)
        except (discord.Forbidden, discord.NotFound) as exc:
            raise UndeliverableError(f"channel unusable and DM refused ({exc.status})") from exc
        return message


def _only(user_id: int) -> discord.AllowedMentions:
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(user_id)], replied_user=False
    )
