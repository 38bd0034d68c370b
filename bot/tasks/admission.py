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
from ..providers.base import Capabilities
from ..store.base import AdmitRules, Admitted, Refused, Store
from ..store.models import NewTask, Strength, Task, TaskKind, TaskState

# How long a newly admitted task is left to the process that admitted it before it counts as due:
# that process sends the create at once, and another one taking it meanwhile would send it twice.
CREATE_GRACE_S = 60.0

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


# Invisible characters that reorder or hide text (bidi overrides and isolates, marks) and control
# characters: they would reach the provider and the channel unseen. Line breaks stay (remix editor).
_INVISIBLE = dict.fromkeys(
    [
        *range(0x00, 0x09),
        0x0B,
        0x0C,
        *range(0x0E, 0x20),
        0x7F,
        *range(0x80, 0xA0),
        0x061C,
        0x200E,
        0x200F,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
)


def clean(text: str | None) -> str | None:
    """A member's text without control characters and bidi overrides; tabs and CR become spaces."""
    if text is None:
        return None
    return text.replace("\t", " ").replace("\r", " ").translate(_INVISIBLE)


def grid_expired(finished_at: float | None, now: float | None = None) -> bool:
    """Past the age at which the provider no longer keeps a grid's images."""
    if not finished_at:
        return False
    return (time.time() if now is None else now) - finished_at > GRID_MAX_AGE_S


def check_grid(task: Task, now: float | None = None) -> Task:
    """A grid whose images can be varied or upscaled: succeeded, and young enough to still exist."""
    if task.kind == "upscale":
        raise BotError(messages.not_a_grid(task))
    if task.state != TaskState.SUCCEEDED or not task.provider_task_id:
        raise BotError(messages.grid_unusable(task))
    if grid_expired(task.finished_at, now):
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
        request.prompt, request.remix_prompt = clean(request.prompt), clean(request.remix_prompt)
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
            # This process sends the create right away (Engine.begin); the grace keeps it ours.
            first_check_at=now + CREATE_GRACE_S,
        )
        try:
            return await self.store.admit(self._new_task(request, request_key(request)), rules, now=now)
        except Refused as refused:
            raise _explain(refused, rules, now) from None

    async def precheck(self, user_id: int, guild_id: int | None) -> None:
        """The limits as they stand, before work that costs something to do at all (a provider
        look-up); the insert checks them again atomically."""
        settings, now = self.settings, time.time()
        if guild_id is not None and (await self.store.guild_controls(guild_id)).paused:
            raise BotError(messages.GUILD_PAUSED)
        limit = settings.user_daily_requests
        if limit is not None and await self.store.requests_since(user_id, day_start(now)) >= limit:
            raise BotError(messages.daily_limit_reached(limit, now))
        cap = settings.guild_daily_spend_usd
        if cap is not None and guild_id is not None:
            spent = await self.store.spend_since(guild_id, day_start(now), settings.default_request_cost_usd)
            if spent + settings.default_request_cost_usd > cap:
                raise BotError(messages.spend_cap_reached(spent, cap, now))
        unfinished = await self.store.unfinished_for_user(user_id)
        if len(unfinished) >= settings.max_active_per_user + settings.max_queued_per_user:
            raise TooManyActive(
                messages.queue_full(unfinished, settings.max_active_per_user, settings.max_queued_per_user)
            )

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
            if not (request.prompt or "").strip():
                raise BotError(messages.EMPTY_PROMPT)
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
