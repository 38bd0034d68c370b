"""The command-logic rig the service tests share: `TaskService` over a real SQLite store, a started
engine and a loopback provider, without Discord."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot.providers.midapi import MidapiClient
from bot.providers.vtrix import VtrixClient
from bot.store import Store, open_store
from bot.tasks import Actor, Admission, Engine, MemberSettings, Quota, Reply, TaskService
from sandbox.midapi import FakeMidapi
from sandbox.vtrix import FakeVtrix
from tests.helpers import eventually, make_settings

ALICE = Actor(1, 10, 20)
BOB = Actor(2, 10, 20)


@dataclass
class Setup:
    service: TaskService
    store: Store
    engine: Engine
    members: MemberSettings
    fake: FakeMidapi | FakeVtrix

    async def press(self, actor: Actor, grid: str, index: int) -> Reply:
        """A V button, with the presser's settings as the button reads them."""
        return await self.service.press(actor, grid, index, self.members.get(actor.user_id))

    async def grid(self, actor: Actor = ALICE, prompt: str = "a harbour at dawn") -> str:
        reply = await self.service.imagine(actor, prompt)
        assert reply.task is not None

        async def done() -> bool:
            task = await self.store.get(reply.task.id)  # type: ignore[union-attr]
            return task is not None and task.state == "succeeded"

        await eventually(done)
        return reply.task.id

    async def close(self) -> None:
        await self.engine.stop()
        await self.store.close()


async def build(
    tmp_path: Path, session: aiohttp.ClientSession, fake: FakeMidapi | FakeVtrix, **env: str
) -> Setup:
    settings = make_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'bot.sqlite3'}", **env)
    store = await open_store(settings.database)
    if isinstance(fake, FakeMidapi):
        provider = MidapiClient(session, api_key="test-key", base_url=fake.base_url)
    else:
        provider = VtrixClient(session, api_key="test-key", base_url=fake.base_url)  # type: ignore[assignment]
    engine = Engine(store, provider, settings)
    engine.start()
    quota = Quota(store, settings)
    admission = Admission(store, provider.name, provider.capabilities, settings)
    members = MemberSettings(store)
    await members.load()
    service = TaskService(store, engine, provider, admission, quota, members)
    return Setup(service, store, engine, members, fake)
