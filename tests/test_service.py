"""Command logic without Discord: every message a member can see from /imagine, /vary, presses,
/tasks, /task and /settings, against the loopback provider and a real store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from bot.errors import BotError, TooManyActive, Unsupported
from bot.store import TaskState
from bot.tasks.admission import GRID_MAX_AGE_S
from bot.tasks.grids import RecentGrids
from sandbox.midapi import FakeMidapi
from tests.helpers import eventually, task_record
from tests.service_rig import ALICE, BOB, Setup, build


async def test_imagine_answer(setup: Setup) -> None:
    reply = await setup.service.imagine(ALICE, "a red kite")
    assert reply.content.startswith("Started `") and "(imagine)" in reply.content
    assert "I'll post the result in this channel" in reply.content


async def test_press_is_logged_under_the_presser_with_their_strength(vtrix_setup: Setup) -> None:
    grid = await vtrix_setup.grid()
    await vtrix_setup.service.update_settings(BOB.user_id, "subtle", None)
    reply = await vtrix_setup.press(BOB, grid, 2)
    assert reply.task is not None and reply.task.user_id == BOB.user_id and reply.task.strength == "subtle"
    assert f"(V2 subtle of {grid})" in reply.content


async def test_repeated_press_says_already_working(setup: Setup) -> None:
    grid = await setup.grid()
    setup.fake.duration_s = 5
    first = await setup.press(BOB, grid, 1)
    again = await setup.press(BOB, grid, 1)
    assert again.content.startswith("Already working on it") and first.task and first.task.id in again.content


async def test_over_the_cap_the_answer_gives_the_queue_position(setup: Setup) -> None:
    setup.fake.duration_s = 5
    for n in range(3):
        await setup.service.imagine(ALICE, f"p{n}")
    fourth = await setup.service.imagine(ALICE, "p4")
    fifth = await setup.service.imagine(ALICE, "p5")
    assert fourth.content.startswith("Queued `") and "number 1 in your queue" in fourth.content
    assert "number 2 in your queue" in fifth.content and "starts by itself" in fifth.content
    assert len(setup.fake.creates()) == 3


async def test_a_full_queue_lists_unfinished_tasks(
    tmp_path: Path, session: aiohttp.ClientSession, fake_midapi: FakeMidapi
) -> None:
    setup = await build(tmp_path, session, fake_midapi, MAX_QUEUED_PER_USER="0")
    try:
        setup.fake.duration_s = 5
        ids = [(await setup.service.imagine(ALICE, f"p{n}")).task.id for n in range(3)]  # type: ignore[union-attr]
        with pytest.raises(TooManyActive) as caught:
            await setup.service.imagine(ALICE, "p4")
        assert all(task_id in caught.value.user_message for task_id in ids)
    finally:
        await setup.engine.stop()
        await setup.store.close()


async def test_unknown_grid_press_suggests_a_new_grid(setup: Setup) -> None:
    with pytest.raises(BotError, match=r"no longer in my task log.*/imagine"):
        await setup.press(ALICE, "zzzzzz", 1)


async def test_unfinished_grid_cannot_be_varied(setup: Setup) -> None:
    setup.fake.duration_s = 5
    task = (await setup.service.imagine(ALICE, "slow")).task
    assert task is not None
    with pytest.raises(BotError, match=r"has submitted|has running|has queued"):
        await setup.press(BOB, task.id, 1)


async def test_vary_by_provider_id_the_bot_does_not_know(setup: Setup) -> None:
    seeded = setup.fake.seed_task("an old grid from elsewhere")
    reply = await setup.service.vary(ALICE, seeded.task_id, 3, "strong", None)
    assert reply.task is not None and reply.task.parent_provider_task_id == seeded.task_id
    assert "has no variation strength, so `strong` was ignored" in reply.content
    assert setup.fake.calls("vary")[0].body["imageIndex"] == 2


async def test_vary_refuses_an_id_nobody_knows_without_a_create(setup: Setup) -> None:
    with pytest.raises(BotError, match="Neither I nor the provider know"):
        await setup.service.vary(ALICE, "no-such-task", 1, "strong", None)
    assert setup.fake.creates() == []


async def test_vary_refuses_a_failed_provider_task(setup: Setup) -> None:
    failed = setup.fake.seed_task("bad [fail]")
    with pytest.raises(BotError, match="has failed"):
        await setup.service.vary(ALICE, failed.task_id, 1, "strong", None)
    assert setup.fake.creates() == []


async def test_remix_on_midapi_is_unsupported(setup: Setup) -> None:
    grid = await setup.grid()
    with pytest.raises(Unsupported, match="Remix is not available with midapi"):
        await setup.service.vary(ALICE, grid, 1, "strong", "new words")


async def test_remix_too_long_is_refused_locally(vtrix_setup: Setup) -> None:
    grid = await vtrix_setup.grid()
    with pytest.raises(BotError) as caught:
        await vtrix_setup.service.vary(ALICE, grid, 1, "strong", "x" * 8193)
    assert "the limit is 8192" in caught.value.user_message
    assert vtrix_setup.fake.calls("vary") == []


async def test_failed_create_is_a_clear_error(setup: Setup) -> None:
    assert isinstance(setup.fake, FakeMidapi)
    setup.fake.credits = 0
    with pytest.raises(BotError) as caught:
        await setup.service.imagine(ALICE, "x")
    assert "could not start" in caught.value.user_message and "out of credits" in caught.value.user_message


async def test_settings_are_independent(vtrix_setup: Setup) -> None:
    text = await vtrix_setup.service.update_settings(ALICE.user_id, None, True)
    assert text == "Saved. Your settings: strength **strong**, remix **on**."
    text = await vtrix_setup.service.update_settings(ALICE.user_id, "subtle", None)
    assert "strength **subtle**, remix **on**" in text
    assert "strength **subtle**" in await vtrix_setup.service.update_settings(ALICE.user_id, None, None)


async def test_settings_on_midapi_say_remix_is_unavailable(setup: Setup) -> None:
    text = await setup.service.update_settings(ALICE.user_id, None, True)
    assert "remix **off**" in text and "Remix is unavailable with midapi" in text
    assert not setup.members.get(ALICE.user_id).remix


async def test_remix_prefill_uses_the_grids_remix_prompt(vtrix_setup: Setup) -> None:
    grid = await vtrix_setup.grid(prompt="base prompt")
    child = (await vtrix_setup.service.vary(ALICE, grid, 1, "strong", "remixed words")).task
    assert child is not None
    await eventually(lambda: _state(vtrix_setup, child.id, "succeeded"))
    assert await vtrix_setup.service.remix_prefill(child.id) == "remixed words"
    assert await vtrix_setup.service.remix_prefill(grid) == "base prompt"


async def test_the_remix_editor_text_of_a_grid_read_lately_is_at_hand_without_the_store(
    vtrix_setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The editor must be the press's first answer: for a grid this process posted or read lately its
    # text comes from memory, so no store read (queued behind a burst's writes) goes before it.
    grid = await vtrix_setup.grid(prompt="base prompt")
    assert vtrix_setup.service.grids.prompt(grid) is None  # never read or delivered here yet
    await vtrix_setup.press(ALICE, grid, 2)
    assert vtrix_setup.service.grids.prompt(grid) == "base prompt"

    async def refused(task_id: str) -> None:
        raise AssertionError("the store was read")

    monkeypatch.setattr(vtrix_setup.store, "get", refused)
    assert await vtrix_setup.service.remix_prefill(grid) == "base prompt"


def test_recent_grids_keep_varyable_grids_newest_last_and_forget_old_ones() -> None:
    grids = RecentGrids(kept=2)
    now = time.time()
    done = dict(state=TaskState.SUCCEEDED, provider_task_id="p", finished_at=now)
    grids.remember(task_record("a", prompt="first", **done))
    grids.remember(task_record("u", kind="upscale", prompt="single image", **done))
    grids.remember(task_record("f", prompt="failed", state=TaskState.FAILED, finished_at=now))
    assert grids.prompt("a") == "first" and grids.prompt("u") is None and grids.prompt("f") is None
    grids.remember(task_record("b", prompt="second", remix_prompt="remixed", **done))
    grids.remember(task_record("c", prompt="third", **done))
    assert grids.prompt("a") is None and grids.prompt("b") == "remixed" and len(grids) == 2
    assert grids.prompt("c", now=now + GRID_MAX_AGE_S + 1) is None  # too old to vary: the store says why
    assert len(grids) == 1


async def _state(setup: Setup, task_id: str, state: str) -> bool:
    task = await setup.store.get(task_id)
    return task is not None and task.state == state


async def test_tasks_page_and_filter(setup: Setup) -> None:
    setup.fake.duration_s = 0
    for n in range(3):
        await setup.grid(prompt=f"prompt {n}")
    page = await setup.service.tasks_page(ALICE.user_id, ALICE.guild_id)
    assert page.pages == 1 and "**Your tasks** · page 1/1 · 3 in all" in page.content
    assert page.content.index("prompt 2") < page.content.index("prompt 0")
    assert "imagine" in page.content and "done" in page.content
    failed = await setup.service.tasks_page(ALICE.user_id, ALICE.guild_id, "failed")
    assert "No failed tasks." in failed.content
    empty = await setup.service.tasks_page(BOB.user_id, BOB.guild_id)
    assert "Nothing here yet" in empty.content


async def test_task_detail_is_private(setup: Setup) -> None:
    grid = await setup.grid()
    assert f"**Task `{grid}`**" in await setup.service.task_detail(ALICE.user_id, grid)
    with pytest.raises(BotError, match=f"No task `{grid}` in your log"):
        await setup.service.task_detail(BOB.user_id, grid)


async def test_reroll_reuses_the_prompt(setup: Setup) -> None:
    grid = await setup.grid(prompt="roll me again")
    reply = await setup.service.reroll(BOB, grid)
    assert (
        reply.task is not None and reply.task.prompt == "roll me again" and reply.task.user_id == BOB.user_id
    )
    await asyncio.sleep(0)


async def test_provider_lookup_waits_out_a_provider_pause(setup: Setup) -> None:
    seeded = setup.fake.seed_task("elsewhere")
    setup.engine.pause.until = time.time() + 30
    with pytest.raises(BotError) as caught:
        await setup.service.vary(ALICE, seeded.task_id, 1, "strong", None)
    assert "try again in about 30 seconds" in caught.value.user_message
    assert setup.fake.requests == []
