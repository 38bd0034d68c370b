"""/healthz and /metrics over a running engine and store."""

from __future__ import annotations

import sqlite3
import time

import aiohttp
import pytest

from bot.config import DatabaseLocation
from bot.metrics import Metrics
from bot.web import WebServer
from tests.engine_rig import Rig


async def test_healthz_and_metrics(rig: Rig, session: aiohttp.ClientSession) -> None:
    metrics = rig.engine.metrics
    assert metrics is not None
    connected = {"value": True}
    server = WebServer(
        engine=rig.engine,
        store=rig.store,
        metrics=metrics,
        tokens=None,
        max_lag_s=60,
        gateway_connected=lambda: connected["value"],
    )
    await server.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.port}"
    try:
        await rig.finished((await rig.imagine()).id)
        async with session.get(base + "/healthz") as response:
            assert response.status == 200 and (await response.json())["ok"] is True
        async with session.get(base + "/metrics") as response:
            text = await response.text()
        assert 'mjbot_tasks{state="succeeded"} 1.0' in text
        assert "mjbot_status_reads_per_task_count 1.0" in text
        assert "mjbot_delivery_seconds_count 1.0" in text
        assert "mjbot_engine_lag_seconds" in text and "mjbot_interaction_ack_seconds" in text
        connected["value"] = False
        async with session.get(base + "/healthz") as response:
            body = await response.json()
            assert response.status == 503 and body["reasons"] == ["discord gateway not connected"]
        connected["value"] = True
        await rig.engine.stop()
        async with session.get(base + "/healthz") as response:
            assert response.status == 503 and "engine not running" in (await response.json())["reasons"]
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("lag", "tick_age", "reason"),
    [(120.0, 0.0, "engine lag 120s over 60s"), (0.0, 300.0, "engine loop stalled")],
)
async def test_healthz_reports_engine_lag_and_a_stalled_loop(
    rig: Rig, session: aiohttp.ClientSession, lag: float, tick_age: float, reason: str
) -> None:
    server = WebServer(engine=rig.engine, store=rig.store, metrics=Metrics(), tokens=None, max_lag_s=60)
    await server.start("127.0.0.1", 0)
    try:
        await rig.engine.stop()  # freeze the loop so the state below stays put
        rig.engine.state.running = True
        rig.engine.state.lag_s = lag
        rig.engine.state.last_tick = time.time() - tick_age
        async with session.get(f"http://127.0.0.1:{server.port}/healthz") as response:
            body = await response.json()
        assert response.status == 503 and body["reasons"][0].startswith(reason)
    finally:
        await server.stop()


async def test_healthz_reports_an_unwritable_store(rig: Rig, session: aiohttp.ClientSession) -> None:
    server = WebServer(engine=rig.engine, store=rig.store, metrics=Metrics(), tokens=None, max_lag_s=60)
    await server.start("127.0.0.1", 0)
    try:
        # Another process holds the file's write lock, as a backup tool or a second bot would.
        blocker = sqlite3.connect(rig.path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            async with session.get(f"http://127.0.0.1:{server.port}/healthz") as response:
                body = await response.json()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert response.status == 503 and body["reasons"][0].startswith("store not writable")
    finally:
        await server.stop()


def test_memory_location_helper() -> None:
    assert DatabaseLocation("sqlite:///:memory:", ":memory:").in_memory
