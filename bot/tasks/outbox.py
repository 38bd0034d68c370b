"""Delivery bookkeeping: each finished task is posted once, retried with backoff, and recorded.

`post` (the Discord side) sends the result and returns the message id; it raises
`UndeliverableError` when the result cannot go anywhere (the channel is gone and DMs are closed),
and anything else for a fault worth retrying.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable

from ..errors import UndeliverableError
from ..metrics import Metrics
from ..store.base import Store
from ..store.models import Task

log = logging.getLogger(__name__)

PostFn = Callable[[Task], Awaitable[int | None]]

MAX_DELIVERY_BACKOFF_S = 300.0


class Outbox:
    def __init__(
        self,
        store: Store,
        post: PostFn,
        metrics: Metrics | None = None,
        on_recorded: Callable[[Task], None] | None = None,
    ) -> None:
        self.store = store
        self.post = post
        self.metrics = metrics
        self.on_recorded = on_recorded  # e.g. tell the process holding the member's reply
        # Posted, but the store did not take the record yet: never posted again, recorded when it can.
        self._posted: dict[str, int | None] = {}

    async def deliver(self, task: Task) -> None:
        fresh = await self.store.get(task.id)
        if fresh is None or fresh.delivered:
            self._posted.pop(task.id, None)
            return
        if task.id in self._posted:
            await self._record(fresh, self._posted[task.id])
            return
        try:
            message_id = await self.post(fresh)
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
        self._posted[task.id] = message_id
        await self._record(fresh, message_id)

    async def _record(self, task: Task, message_id: int | None) -> None:
        now = time.time()
        await self.store.update(task.id, delivered_at=now, result_message_id=message_id, delivery_error=None)
        del self._posted[task.id]
        if self.on_recorded is not None:
            self.on_recorded(task)
        if self.metrics and task.finished_at:
            self.metrics.delivery_seconds.observe(max(0.0, now - task.finished_at))
