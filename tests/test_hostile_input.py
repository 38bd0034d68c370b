"""Hostile input at the service layer: other servers' ids, look-up floods, invisible characters,
an upscale passed off as a grid, forged page numbers, prompts made of markdown."""

from __future__ import annotations

import pytest

from bot import messages
from bot.errors import BotError
from bot.store import TaskState
from bot.tasks import Actor
from tests.helpers import eventually
from tests.service_rig import ALICE, Setup

MALLORY = Actor(66, 99, 990)  # a member of another server


async def test_another_servers_grid_reads_as_unknown_and_nothing_is_asked(setup: Setup) -> None:
    grid = await setup.grid(ALICE, "our server's secret prompt")
    asked = len(setup.fake.requests)
    for reference in (grid, (await setup.store.get(grid)).provider_task_id or ""):  # type: ignore[union-attr]
        with pytest.raises(BotError, match="Neither I nor the provider know"):
            await setup.service.vary(MALLORY, reference, 1, None, None)
    assert len(setup.fake.requests) == asked


async def test_unknown_ids_are_looked_up_only_within_limits_and_a_few_a_minute(setup: Setup) -> None:
    await setup.store.set_guild_paused(ALICE.guild_id or 0, True, 1)
    with pytest.raises(BotError, match="paused new requests"):
        await setup.service.vary(ALICE, "some-provider-id", 1, None, None)
    assert setup.fake.requests == []
    await setup.store.set_guild_paused(ALICE.guild_id or 0, False, 1)
    for n in range(3):
        with pytest.raises(BotError, match="Neither I nor the provider know"):
            await setup.service.vary(ALICE, f"unknown-{n}", 1, None, None)
    with pytest.raises(BotError, match="try again in about"):
        await setup.service.vary(ALICE, "unknown-3", 1, None, None)
    assert len([r for r in setup.fake.requests if r.call == "status"]) == 3


async def test_control_characters_and_bidi_overrides_never_reach_the_provider(setup: Setup) -> None:
    reply = await setup.service.imagine(ALICE, "a\x00 cat\x1b[31m in\u202e red\u2066 boots\tnow")
    assert reply.task is not None and reply.task.prompt == "a cat[31m in red boots now"
    assert setup.fake.calls("imagine")[0].body["prompt"] == "a cat[31m in red boots now"
    with pytest.raises(BotError, match="prompt is empty"):
        await setup.service.imagine(ALICE, "\x00\u202e\x07")


async def test_an_upscale_is_not_a_grid(setup: Setup) -> None:
    grid = await setup.grid()
    upscale = (await setup.service.upscale(ALICE, grid, 2)).task
    assert upscale is not None

    async def done() -> bool:
        task = await setup.store.get(upscale.id)
        return task is not None and task.state == TaskState.SUCCEEDED

    await eventually(done)
    with pytest.raises(BotError, match="single upscaled image, not a grid") as caught:
        await setup.press(ALICE, upscale.id, 1)
    assert grid in caught.value.user_message


async def test_a_forged_page_number_shows_the_last_page(setup: Setup) -> None:
    await setup.grid()
    page = await setup.service.tasks_page(ALICE.user_id, ALICE.guild_id, "all", 10**20)
    assert page.page == 1 and "page 1/1" in page.content


def test_a_prompt_of_markdown_never_pushes_the_id_line_out_of_the_post() -> None:
    from dataclasses import replace

    from tests.test_schedule import BASE

    task = replace(BASE, id="abc123", prompt="*_" * 3000, state=TaskState.SUCCEEDED)
    post = messages.result(task)
    assert len(post) <= messages.DISCORD_CONTENT_MAX and "abc123" in post.splitlines()[-1]
