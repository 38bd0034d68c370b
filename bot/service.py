"""What the commands and buttons do, without Discord: plain async methods returning member-facing text.

Cogs translate interactions into these calls and the returned `Reply` back into Discord messages.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from . import messages
from .config import Settings
from .engine import Engine, SubmitRequest, SubmitResult
from .limits import Limits
from .providers.base import Provider
from .providers.errors import BotError, NotFound, ProviderError, Unsupported
from .store import UNFINISHED, Store, Task, TaskState

log = logging.getLogger(__name__)

PAGE_SIZE = 10
MODAL_MAX = 4000
_FILTERS: dict[str, tuple[TaskState, ...] | None] = {
    "all": None,
    "active": UNFINISHED,
    "queued": ("queued",),
    "submitted": ("submitted",),
    "running": ("submitted", "running"),
    "succeeded": ("succeeded",),
    "failed": ("failed",),
    "timed_out": ("timed_out",),
    "cancelled": ("cancelled",),
}


@dataclass(frozen=True)
class Actor:
    user_id: int
    guild_id: int | None
    channel_id: int | None


@dataclass(frozen=True)
class Reply:
    content: str
    task: Task | None = None


@dataclass(frozen=True)
class TaskPage:
    content: str
    page: int
    pages: int
    status: str


def message_link(task: Task) -> str | None:
    if task.result_message_id is None or task.channel_id is None:
        return None
    guild = task.guild_id if task.guild_id is not None else "@me"
    return f"https://discord.com/channels/{guild}/{task.channel_id}/{task.result_message_id}"


class TaskService:
    def __init__(
        self, store: Store, engine: Engine, provider: Provider, settings: Settings, limits: Limits
    ) -> None:
        self.store = store
        self.engine = engine
        self.provider = provider
        self.settings = settings
        self.limits = limits

    # --- creating --------------------------------------------------------------------------------
    async def imagine(self, actor: Actor, prompt: str) -> Reply:
        if not self.provider.capabilities.imagine:
            raise Unsupported(
                f"/imagine is turned off for {self.provider.name} here; vary an existing task with /vary."
            )
        return await self._submit(
            SubmitRequest("imagine", actor.user_id, actor.guild_id, actor.channel_id, prompt=prompt)
        )

    async def vary(
        self, actor: Actor, reference: str, image: int, strength: str | None, remix: str | None
    ) -> Reply:
        caps = self.provider.capabilities
        if remix is not None and not caps.remix:
            raise Unsupported(
                f"Remix is not available with {self.provider.name}. Leave the remix option out to vary normally."
            )
        notes = []
        chosen = None
        if caps.vary_strength:
            chosen = strength or (await self.store.user_settings(actor.user_id)).strength
        elif strength is not None:
            notes.append(f"{self.provider.name} has no variation strength, so `{strength}` was ignored.")
        parent = await self.store.find(reference, self.provider.name)
        request = SubmitRequest(
            "vary",
            actor.user_id,
            actor.guild_id,
            actor.channel_id,
            index=image,
            strength=chosen,  # type: ignore[arg-type]
            remix_prompt=remix,
        )
        if parent is not None:
            request.parent = parent
        else:
            request.parent_provider_task_id, request.prompt = await self._provider_parent(reference)
        reply = await self._submit(request)
        return Reply(" ".join([reply.content, *notes]), reply.task)

    async def _provider_parent(self, reference: str) -> tuple[str, str | None]:
        """A task id the bot does not know: usable only if the provider knows it and it succeeded."""
        reference = reference.strip()
        if not reference or len(reference) > 100 or any(ch.isspace() for ch in reference):
            raise BotError(f"`{reference[:40]}` is not a task id. Use an id from /tasks.")
        state = self.engine.state
        if state.paused():
            # Inside a provider pause (429, maintenance) no request may go out, this look-up included.
            wait = max(1, round(state.paused_until - time.time()))
            raise BotError(f"The provider asked us to wait; try again in about {wait} seconds.")
        try:
            status = await self.provider.status(reference)
        except ProviderError as exc:
            if isinstance(exc, NotFound):
                raise BotError(
                    f"Neither I nor the provider know a task `{reference}`. Check the id in /tasks, "
                    "or start a new grid with /imagine."
                ) from exc
            raise
        if status.state != "succeeded":
            word = "still running" if status.state == "running" else "failed"
            raise BotError(f"The provider's task `{reference}` has {word}, so it has no images to vary yet.")
        return reference, status.prompt

    async def press(self, actor: Actor, task_id: str, index: int, remix_prompt: str | None = None) -> Reply:
        parent = await self._grid(task_id)
        caps = self.provider.capabilities
        strength = (await self.store.user_settings(actor.user_id)).strength if caps.vary_strength else None
        request = SubmitRequest(
            "vary",
            actor.user_id,
            actor.guild_id,
            actor.channel_id,
            parent=parent,
            index=index,
            strength=strength,
            remix_prompt=remix_prompt if caps.remix else None,
        )
        return await self._submit(request)

    async def upscale(self, actor: Actor, task_id: str, index: int) -> Reply:
        parent = await self._grid(task_id)
        return await self._submit(
            SubmitRequest(
                "upscale", actor.user_id, actor.guild_id, actor.channel_id, parent=parent, index=index
            )
        )

    async def reroll(self, actor: Actor, task_id: str) -> Reply:
        parent = await self._grid(task_id)
        prompt = parent.effective_prompt
        if not prompt:
            raise BotError(
                "I don't know that grid's prompt, so I can't re-roll it. Use /imagine with a prompt."
            )
        return await self.imagine(actor, prompt)

    async def remix_prefill(self, task_id: str) -> str:
        parent = await self._grid(task_id)
        return (parent.effective_prompt or "")[:MODAL_MAX]

    async def wants_remix(self, user_id: int) -> bool:
        return self.provider.capabilities.remix and (await self.store.user_settings(user_id)).remix

    async def _grid(self, task_id: str) -> Task:
        parent = await self.store.get(task_id)
        if parent is None:
            raise BotError(
                f"That grid (`{task_id}`) is no longer in my task log, so I can't vary it. "
                "Start a new one with /imagine."
            )
        if parent.state != "succeeded":
            raise BotError(
                f"Grid `{task_id}` has {parent.state.replace('_', ' ')}, so it has no images to use."
            )
        if parent.finished_at and time.time() - parent.finished_at > 14 * 86400:
            raise BotError(
                f"Grid `{task_id}` is older than the provider keeps results (about 15 days). "
                "Start a new one with /imagine."
            )
        return parent

    async def _submit(self, request: SubmitRequest) -> Reply:
        await self.limits.check(request.user_id, request.guild_id)
        result: SubmitResult = await self.engine.submit(request)
        if result.task.state == "failed" and not result.existing:
            raise BotError(messages.accepted(result.task, existing=False))
        paused = self.engine.state.paused()
        return Reply(messages.accepted(result.task, existing=result.existing, paused=paused), result.task)

    # --- reading ---------------------------------------------------------------------------------
    async def tasks_page(
        self, user_id: int, guild_id: int | None, status: str = "all", page: int = 1
    ) -> TaskPage:
        if status not in _FILTERS:
            raise BotError(f"Unknown status filter `{status}`. Use one of: {', '.join(_FILTERS)}.")
        states = _FILTERS[status]
        tasks, total = await self.store.user_log(
            user_id, states=states, page=max(1, page), per_page=PAGE_SIZE
        )
        pages = max(1, math.ceil(total / PAGE_SIZE))
        if page > pages and total:
            page = pages
            tasks, total = await self.store.user_log(user_id, states=states, page=page, per_page=PAGE_SIZE)
        usage = await self.limits.usage(user_id, guild_id)
        label = "" if status == "all" else f" · {status}"
        head = f"**Your tasks**{label} · page {page}/{pages} · {total} in all"
        if usage.header():
            head += f"\n-# {usage.header()}"
        if not tasks:
            body = "Nothing here yet. Start with /imagine." if status == "all" else f"No {status} tasks."
            return TaskPage(f"{head}\n{body}", page, pages, status)
        now = time.time()
        lines = [messages.task_line(task, now, message_link(task)) for task in tasks]
        return TaskPage(messages.shorten_block("\n".join([head, *lines])), page, pages, status)

    async def task_detail(self, user_id: int, reference: str) -> str:
        task = await self.store.find(reference, self.provider.name)
        if task is None or task.user_id != user_id:
            # Another member's task reads exactly like a missing one: ids must not leak who made what.
            raise BotError(f"No task `{reference.strip()[:40]}` in your log. See /tasks for your ids.")
        return messages.task_detail(task, message_link(task))

    async def update_settings(self, user_id: int, strength: str | None, remix: str | None) -> str:
        caps = self.provider.capabilities
        notes = []
        remix_flag = None if remix is None else remix == "on"
        if remix_flag and not caps.remix:
            notes.append(f"Remix is unavailable with {self.provider.name}; V buttons vary normally.")
            remix_flag = None
        if strength is not None and not caps.vary_strength:
            notes.append(f"{self.provider.name} has no variation strength; the setting is kept for later.")
        saved = await self.store.save_user_settings(user_id, strength=strength, remix=remix_flag)  # type: ignore[arg-type]
        remix_word = "on" if saved.remix and caps.remix else "off"
        head = "Saved. " if strength is not None or remix is not None else ""
        text = f"{head}Your settings: strength **{saved.strength}**, remix **{remix_word}**."
        if not caps.remix:
            text += f" (Remix is unavailable with {self.provider.name}.)"
        return " ".join([text, *notes])
