"""Following a task at the provider: completion, failures, pauses, timeouts, restarts."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from bot import messages
from bot.tasks import Engine, Outbox, SubmitRequest
from sandbox.midapi import FakeMidapi
from sandbox.vtrix import FakeVtrix
from tests.engine_rig import Rig, build
from tests.helpers import eventually


async def test_normal_completion_is_delivered_once(rig: Rig) -> None:
    task = await rig.imagine()
    assert task.state == "submitted" and task.provider_task_id
    done = await rig.finished(task.id)
    assert done.state == "succeeded" and len(done.result_urls) == 4 and done.result_message_id == 9001
    assert done.status_reads >= 1 and done.progress == 100
    # The store says delivered, and the outbox reads the store before every post: nothing more can come.
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
    await eventually(lambda: fake_midapi.calls("status"))  # the provider was asked about it: mid-task
    await first.close()  # the process "dies" mid-task
    second = await build(tmp_path, session, fake_midapi)
    try:
        done = await second.finished(task.id)  # delivered, so never posted again
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

        def unreadable_for(seconds: float) -> bool:  # by the provider's own log of the reads
            reads = fake_midapi.calls("status")
            return len(reads) > 1 and reads[-1].at - reads[0].at >= seconds

        await eventually(lambda: unreadable_for(2.0))
        fake_midapi.faults["status"].clear()
        done = await rig.finished(task.id)
        assert done.state == "succeeded" and len(done.result_urls) == 4
    finally:
        await rig.close()
