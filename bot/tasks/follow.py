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
from ..providers.base import Provider, TaskStatus, VaryRequest
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
from ..store.base import Store
from ..store.models import DEFAULT_STRENGTH, Task, TaskState, TaskUpdate
from .batch import WriteBatch
from .schedule import DurationModel, ProviderPause, poll_gap

log = logging.getLogger(__name__)

UpdateFn = Callable[[Task, int], Awaitable[None]]  # the task, and its place in its member's queue
CallbackUrlFn = Callable[[str], str]

RECONCILE_WINDOW_S = 300.0


class Follower:
    def __init__(
        self,
        store: Store,
        provider: Provider,
        settings: Settings,
        pause: ProviderPause,
        batch: WriteBatch,
        *,
        wake: Callable[[], None],
        on_pause: Callable[[], None] | None = None,
        on_finish: Callable[[], None] | None = None,
        on_update: UpdateFn | None,
        callback_url: CallbackUrlFn | None,
        metrics: Metrics | None,
        reconcile_window_s: float,
    ) -> None:
        self.store = store
        self.provider = provider
        self.settings = settings
        self.pause = pause
        self.batch = batch
        self.on_pause = on_pause
        self.on_finish = on_finish  # a task ended here: its result is to be delivered
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
    async def create(self, task: Task, *, answered: bool = False) -> Task:
        """Send the create. `answered`: the member waits on this in their interaction, so a failure is
        told there; otherwise (a create after a pause or from the queue) delivery tells them."""
        # Claimed before the first await, so the loop never mistakes this create for an interrupted one.
        self.creating.add(task.id)
        try:
            task = await self.store.update(task.id, create_started_at=time.time())
            callback = self.callback_url(task.id) if self.callback_url else None
            provider_task_id = await self._send_create(task, callback)
        except (RateLimited, ProviderUnavailable) as exc:
            if isinstance(exc, OutcomeUnknown):
                log.warning("task %s: create outcome unknown (%s); not re-sending", task.id, exc.detail)
                return await self.uncertain(task, answered=answered)
            # Nothing was accepted (a 429, maintenance, no connection): safe to send again after the pause.
            self.paused(exc)
            return await self.store.update(task.id, create_started_at=None, next_check_at=self.pause.until)
        except MalformedResponse as exc:
            log.warning("task %s: create answer unreadable (%s); not re-sending", task.id, exc.detail)
            return await self.uncertain(task, answered=answered)
        except BotError as exc:
            return await self.fail(task, exc, delivered=answered)
        finally:
            self.creating.discard(task.id)
        early = task.id in self.early_callbacks
        self.early_callbacks.discard(task.id)
        # Logged before it is stored: if the store fails now, the operator can still match the charge.
        log.info("task %s: created at %s as %s", task.id, self.provider.name, provider_task_id)
        now = time.time()
        # With callbacks the callback brings the news, so the first read is already the safety net
        # (one read per task: the callback's); without them, reading starts at POLL_FIRST_S.
        first_read = self.interval(task, now) if self.callback_url else self.settings.poll_first_s
        task = await self.store.update(
            task.id,
            provider_task_id=provider_task_id,
            state=TaskState.SUBMITTED,
            submitted_at=now,
            last_progress_at=now,
            next_check_at=now if early else now + first_read,
        )
        if not answered:
            # Otherwise the member's interaction is answered with this task by the caller, here.
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

    async def uncertain(self, task: Task, *, answered: bool = False) -> Task:
        """A create that may have reached the provider, with no usable answer. It is never sent again
        (that could charge twice). Only the provider's callback, whose URL carries our id, can still
        tell us its id; without callbacks nothing can, so the task ends now and says why."""
        if self.callback_url is None:
            return await self.finish(
                task,
                TaskState.FAILED,
                error_code="no-answer",
                error_message=messages.NO_ANSWER_NOW,
                delivered=answered,
            )
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
        """One due check of a task this process has claimed (so the row it got is current)."""
        if task.finished or task.id in self.creating:
            return
        now = time.time()
        if task.state == TaskState.QUEUED:
            if task.create_started_at is not None:
                # A create was started by a process that did not live to record its answer.
                log.warning("task %s: found an interrupted create; not re-sending it", task.id)
                await self.uncertain(task)
            else:
                # Not sent yet (waiting out a provider pause): no stall timeout, nothing was charged.
                await self.create(task)
            return
        if task.provider_task_id is None:
            await self._reconcile_or_fail(task, now)
            return
        await self._poll(task, now)

    async def recheck_timed_out(self, task: Task) -> None:
        """A callback came for a task the bot stopped waiting for: the provider may have finished it
        after all (and charged for it), so read its status once and bring the result home."""
        assert task.provider_task_id is not None
        try:
            status = await self.provider.status(task.provider_task_id)
        except ProviderError as exc:
            log.info("task %s: re-check after a late callback failed (%s)", task.id, exc.detail)
            return
        finally:
            await self.store.increment(task.id, "status_reads")
        if status.state == "succeeded":
            log.info("task %s: finished at the provider after timing out; delivering it", task.id)
            await self.finish(
                task,
                TaskState.SUCCEEDED,
                result_urls=status.result_urls,
                cost=status.cost,
                progress=100,
                error_message=None,
                delivered_at=None,
            )

    async def _reconcile_or_fail(self, task: Task, now: float) -> None:
        deadline = (task.submitted_at or task.created_at) + self.reconcile_window_s
        if now < deadline:
            self.batch.add(task.id, {"next_check_at": deadline})
            return
        await self.finish(task, TaskState.FAILED, error_code="no-answer", error_message=messages.NO_ANSWER)

    async def _poll(self, task: Task, now: float) -> None:
        provider_task_id = task.provider_task_id
        assert provider_task_id is not None
        # Counted with whatever this read leads to, in the same write.
        reads = task.status_reads + 1
        try:
            status = await self.provider.status(provider_task_id)
        except (RateLimited, ProviderUnavailable) as exc:
            self.paused(exc)
            self._after_trouble(task, self.pause.until, reads)
            return
        except NotFound as exc:
            await self.fail(task, exc, status_reads=reads)
            return
        except AuthError:
            self._after_trouble(task, now + self.settings.poll_max_s, reads)
            return
        except ProviderError as exc:
            log.warning("task %s: status read failed: %s", task.id, exc.detail)
            self._after_trouble(task, now + self.interval(task), reads)
            return
        self.pause.answered()
        await self._record_answer(task, status, now, reads)

    async def _record_answer(self, task: Task, status: TaskStatus, now: float, reads: int) -> None:
        if status.state == "succeeded":
            self.durations.record(task, now)
            await self.finish(
                task,
                TaskState.SUCCEEDED,
                result_urls=status.result_urls,
                cost=status.cost,
                progress=100,
                status_reads=reads,
            )
        elif status.state == "failed":
            code = status.error_code or "failed"
            error = GenerationFailed(status.error_message or "", provider=self.provider.name, code=code)
            detail = f" — {status.error_message}" if status.error_message else ""
            await self.finish(
                task,
                TaskState.FAILED,
                error_code=code,
                error_message=error.user_message + detail,
                status_reads=reads,
            )
        else:
            progress = status.progress if status.progress is not None else task.progress
            moved = progress != task.progress or task.state != TaskState.RUNNING
            stalled = now - (task.last_progress_at or task.created_at) > self.settings.task_timeout_s
            if not moved and stalled:
                await self.time_out(task, status_reads=reads)
                return
            changes: TaskUpdate = {
                "state": TaskState.RUNNING,
                "progress": progress,
                "last_checked_at": now,
                "last_progress_at": now if moved else task.last_progress_at,
                "poll_count": task.poll_count + 1,
                "status_reads": reads,
                "next_check_at": now + self.interval(task, now, progress),
            }
            self.batch.add(task.id, changes)
            if moved:
                await self.notify(replace(task, **changes))

    def _after_trouble(self, task: Task, next_check_at: float, reads: int) -> None:
        """The provider could not be asked (an outage, a pause, an unreadable answer): that time does
        not count toward the stall timeout, so the clock of the last progress moves along with it."""
        now = time.time()
        unasked = max(0.0, now - (task.last_checked_at or task.submitted_at or now))
        since = min(now, (task.last_progress_at or task.created_at) + unasked)
        self.batch.add(
            task.id,
            {
                "last_checked_at": now,
                "last_progress_at": since,
                "next_check_at": next_check_at,
                "status_reads": reads,
            },
        )

    def interval(self, task: Task, now: float | None = None, progress: int | None = None) -> float:
        """`progress`: what the read just reported, when it is newer than the task's own."""
        settings = self.settings
        return poll_gap(
            task,
            now,
            progress=progress,
            first=settings.poll_first_s,
            longest=settings.poll_max_s,
            callbacks=self.callback_url is not None,
            learned=self.durations.learned(task),
            jitter=random.uniform(0.9, 1.1),
        )

    # --- endings ---------------------------------------------------------------------------------
    async def time_out(self, task: Task, *, status_reads: int | None = None) -> Task:
        message = messages.timeout_message(self.settings.task_timeout_s)
        return await self.finish(
            task, TaskState.TIMED_OUT, error_message=message, status_reads=status_reads or task.status_reads
        )

    async def fail(
        self, task: Task, exc: BotError, *, delivered: bool = False, status_reads: int | None = None
    ) -> Task:
        code = exc.code if isinstance(exc, ProviderError) else None
        log.info("task %s: failed: %s", task.id, exc)
        return await self.finish(
            task,
            TaskState.FAILED,
            error_code=code,
            error_message=exc.user_message,
            delivered=delivered,
            status_reads=status_reads or task.status_reads,
        )

    def paused(self, exc: ProviderError) -> None:
        """The provider asked us to wait: here, and (through `on_pause`) in every other process."""
        before = self.pause.until
        self.pause.begin(exc)
        if self.pause.until > before and self.on_pause is not None:
            self.on_pause()

    async def finish(
        self, task: Task, ending: TaskState, *, delivered: bool = False, **fields: Unpack[TaskUpdate]
    ) -> Task:
        now = time.time()
        fields["state"] = ending
        fields["finished_at"] = now
        fields["next_check_at"] = None
        if delivered:
            # Failed while the member waited in their interaction: they were told there.
            fields["delivered_at"] = now
        else:
            fields["next_delivery_at"] = now
        task = await self.store.update(task.id, **fields)
        if not delivered and self.on_finish is not None:
            self.on_finish()
        if self.metrics and task.provider_task_id:
            self.metrics.status_reads.observe(task.status_reads)
        log.info("task %s: %s", task.id, ending)
        await self.notify(task)
        await self.promote(task.user_id)
        return task

    async def promote(self, user_id: int | None) -> None:
        """A slot freed up: the member's oldest waiting tasks (everyone's, with None) become due, and
        the member's private replies show the queue moving."""
        promoted = await self.store.promote_waiting(self.settings.max_active_per_user, time.time(), user_id)
        for task in promoted:
            log.info("task %s: left the queue", task.id)
            await self.notify(task)
        if promoted:
            self.wake()
        if user_id is not None and self.on_update is not None:
            for task in await self.store.unfinished_for_user(user_id):
                if task.state == TaskState.QUEUED and task.next_check_at is None:
                    await self.notify(task)

    async def notify(self, task: Task) -> None:
        if self.on_update is None:
            return
        try:
            await self.on_update(task, await self.store.queue_position(task))
        except Exception:
            log.exception("task %s: progress update failed (the task goes on)", task.id)
