"""What both loopback fake providers share: the server, the task lifecycle, files, callbacks, faults.

A fake task runs for `duration_s`, reporting progress as it goes; its result images are real PNG files
served by the same server; a callback is posted when it ends. Faults are queued per call kind
("create", "status", or "any") and consumed in order, so a test can say "the next status read answers
429 with Retry-After: 2" and assert on the request log afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from .images import png

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    kind: str  # 429 | maintenance | 500 | slow | hold | drop | malformed | http500
    retry_after: float | None = None
    delay_s: float = 0.0


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    at: float
    call: str
    authorized: bool


@dataclass
class FakeTask:
    task_id: str
    kind: str
    prompt: str
    created_at: float
    duration_s: float
    parent_id: str | None = None
    index: int | None = None
    strength: int | None = None
    remix_prompt: str | None = None
    callback_url: str | None = None
    fail_code: int | None = None
    fail_message: str = ""
    images: int = 4
    callback_sent: bool = False
    status_reads: int = 0
    first_read_at: float | None = None  # monotonic
    stuck: bool = False

    def read(self) -> None:
        """A status read of this task answered now."""
        self.status_reads += 1
        if self.first_read_at is None:
            self.first_read_at = time.monotonic()

    def elapsed(self, now: float) -> float:
        return now - self.created_at

    def finished(self, now: float) -> bool:
        return not self.stuck and self.elapsed(now) >= self.duration_s

    def progress(self, now: float) -> int:
        if self.stuck:
            return 10
        return min(100, int(100 * self.elapsed(now) / self.duration_s)) if self.duration_s > 0 else 100


JSON_BODY = web.RequestKey("json_body", object)


class FakeProviderServer:
    """Base for the two fakes: subclasses add their routes and answer shapes."""

    name = "fake"

    def __init__(
        self, *, api_key: str = "test-key", duration_s: float = 0.5, host: str = "127.0.0.1"
    ) -> None:
        self.api_key = api_key
        self.duration_s = duration_s
        self.host = host
        self.port = 0
        self.tasks: dict[str, FakeTask] = {}
        self.requests: list[LoggedRequest] = []
        self.faults: dict[str, list[Fault]] = {"create": [], "status": [], "any": []}
        # Every API answer waits this long first, as across a network (an await: no CPU spent).
        self.latency_s = 0.0
        self.callbacks_posted: list[tuple[str, dict[str, Any], int]] = []
        self.image_size = 128
        self.broken_files: set[str] = set()  # task ids whose files answer 404
        self.not_image_files: set[str] = set()  # task ids whose files are HTML
        self.next_failures: list[tuple[int, str]] = []
        # Where a callback goes instead of the URL the create named (a test posting it to another
        # bot process); None: to the URL given, as a real provider does.
        self.redirect_callbacks: Callable[[str], str] | None = None
        # A "hold" fault keeps its request open until `release_held()`: work in flight for as long as
        # a test needs, without a clock.
        self._held = asyncio.Event()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._posting: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.app = web.Application(middlewares=[self._log_middleware])
        self.app.router.add_get("/files/{task_id}/{n}.png", self._file)
        self.add_routes(self.app)

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeProviderServer:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = bound_port(site)
        self._session = aiohttp.ClientSession()
        self._ticker = asyncio.create_task(self._tick())
        return self

    async def stop(self) -> None:
        self._held.set()  # nothing held open keeps the server from closing
        if self._ticker:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeProviderServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- what tests use --------------------------------------------------------------------------
    def inject(
        self, call: str, kind: str, *, times: int = 1, retry_after: float | None = None, delay_s: float = 0.0
    ) -> None:
        self.faults[call].extend(Fault(kind, retry_after, delay_s) for _ in range(times))

    def release_held(self) -> None:
        """Let every request a "hold" fault keeps open (and every later one) answer."""
        self._held.set()

    def fail_next_task(self, code: int, message: str = "generation failed") -> None:
        """The next created task ends in a generation failure with this provider code."""
        self.next_failures.append((code, message))

    def calls(self, call: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.call == call]

    def creates(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.call in ("imagine", "vary", "upscale")]

    def file_url(self, task_id: str, n: int) -> str:
        return f"{self.base_url}/files/{task_id}/{n}.png"

    def new_task(self, kind: str, prompt: str, **fields: Any) -> FakeTask:
        task_id = self.make_id()
        task = FakeTask(task_id, kind, prompt, time.monotonic(), self.duration_s, **fields)
        if self.next_failures:
            task.fail_code, task.fail_message = self.next_failures.pop(0)
        if "[fail]" in prompt or (task.remix_prompt and "[fail]" in task.remix_prompt):
            task.fail_code, task.fail_message = self.generation_failed_code, "moderation: prompt rejected"
        if "[stuck]" in prompt:
            task.stuck = True
        self.tasks[task_id] = task
        return task

    def seed_task(self, prompt: str = "a seeded grid") -> FakeTask:
        """A finished grid that exists only at the provider (for /vary with a provider task id)."""
        task = self.new_task("imagine", prompt)
        task.created_at -= task.duration_s + 1
        task.callback_sent = True
        return task

    # --- for subclasses --------------------------------------------------------------------------
    generation_failed_code = 0

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def make_id(self) -> str:
        return f"{self.name}-{next(self._ids):04d}-{secrets.token_hex(3)}"

    def callback_body(self, task: FakeTask) -> dict[str, Any]:
        raise NotImplementedError

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    def call_name(self, request: web.Request, body: Any) -> str:
        raise NotImplementedError

    def fault_answer(self, fault: Fault) -> web.StreamResponse:
        raise NotImplementedError

    # --- machinery -------------------------------------------------------------------------------
    @web.middleware
    async def _log_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/files/"):
            return await handler(request)
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        call = self.call_name(request, body)
        self.requests.append(
            LoggedRequest(
                request.method,
                request.path,
                dict(request.query),
                body,
                time.monotonic(),
                call,
                self.authorized(request),
            )
        )
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        category = "status" if call == "status" else "create"
        queue = self.faults[category] or self.faults["any"]
        if queue:
            fault = queue.pop(0)
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay_s)
            elif fault.kind == "hold":
                await self._held.wait()
            elif fault.kind == "drop":
                transport = request.transport
                if transport is not None:
                    transport.close()
                raise asyncio.CancelledError
            elif fault.kind.startswith("http"):
                return web.Response(status=int(fault.kind[4:]), text="injected HTTP error")
            elif fault.kind == "malformed":
                return web.Response(status=200, text="<html>oops</html>", content_type="text/html")
            else:
                return self.fault_answer(fault)
        request[JSON_BODY] = body
        return await handler(request)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        task_id = request.match_info["task_id"]
        n = int(request.match_info["n"])
        if task_id in self.broken_files or task_id not in self.tasks:
            return web.Response(status=404, text="gone")
        if task_id in self.not_image_files:
            return web.Response(text="<html>not an image</html>", content_type="text/html")
        return web.Response(body=png(f"{task_id}:{n}", self.image_size), content_type="image/png")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            for task in list(self.tasks.values()):
                if task.callback_url and not task.callback_sent and task.finished(now):
                    task.callback_sent = True
                    self._posting.add(asyncio.create_task(self._post_callback(task)))
                    self._posting = {t for t in self._posting if not t.done()}

    async def _post_callback(self, task: FakeTask) -> None:
        assert self._session is not None and task.callback_url
        body = self.callback_body(task)
        url = self.redirect_callbacks(task.callback_url) if self.redirect_callbacks else task.callback_url
        try:
            async with self._session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=15)) as r:
                self.callbacks_posted.append((url, body, r.status))
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.callbacks_posted.append((url, body, -1))
            del exc


def bound_port(site: web.TCPSite) -> int:
    server: Any = site._server
    return int(server.sockets[0].getsockname()[1])


def json_answer(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(payload, status=status, headers=headers)
