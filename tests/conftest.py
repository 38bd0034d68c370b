from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.providers.midapi import MidapiClient
from bot.providers.vtrix import VtrixClient
from bot.store import Store
from sandbox.midapi import FakeMidapi
from sandbox.vtrix import FakeVtrix
from tests import backends
from tests.engine_rig import Rig, build
from tests.service_rig import Setup
from tests.service_rig import build as build_service


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


# --- the store backends (see tests/backends.py) ----------------------------------------------------
@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test session's own, dropped at the end."""
    server = backends.require_server()
    url = backends.create_database(server)
    yield url
    backends.drop_database(server, url)


@pytest.fixture
def pg_backend(pg_database: str) -> backends.Backend:
    """The session's PostgreSQL database, emptied: each test starts from an unmigrated database."""
    backends.empty_database(pg_database)
    return backends.postgres_backend(pg_database)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> backends.Backend:
    """Each store test runs once per backend."""
    if request.param == "postgres":
        return request.getfixturevalue("pg_backend")  # type: ignore[no-any-return]
    return backends.sqlite_backend(tmp_path)


@pytest.fixture
async def store(backend: backends.Backend) -> AsyncIterator[Store]:
    opened = await backend.open()
    yield opened
    await opened.close()


@pytest.fixture
async def rig(tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi) -> AsyncIterator[Rig]:
    """The engine over midapi, started; closed after the test."""
    built = await build(tmp_path, session, fake_midapi)
    yield built
    await built.close()


@pytest.fixture
async def setup(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> AsyncIterator[Setup]:
    """Command logic over midapi (`tests/service_rig.py`), started; closed after the test."""
    built = await build_service(tmp_path, session, fake_midapi)
    yield built
    await built.close()


@pytest.fixture
async def vtrix_setup(
    tmp_path: Path, session: aiohttp.ClientSession, fake_vtrix: FakeVtrix
) -> AsyncIterator[Setup]:
    """Command logic over Vtrix, started; closed after the test."""
    built = await build_service(tmp_path, session, fake_vtrix, MJ_PROVIDER="vtrix")
    yield built
    await built.close()
