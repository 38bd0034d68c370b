"""What the commands and buttons do, without Discord: plain async methods returning member-facing text.

The Discord edge translates interactions into these calls and the returned `Reply` back into messages.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from .. import messages
from ..errors import BotError
from ..providers.base import Provider, is_task_id
from ..providers.errors import NotFound
from ..store.base import Store
from ..store.models import UNFINISHED, Strength, Task, TaskState, UserSettings
from .actor import Actor
from .admission import Admission, SubmitRequest, check_grid
from .engine import Engine
from .grids import RecentGrids
from .members import MemberSettings
from .quota import Quota

log = logging.getLogger(__name__)

PAGE_SIZE = 10
MAX_PAGE = 10_000
LOOKUPS_PER_WINDOW = 3
LOOKUP_WINDOW_S = 60.0
FILTERS: dict[str, tuple[TaskState, ...] | None] = {
    "all": None,
    "active": UNFINISHED,
    **{state.value: (state,) for state in TaskState},
    # Members read "running" as "at the provider", whether or not it has reported progress yet.
    "running": (TaskState.SUBMITTED, TaskState.RUNNING),
}


@dataclass(frozen=True)
class Reply:
    content: str
    task: Task | None = None
    position: int = 0  # the task's place in its member's queue (0: not waiting)


@dataclass(frozen=True)
class TaskPage:
    content: str
    page: int
    pages: int
    status: str


class TaskService:
    def __init__(
        self,
        store: Store,
        engine: Engine,
        provider: Provider,
        admission: Admission,
        quota: Quota,
        members: MemberSettings,
        grids: RecentGrids | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.provider = provider
        self.admission = admission
        self.quota = quota
        self.members = members
        self.grids = grids if grids is not None else RecentGrids()
        self._lookups: dict[int, list[float]] = {}

    # --- creating --------------------------------------------------------------------------------
    async def imagine(self, actor: Actor, prompt: str) -> Reply:
        return await self._submit(
            SubmitRequest("imagine", actor.user_id, actor.guild_id, actor.channel_id, prompt=prompt)
        )

    async def vary(
        self, actor: Actor, reference: str, image: int, strength: Strength | None, remix: str | None
    ) -> Reply:
        notes = []
        chosen = None
        if self.provider.capabilities.vary_strength:
            chosen = strength or self.members.get(actor.user_id).strength
        elif strength is not None:
            notes.append(messages.strength_ignored(self.provider.name, strength))
        request = SubmitRequest(
            "vary",
            actor.user_id,
            actor.guild_id,
            actor.channel_id,
            index=image,
            strength=chosen,
            remix_prompt=remix,
        )
        # Admission refuses what the provider cannot do before anything is looked up.
        self.admission.validate_capabilities(request)
        parent = await self.store.find(reference, self.provider.name)
        if parent is not None and parent.guild_id != actor.guild_id:
            # Another server's grid reads as unknown: its prompt would be copied into a post here.
            raise BotError(messages.unknown_everywhere(reference))
        if parent is not None:
            request.parent = parent
        else:
            await self.admission.precheck(actor.user_id, actor.guild_id)
            request.parent_provider_task_id, request.prompt = await self._provider_parent(actor, reference)
        reply = await self._submit(request)
        return Reply(" ".join([reply.content, *notes]), reply.task, reply.position)

    async def _provider_parent(self, actor: Actor, reference: str) -> tuple[str, str | None]:
        """A task id the bot does not know: usable only if the provider knows it and it succeeded."""
        reference = reference.strip()
        # The id goes into the provider's URL with the bot's API key: only plain ids go out at all.
        if not is_task_id(reference):
            raise BotError(messages.not_a_task_id(reference))
        if self.engine.pause.active():
            # Inside a provider pause (429, maintenance) no request may go out, this look-up included.
            raise BotError(messages.provider_wait(self.engine.pause.seconds_left()))
        self._count_lookup(actor.user_id)
        try:
            status = await self.provider.status(reference)
        except NotFound as exc:
            raise BotError(messages.unknown_everywhere(reference)) from exc
        if status.state != "succeeded":
            raise BotError(messages.provider_task_unusable(reference, status.state))
        return reference, status.prompt

    def _count_lookup(self, user_id: int) -> None:
        """Each look-up is a request to the provider on the server's key: a few a minute per member."""
        now = time.monotonic()
        recent = [t for t in self._lookups.get(user_id, []) if now - t < LOOKUP_WINDOW_S]
        if len(recent) >= LOOKUPS_PER_WINDOW:
            raise BotError(messages.lookup_too_often(LOOKUP_WINDOW_S - (now - recent[0])))
        self._lookups[user_id] = [*recent, now]

    async def press(
        self, actor: Actor, task_id: str, index: int, settings: UserSettings, remix_prompt: str | None = None
    ) -> Reply:
        """A V button (with the presser's settings, read once when the press arrived)."""
        caps = self.provider.capabilities
        request = SubmitRequest(
            "vary",
            actor.user_id,
            actor.guild_id,
            actor.channel_id,
            parent=await self._grid(task_id),
            index=index,
            strength=settings.strength if caps.vary_strength else None,
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
        prompt = (await self._grid(task_id)).effective_prompt
        if not prompt:
            raise BotError(messages.REROLL_NO_PROMPT)
        return await self.imagine(actor, prompt)

    async def remix_prefill(self, task_id: str) -> str:
        """The remix editor's text: from memory (no await at all) for a grid kept in `grids`."""
        at_hand = self.grids.prompt(task_id)
        return at_hand if at_hand is not None else (await self._grid(task_id)).effective_prompt or ""

    async def _grid(self, task_id: str) -> Task:
        parent = await self.store.get(task_id)
        if parent is None:
            raise BotError(messages.grid_gone(task_id))
        grid = check_grid(parent)
        self.grids.remember(grid)
        return grid

    async def _submit(self, request: SubmitRequest) -> Reply:
        admitted = await self.admission.admit(request)
        if admitted.existing:
            return Reply(messages.accepted(admitted.task, existing=True), admitted.task)
        task = await self.engine.begin(admitted.task)
        if task.state == TaskState.FAILED:
            raise BotError(messages.accepted(task, existing=False))
        position = await self.store.queue_position(task)
        paused = self.engine.pause.active()
        return Reply(
            messages.accepted(task, existing=False, paused=paused, position=position), task, position
        )

    # --- reading ---------------------------------------------------------------------------------
    async def tasks_page(
        self, user_id: int, guild_id: int | None, status: str = "all", page: int = 1
    ) -> TaskPage:
        if status not in FILTERS:
            raise BotError(messages.unknown_filter(status, list(FILTERS)))
        states = FILTERS[status]
        page = min(max(1, page), MAX_PAGE)  # a forged button can carry any number
        tasks, total = await self.store.user_log(
            user_id, states=states, page=max(1, page), per_page=PAGE_SIZE
        )
        pages = max(1, math.ceil(total / PAGE_SIZE))
        if page > pages and total:
            page = pages
            tasks, total = await self.store.user_log(user_id, states=states, page=page, per_page=PAGE_SIZE)
        usage = await self.quota.usage(user_id, guild_id)
        label = "" if status == "all" else f" · {status}"
        head = f"**Your tasks**{label} · page {page}/{pages} · {total} in all"
        if usage.header():
            head += f"\n-# {usage.header()}"
        if not tasks:
            body = "Nothing here yet. Start with /imagine." if status == "all" else f"No {status} tasks."
            return TaskPage(f"{head}\n{body}", page, pages, status)
        now = time.time()
        lines = [messages.task_line(task, now, messages.message_link(task)) for task in tasks]
        return TaskPage(messages.shorten_block("\n".join([head, *lines])), page, pages, status)

    async def task_detail(self, user_id: int, reference: str) -> str:
        task = await self._own(user_id, reference)
        parent = await self.store.get(task.parent_id) if task.parent_id else None
        children = await self.store.children(task.id)
        return messages.task_detail(task, messages.message_link(task), parent=parent, children=children)

    async def _own(self, user_id: int, reference: str) -> Task:
        task = await self.store.find(reference, self.provider.name)
        if task is None or task.user_id != user_id:
            # Another member's task reads exactly like a missing one: ids must not leak who made what.
            raise BotError(messages.no_such_task(reference))
        return task

    async def cancel(self, actor: Actor, reference: str) -> str:
        """Cancel one of the member's own queued or running tasks."""
        task = await self._own(actor.user_id, reference)
        if task.finished:
            raise BotError(messages.cannot_cancel(task))
        was_sent = task.provider_task_id is not None or task.create_started_at is not None
        cancelled = await self.store.cancel(task.id, actor.user_id, now=time.time())
        if cancelled is None:  # it finished meanwhile
            fresh = await self.store.get(task.id)
            raise BotError(messages.cannot_cancel(fresh or task))
        log.info("task %s: cancelled by its member (%s)", task.id, "after sending" if was_sent else "unsent")
        # The task's own private reply (perhaps not the one this cancel came from) says so too, and
        # loses its Cancel button.
        await self.engine.follower.notify(cancelled)
        await self.engine.follower.promote(actor.user_id)  # its slot goes to the next in the queue
        return messages.cancelled(cancelled, was_sent=was_sent)

    async def showable(self, actor: Actor, reference: str) -> Task:
        """One of the member's own finished results, to post again (/show)."""
        task = await self._own(actor.user_id, reference)
        if task.state != TaskState.SUCCEEDED or not task.result_urls:
            raise BotError(messages.not_showable(task))
        return task

    async def update_settings(self, user_id: int, strength: Strength | None, remix: bool | None) -> str:
        caps = self.provider.capabilities
        notes = []
        if remix and not caps.remix:
            notes.append(messages.remix_setting_unavailable(self.provider.name))
            remix = None
        if strength is not None and not caps.vary_strength:
            notes.append(messages.strength_setting_kept(self.provider.name))
        if strength is None and remix is None:
            saved = self.members.get(user_id)
        else:
            saved = await self.members.save(user_id, strength=strength, remix=remix)
        changed = strength is not None or remix is not None
        return " ".join([messages.settings_now(saved, caps.remix, self.provider.name, saved=changed), *notes])
