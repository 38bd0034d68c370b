"""One test per admission rule, each asserting what the member is told and that nothing was made.

Every test here fails when the rule it names is deleted: a refusal that only happened to come out
right (the provider refusing the create instead, say) would not show that the rule holds.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from bot import messages
from bot.callbacks import CallbackTokens
from bot.errors import BotError, Unsupported
from bot.metrics import Metrics
from bot.store import Task, TaskState
from bot.tasks import Admitted, SubmitRequest
from bot.tasks.admission import GRID_MAX_AGE_S
from bot.web import WebServer
from sandbox.midapi import FakeMidapi
from tests.engine_rig import build as build_rig
from tests.helpers import eventually
from tests.service_rig import ALICE, BOB, Setup, build


async def ended(setup: Setup, task_id: str, state: TaskState) -> Task:
    async def check() -> Task | None:
        task = await setup.store.get(task_id)
        return task if task is not None and task.state == state else None

    return await eventually(check)  # type: ignore[no-any-return]


async def nothing_made_from(setup: Setup, grid: str, creates_before: int) -> None:
    """No task in the log came from the grid, and no create reached the provider."""
    assert await setup.store.children(grid) == []
    assert len(setup.fake.creates()) == creates_before


# --- the parent grid -----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["/vary", "V button"])
async def test_an_unfinished_grid_is_refused_and_nothing_is_created(setup: Setup, how: str) -> None:
    setup.fake.duration_s = 30
    grid = (await setup.service.imagine(ALICE, "still painting")).task
    assert grid is not None and grid.provider_task_id
    with pytest.raises(BotError) as caught:
        if how == "/vary":
            await setup.service.vary(BOB, grid.id, 2, None, None)
        else:
            await setup.press(BOB, grid.id, 2)
    # Submitted or already running, depending on how soon the engine has looked.
    expected = rf"Grid `{grid.id}` has (submitted|running), so it has no images to use\."
    assert re.fullmatch(expected, caught.value.user_message)
    await nothing_made_from(setup, grid.id, 1)


async def test_a_failed_grid_is_refused_by_its_short_id_and_nothing_is_created(setup: Setup) -> None:
    grid = (await setup.service.imagine(ALICE, "forbidden [fail]")).task
    assert grid is not None
    await ended(setup, grid.id, TaskState.FAILED)
    with pytest.raises(BotError) as caught:
        await setup.service.vary(ALICE, grid.id, 1, None, None)
    assert caught.value.user_message == f"Grid `{grid.id}` has failed, so it has no images to use."
    await nothing_made_from(setup, grid.id, 1)


@pytest.mark.parametrize("how", ["/vary", "V button", "U button"])
async def test_a_grid_older_than_the_provider_keeps_results_is_refused(setup: Setup, how: str) -> None:
    grid = await setup.grid()
    # Finished a day past the bot's limit: the provider has (about) dropped its images by now.
    await setup.store.update(grid, finished_at=time.time() - GRID_MAX_AGE_S - 86400)
    with pytest.raises(BotError) as caught:
        if how == "/vary":
            await setup.service.vary(BOB, grid, 3, None, None)
        elif how == "V button":
            await setup.press(BOB, grid, 3)
        else:
            await setup.service.upscale(BOB, grid, 3)
    assert caught.value.user_message == messages.grid_too_old(grid)
    assert "older than the provider keeps results" in caught.value.user_message
    await nothing_made_from(setup, grid, 1)


async def test_a_grid_just_inside_the_age_limit_is_still_varied(setup: Setup) -> None:
    grid = await setup.grid()
    await setup.store.update(grid, finished_at=time.time() - GRID_MAX_AGE_S + 3600)
    reply = await setup.press(BOB, grid, 3)
    assert reply.task is not None and reply.task.parent_id == grid
    assert len(setup.fake.calls("vary")) == 1


@pytest.mark.parametrize("how", ["/vary", "V button", "U button"])
async def test_an_upscaled_image_is_not_a_grid(setup: Setup, how: str) -> None:
    grid = await setup.grid()
    upscale = (await setup.service.upscale(ALICE, grid, 2)).task
    assert upscale is not None
    await ended(setup, upscale.id, TaskState.SUCCEEDED)
    with pytest.raises(BotError) as caught:
        if how == "/vary":
            await setup.service.vary(BOB, upscale.id, 1, None, None)
        elif how == "V button":
            await setup.press(BOB, upscale.id, 1)
        else:
            await setup.service.upscale(BOB, upscale.id, 1)
    assert caught.value.user_message.startswith(f"`{upscale.id}` is a single upscaled image, not a grid")
    assert f"Use the grid it came from `{grid}`." in caught.value.user_message
    await nothing_made_from(setup, upscale.id, 2)


# --- what the provider can do --------------------------------------------------------------------


async def test_remix_on_midapi_is_refused_before_anything_is_looked_up(setup: Setup) -> None:
    # An id the bot does not know would otherwise be looked up at the provider first.
    with pytest.raises(Unsupported) as caught:
        await setup.service.vary(ALICE, "someone-elses-grid", 1, None, "in snow")
    assert caught.value.user_message == messages.remix_unavailable("midapi")
    assert setup.fake.requests == []
    assert (await setup.store.user_log(ALICE.user_id))[1] == 0


# --- the member's slots and queue, and dedupe ----------------------------------------------------


async def test_a_member_over_their_slots_waits_and_over_their_queue_is_refused(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    setup = await build(tmp_path, session, fake_midapi, MAX_ACTIVE_PER_USER="2", MAX_QUEUED_PER_USER="1")
    try:
        setup.fake.duration_s = 30
        running = [await setup.service.imagine(ALICE, f"slot {n}") for n in range(2)]
        waiting = await setup.service.imagine(ALICE, "waits its turn")
        assert all(reply.content.startswith("Started `") for reply in running)
        assert waiting.content.startswith("Queued `") and "number 1 in your queue" in waiting.content
        assert waiting.task is not None and waiting.task.state == TaskState.QUEUED
        assert len(setup.fake.creates()) == 2
        with pytest.raises(BotError) as caught:
            await setup.service.imagine(ALICE, "one too many")
        assert "the limit is 2 running and 1 waiting" in caught.value.user_message
        assert (await setup.store.user_log(ALICE.user_id))[1] == 3
        other = await setup.service.imagine(BOB, "another member's own slot")
        assert other.content.startswith("Started `")
    finally:
        await setup.engine.stop()
        await setup.store.close()


@pytest.mark.parametrize("at_once", [False, True])
async def test_the_same_press_twice_is_one_task(setup: Setup, at_once: bool) -> None:
    grid = await setup.grid()
    setup.fake.duration_s = 30
    if at_once:  # a double click: both presses race through admission together
        replies = list(await asyncio.gather(setup.press(BOB, grid, 4), setup.press(BOB, grid, 4)))
    else:
        replies = [await setup.press(BOB, grid, 4), await setup.press(BOB, grid, 4)]
    assert sum(reply.content.startswith("Already working on it") for reply in replies) == 1
    ids = {reply.task.id for reply in replies if reply.task is not None}
    assert len(ids) == 1 and [child.id for child in await setup.store.children(grid)] == list(ids)
    assert len(setup.fake.calls("vary")) == 1


# --- a callback that overtakes its create --------------------------------------------------------


async def test_a_callback_before_the_create_returns_makes_the_first_status_read_at_once(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    # Polling alone would first look after 30 s: only the early callback can explain an early read.
    rig = await build_rig(tmp_path, session, fake_midapi, POLL_FIRST_S="30", POLL_MAX_S="60")
    server = WebServer(engine=rig.engine, store=rig.store, metrics=Metrics(), tokens=None, max_lag_s=60)
    await server.start("127.0.0.1", 0)
    # The provider is told a URL nobody answers, so its own callback at the end wakes nothing.
    tokens = CallbackTokens("a-long-callback-secret", "http://127.0.0.1:9", "midapi")
    server.tokens = tokens
    rig.engine.follower.callback_url = tokens.url
    try:
        fake_midapi.duration_s = 0
        fake_midapi.inject("create", "slow", delay_s=0.5)  # the create's answer takes its time
        admitted: Admitted = await rig.admission.admit(SubmitRequest("imagine", 1, 10, 20, prompt="quick"))
        task = admitted.task
        creating = asyncio.create_task(rig.engine.begin(task))
        await eventually(lambda: fake_midapi.calls("imagine"))  # the create is at the provider
        path = urlsplit(tokens.url(task.id)).path
        async with session.post(f"http://127.0.0.1:{server.port}{path}", json={}) as response:
            assert response.status == 200
        created = await creating
        assert created.state == TaskState.SUBMITTED and created.next_check_at == created.submitted_at
        done = await rig.finished(task.id)
        assert done.state == TaskState.SUCCEEDED and done.status_reads == 1
        assert [t.id for t in rig.deliveries.tasks] == [task.id]
    finally:
        await server.stop()
        await rig.close()
