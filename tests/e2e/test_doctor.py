"""`python -m bot doctor` as an operator runs it: a subprocess against the loopback Discord and providers,
with a good configuration and with each kind of bad one. Asserts on exit codes and the report's lines."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.discord_app.invite import invite_url
from bot.doctor import route_exists
from sandbox.discord import FakeDiscord
from sandbox.midapi import FakeMidapi
from sandbox.provider import FakeProviderServer
from sandbox.vtrix import FakeVtrix
from sandbox.world import PROVIDER_KEY, bot_env, free_port, world
from tests.helpers import eventually

SECRET = "a-long-random-callback-secret"


@dataclass
class Doctor:
    discord: FakeDiscord
    provider: FakeProviderServer
    tmp_path: Path
    http_port: int

    async def run(self, **env: str) -> tuple[int, list[str], str]:
        """Exit code, stdout lines and stderr of one `python -m bot doctor` run."""
        full = bot_env(self.discord, self.provider, self.tmp_path / "data", self.http_port, **env)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "doctor",
            cwd=self.tmp_path,  # no stray .env: only `env` configures the run
            env=full,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return process.returncode, out.decode().splitlines(), err.decode()


def line(lines: list[str], variable: str) -> str:
    """The report line of the check naming `variable`."""
    found = [text for text in lines if text[6:].startswith(variable + ":")]
    assert len(found) == 1, lines
    return found[0]


@pytest.fixture(params=["midapi", "vtrix"])
async def doctor(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Doctor]:
    discord = await FakeDiscord().start()
    fake: FakeProviderServer = (FakeVtrix if request.param == "vtrix" else FakeMidapi)(api_key=PROVIDER_KEY)
    await fake.start()
    try:
        yield Doctor(discord, fake, tmp_path, free_port())
    finally:
        await fake.stop()
        await discord.stop()


def key_variable(doctor: Doctor) -> str:
    return "VTRIX_API_KEY" if isinstance(doctor.provider, FakeVtrix) else "MIDAPI_API_KEY"


async def test_a_good_configuration_passes_every_check_without_creating_anything(doctor: Doctor) -> None:
    public = f"http://127.0.0.1:{doctor.http_port}"
    code, lines, err = await doctor.run(CALLBACK_PUBLIC_URL=public, CALLBACK_SECRET=SECRET)
    assert code == 0, (lines, err)
    assert line(lines, "DISCORD_TOKEN").startswith("ok    DISCORD_TOKEN: accepted; the bot is MJBot")
    assert f"      invite link: {invite_url(int(doctor.discord.application_id))}" in lines
    assert line(lines, key_variable(doctor)).startswith("ok  ")
    assert line(lines, "DATABASE_URL").startswith("ok  ")
    assert line(lines, "CALLBACK_PUBLIC_URL") == (
        f"ok    CALLBACK_PUBLIC_URL: {public} reaches this bot's web server on 127.0.0.1:{doctor.http_port}"
    )
    if isinstance(doctor.provider, FakeVtrix):
        assert line(lines, "VTRIX_STATUS_PATH").startswith(
            "ok    VTRIX_STATUS_PATH: /v1/tasks/{task_id} exists"
        )
        assert line(lines, "VTRIX_SUBMIT_PATH").startswith("ok    VTRIX_SUBMIT_PATH: /v1/tasks exists")
    assert lines[-1].startswith("All ") and lines[-1].endswith(" checks passed.")
    # Nothing was created or sent: no provider task, no command sync, no gateway session.
    assert doctor.provider.creates() == [] and doctor.provider.tasks == {}
    assert doctor.discord.command_syncs == [] and not doctor.discord.is_connected()
    with sqlite3.connect(doctor.tmp_path / "data" / "bot.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] > 0
    assert PROVIDER_KEY not in "\n".join(lines) + err


async def test_a_rejected_discord_token_is_named_and_the_rest_still_checked(doctor: Doctor) -> None:
    code, lines, _ = await doctor.run(DISCORD_TOKEN="not-the-token")
    assert code == 1
    assert line(lines, "DISCORD_TOKEN").startswith(
        "FAIL  DISCORD_TOKEN: Discord rejected the token (HTTP 401)"
    )
    assert not any("invite link" in text for text in lines)
    assert line(lines, key_variable(doctor)).startswith("ok  ")
    assert line(lines, "CALLBACK_PUBLIC_URL").startswith("ok    CALLBACK_PUBLIC_URL: not set")
    assert lines[-1].startswith("1 of ") and "checks failed" in lines[-1]


async def test_a_refused_provider_key_is_named(doctor: Doctor) -> None:
    variable = key_variable(doctor)
    code, lines, _ = await doctor.run(**{variable: "wrong-key"})
    assert code == 1
    name = doctor.provider.name
    assert line(lines, variable).startswith(f"FAIL  {variable}: {name} refused the key (code 401)")
    if isinstance(doctor.provider, FakeVtrix):
        # A 401 may come from auth that runs before routing: it says nothing about the status path.
        # The submit path's 405 (the route takes only POST) shows it exists whatever the key.
        assert "fix VTRIX_API_KEY first" in line(lines, "VTRIX_STATUS_PATH")
        assert line(lines, "VTRIX_SUBMIT_PATH").startswith("ok  ")
    assert doctor.provider.creates() == []


@pytest.mark.parametrize("doctor", ["midapi"], indirect=True)
async def test_a_busy_or_resting_provider_is_not_mistaken_for_a_bad_key(doctor: Doctor) -> None:
    doctor.provider.inject("status", "429", retry_after=30)
    code, lines, _ = await doctor.run()
    assert code == 1
    assert line(lines, "MIDAPI_API_KEY").startswith(
        "FAIL  MIDAPI_API_KEY: not checked: midapi is rate limiting this key (HTTP 429)"
    )
    doctor.provider.inject("status", "maintenance")
    code, lines, _ = await doctor.run()
    assert code == 1
    assert line(lines, "MIDAPI_API_KEY").startswith(
        "FAIL  MIDAPI_API_KEY: not checked: midapi is unavailable right now (code 455"
    )


@pytest.mark.parametrize("doctor", ["vtrix"], indirect=True)
async def test_a_wrong_vtrix_status_path_is_told_apart_from_an_unknown_task(doctor: Doctor) -> None:
    code, lines, _ = await doctor.run(VTRIX_STATUS_PATH="/v2/jobs/{task_id}")
    assert code == 1
    assert line(lines, "VTRIX_STATUS_PATH").startswith(
        "FAIL  VTRIX_STATUS_PATH: /v2/jobs/{task_id} does not exist at Vtrix"
    )
    assert line(lines, "VTRIX_API_KEY").startswith(
        "FAIL  VTRIX_API_KEY: not checked, because VTRIX_STATUS_PATH"
    )
    assert line(lines, "VTRIX_SUBMIT_PATH").startswith("ok  ")


@pytest.mark.parametrize("doctor", ["vtrix"], indirect=True)
async def test_a_wrong_vtrix_submit_path_is_found_without_posting(doctor: Doctor) -> None:
    code, lines, _ = await doctor.run(VTRIX_SUBMIT_PATH="/v1/jobs")
    assert code == 1
    assert line(lines, "VTRIX_SUBMIT_PATH").startswith(
        "FAIL  VTRIX_SUBMIT_PATH: /v1/jobs does not exist at Vtrix"
    )
    assert line(lines, "VTRIX_API_KEY").startswith("ok  ")
    assert all(request.method == "GET" for request in doctor.provider.requests)


@pytest.mark.parametrize("doctor", ["midapi"], indirect=True)
async def test_an_unwritable_store_is_named(doctor: Doctor) -> None:
    # Tests run as root, which writes through any permission bits; a regular file as the "directory"
    # fails for everyone.
    blocker = doctor.tmp_path / "not-a-directory"
    blocker.write_text("a file where the data directory should be")
    code, lines, _ = await doctor.run(DATABASE_URL=f"sqlite:///{blocker}/bot.sqlite3")
    assert code == 1
    store = line(lines, "DATABASE_URL")
    assert store.startswith("FAIL  DATABASE_URL: cannot open the store") and "uid 10001" in store
    assert line(lines, "DISCORD_TOKEN").startswith("ok  ")


@pytest.mark.parametrize("doctor", ["midapi"], indirect=True)
async def test_a_callback_url_that_does_not_come_back_to_us_fails(doctor: Doctor) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    code, lines, _ = await doctor.run(CALLBACK_PUBLIC_URL=nowhere, CALLBACK_SECRET=SECRET)
    assert code == 1
    assert line(lines, "CALLBACK_PUBLIC_URL").startswith(f"FAIL  CALLBACK_PUBLIC_URL: cannot reach {nowhere}")

    # Reachable, but another server answers (a proxy pointed at the wrong upstream).
    elsewhere = doctor.provider.base_url
    code, lines, _ = await doctor.run(CALLBACK_PUBLIC_URL=elsewhere, CALLBACK_SECRET=SECRET)
    assert code == 1
    assert line(lines, "CALLBACK_PUBLIC_URL").startswith(
        f"FAIL  CALLBACK_PUBLIC_URL: {elsewhere} answered HTTP 404, but not from this bot's web server"
    )


@pytest.mark.parametrize("doctor", ["midapi"], indirect=True)
async def test_a_busy_http_port_is_reported_not_guessed(doctor: Doctor) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", doctor.http_port))
        busy.listen()
        public = f"http://127.0.0.1:{doctor.http_port}"
        code, lines, _ = await doctor.run(CALLBACK_PUBLIC_URL=public, CALLBACK_SECRET=SECRET)
    assert code == 1
    assert "is in use, most likely by the running bot" in line(lines, "CALLBACK_PUBLIC_URL")


@pytest.mark.parametrize("doctor", ["midapi"], indirect=True)
async def test_a_configuration_error_stops_before_any_check(doctor: Doctor) -> None:
    code, lines, err = await doctor.run(DISCORD_TOKEN="")
    assert code == 2 and lines == []
    assert (
        err.strip()
        == "configuration error: DISCORD_TOKEN: is required but not set (put it in the environment or .env)"
    )
    assert doctor.discord.requests == [] and doctor.provider.requests == []


async def test_the_running_bot_logs_its_invite_link(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        expected = invite_url(int(w.discord.application_id))

        async def logged() -> bool:
            return expected in w.bot.log()

        await eventually(logged, timeout=15)


def test_a_route_is_missing_only_when_a_404_carries_no_json() -> None:
    assert route_exists(404, b"<html>404 Not Found</html>") is False
    assert route_exists(404, b"") is False
    assert route_exists(404, b'{"error": {"code": 404, "error_message": "task not found"}}') is True
    assert route_exists(405, b"405: Method Not Allowed") is True
    assert route_exists(400, b'{"code": 400}') is True
    assert route_exists(401, b"") is None and route_exists(502, b"<html>bad gateway</html>") is None
