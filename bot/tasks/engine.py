"""The engine loop: one per process, following every unfinished task and handing results to delivery.

The schedule lives in the store (`next_check_at`, `next_delivery_at`), so a restart picks up exactly
where the last process stopped. Each tick flushes the previous tick's routine writes in one
transaction, then *claims* due work with a lease (`LEASE_S`) in small batches, so with several
processes on one PostgreSQL database every task is followed by exactly one of them, and a dead
process's tasks are taken over when its leases run out. The loop wakes at the earliest due time or
at once on an event (a new task, a callback, a signal from another process), runs due work
concurrently up to `ENGINE_CONCURRENCY`, and sends no provider request while the provider asks us to
wait. A tick claims a slot's worth more than it can start at once (more during a backlog; `pacing`
says how much): the extra waits in memory and starts the moment a slot frees, so under load a tick
(and its store round trips) serves many reads, not one. What one check does is `follow.Follower`'s
job; telling other processes is `Broadcast`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..config import Settings
from ..metrics import Metrics
from ..providers.base import Provider
from ..store.base import Store, is_store_fault
from ..store.models import Task, TaskState
from .batch import WriteBatch
from .broadcast import Broadcast
from .follow import RECONCILE_WINDOW_S, CallbackUrlFn, Follower, UpdateFn
from .leases import Leases
from .pacing import Pacing
from .schedule import ProviderPause
from .storewatch import StoreWatch

log = logging.getLogger(__name__)

# Routine writes wait at most this long for the next tick when no wake-up brings one sooner.
FLUSH_EVERY_S = 0.05

DeliverFn = Callable[[Task], Awaitable[None]]


@dataclass
class EngineState:
    running: bool = False
    started_at: float | None = None  # a loop that has not ticked yet is stalled only after a while
    last_tick: float | None = None
    lag_s: float = 0.0
    inflight: int = 0
    errors: int = 0
    claimed: int = 0  # tasks claimed by this process since start


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
        self.settings = settings
        self.deliver = deliver
        self.metrics = metrics
        self.owner = settings.instance_name
        self.state = EngineState()
        self.pause = ProviderPause(settings.poll_max_s)
        self.storewatch = StoreWatch(store)
        self.batch = WriteBatch(store, self.owner)
        self._wake = asyncio.Event()
        self.follower = Follower(
            store,
            provider,
            settings,
            self.pause,
            self.batch,
            wake=self.wake,
            on_pause=lambda: self.broadcast.pause(self.pause.until, self.pause.reason or "paused"),
            on_finish=lambda: self.pacing.ended_here(),
            on_update=on_update,
            callback_url=callback_url,
            metrics=metrics,
            reconcile_window_s=reconcile_window_s,
        )
        self._loop_task: asyncio.Task[None] | None = None
        self._work: dict[str, asyncio.Task[None]] = {}
        # Checks claimed (leased) by the last ticks, waiting for a free slot; started oldest first.
        self._ready: deque[Task] = deque()
        self.leases = Leases(settings.lease_s)
        self.broadcast = Broadcast(store)
        self.pacing = Pacing(settings.engine_concurrency)

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._loop_task is None:
            self.state.running = True
            self.state.started_at = time.time()
            self._loop_task = asyncio.create_task(self._run(), name="engine")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop the loop, let in-flight work (provider calls and their store writes) finish, and
        write what it learnt, handing its leases back."""
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
        self._hand_back_ready()  # never started
        try:
            await self.batch.flush()
        except Exception as exc:
            log.warning("engine: could not write the last changes (%s); they are re-read on start", exc)

    def wake(self) -> None:
        self._wake.set()

    # --- entry points ----------------------------------------------------------------------------
    async def begin(self, task: Task) -> Task:
        """Send a newly admitted task's create now, unless it waits in its member's queue or the
        provider asked us to wait."""
        if task.next_check_at is None:
            return task  # waiting for a slot: a finishing task of this member promotes it
        if self.pause.active():
            task = await self.store.update(task.id, next_check_at=self.pause.until)
        else:
            task = await self.follower.create(task, answered=True)
        self.wake()
        return task

    async def callback_received(self, task_id: str, body: bytes) -> bool:
        """Wake a task on a (token-checked) callback. The body only helps reconcile an unknown id."""
        task = await self.store.get(task_id)
        if task is None:
            return False
        if task.state == TaskState.TIMED_OUT and task.provider_task_id and not self.pause.active():
            self._spawn(f"recheck:{task.id}", self.follower.recheck_timed_out(task))
            return True
        if task.finished:
            return True
        if task.id in self.follower.creating:
            self.follower.early_callbacks.add(task.id)
            return True
        self.woken(task.id)
        if task.provider_task_id is None and task.create_uncertain:
            provider_task_id = self.follower.provider.callback_task_id(body)
            if provider_task_id:
                log.info("task %s: reconciled by callback as %s", task.id, provider_task_id)
                await self.store.update(task.id, next_check_at=time.time(), provider_task_id=provider_task_id)
                self.broadcast.send("wake", task.id)
                return True
        await self.store.update(task.id, next_check_at=time.time())
        self.broadcast.send("wake", task.id)
        return True

    def woken(self, task_id: str) -> None:
        """A task has news (a callback here or in another process): check it at once, even if a
        check of it is in flight here and would otherwise write a later time."""
        if f"check:{task_id}" in self._work or task_id in self.batch:
            self.batch.wake(task_id)
        self.wake()

    def paused_elsewhere(self, until: float, reason: str | None) -> None:
        if until > self.pause.until:
            self.pause.until, self.pause.reason = until, reason
            log.info("engine: provider paused by another process until %.0f (%s)", until, reason)

    # --- the loop --------------------------------------------------------------------------------
    async def _run(self) -> None:
        log.info("engine: started as %s (concurrency %d)", self.owner, self.settings.engine_concurrency)
        try:
            # A pause another process saw before this one started, and slots freed while none ran.
            self.paused_elsewhere(*await self.store.provider_pause())
            await self.follower.promote(None)
        except Exception:
            log.exception("engine: could not read the shared state at start")
        while self.state.running:
            # Cleared before the tick reads anything, so a wake-up during the tick is never lost.
            self._wake.clear()
            started = 0
            try:
                started = await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The outer guard: a broken tick is logged and retried, never fatal.
                self.state.errors += 1
                if is_store_fault(exc):
                    self.storewatch.failed(exc)
                else:
                    log.exception("engine: tick failed; retrying shortly")
                await asyncio.sleep(1.0)
            await self._sleep(started)

    async def _sleep(self, started: int) -> None:
        now = time.time()
        if self._ready:
            # Claimed work waits for slots: a finishing check wakes the loop when more is wanted,
            # so the schedule need not be read; only the batch's writes have a deadline.
            timeout = FLUSH_EVERY_S if len(self.batch) else 1.0
        else:
            next_at = await self._next_wake_at()
            timeout = 5.0 if next_at is None else max(0.0, min(5.0, next_at - now))
            if len(self.batch):
                timeout = min(timeout, FLUSH_EVERY_S)
            if self.pause.active(now):
                timeout = min(5.0, max(timeout, self.pause.seconds_left(now)))
        renew_at = self.leases.renew_at(self._in_flight())
        if renew_at is not None:
            timeout = min(timeout, max(0.0, renew_at - now))
        if timeout <= 0:
            if started:
                await asyncio.sleep(0)
                return
            # Everything due is already in flight (or waits for a free slot): a finishing piece of
            # work wakes the loop, so wait for that instead of spinning on the schedule. With
            # nothing in flight, something just fell due: look again almost at once.
            timeout = 1.0 if self._work else FLUSH_EVERY_S
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races the wake-up.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()

    async def _next_wake_at(self) -> float | None:
        if not self.storewatch.healthy or len(self.batch):
            return None  # the next tick flushes (or probes the store) first
        try:
            return await self.store.next_wake_at(self.owner)
        except Exception as exc:
            if is_store_fault(exc):
                self.storewatch.failed(exc)
            else:
                log.exception("engine: cannot read the schedule")
            return None

    async def _tick(self) -> int:
        """Write what the last tick learnt, then claim and start the work that is due."""
        now = time.time()
        self.state.last_tick = now
        if not await self.storewatch.probe():
            return 0  # nothing new while the store cannot record it
        await self.batch.flush()
        await self._renew_leases(now)
        paused = self.pause.active(now)
        if self.metrics:
            self.metrics.provider_paused.set(1 if paused else 0)
        started = 0
        wanted = self.pacing.wanted(len(self._work), len(self._ready))
        if paused:
            self._hand_back_ready()
        elif wanted > 0:
            due = await self.store.claim_due(self.owner, now, wanted, self.settings.lease_s)
            self.pacing.claimed(wanted, len(due))
            for task in due:
                if f"check:{task.id}" in self._work or self.storewatch.held(task.id, now):
                    self.batch.release([task.id])
                    continue
                self._ready.append(task)
            self.leases.claimed((task.id for task in due), now)
            if due:
                self.state.claimed += len(due)
            elif not self._ready:
                self._set_lag(0.0)  # nothing due: the engine is on schedule
        started += self._start_ready()
        # While paused there are no checks to claim: deliveries (Discord's side) go on as usual.
        busy = self.pacing.busy and not paused
        if self.deliver is not None and self.pacing.look_for_deliveries(now, busy=busy):
            started += await self._claim_deliveries(now)
        self.state.inflight = len(self._work)
        return started

    async def _claim_deliveries(self, now: float) -> int:
        assert self.deliver is not None
        claimed = await self.store.claim_undelivered(
            self.owner, now, self.settings.engine_concurrency * 2, self.settings.lease_s
        )
        started = 0
        for task in claimed:
            if f"deliver:{task.id}" in self._work or self.storewatch.held(task.id, now):
                self.batch.release([task.id])
                continue
            self._spawn(f"deliver:{task.id}", self.deliver(task))
            started += 1
        self.leases.claimed((task.id for task in claimed), now)
        self.state.claimed += len(claimed)
        return started

    def _start_ready(self) -> int:
        """Start claimed checks while slots are free; no store work, so a finishing check starts the
        next one at once. The lag is measured here, when a check actually starts."""
        started = 0
        while self._ready and len(self._work) < self.settings.engine_concurrency:
            if not self.storewatch.healthy:
                break  # nothing new while the store cannot record it; the tick after it heals starts these
            if self.pause.active():
                self._hand_back_ready()
                break
            task = self._ready.popleft()
            now = time.time()
            if not self.leases.fresh(task.id, now):
                self._hand_back(task.id)  # waited too long for a slot: claimed afresh, maybe elsewhere
                continue
            if task.next_check_at is not None:
                self._set_lag(max(0.0, now - task.next_check_at))
            self._spawn(f"check:{task.id}", self.follower.check(task))
            started += 1
        return started

    def _hand_back_ready(self) -> None:
        """The provider asked us to wait: claimed checks go back (still due) for after the pause."""
        while self._ready:
            self._hand_back(self._ready.popleft().id)

    def _hand_back(self, task_id: str) -> None:
        self.batch.release([task_id])
        self.leases.dropped(task_id)

    def _in_flight(self) -> list[str]:
        return [key.partition(":")[2] for key in self._work]

    def _set_lag(self, lag: float) -> None:
        self.state.lag_s = lag
        if self.metrics:
            self.metrics.engine_lag.set(lag)

    async def _renew_leases(self, now: float) -> None:
        """Long work (a slow provider, a big upload) keeps its claim (see `Leases`)."""
        ids = sorted(self._in_flight())
        renew_at = self.leases.renew_at(ids)
        if renew_at is None or now < renew_at:
            return
        until = now + self.settings.lease_s
        await self.store.renew(self.owner, ids, until)
        self.leases.renewed(ids, until)

    def _spawn(self, key: str, work: Awaitable[None]) -> None:
        task_id = key.partition(":")[2]

        async def guarded() -> None:
            try:
                await work
                self.storewatch.release(task_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.state.errors += 1
                if is_store_fault(exc):
                    # Rescheduling would be one more write that fails: wait in memory instead.
                    self.storewatch.failed(exc)
                    self.storewatch.hold(task_id)
                else:
                    log.exception("engine: %s failed; it will be retried", key)
                    self._defer_after_bug(key)
            finally:
                self._work.pop(key, None)
                self._hand_back(task_id)  # the lease goes back with the next flush
                self._start_ready()
                # A tick claims more (and flushes) once half the claimed work is under way; until
                # then finishing work needs no tick.
                if len(self._ready) < max(1, self.settings.engine_concurrency // 2):
                    self.wake()

        self._work[key] = asyncio.create_task(guarded(), name=key)

    def _defer_after_bug(self, key: str) -> None:
        """A check that crashed is retried later, not in a hot loop."""
        kind, _, task_id = key.partition(":")
        later = time.time() + self.settings.poll_max_s
        if kind == "check":
            self.batch.add(task_id, {"next_check_at": later})
        elif kind == "deliver":
            self.batch.add(task_id, {"next_delivery_at": later})
