"""The built-in aiohttp web server: provider callbacks, `/healthz` and `/metrics`.

Whatever arrives on the port must not cost the rest of the process much: connections are capped and
reaped (`web_limits.ConnectionGate`), a callback costs at most one status read per task per
`CALLBACK_MIN_INTERVAL_S`, a wrong token at most one log line per `WRONG_TOKEN_LOG_INTERVAL_S`, and
`/healthz` at most one store write per `HEALTH_CACHE_S`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiohttp import web

from .callbacks import CallbackTokens
from .metrics import CONTENT_TYPE, Metrics
from .store.base import Store
from .tasks.engine import Engine
from .web_limits import ConnectionGate, KeyedInterval, LogThrottle

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 64 * 1024
CALLBACK_DEADLINE_S = 0.8
# A provider that sends its body slower than this is not one we wait for; it will retry or we poll.
CALLBACK_BODY_TIMEOUT_S = 10.0
# A callback only says "look now"; re-reading a task more often than this adds nothing but cost.
CALLBACK_MIN_INTERVAL_S = 5.0
WRONG_TOKEN_LOG_INTERVAL_S = 10.0
HEALTH_CACHE_S = 5.0
# 256 leaves most of a 1,024-descriptor limit to Discord, the provider, downloads and the store.
MAX_CONNECTIONS = 256
# A real client sends its request head at once; a connection silent this long is a flood or dead.
REQUEST_HEAD_TIMEOUT_S = 5.0
# Idle keep-alive connections are closed this soon; callbacks and probes rarely reuse one anyway.
KEEPALIVE_TIMEOUT_S = 5.0
BACKLOG = 128


class WebServer:
    def __init__(
        self,
        *,
        engine: Engine,
        store: Store,
        metrics: Metrics,
        tokens: CallbackTokens | None,
        max_lag_s: float,
        gateway_connected: Callable[[], bool] | None = None,
        shards: Callable[[], dict[str, object]] | None = None,
        store_kind: str = "sqlite",
    ) -> None:
        self.engine = engine
        self.store = store
        self.metrics = metrics
        self.tokens = tokens
        self.max_lag_s = max_lag_s
        self.gateway_connected = gateway_connected
        self.shards = shards
        self.store_kind = store_kind
        self.app = web.Application(client_max_size=MAX_CALLBACK_BYTES)
        self.app.router.add_post("/callbacks/{provider}/{token}", self.callback)
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/metrics", self.metrics_page)
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self.gate = ConnectionGate(MAX_CONNECTIONS, REQUEST_HEAD_TIMEOUT_S)
        self.port: int | None = None
        self._wrong_token_log = LogThrottle(WRONG_TOKEN_LOG_INTERVAL_S)
        self._callback_interval = KeyedInterval(CALLBACK_MIN_INTERVAL_S)
        self._deferred: dict[str, asyncio.Task[None]] = {}
        self._health_lock = asyncio.Lock()
        self._store_checked: tuple[float, str | None] | None = None  # (when, problem or None)

    async def start(self, host: str, port: int) -> None:
        # handler_cancellation stays off: a callback that reached the store finishes its write even
        # if the provider hangs up first.
        self._runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=2.0, keepalive_timeout=KEEPALIVE_TIMEOUT_S
        )
        await self._runner.setup()
        server = self._runner.server
        assert server is not None
        # Our own listener rather than web.TCPSite, so every connection passes through the gate.
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            self.gate.factory(server), host, port, backlog=BACKLOG, reuse_address=True
        )
        self.port = int(self._listener.sockets[0].getsockname()[1])
        log.info("web server listening on %s:%d", host, self.port)

    async def stop(self) -> None:
        for deferred in self._deferred.values():
            deferred.cancel()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.gate.close_all()

    async def callback(self, request: web.Request) -> web.Response:
        provider = request.match_info["provider"]
        task_id = self.tokens.task_id(provider, request.match_info["token"]) if self.tokens else None
        if task_id is None:
            # Scanners and forgers can send these by the thousand: one line per window, with a count.
            go, suppressed = self._wrong_token_log.ready()
            if go:
                log.warning(
                    "callback with a wrong token or provider rejected (from %s; %d more since the last line)",
                    request.remote,
                    suppressed,
                )
            raise web.HTTPNotFound()
        if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
            raise web.HTTPRequestEntityTooLarge(
                max_size=MAX_CALLBACK_BYTES, actual_size=request.content_length
            )
        body = await self._read_body(request)
        wait = self._callback_interval.wait(task_id)
        if wait > 0:
            # A replay (or a chatty provider) inside the window: one deferred wake-up covers all of
            # them, so a final callback right after a progress one is still acted on.
            self._defer(task_id, body, wait)
            return web.json_response({"ok": True, "queued": True})
        # The provider waits at most 15 s; answer fast and let the engine re-read status on its own time.
        try:
            known = await asyncio.wait_for(self.engine.callback_received(task_id, body), CALLBACK_DEADLINE_S)
        except TimeoutError:
            log.warning("callback for %s: store slow; the engine will pick the task up on schedule", task_id)
            return web.json_response({"ok": True, "queued": True})
        if not known:
            raise web.HTTPNotFound()
        return web.json_response({"ok": True})

    @staticmethod
    async def _read_body(request: web.Request) -> bytes:
        """The whole body, however many reads it arrives in, never more than the cap."""
        body = bytearray()
        try:
            async with asyncio.timeout(CALLBACK_BODY_TIMEOUT_S):
                async for chunk in request.content.iter_any():
                    body += chunk
                    if len(body) > MAX_CALLBACK_BYTES:
                        raise web.HTTPRequestEntityTooLarge(
                            max_size=MAX_CALLBACK_BYTES, actual_size=len(body)
                        )
        except TimeoutError:
            raise web.HTTPRequestTimeout() from None
        return bytes(body)

    def _defer(self, task_id: str, body: bytes, wait: float) -> None:
        if task_id in self._deferred:
            return
        self._callback_interval.claim(task_id, time.monotonic() + wait)

        async def later() -> None:
            try:
                await asyncio.sleep(wait)
                await self.engine.callback_received(task_id, body)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("deferred callback for %s failed (%s); polling will pick it up", task_id, exc)
            finally:
                self._deferred.pop(task_id, None)

        self._deferred[task_id] = asyncio.create_task(later(), name=f"callback:{task_id}")

    async def _store_problem(self) -> str | None:
        """Whether the store takes a write, re-checked at most every `HEALTH_CACHE_S`: a /healthz
        flood must not turn into a write flood. The lock makes a burst share one check."""
        async with self._health_lock:
            now = time.monotonic()
            if self._store_checked is not None and now - self._store_checked[0] < HEALTH_CACHE_S:
                return self._store_checked[1]
            problem = None
            try:
                await asyncio.wait_for(self.store.check_writable(), 2.0)
            except Exception as exc:
                problem = f"store not writable: {type(exc).__name__}: {exc}"
            self._store_checked = (time.monotonic(), problem)
            return problem

    async def health_reasons(self) -> list[str]:
        reasons: list[str] = []
        if self.gateway_connected is not None and not self.gateway_connected():
            reasons.append("discord gateway not connected")
        fault = self.engine.storewatch.fault
        problem = f"store not writable: {fault}" if fault is not None else await self._store_problem()
        if problem is not None:
            reasons.append(problem)
        state = self.engine.state
        now = time.time()
        if not state.running:
            reasons.append("engine not running")
        elif now - (state.last_tick or state.started_at or now) > self.max_lag_s:
            reasons.append("engine loop stalled: no tick for too long")
        elif state.lag_s > self.max_lag_s:
            reasons.append(f"engine lag {state.lag_s:.0f}s over {self.max_lag_s:.0f}s")
        return reasons

    async def healthz(self, request: web.Request) -> web.Response:
        reasons = await self.health_reasons()
        state = self.engine.state
        body = {
            "ok": not reasons,
            "reasons": reasons,
            "instance": self.engine.owner,
            "shards": self.shards() if self.shards is not None else None,
            "store": self.store_kind,
            "engine": {
                "lag_s": round(state.lag_s, 3),
                "last_tick": state.last_tick,
                "inflight": state.inflight,
                "claimed_since_start": state.claimed,
                "writes_waiting": len(self.engine.batch),
                "provider_paused": self.engine.pause.active(),
                "pause_reason": self.engine.pause.reason if self.engine.pause.active() else None,
            },
        }
        return web.json_response(body, status=200 if not reasons else 503)

    async def metrics_page(self, request: web.Request) -> web.Response:
        try:
            self.metrics.set_task_counts(await self.store.counts_by_state())
        except Exception:
            log.exception("metrics: cannot count tasks")
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})
