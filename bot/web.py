"""The built-in aiohttp web server: provider callbacks, `/healthz` and `/metrics`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .callbacks import CallbackTokens
from .metrics import CONTENT_TYPE, Metrics
from .store import Store
from .tasks import Engine

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 64 * 1024
CALLBACK_DEADLINE_S = 0.8


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
    ) -> None:
        self.engine = engine
        self.store = store
        self.metrics = metrics
        self.tokens = tokens
        self.max_lag_s = max_lag_s
        self.gateway_connected = gateway_connected
        self.app = web.Application(client_max_size=MAX_CALLBACK_BYTES)
        self.app.router.add_post("/callbacks/{provider}/{token}", self.callback)
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/metrics", self.metrics_page)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server: Any = site._server
        self.port = int(server.sockets[0].getsockname()[1])
        log.info("web server listening on %s:%d", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def callback(self, request: web.Request) -> web.Response:
        provider = request.match_info["provider"]
        task_id = self.tokens.task_id(provider, request.match_info["token"]) if self.tokens else None
        if task_id is None:
            log.warning("callback with a wrong token or provider rejected (from %s)", request.remote)
            raise web.HTTPNotFound()
        if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
            raise web.HTTPRequestEntityTooLarge(
                max_size=MAX_CALLBACK_BYTES, actual_size=request.content_length
            )
        try:
            body = await request.content.read(MAX_CALLBACK_BYTES + 1)
        except asyncio.CancelledError:
            raise
        if len(body) > MAX_CALLBACK_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_CALLBACK_BYTES, actual_size=len(body))
        # The provider waits at most 15 s; answer fast and let the engine re-read status on its own time.
        try:
            known = await asyncio.wait_for(self.engine.callback_received(task_id, body), CALLBACK_DEADLINE_S)
        except TimeoutError:
            log.warning("callback for %s: store slow; the engine will pick the task up on schedule", task_id)
            return web.json_response({"ok": True, "queued": True})
        if not known:
            raise web.HTTPNotFound()
        return web.json_response({"ok": True})

    async def health_reasons(self) -> list[str]:
        reasons: list[str] = []
        if self.gateway_connected is not None and not self.gateway_connected():
            reasons.append("discord gateway not connected")
        fault = self.engine.storewatch.fault
        if fault is not None:
            reasons.append(f"store not writable: {fault}")
        else:
            try:
                await asyncio.wait_for(self.store.check_writable(), 2.0)
            except Exception as exc:
                reasons.append(f"store not writable: {type(exc).__name__}: {exc}")
        state = self.engine.state
        now = time.time()
        if not state.running:
            reasons.append("engine not running")
        elif state.last_tick is None or now - state.last_tick > self.max_lag_s:
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
            "engine": {
                "lag_s": round(state.lag_s, 3),
                "last_tick": state.last_tick,
                "inflight": state.inflight,
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
