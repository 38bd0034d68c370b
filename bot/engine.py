"""The task engine: submit once, follow every task until it ends, hand results to delivery.

One loop per process. The schedule lives in the store (`next_check_at`, `next_delivery_at`), so a
restart picks up exactly where the last process stopped. The loop wakes at the earliest due time or at
once on an event (a new task, a callback), runs due work concurrently up to `engine_concurrency`, and
pauses every provider request while the provider asks us to (429, maintenance, outage).

A create is never sent twice: `create_started_at` is written before the request, so a process that dies
mid-create leaves a task the next process knows not to re-send. Such a task, like one whose create got
no answer, is *uncertain*: it is reconciled by the provider's callback (whose URL carries our own id) or
failed with a clear message once the reconcile window passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from .config import Settings
from .metrics import Metrics
from .providers.base import Provider, VaryRequest, validate_index, validate_prompt, validate_remix
from .providers.errors import (
    AuthError,
    BotError,
    GenerationFailed,
    MalformedResponse,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Unsupported,
)
from .schedule import pause_length, poll_gap, timeout_message
from .store import NewTask, Store, Task
from .submission import SubmitRequest, SubmitResult, TooManyActive, describe, request_key

__all__ = [
    "Engine",
    "EngineState",
    "SubmitRequest",
    "SubmitResult",
    "TooManyActive",
    "UndeliverableError",
    "describe",
]

log = logging.getLogger(__name__)

DeliverFn = Callable[[Task], Awaitable[int | None]]
UpdateFn = Callable[[Task], Awaitable[None]]
CallbackUrlFn = Callable[[str], str | None]

RECONCILE_WINDOW_S = 300.0
MAX_DELIVERY_BACKOFF_S = 300.0


class UndeliverableError(Exception):
    """Delivery gave up for good (channel gone and no DM possible); the result stays in the log."""


@dataclass
class EngineState:
    running: bool = False
    started_at: float | None = None
    last_tick: float | None = None
    lag_s: float = 0.0
    paused_until: float = 0.0
    pause_reason: str | None = None
    inflight: int = 0
    errors: int = 0

    def paused(self, now: float | None = None) -> bool:
        return self.paused_until > (time.time() if now is None else now)


class Engine:
    def __init__(
        self,
        store: Store,
        provider: Provider,
        settings: Settings,
        *,
        deliver: DeliverFn | None = None,
        on_update: UpdateFn | None = None,
        callback_url: CallbackUrlFn | None = None,
        metrics: Metrics | None = None,
        reconcile_window_s: float = RECONCILE_WINDOW_S,
    ) -> None:
        self.store = store
        self.provider = provider
        self.settings = settings
        self.deliver = deliver
        self.on_update = on_update
        self.callback_url = callback_url
        self.metrics = metrics
        self.reconcile_window_s = min(reconcile_window_s, settings.task_timeout_s)
        self.state = EngineState()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._work: dict[str, asyncio.Task[None]] = {}
        self._creating: set[str] = set()
        self._early_callbacks: set[str] = set()
        self._user_locks: dict[int, asyncio.Lock] = {}
        self._pause_streak = 0

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._loop_task is None:
            self.state.running = True
            self.state.started_at = time.time()
            self._loop_task = asyncio.create_task(self._run(), name="engine")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop the loop and let in-flight work (provider calls and their store writes) finish."""
        self.state.running = False
        if self._loop_task is not None:
            self._loop_task.cancel()
            self.wake()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        pending = list(self._work.values())
        if pending:
            _done, still = await asyncio.wait(pending, timeout=grace_s)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=1.0)

    def wake(self) -> None:
        self._wake.set()

    # --- submit ----------------------------------------------------------------------------------
    async def submit(self, request: SubmitRequest) -> SubmitResult:
        """Validate, dedupe, enforce the per-member cap, record, and send the create (unless paused)."""
        self._validate(request)
        lock = self._user_locks.setdefault(request.user_id, asyncio.Lock())
        async with lock:
            key = request_key(request)
            existing = await self.store.active_duplicate(request.user_id, key)
            if existing is not None:
                return SubmitResult(existing, existing=True)
            unfinished = await self.store.unfinished_for_user(request.user_id)
            if len(unfinished) >= self.settings.max_active_per_user:
                raise TooManyActive(unfinished, self.settings.max_active_per_user)
            parent = request.parent
            task = await self.store.insert_task(
                NewTask(
                    provider=self.provider.name,
                    kind=request.kind,
                    user_id=request.user_id,
                    guild_id=request.guild_id,
                    channel_id=request.channel_id,
                    request_key=key,
                    prompt=request.prompt
                    if request.kind == "imagine"
                    else (parent.effective_prompt if parent else request.prompt),
                    parent_id=parent.id if parent else None,
                    parent_provider_task_id=parent.provider_task_id
                    if parent
                    else request.parent_provider_task_id,
                    image_index=request.index,
                    strength=request.strength,
                    remix_prompt=request.remix_prompt,
                )
            )
        if not self.state.paused():
            task = await self._create(task)
        else:
            task = await self.store.update(task.id, next_check_at=self.state.paused_until)
        self.wake()
        return SubmitResult(task)

    def _validate(self, request: SubmitRequest) -> None:
        caps = self.provider.capabilities
        if request.kind == "imagine":
            if not caps.imagine:
                raise Unsupported("This provider cannot make new grids here; use /vary on an existing task.")
            validate_prompt(request.prompt or "")
            return
        if request.kind == "upscale" and not caps.upscale:
            raise Unsupported("Upscaling is not available with this provider.")
        validate_index(request.index or 0)
        if request.remix_prompt is not None:
            if not caps.remix:
                raise Unsupported(
                    f"Remix is not available with {self.provider.name}; vary without a remix prompt."
                )
            validate_remix(request.remix_prompt)
        parent = request.parent
        if parent is not None:
            if parent.state != "succeeded" or not parent.provider_task_id:
                raise BotError(
                    f"Task `{parent.id}` has not succeeded ({parent.state}), so it has no images to vary. "
                    "Pick a finished grid, or start a new one with /imagine."
                )
        elif not request.parent_provider_task_id:
            raise BotError("Which grid? Give a task id from /tasks.")

    # --- creating at the provider ----------------------------------------------------------------
    async def _create(self, task: Task) -> Task:
        # Claimed before the first await, so the loop never mistakes this create for an interrupted one.
        self._creating.add(task.id)
        try:
            task = await self.store.update(task.id, create_started_at=time.time())
            callback = self.callback_url(task.id) if self.callback_url else None
            provider_task_id = await self._send_create(task, callback)
        except RateLimited as exc:
            self._pause(exc)
            return await self.store.update(
                task.id, create_started_at=None, next_check_at=self.state.paused_until
            )
        except OutcomeUnknown as exc:
            log.warning(
                "task %s: create outcome unknown (%s); not re-sending, reconciling", task.id, exc.detail
            )
            return await self._mark_uncertain(task)
        except MalformedResponse as exc:
            log.warning(
                "task %s: create answer unreadable (%s); not re-sending, reconciling", task.id, exc.detail
            )
            return await self._mark_uncertain(task)
        except ProviderUnavailable as exc:
            if exc.code in ("500",):
                return await self._fail(task, exc, delivered=True)
            # Maintenance, an outage the provider announced, or no connection at all: nothing was
            # accepted, so the create is safe to send again once the pause is over.
            self._pause(exc)
            return await self.store.update(
                task.id, create_started_at=None, next_check_at=self.state.paused_until
            )
        except BotError as exc:
            return await self._fail(task, exc, delivered=True)
        finally:
            self._creating.discard(task.id)
        early = task.id in self._early_callbacks
        self._early_callbacks.discard(task.id)
        now = time.time()
        task = await self.store.update(
            task.id,
            provider_task_id=provider_task_id,
            state="submitted",
            submitted_at=now,
            last_progress_at=now,
            next_check_at=now if early else now + self.settings.poll_first_s,
        )
        log.info("task %s: created at %s as %s", task.id, self.provider.name, provider_task_id)
        await self._notify(task)
        return task

    async def _send_create(self, task: Task, callback: str | None) -> str:
        if task.kind == "imagine":
            return await self.provider.imagine(task.prompt or "", callback)
        parent_id = task.parent_provider_task_id or ""
        index = task.image_index or 0
        if task.kind == "upscale":
            return await self.provider.upscale(parent_id, index, callback)
        return await self.provider.vary(
            VaryRequest(parent_id, index, task.strength or "strong", task.remix_prompt, callback)
        )

    async def _mark_uncertain(self, task: Task) -> Task:
        now = time.time()
        return await self.store.update(
            task.id,
            state="submitted",
            create_uncertain=True,
            submitted_at=now,
            last_progress_at=now,
            next_check_at=now + self.reconcile_window_s,
        )

    # --- callbacks -------------------------------------------------------------------------------
    async def callback_received(self, task_id: str, body: bytes) -> bool:
        """Wake a task on a (token-checked) callback. The body only helps reconcile an unknown id."""
        task = await self.store.get(task_id)
        if task is None:
            return False
        if task.finished:
            return True
        if task.id in self._creating:
            self._early_callbacks.add(task.id)
            return True
        fields: dict[str, Any] = {"next_check_at": time.time()}
        if task.provider_task_id is None and task.create_uncertain:
            provider_task_id = self.provider.callback_task_id(body)
            if provider_task_id:
                log.info("task %s: reconciled by callback as %s", task.id, provider_task_id)
                fields["provider_task_id"] = provider_task_id
        await self.store.update(task.id, **fields)
        self.wake()
        return True

    # --- the loop --------------------------------------------------------------------------------
    async def _run(self) -> None:
        log.info("engine: started (concurrency %d)", self.settings.engine_concurrency)
        while self.state.running:
            # Cleared before the tick reads anything, so a wake-up during the tick is never lost.
            self._wake.clear()
            started = 0
            try:
                started = await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The outer guard: a broken tick (the disk, say) is logged and retried, never fatal.
                self.state.errors += 1
                log.exception("engine: tick failed; retrying shortly")
                await asyncio.sleep(1.0)
            await self._sleep(started)

    async def _sleep(self, started: int) -> None:
        now = time.time()
        next_at = await self._next_wake_at()
        timeout = 5.0 if next_at is None else max(0.0, min(5.0, next_at - now))
        if self.state.paused(now):
            timeout = min(5.0, max(timeout, self.state.paused_until - now))
        if timeout <= 0:
            if started:
                await asyncio.sleep(0)
                return
            # Everything due is already in flight (or waits for a free slot): a finishing piece of
            # work wakes the loop, so wait for that instead of spinning on the schedule.
            timeout = 1.0
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races the wake-up.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()

    async def _next_wake_at(self) -> float | None:
        try:
            return await self.store.next_wake_at()
        except Exception:
            log.exception("engine: cannot read the schedule")
            return None

    async def _tick(self) -> int:
        """Start the work that is due, within the free slots; return how much it started."""
        now = time.time()
        self.state.last_tick = now
        paused = self.state.paused(now)
        if self.metrics:
            self.metrics.provider_paused.set(1 if paused else 0)
        started = 0
        lag = 0.0
        if not paused:
            in_flight = len(self._work)
            due = await self.store.due_tasks(now, self.settings.engine_concurrency + in_flight)
            due = [t for t in due if f"check:{t.id}" not in self._work and t.id not in self._creating]
            if due and due[0].next_check_at is not None:
                lag = max(0.0, now - due[0].next_check_at)
            for task in due[: max(0, self.settings.engine_concurrency - in_flight)]:
                self._spawn(f"check:{task.id}", self._check(task))
                started += 1
        else:
            await self._expire_stalled(now)
        self.state.lag_s = lag
        if self.metrics:
            self.metrics.engine_lag.set(lag)
        if self.deliver is not None:
            undelivered = await self.store.undelivered(now, self.settings.engine_concurrency * 2)
            for task in undelivered:
                if f"deliver:{task.id}" not in self._work:
                    self._spawn(f"deliver:{task.id}", self._deliver(task))
                    started += 1
        self.state.inflight = len(self._work)
        return started

    def _spawn(self, key: str, work: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                self.state.errors += 1
                log.exception("engine: %s failed; it will be retried", key)
                await self._defer_after_bug(key)
            finally:
                self._work.pop(key, None)
                self.wake()

        self._work[key] = asyncio.create_task(guarded(), name=key)

    async def _defer_after_bug(self, key: str) -> None:
        """A check that crashed is retried later, not in a hot loop."""
        kind, _, task_id = key.partition(":")
        column = "next_check_at" if kind == "check" else "next_delivery_at"
        with contextlib.suppress(Exception):
            await self.store.update(task_id, **{column: time.time() + self.settings.poll_max_s})

    async def _expire_stalled(self, now: float) -> None:
        """While paused the provider is not asked, but stalled tasks still time out."""
        limit = now - self.settings.task_timeout_s
        for task in await self.store.due_tasks(now, 50):
            if (task.last_progress_at or task.created_at) < limit:
                await self._time_out(task)

    # --- following one task ----------------------------------------------------------------------
    async def _check(self, task: Task) -> None:
        fresh = await self.store.get(task.id)
        if fresh is None or fresh.finished or fresh.id in self._creating:
            return
        task = fresh
        now = time.time()
        stalled = now - (task.last_progress_at or task.created_at) > self.settings.task_timeout_s
        if task.state == "queued":
            if task.create_started_at is not None:
                # A create was started by a process that did not live to record its answer.
                log.warning(
                    "task %s: found an interrupted create; reconciling instead of re-sending", task.id
                )
                await self._mark_uncertain(task)
            elif stalled:
                await self._time_out(task)
            else:
                await self._create(task)
            return
        if task.provider_task_id is None:
            await self._reconcile_or_fail(task, now)
            return
        await self._poll(task, now, stalled)

    async def _reconcile_or_fail(self, task: Task, now: float) -> None:
        deadline = (task.submitted_at or task.created_at) + self.reconcile_window_s
        if now < deadline:
            await self.store.update(task.id, next_check_at=deadline)
            return
        await self._finish(
            task,
            "failed",
            error_code="no-answer",
            error_message=(
                "The provider never confirmed this request, and the bot did not send it again so you are "
                "not charged twice. Check /tasks in a while, or press the button again."
            ),
        )

    async def _poll(self, task: Task, now: float, stalled: bool) -> None:
        assert task.provider_task_id is not None
        try:
            status = await self.provider.status(task.provider_task_id)
        except (RateLimited, ProviderUnavailable) as exc:
            self._pause(exc)
            await self._after_trouble(task, stalled, self.state.paused_until)
            return
        except MalformedResponse as exc:
            log.warning("task %s: unreadable status answer: %s", task.id, exc.detail)
            await self._after_trouble(task, stalled, now + self._interval(task))
            return
        except NotFound as exc:
            await self._fail(task, exc)
            return
        except AuthError:
            await self._after_trouble(task, stalled, now + self.settings.poll_max_s)
            return
        except ProviderError as exc:
            log.warning("task %s: status read failed: %s", task.id, exc.detail)
            await self._after_trouble(task, stalled, now + self._interval(task))
            return
        finally:
            await self.store.increment(task.id, "status_reads")
        self._pause_streak = 0
        if status.state == "succeeded":
            await self._finish(
                task, "succeeded", result_urls=status.result_urls, cost=status.cost, progress=100
            )
        elif status.state == "failed":
            code = status.error_code or "failed"
            error = GenerationFailed(status.error_message or "", provider=self.provider.name, code=code)
            detail = f" — {status.error_message}" if status.error_message else ""
            await self._finish(task, "failed", error_code=code, error_message=error.user_message + detail)
        else:
            progress = status.progress if status.progress is not None else task.progress
            moved = progress != task.progress or task.state != "running"
            if not moved and stalled:
                await self._time_out(task)
                return
            task = await self.store.update(
                task.id,
                state="running",
                progress=progress,
                last_checked_at=now,
                last_progress_at=now if moved else task.last_progress_at,
                poll_count=task.poll_count + 1,
                next_check_at=now + self._interval(replace(task, progress=progress), now),
            )
            if moved:
                await self._notify(task)

    async def _after_trouble(self, task: Task, stalled: bool, next_check_at: float) -> None:
        if stalled:
            await self._time_out(task)
        else:
            await self.store.update(task.id, last_checked_at=time.time(), next_check_at=next_check_at)

    def _interval(self, task: Task, now: float | None = None) -> float:
        settings = self.settings
        gap = poll_gap(
            task,
            now,
            first=settings.poll_first_s,
            longest=settings.poll_max_s,
            callbacks=self.callback_url is not None,
        )
        return gap * random.uniform(0.9, 1.1)

    def _pause(self, exc: ProviderError) -> None:
        """Stop every provider request for the window the provider asked for (or a growing guess)."""
        self._pause_streak += 1
        wait = pause_length(exc.retry_after, self._pause_streak, self.settings.poll_max_s)
        until = time.time() + wait
        if until > self.state.paused_until:
            self.state.paused_until = until
            self.state.pause_reason = f"{type(exc).__name__} {exc.code or ''}".strip()
            log.warning("engine: provider paused for %.1fs (%s)", wait, self.state.pause_reason)
        if self.metrics:
            self.metrics.provider_paused.set(1)

    # --- endings ---------------------------------------------------------------------------------
    async def _time_out(self, task: Task) -> Task:
        return await self._finish(
            task, "timed_out", error_message=timeout_message(self.settings.task_timeout_s)
        )

    async def _fail(self, task: Task, exc: BotError, *, delivered: bool = False) -> Task:
        code = exc.code if isinstance(exc, ProviderError) else None
        log.info("task %s: failed: %s", task.id, exc)
        return await self._finish(
            task, "failed", error_code=code, error_message=exc.user_message, delivered=delivered
        )

    async def _finish(self, task: Task, state: str, *, delivered: bool = False, **fields: Any) -> Task:
        now = time.time()
        updates: dict[str, Any] = {"state": state, "finished_at": now, "next_check_at": None, **fields}
        if delivered:
            # Failed at submit: the member was answered in the interaction itself.
            updates["delivered_at"] = now
        else:
            updates["next_delivery_at"] = now
        task = await self.store.update(task.id, **updates)
        if self.metrics and task.provider_task_id:
            self.metrics.status_reads.observe(task.status_reads)
        log.info("task %s: %s", task.id, state)
        await self._notify(task)
        self.wake()
        return task

    async def _notify(self, task: Task) -> None:
        if self.on_update is None:
            return
        try:
            await self.on_update(task)
        except Exception:
            log.exception("task %s: progress update failed (the task goes on)", task.id)

    async def _deliver(self, task: Task) -> None:
        assert self.deliver is not None
        fresh = await self.store.get(task.id)
        if fresh is None or fresh.delivered:
            return
        try:
            message_id = await self.deliver(fresh)
        except UndeliverableError as exc:
            log.warning("task %s: result cannot be delivered anywhere (%s); it stays in /tasks", task.id, exc)
            await self.store.update(task.id, delivered_at=time.time(), delivery_error=str(exc)[:500])
            return
        except Exception as exc:
            attempts = fresh.delivery_attempts + 1
            wait = min(MAX_DELIVERY_BACKOFF_S, 2.0 ** (attempts - 1)) * random.uniform(0.9, 1.1)
            log.warning(
                "task %s: delivery attempt %d failed (%s); retrying in %.0fs", task.id, attempts, exc, wait
            )
            await self.store.update(
                task.id,
                delivery_attempts=attempts,
                next_delivery_at=time.time() + wait,
                delivery_error=f"{type(exc).__name__}: {exc}"[:500],
            )
            return
        now = time.time()
        await self.store.update(task.id, delivered_at=now, result_message_id=message_id, delivery_error=None)
        if self.metrics and fresh.finished_at:
            self.metrics.delivery_seconds.observe(max(0.0, now - fresh.finished_at))
