"""Admission: the business rules a request must pass before it becomes a task, then the insert.

Each rule lives here once: the image index, the parent grid (finished, succeeded, still kept by the
provider), what the provider can do (imagine, upscale, remix). The limits (the server's admin pause,
daily requests, the daily spend cap, the member's running slots and queue, deduplication of a repeated
press) are set here and enforced by the store atomically with the insert, so they hold across
concurrent requests and processes. Discord's own limits are checked at the Discord edge; the
provider's limits (prompt length) inside its client.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from .. import messages
from ..config import Settings
from ..errors import BotError, TooManyActive, Unsupported
from ..providers import Capabilities
from ..store import AdmitRules, Admitted, NewTask, Refused, Store, Strength, Task, TaskKind, TaskState

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
    def __init__(self, store: Store, provider: str, capabilities: Capabilities, settings: Settings) -> None:
        self.store = store
        self.provider = provider
        self.capabilities = capabilities
        self.settings = settings

    async def admit(self, request: SubmitRequest) -> Admitted:
        """Validate, then record the task if every limit allows it (checked atomically in the store)."""
        self.validate(request)
        settings = self.settings
        now = time.time()
        rules = AdmitRules(
            max_active=settings.max_active_per_user,
            max_queued=settings.max_queued_per_user,
            day_start=day_start(now),
            daily_requests=settings.user_daily_requests,
            spend_cap=settings.guild_daily_spend_usd,
            reserve=settings.default_request_cost_usd,
        )
        try:
            return await self.store.admit(self._new_task(request, request_key(request)), rules, now=now)
        except Refused as refused:
            raise _explain(refused, rules, now) from None

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


def day_start(now: float) -> float:
    """Daily limits reset at 00:00 UTC."""
    return now - (now % 86400)


def _explain(refused: Refused, rules: AdmitRules, now: float) -> BotError:
    if refused.reason == "paused":
        return BotError(messages.GUILD_PAUSED)
    if refused.reason == "daily_requests":
        return BotError(messages.daily_limit_reached(int(refused.limit), now))
    if refused.reason == "spend_cap":
        return BotError(messages.spend_cap_reached(refused.used, refused.limit, now))
    return TooManyActive(messages.queue_full(list(refused.unfinished), rules.max_active, rules.max_queued))
