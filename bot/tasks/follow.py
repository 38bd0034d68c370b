"""Following one task: send its create once, read its status on schedule, and record how it ends.

A create is never sent twice: `create_started_at` is written before the request, so a process that dies
mid-create leaves a task the next process knows not to re-send. Such a task, like one whose create got
no answer, is *uncertain*: it is reconciled by the provider's callback (whose URL carries our own id) or
failed with a clear message once the reconcile window passes.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Unpack

from .. import messages
from ..config import Settings
from ..errors import BotError
from ..metrics import Metrics
from ..providers import Provider, VaryRequest
from ..providers.errors import (
    AuthError,
    GenerationFailed,
    MalformedResponse,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from ..store import DEFAULT_STRENGTH, Store, Task, TaskState, TaskUpdate
from .schedule import DurationModel, ProviderPause, poll_gap

log = logging.getLogger(__name__)

UpdateFn = Callable[[Task], Awaitable[None]]
CallbackUrlFn = Callable[[str], str]

RECONCILE_WINDOW_S = 300.0


class Follower:
    def __init__(
        self,
        store: Store,
        provider: Provider,
        settings: Settings,
        pause: ProviderPause,
        *,
        wake: Callable[[], None],
        on_update: UpdateFn | None,
        callback_url: CallbackUrlFn | None,
        metrics: Metrics | None,
        reconcile_window_s: float,
    ) -> None:
        self.store = store
        self.provider = provider
        self.settings = settings
        self.pause = pause
        self.wake = wake  # the engine's wake-up, so work made due here starts at once
        self.on_update = on_update
        self.callback_url = callback_url
        self.metrics = metrics
        self.reconcile_window_s = min(reconcile_window_s, settings.task_timeout_s)
        # Creates in flight in this process, and callbacks that arrived before their create returned.
        self.creating: set[str] = set()
        self.early_callbacks: set[str] = set()
        self.durations = DurationModel()  # how long recent tasks took: the schedule without progress

    # --- creating at the provider ----------------------------------------------------------------
    async def create(self, task: Task) -> Task:
        # Claimed before the first await, so the loop never mistakes this create for an interrupted one.
        self.creating.add(task.id)
        try:
            task = await self.store.update(task.id, create_started_at=time.time())
            callback = self.callback_url(task.id) if self.callback_url else None
            provider_task_id = await self._send_create(task, callback)
        except (RateLimited, ProviderUnavailable) as exc:
            if isinstance(exc, OutcomeUnknown):
                log.warning("task %s: create outcome unknown (%s); not re-sending", task.id, exc.detail)
                return await self.mark_uncertain(task)
            # Nothing was accepted (a 429, maintenance, no connection): safe to send again after the pause.
            self.pause.begin(exc)
            return await self.store.update(task.id, create_started_at=None, next_check_at=self.pause.until)
        except MalformedResponse as exc:
            log.warning("task %s: create answer unreadable (%s); not re-sending", task.id, exc.detail)
            return await self.mark_uncertain(task)
        except BotError as exc:
            return await self.fail(task, exc, delivered=True)
        finally:
            self.creating.discard(task.id)
        early = task.id in self.early_callbacks
        self.early_callbacks.discard(task.id)
        now = time.time()
        task = await self.store.update(
            task.id,
            provider_task_id=provider_task_id,
            state=TaskState.SUBMITTED,
            submitted_at=now,
            last_progress_at=now,
            next_check_at=now if early else now + self.settings.poll_first_s,
        )
        log.info("task %s: created at %s as %s", task.id, self.provider.name, provider_task_id)
        await self.notify(task)
        return task

    async def _send_create(self, task: Task, callback: str | None) -> str:
        if task.kind == "imagine":
            return await self.provider.imagine(task.prompt or "", callback)
        parent_id = task.parent_provider_task_id or ""
        index = task.image_index or 0
        if task.kind == "upscale":
            return await self.provider.upscale(parent_id, index, callback)
        return await self.provider.vary(
            VaryRequest(parent_id, index, task.strength or DEFAULT_STRENGTH, task.remix_prompt, callback)
        )

    async def mark_uncertain(self, task: Task) -> Task:
        now = time.time()
        return await self.store.update(
            task.id,
            state=TaskState.SUBMITTED,
            create_uncertain=True,
            submitted_at=now,
            last_progress_at=now,
            next_check_at=now + self.reconcile_window_s,
        )

    # --- one due check ---------------------------------------------------------------------------
    async def check(self, task: Task) -> None:
        fresh = await self.store.get(task.id)
        if fresh is None or fresh.finished or fresh.id in self.creating:
            return
        task = fresh
        now = time.time()
        stalled = now - (task.last_progress_at or task.created_at) > self.settings.task_timeout_s
        if task.state == TaskState.QUEUED:
            if task.create_started_at is not None:
                # A create was started by a process that did not live to record its answer.
                log.warning("task %s: found an interrupted create; reconciling, not re-sending", task.id)
                await self.mark_uncertain(task)
            elif stalled:
                await self.time_out(task)
            else:
                await self.create(task)
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
        await self.finish(task, TaskState.FAILED, error_code="no-answer", error_message=messages.NO_ANSWER)

    async def _poll(self, task: Task, now: float, stalled: bool) -> None:
        assert task.provider_task_id is not None
        try:
            status = await self.provider.status(task.provider_task_id)
        except (RateLimited, ProviderUnavailable) as exc:
            self.pause.begin(exc)
            await self._after_trouble(task, stalled, self.pause.until)
            return
        except NotFound as exc:
            await self.fail(task, exc)
            return
        except AuthError:
            await self._after_trouble(task, stalled, now + self.settings.poll_max_s)
            return
        except ProviderError as exc:
            log.warning("task %s: status read failed: %s", task.id, exc.detail)
            await self._after_trouble(task, stalled, now + self.interval(task))
            return
        finally:
            await self.store.increment(task.id, "status_reads")
        self.pause.answered()
        if status.state == "succeeded":
            self.durations.record(task, now)
            await self.finish(
                task, TaskState.SUCCEEDED, result_urls=status.result_urls, cost=status.cost, progress=100
            )
        elif status.state == "failed":
            code = status.error_code or "failed"
            error = GenerationFailed(status.error_message or "", provider=self.provider.name, code=code)
            detail = f" — {status.error_message}" if status.error_message else ""
            await self.finish(
                task, TaskState.FAILED, error_code=code, error_message=error.user_message + detail
            )
        else:
            progress = status.progress if status.progress is not None else task.progress
            moved = progress != task.progress or task.state != TaskState.RUNNING
            if not moved and stalled:
                await self.time_out(task)
                return
            task = await self.store.update(
                task.id,
                state=TaskState.RUNNING,
                progress=progress,
                last_checked_at=now,
                last_progress_at=now if moved else task.last_progress_at,
                poll_count=task.poll_count + 1,
                next_check_at=now + self.interval(replace(task, progress=progress), now),
            )
            if moved:
                await self.notify(task)

    async def _after_trouble(self, task: Task, stalled: bool, next_check_at: float) -> None:
        if stalled:
            await self.time_out(task)
        else:
            await self.store.update(task.id, last_checked_at=time.time(), next_check_at=next_check_at)

    def interval(self, task: Task, now: float | None = None) -> float:
        settings = self.settings
        return poll_gap(
            task,
            now,
            first=settings.poll_first_s,
            longest=settings.poll_max_s,
            callbacks=self.callback_url is not None,
            learned=self.durations.learned(task),
            jitter=random.uniform(0.9, 1.1),
        )

    # --- endings ---------------------------------------------------------------------------------
    async def time_out(self, task: Task) -> Task:
        message = messages.timeout_message(self.settings.task_timeout_s)
        return await self.finish(task, TaskState.TIMED_OUT, error_message=message)

    async def fail(self, task: Task, exc: BotError, *, delivered: bool = False) -> Task:
        code = exc.code if isinstance(exc, ProviderError) else None
        log.info("task %s: failed: %s", task.id, exc)
        return await self.finish(
            task, TaskState.FAILED, error_code=code, error_message=exc.user_message, delivered=delivered
        )

    async def finish(
        self, task: Task, ending: TaskState, *, delivered: bool = False, **fields: Unpack[TaskUpdate]
    ) -> Task:
        now = time.time()
        fields["state"] = ending
        fields["finished_at"] = now
        fields["next_check_at"] = None
        if delivered:
            # Failed at submit: the member was answered in the interaction itself.
            fields["delivered_at"] = now
        else:
            fields["next_delivery_at"] = now
        task = await self.store.update(task.id, **fields)
        if self.metrics and task.provider_task_id:
            self.metrics.status_reads.observe(task.status_reads)
        log.info("task %s: %s", task.id, ending)
        await self.notify(task)
        await self.promote(task.user_id)
        return task

    async def promote(self, user_id: int | None) -> None:
        """A slot freed up: the member's oldest waiting tasks (everyone's, with None) become due."""
        promoted = await self.store.promote_waiting(self.settings.max_active_per_user, time.time(), user_id)
        for task in promoted:
            log.info("task %s: left the queue", task.id)
            await self.notify(task)
        if promoted:
            self.wake()

    async def notify(self, task: Task) -> None:
        if self.on_update is None:
            return
        try:
            await self.on_update(task)
        except Exception:
            log.exception("task %s: progress update failed (the task goes on)", task.id)
