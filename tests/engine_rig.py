"""The engine rig the engine tests share: a real SQLite file, a loopback provider, recorded deliveries."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.callbacks import CallbackTokens
from bot.config import Settings
from bot.errors import UndeliverableError
from bot.metrics import Metrics
from bot.providers import Provider
from bot.providers.midapi import MidapiClient
from bot.providers.vtrix import VtrixClient
from bot.store import Store, Task, open_store
from bot.store.models import TaskState, new_short_id
from bot.store.sqlite import SqliteStore
from bot.tasks import Admission, Admitted, Engine, Outbox, SubmitRequest
from bot.web import WebServer
from sandbox.midapi import FakeMidapi
from sandbox.vtrix import FakeVtrix
from tests.helpers import eventually, make_settings


@dataclass
class Deliveries:
    tasks: list[Task] = field(default_factory=list)
    fail_times: int = 0
    gone: bool = False

    async def __call__(self, task: Task) -> int | None:
        if self.gone:
            raise UndeliverableError("channel deleted and DMs closed")
        if self.fail_times > 0:
            self.fail_times -= 1
            raise ConnectionError("discord hiccup")
        self.tasks.append(task)
        return 9000 + len(self.tasks)


@dataclass
class Rig:
    store: Store
    engine: Engine
    admission: Admission
    fake: FakeMidapi | FakeVtrix
    deliveries: Deliveries
    path: Path
    settings: Settings
    session: aiohttp.ClientSession

    async def submit(self, request: SubmitRequest) -> Admitted:
        """What a command does: admit the request, then send its create."""
        admitted = await self.admission.admit(request)
        if admitted.existing:
            return admitted
        return Admitted(await self.engine.begin(admitted.task))

    async def imagine(self, prompt: str = "a castle", user: int = 1) -> Task:
        return (await self.submit(SubmitRequest("imagine", user, 10, 20, prompt=prompt))).task

    async def close(self) -> None:
        await self.engine.stop()
        await self.store.close()

    async def finished(self, task_id: str) -> Task:
        async def done() -> Task | None:
            task = await self.store.get(task_id)
            return task if task and task.finished and task.delivered else None

        return await eventually(done, timeout=10)  # type: ignore[no-any-return]

    async def seed_running(self, count: int, **row: object) -> list[str]:
        """`count` tasks running at the provider and due now, written in one statement (a backlog,
        as after a restart), each known to the fake; `row` overrides columns. Returns their ids."""
        assert isinstance(self.store, SqliteStore)
        now = time.time()
        rows = []
        for n in range(count):
            values: dict[str, object] = {
                "id": new_short_id(), "provider": "midapi", "kind": "imagine", "prompt": f"seeded {n}",
                "request_key": f"seed{n}", "user_id": 5000 + n, "guild_id": 10, "channel_id": 20,
                "state": TaskState.RUNNING.value, "created_at": now, "submitted_at": now,
                "next_check_at": now, "last_progress_at": now,
                "provider_task_id": self.fake.new_task("imagine", f"seeded {n}").task_id,
            }  # fmt: skip
            values.update(row)
            rows.append(values)
        columns = list(rows[0])
        await self.store.db.executemany(
            f"INSERT INTO tasks ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})", rows
        )
        self.engine.wake()
        return [str(values["id"]) for values in rows]


async def build(
    tmp_path: Path,
    session: aiohttp.ClientSession,
    fake: FakeMidapi | FakeVtrix,
    *,
    timeout_s: float = 1.0,
    **env: str,
) -> Rig:
    settings = make_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'bot.sqlite3'}", **env)
    store = await open_store(settings.database)
    provider: Provider
    if isinstance(fake, FakeMidapi):
        provider = MidapiClient(session, api_key="test-key", base_url=fake.base_url, timeout_s=timeout_s)
    else:
        provider = VtrixClient(session, api_key="test-key", base_url=fake.base_url, timeout_s=timeout_s)
    deliveries = Deliveries()
    metrics = Metrics()
    engine = Engine(
        store, provider, settings, deliver=Outbox(store, deliveries, metrics).deliver, metrics=metrics
    )
    engine.start()
    admission = Admission(store, provider.name, provider.capabilities, settings)
    return Rig(store, engine, admission, fake, deliveries, tmp_path / "bot.sqlite3", settings, session)


@contextlib.asynccontextmanager
async def served(
    rig: Rig, store: Any = None, *, engine_uses_it: bool = False
) -> AsyncIterator[tuple[WebServer, CallbackTokens]]:
    """The web server that takes the rig's callbacks, and the tokens in their URLs (`store`: another
    store behind the server). With `engine_uses_it`, creates name this server as their callback
    URL. The server stops and the rig closes on the way out."""
    server = WebServer(
        engine=rig.engine, store=store or rig.store, metrics=Metrics(), tokens=None, max_lag_s=60
    )
    await server.start("127.0.0.1", 0)
    tokens = CallbackTokens("a-long-callback-secret", f"http://127.0.0.1:{server.port}", rig.fake.name)
    server.tokens = tokens
    if engine_uses_it:
        rig.engine.follower.callback_url = tokens.url
    try:
        yield server, tokens
    finally:
        await server.stop()
        await rig.close()
