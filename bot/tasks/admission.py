"""Admission: the business rules a request must pass before it becomes a task, then the insert.

Each rule lives here once: the image index, the parent grid (finished, succeeded, still kept by the
provider), what the provider can do (imagine, upscale, remix), the server's and the member's limits,
deduplication of a repeated press, and the per-member cap on unfinished tasks. Discord's own limits
are checked at the Discord edge; the provider's limits (prompt length) inside its client.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass

from .. import messages
from ..config import Settings
from ..errors import BotError, TooManyActive, Unsupported
from ..providers import Capabilities
from ..store import NewTask, Store, Strength, Task, TaskKind, TaskState
from .quota import Quota

# Providers keep results about 15 days; a day less leaves room for clocks and queues.
GRID_MAX_AGE_S = 14 * 86400


@dataclass
class SubmitRequest:
    kind: TaskKind
    user_id: int
    guild_id: int | None
    channel_id: int | None
    prompt: str | None = None
    parent: Task | None = None
    parent_provider_task_id: str | None = None
    index: int | None = None
    strength: Strength | None = None
    remix_prompt: str | None = None


@dataclass(frozen=True)
class Admitted:
    task: Task
    existing: bool = False


def request_key(request: SubmitRequest) -> str:
    parent = request.parent.provider_task_id if request.parent else request.parent_provider_task_id
    payload = [request.kind, parent, request.index, request.strength, request.remix_prompt, request.prompt]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:32]


def check_grid(task: Task, now: float | None = None) -> Task:
    """A grid whose images can be varied or upscaled: succeeded, and young enough to still exist."""
    if task.state != TaskState.SUCCEEDED or not task.provider_task_id:
        raise BotError(messages.grid_unusable(task))
    now = time.time() if now is None else now
    if task.finished_at and now - task.finished_at > GRID_MAX_AGE_S:
        raise BotError(messages.grid_too_old(task.id))
    return task


class Admission:
    def __init__(
        self, store: Store, provider: str, capabilities: Capabilities, settings: Settings, quota: Quota
    ) -> None:
        self.store = store
        self.provider = provider
        self.capabilities = capabilities
        self.settings = settings
        self.quota = quota
        self._user_locks: dict[int, asyncio.Lock] = {}

    async def admit(self, request: SubmitRequest) -> Admitted:
        """Validate, check the limits, dedupe, enforce the per-member cap, and record the task."""
        self.validate(request)
        await self.quota.check(request.user_id, request.guild_id)
        lock = self._user_locks.setdefault(request.user_id, asyncio.Lock())
        async with lock:
            key = request_key(request)
            existing = await self.store.active_duplicate(request.user_id, key)
            if existing is not None:
                return Admitted(existing, existing=True)
            unfinished = await self.store.unfinished_for_user(request.user_id)
            limit = self.settings.max_active_per_user
            if len(unfinished) >= limit:
                raise TooManyActive(messages.too_many_active(unfinished, limit))
            return Admitted(await self.store.insert_task(self._new_task(request, key)))

    def validate_capabilities(self, request: SubmitRequest) -> None:
        """What the configured provider can do at all: checked before anything is looked up."""
        caps = self.capabilities
        if request.kind == "imagine" and not caps.imagine:
            raise Unsupported(messages.imagine_unavailable(self.provider))
        if request.kind == "upscale" and not caps.upscale:
            raise Unsupported(messages.UPSCALE_UNAVAILABLE)
        if request.remix_prompt is not None and not caps.remix:
            raise Unsupported(messages.remix_unavailable(self.provider))

    def validate(self, request: SubmitRequest) -> None:
        self.validate_capabilities(request)
        if request.kind == "imagine":
            return
        index = request.index
        if not isinstance(index, int) or isinstance(index, bool) or not 1 <= index <= 4:
            raise BotError(messages.bad_index(index))
        if request.parent is not None:
            check_grid(request.parent)
        elif not request.parent_provider_task_id:
            raise BotError(messages.WHICH_GRID)

    def _new_task(self, request: SubmitRequest, key: str) -> NewTask:
        parent = request.parent
        return NewTask(
            provider=self.provider,
            kind=request.kind,
            user_id=request.user_id,
            guild_id=request.guild_id,
            channel_id=request.channel_id,
            request_key=key,
            prompt=parent.effective_prompt if parent and request.kind != "imagine" else request.prompt,
            parent_id=parent.id if parent else None,
            parent_provider_task_id=parent.provider_task_id if parent else request.parent_provider_task_id,
            image_index=request.index,
            strength=request.strength,
            remix_prompt=request.remix_prompt,
        )
