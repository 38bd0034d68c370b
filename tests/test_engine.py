"""The task engine against the loopback fake providers, on real SQLite files."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import messages
from bot.callbacks import CallbackTokens
from bot.config import DatabaseLocation, Settings
from bot.errors import BotError, TooManyActive, UndeliverableError
from bot.metrics import Metrics
from bot.providers import Provider
from bot.providers.midapi import MidapiClient
from bot.providers.vtrix import VtrixClient
from bot.store import Store, Task, TaskState, open_store
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


async def build(
    tmp_path: Path, session: aiohttp.ClientSession, fake: FakeMidapi | FakeVtrix, **env: str
) -> Rig:
    settings = make_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'bot.sqlite3'}", **env)
    store = await open_store(settings.database)
    provider: Provider
    if isinstance(fake, FakeMidapi):
        provider = MidapiClient(session, api_key="test-key", base_url=fake.base_url, timeout_s=1)
    else:
        provider = VtrixClient(session, api_key="test-key", base_url=fake.base_url, timeout_s=1)
    deliveries = Deliveries()
    metrics = Metrics()
    engine = Engine(
        store, provider, settings, deliver=Outbox(store, deliveries, metrics).deliver, metrics=metrics
    )
    engine.start()
    admission = Admission(store, provider.name, provider.capabilities, settings)
    return Rig(store, engine, admission, fake, deliveries, tmp_path / "bot.sqlite3", settings, session)


@pytest.fixture
async def rig(tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi) -> AsyncIterator[Rig]:
    built = await build(tmp_path, session, fake_midapi)
    yield built
    await built.close()


async def test_normal_completion_is_delivered_once(rig: Rig) -> None:
    task = await rig.imagine()
    assert task.state == "submitted" and task.provider_task_id
    done = await rig.finished(task.id)
    assert done.state == "succeeded" and len(done.result_urls) == 4 and done.result_message_id == 9001
    assert done.status_reads >= 1 and done.progress == 100
    await asyncio.sleep(0.3)
    assert [t.id for t in rig.deliveries.tasks] == [task.id]
    assert len(rig.fake.creates()) == 1


async def test_variation_of_a_finished_grid(rig: Rig) -> None:
    parent = await rig.finished((await rig.imagine()).id)
    result = await rig.submit(SubmitRequest("vary", 2, 10, 20, parent=parent, index=2, strength="strong"))
    done = await rig.finished(result.task.id)
    assert done.state == "succeeded" and done.user_id == 2 and done.parent_id == parent.id
    assert rig.fake.calls("vary")[0].body == {"taskId": parent.provider_task_id, "imageIndex": 1}


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (400, "rejected the request"),
        (401, "misconfigured"),
        (402, "out of credits"),
        (404, "new grid"),
        (422, "rejected the request"),
        (500, "unavailable"),
        (501, "refused to make this image"),
        (505, "switched off"),
    ],
)
async def test_create_failure_codes_end_failed_with_member_message(rig: Rig, code: int, words: str) -> None:
    rig.fake.forced_code = code  # type: ignore[union-attr]
    task = await rig.imagine()
    assert task.state == "failed" and task.error_code == str(code)
    # The reason in plain words; the provider's code is kept apart, for /task only.
    assert words in (task.error_message or "") and "provider code" not in (task.error_message or "")
    assert f"(provider code {code})" in messages.task_detail(task, None)
    assert task.delivered  # answered in the interaction itself, not posted again


async def test_generation_failure_during_follow_up(rig: Rig) -> None:
    rig.fake.fail_next_task(501, "moderation: banned words")
    done = await rig.finished((await rig.imagine()).id)
    assert done.state == "failed" and done.error_code == "501"
    assert "refused to make this image" in (done.error_message or "") and "banned words" in (
        done.error_message or ""
    )
    assert rig.deliveries.tasks[0].id == done.id  # the member is told in the channel


async def test_maintenance_on_create_queues_then_completes(rig: Rig) -> None:
    rig.fake.inject("create", "maintenance")
    task = await rig.imagine()
    assert task.state == "queued" and rig.engine.pause.active()
    done = await rig.finished(task.id)
    assert done.state == "succeeded" and len(rig.fake.creates()) == 2


@pytest.mark.parametrize("call", ["create", "status"])
async def test_429_retry_after_is_honoured(rig: Rig, call: str) -> None:
    rig.fake.inject(call, "429", retry_after=2)
    task = await rig.imagine()
    done = await rig.finished(task.id)
    assert done.state == "succeeded"
    limited = (
        rig.fake.requests[0] if call == "create" else next(r for r in rig.fake.requests if r.call == "status")
    )
    after = [r for r in rig.fake.requests if r.at > limited.at]
    assert after, "the engine never asked again"
    assert min(r.at for r in after) - limited.at >= 1.95


async def test_timeout_without_progress(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    rig = await build(tmp_path, session, fake_midapi, TASK_TIMEOUT_S="1")
    try:
        task = await rig.imagine("a stalled thing [stuck]")
        done = await rig.finished(task.id)
        assert done.state == "timed_out" and "no progress" in (done.error_message or "")
    finally:
        await rig.close()


async def test_dedupe_returns_the_existing_task(rig: Rig) -> None:
    parent = await rig.finished((await rig.imagine()).id)
    request = SubmitRequest("vary", 3, 10, 20, parent=parent, index=1, strength="strong")
    first, second = await asyncio.gather(rig.submit(request), rig.submit(request))
    assert {first.existing, second.existing} == {False, True}
    assert first.task.id == second.task.id and len(rig.fake.calls("vary")) == 1


async def test_over_the_running_cap_a_request_waits_in_the_queue_and_starts_by_itself(rig: Rig) -> None:
    rig.fake.duration_s = 1.0
    running = [await rig.imagine(f"prompt {n}", user=4) for n in range(3)]
    waiting = await rig.imagine("the fourth", user=4)
    assert waiting.state == "queued" and waiting.next_check_at is None
    assert await rig.store.queue_position(waiting) == 1 and len(rig.fake.creates()) == 3
    other = await rig.imagine("someone else", user=5)  # another member's slots are their own
    assert other.state == "submitted"
    done = await rig.finished(waiting.id)
    assert done.state == "succeeded" and len(rig.fake.creates()) == 5
    finished = [(await rig.finished(t.id)).finished_at or 0.0 for t in running]
    assert (done.submitted_at or 0) >= min(finished)  # it started only once a slot was free


async def test_a_full_queue_is_refused_with_the_unfinished_tasks_listed(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    rig = await build(tmp_path, session, fake_midapi, MAX_ACTIVE_PER_USER="2", MAX_QUEUED_PER_USER="1")
    try:
        rig.fake.duration_s = 5
        tasks = [await rig.imagine(f"prompt {n}", user=4) for n in range(3)]
        with pytest.raises(TooManyActive) as caught:
            await rig.imagine("one too many", user=4)
        for task in tasks:
            assert task.id in caught.value.user_message
        assert "the limit is 2 running and 1 waiting" in caught.value.user_message
        assert len(rig.fake.creates()) == 2
    finally:
        await rig.close()


async def test_unknown_create_outcome_without_callbacks_ends_at_once_and_says_why(rig: Rig) -> None:
    rig.fake.inject("create", "http500")
    task = await rig.imagine()
    # No callback can ever tell us the provider's id: the member hears the truth right away.
    assert task.state == "failed" and task.error_code == "no-answer" and task.delivered
    assert "could not be read" in (task.error_message or "") and "not charged twice" in (
        task.error_message or ""
    )
    assert len(rig.fake.creates()) == 1


async def test_unknown_create_outcome_with_callbacks_waits_for_confirmation_then_fails(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    rig = await build(tmp_path, session, fake_midapi)
    rig.engine.follower.reconcile_window_s = 0.5
    rig.engine.follower.callback_url = lambda task_id: f"http://127.0.0.1:9/callbacks/midapi/{task_id}"
    try:
        rig.fake.inject("create", "http500")
        task = await rig.imagine()
        assert task.state == "submitted" and task.create_uncertain and task.provider_task_id is None
        assert "waiting for the provider's confirmation" in messages.accepted(task, existing=False)
        done = await rig.finished(task.id)
        assert done.state == "failed" and "not charged twice" in (done.error_message or "")
        assert len(rig.fake.creates()) == 1
    finally:
        await rig.close()


async def test_restart_mid_task_delivers_once_without_second_create(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    fake_midapi.duration_s = 1.0
    first = await build(tmp_path, session, fake_midapi)
    task = await first.imagine()
    await asyncio.sleep(0.2)
    await first.close()  # the process "dies" mid-task
    second = await build(tmp_path, session, fake_midapi)
    try:
        done = await second.finished(task.id)
        await asyncio.sleep(0.3)
        assert done.state == "succeeded"
        assert [t.id for t in second.deliveries.tasks] == [task.id] and first.deliveries.tasks == []
        assert len(fake_midapi.creates()) == 1
    finally:
        await second.close()


async def test_interrupted_create_is_reconciled_not_resent(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    rig = await build(tmp_path, session, fake_midapi)
    await rig.engine.stop()
    # A create that a dead process had started: recorded as started, never answered.
    from bot.store import NewTask

    task = await rig.store.insert_task(NewTask("midapi", "imagine", 1, 10, 20, "k", prompt="x"))
    await rig.store.update(task.id, create_started_at=time.time())
    engine = Engine(
        rig.store,
        rig.engine.follower.provider,
        rig.settings,
        deliver=Outbox(rig.store, rig.deliveries).deliver,
        reconcile_window_s=0.3,
    )
    engine.start()
    try:
        done = await rig.finished(task.id)
        assert done.state == "failed" and fake_midapi.creates() == []
    finally:
        await engine.stop()
        await rig.store.close()


async def test_delivery_retries_until_it_succeeds(rig: Rig) -> None:
    rig.deliveries.fail_times = 2
    done = await rig.finished((await rig.imagine()).id)
    assert done.delivery_attempts == 2 and done.result_message_id is not None and done.delivery_error is None


async def test_undeliverable_result_stays_in_the_log(rig: Rig) -> None:
    rig.deliveries.gone = True
    done = await rig.finished((await rig.imagine()).id)
    assert done.state == "succeeded" and "channel deleted" in (done.delivery_error or "")


async def test_one_bad_task_does_not_stop_others(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = await rig.imagine("bad")
    original = rig.engine.follower.provider.status

    async def broken(task_id: str):  # type: ignore[no-untyped-def]
        if task_id == bad.provider_task_id:
            raise RuntimeError("a bug in one task")
        return await original(task_id)

    monkeypatch.setattr(rig.engine.follower.provider, "status", broken)
    good = await rig.imagine("good")
    assert (await rig.finished(good.id)).state == "succeeded"
    assert rig.engine.state.errors >= 1 and rig.engine.state.running


async def test_vtrix_vary_with_strength_and_remix(
    tmp_path: Path, session: aiohttp.ClientSession, fake_vtrix: FakeVtrix
) -> None:
    rig = await build(tmp_path, session, fake_vtrix, MJ_PROVIDER="vtrix")
    try:
        parent = await rig.finished((await rig.imagine("a forest")).id)
        result = await rig.submit(
            SubmitRequest(
                "vary", 1, 10, 20, parent=parent, index=4, strength="subtle", remix_prompt="in snow"
            )
        )
        done = await rig.finished(result.task.id)
        assert done.state == "succeeded" and str(done.cost) == "0.04"
        assert fake_vtrix.calls("vary")[0].body == {
            "model": "midjourney_variation",
            "jobId": parent.provider_task_id,
            "imageNo": 3,
            "type": 0,
            "remixPrompt": "in snow",
        }
    finally:
        await rig.close()


# --- callbacks through the built-in web server ---------------------------------------------------


async def test_callback_wakes_task_and_forged_one_is_404(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    # Slow polling, so only the callback can explain a fast finish.
    rig = await build(tmp_path, session, fake_midapi, POLL_FIRST_S="20", POLL_MAX_S="30")
    metrics = Metrics()
    server = WebServer(engine=rig.engine, store=rig.store, metrics=metrics, tokens=None, max_lag_s=60)
    await server.start("127.0.0.1", 0)
    tokens = CallbackTokens("a-long-callback-secret", f"http://127.0.0.1:{server.port}", "midapi")
    server.tokens = tokens
    rig.engine.follower.callback_url = tokens.url
    try:
        task = await rig.imagine()
        assert fake_midapi.calls("imagine")[0].body["callBackUrl"] == tokens.url(task.id)
        done = await rig.finished(task.id)
        assert done.state == "succeeded" and done.status_reads == 1
        assert fake_midapi.callbacks_posted[0][2] == 200

        other = await rig.imagine("another")
        forged = f"http://127.0.0.1:{server.port}/callbacks/midapi/{other.id}.{'0' * 64}"
        async with session.post(forged, json={"code": 200, "data": {"taskId": "x"}}) as response:
            assert response.status == 404
        wrong_provider = tokens.url(other.id).replace("/midapi/", "/vtrix/")
        async with session.post(wrong_provider, json={}) as response:
            assert response.status == 404
        big = tokens.url(other.id)
        async with session.post(big, data=b"x" * (65 * 1024)) as response:
            assert response.status == 413
        unchanged = await rig.store.get(other.id)
        assert unchanged is not None and unchanged.next_check_at == other.next_check_at
    finally:
        await server.stop()
        await rig.close()


async def test_callback_reconciles_an_unknown_create(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    rig = await build(tmp_path, session, fake_midapi)
    server = WebServer(engine=rig.engine, store=rig.store, metrics=Metrics(), tokens=None, max_lag_s=60)
    await server.start("127.0.0.1", 0)
    tokens = CallbackTokens("a-long-callback-secret", f"http://127.0.0.1:{server.port}", "midapi")
    server.tokens = tokens
    rig.engine.follower.callback_url = tokens.url
    try:
        # The provider takes the create but the answer is lost (slower than the client's timeout).
        rig.fake.inject("create", "slow", delay_s=1.5)
        task = await rig.imagine()
        assert task.create_uncertain and task.provider_task_id is None
        done = await rig.finished(task.id)
        assert done.state == "succeeded" and done.provider_task_id in fake_midapi.tasks
        assert len(fake_midapi.creates()) == 1
    finally:
        await server.stop()
        await rig.close()


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


@pytest.mark.parametrize("provider_down", [False, True])
async def test_spend_cap_holds_under_a_burst_and_counts_queued_work(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi, provider_down: bool
) -> None:
    # $0.05 a request and a $0.10 cap: two requests, however many arrive at once, and even while the
    # provider is down and everything admitted waits in the queue.
    rig = await build(tmp_path, session, fake_midapi, GUILD_DAILY_SPEND_USD="0.10")
    try:
        if provider_down:
            rig.fake.inject("create", "maintenance")
        outcomes = await asyncio.gather(
            *(rig.imagine(f"burst {n}", user=100 + n) for n in range(12)), return_exceptions=True
        )
        admitted = [o for o in outcomes if isinstance(o, Task)]
        refused = [o for o in outcomes if isinstance(o, BotError)]
        assert len(admitted) == 2 and len(refused) == 10
        assert all("daily spend cap" in r.user_message for r in refused)
        for task in admitted:
            assert (await rig.finished(task.id)).state == "succeeded"
        assert len({c.body["prompt"] for c in rig.fake.creates()}) == 2
    finally:
        await rig.close()


async def test_time_the_provider_could_not_be_asked_does_not_count_toward_the_stall_timeout(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    rig = await build(tmp_path, session, fake_midapi, TASK_TIMEOUT_S="1")
    try:
        fake_midapi.duration_s = 1.5
        # Two seconds of unreadable status answers: longer than the stall timeout, while the
        # provider goes on and finishes the task (and charges for it).
        fake_midapi.inject("status", "malformed", times=10_000)
        task = await rig.imagine()
        await asyncio.sleep(2.0)
        fake_midapi.faults["status"].clear()
        done = await rig.finished(task.id)
        assert done.state == "succeeded" and len(done.result_urls) == 4
    finally:
        await rig.close()


async def test_a_callback_for_a_timed_out_task_still_brings_its_result_home(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    rig = await build(tmp_path, session, fake_midapi, TASK_TIMEOUT_S="1")
    server = WebServer(engine=rig.engine, store=rig.store, metrics=Metrics(), tokens=None, max_lag_s=60)
    await server.start("127.0.0.1", 0)
    tokens = CallbackTokens("a-long-callback-secret", f"http://127.0.0.1:{server.port}", "midapi")
    server.tokens = tokens
    rig.engine.follower.callback_url = tokens.url
    try:
        task = await rig.imagine("slow to start [stuck]")
        timed_out = await rig.finished(task.id)
        assert timed_out.state == "timed_out"
        fake_midapi.tasks[timed_out.provider_task_id or ""].stuck = False  # the provider finishes after all

        async def succeeded() -> Task | None:
            fresh = await rig.store.get(task.id)
            return fresh if fresh and fresh.state == "succeeded" and fresh.delivered else None

        done = await eventually(succeeded, timeout=10)
        assert len(done.result_urls) == 4 and [t.state for t in rig.deliveries.tasks] == [
            "timed_out",
            "succeeded",
        ]
    finally:
        await server.stop()
        await rig.close()


async def test_a_result_posted_while_the_store_refused_the_record_is_not_posted_again(rig: Rig) -> None:
    await rig.engine.stop()
    task = await rig.imagine()
    finished = await rig.engine.follower.finish(task, TaskState.SUCCEEDED, result_urls=("http://x/1.png",))
    outbox = Outbox(rig.store, rig.deliveries)
    real_update = rig.store.update
    refusals = {"left": 1}

    async def flaky_update(task_id: str, **fields: Any) -> Task:
        if "delivered_at" in fields and refusals["left"]:
            refusals["left"] -= 1
            raise sqlite3.OperationalError("database is locked")
        return await real_update(task_id, **fields)

    rig.store.update = flaky_update  # type: ignore[method-assign]
    with pytest.raises(sqlite3.OperationalError):
        await outbox.deliver(finished)
    await outbox.deliver(finished)  # the store is back: the post is recorded, not repeated
    assert [t.id for t in rig.deliveries.tasks] == [task.id]
    recorded = await rig.store.get(task.id)
    assert recorded is not None and recorded.delivered and recorded.result_message_id == 9001
