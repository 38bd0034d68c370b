from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.providers.midapi import MidapiClient
from bot.providers.vtrix import VtrixClient
from sandbox.midapi import FakeMidapi
from sandbox.vtrix import FakeVtrix
from tests.engine_rig import Rig, build


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def fake_midapi() -> AsyncIterator[FakeMidapi]:
    async with FakeMidapi(duration_s=0.3) as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
async def fake_vtrix() -> AsyncIterator[FakeVtrix]:
    async with FakeVtrix(duration_s=0.3) as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def midapi(session: aiohttp.ClientSession, fake_midapi: FakeMidapi) -> MidapiClient:
    return MidapiClient(session, api_key="test-key", base_url=fake_midapi.base_url, timeout_s=2)


@pytest.fixture
def vtrix(session: aiohttp.ClientSession, fake_vtrix: FakeVtrix) -> VtrixClient:
    return VtrixClient(session, api_key="test-key", base_url=fake_vtrix.base_url, timeout_s=2)


@pytest.fixture
async def rig(tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi) -> AsyncIterator[Rig]:
    """The engine over midapi, started; closed after the test."""
    built = await build(tmp_path, session, fake_midapi)
    yield built
    await built.close()
