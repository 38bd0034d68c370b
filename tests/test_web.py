"""The built-in web server under unlucky or hostile input: split bodies, odd tokens, replays, floods."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import aiohttp
import pytest

from bot.store import Store
from bot.web import CALLBACK_MIN_INTERVAL_S
from bot.web_limits import LogThrottle
from sandbox.midapi import FakeMidapi
from tests.engine_rig import build, served
from tests.helpers import eventually


async def test_a_callback_body_sent_in_two_writes_is_read_whole(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    # The engine hands out a callback URL nobody listens on (so it waits for a confirmation), and
    # only the test's own callback can reconcile the task.
    rig = await build(tmp_path, session, fake_midapi)
    rig.engine.follower.callback_url = lambda task_id: f"http://127.0.0.1:9/callbacks/midapi/{task_id}"
    async with served(rig) as (server, tokens):
        fake_midapi.inject("create", "slow", delay_s=1.5)  # the create's answer is lost
        task = await rig.imagine()
        assert task.create_uncertain and task.provider_task_id is None

        async def made() -> Any:
            return next(iter(fake_midapi.tasks.values()), None)

        fake_task = await eventually(made)
        body = json.dumps(fake_midapi.callback_body(fake_task)).encode()
        head = (
            f"POST {urlsplit(tokens.url(task.id)).path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(head + body[: len(body) // 2])
            await writer.drain()
            await asyncio.sleep(0.3)  # the rest comes in a later segment, as from a slow network
            writer.write(body[len(body) // 2 :])
            await writer.drain()
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        finally:
            writer.close()
        done = await rig.finished(task.id)
        assert done.state == "succeeded" and done.provider_task_id == fake_task.task_id
        assert len(fake_midapi.creates()) == 1


@pytest.mark.parametrize(
    "token", ["{task}.é", "{task}.%C3%A9%C3%A9", "é.{digest}", "{task}.ﬀ", "%FF.{digest}", "{task}.%FF"]
)
async def test_a_non_ascii_token_is_404_not_500(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi, token: str
) -> None:
    rig = await build(tmp_path, session, fake_midapi, POLL_FIRST_S="20", POLL_MAX_S="30")
    async with served(rig) as (server, tokens):
        task = await rig.imagine()
        digest = tokens.token(task.id).partition(".")[2]
        url = f"http://127.0.0.1:{server.port}/callbacks/midapi/" + token.format(task=task.id, digest=digest)
        async with session.post(url, json={}) as response:
            assert response.status == 404
        unchanged = await rig.store.get(task.id)
        assert unchanged is not None and unchanged.next_check_at == task.next_check_at


async def test_wrong_tokens_log_one_warning_per_window(
    tmp_path: Path,
    session: aiohttp.ClientSession,
    fake_midapi: FakeMidapi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = await build(tmp_path, session, fake_midapi)
    async with served(rig) as (server, _tokens):
        caplog.set_level(logging.WARNING, logger="bot.web")
        for n in range(30):
            forged = f"http://127.0.0.1:{server.port}/callbacks/midapi/t{n}.{'0' * 64}"
            async with session.post(forged, json={}) as response:
                assert response.status == 404
        warnings = [r for r in caplog.records if "wrong token" in r.getMessage()]
        assert len(warnings) == 1


def test_log_throttle_reports_what_it_suppressed() -> None:
    now = [100.0]
    throttle = LogThrottle(10.0, clock=lambda: now[0])
    assert throttle.ready() == (True, 0)
    assert [throttle.ready() for _ in range(5)] == [(False, 0)] * 5
    now[0] += 10.0
    assert throttle.ready() == (True, 5)
    assert throttle.ready() == (False, 0)


async def test_a_replayed_callback_url_reads_status_a_bounded_number_of_times(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    # Slow polling and a long task: every status read below is one a callback caused.
    fake_midapi.duration_s = 60
    rig = await build(tmp_path, session, fake_midapi, POLL_FIRST_S="20", POLL_MAX_S="30")
    async with served(rig) as (_server, tokens):
        task = await rig.imagine()
        body = {"code": 200, "data": {"taskId": task.provider_task_id}}
        for _ in range(200):
            async with session.post(tokens.url(task.id), json=body) as response:
                assert response.status == 200

        async def settled() -> Any:
            # The first replay read status at once; the rest inside the window share one deferred
            # wake-up, which reads once more. Settled once that second read is recorded and the next
            # check is scheduled far off: any further read would have to come from a replay.
            current = await rig.store.get(task.id)
            assert current is not None
            return (
                current if current.status_reads >= 2 and (current.next_check_at or 0) > time.time() else None
            )

        current = await eventually(settled, timeout=CALLBACK_MIN_INTERVAL_S + 5)
        assert current.status_reads <= 3 and len(fake_midapi.calls("status")) <= 3


class CountingStore:
    """The real store, counting the writes /healthz makes."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.writes = 0

    async def check_writable(self) -> None:
        self.writes += 1
        await self.inner.check_writable()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_healthz_flood_writes_to_the_store_at_most_once_per_window(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    rig = await build(tmp_path, session, fake_midapi)
    counting = CountingStore(rig.store)
    async with served(rig, store=cast(Store, counting)) as (server, _tokens):
        url = f"http://127.0.0.1:{server.port}/healthz"

        async def ask() -> int:
            async with session.get(url) as response:
                body = await response.json()
                assert body["ok"] is True, body
                return response.status

        for _ in range(20):
            assert await ask() == 200
        assert set(await asyncio.gather(*(ask() for _ in range(50)))) == {200}
        assert counting.writes == 1
