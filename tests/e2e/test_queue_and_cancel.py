"""A member's queue (over MAX_ACTIVE_PER_USER a request waits, and starts by itself when a slot frees)
and Cancel (the button on the private reply, and /cancel) in both states, waiting and running."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from sandbox.world import world
from tests.e2e.conftest import rows
from tests.e2e.members import ask, bot_posts, delivered, labels, posted, started, state_of, task_id


def count_running_at_creates(w: Any) -> list[int]:
    """Wrap the fake provider so that each create records how many of its tasks were still running."""
    seen: list[int] = []
    original = w.provider.new_task

    def new_task(*args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        seen.append(sum(not t.finished(now) for t in w.provider.tasks.values()))
        return original(*args, **kwargs)

    w.provider.new_task = new_task
    return seen


async def test_over_the_limit_requests_wait_in_order_and_start_by_themselves(tmp_path: Path) -> None:
    async with world(tmp_path, duration_s=1.0, MAX_ACTIVE_PER_USER="1") as w:
        running_at_create = count_running_at_creates(w)
        asks = []
        for n in (1, 2, 3):
            asks.append(await w.discord.slash(w.alice, w.channel, "imagine", prompt=f"study number {n}"))
            await w.discord.wait_for_answer(asks[-1], lambda t: "`" in t)
        texts = [i.visible_text() for i in asks]
        ids = [task_id(t) for t in texts]
        assert texts[0].startswith(f"Started `{ids[0]}` (imagine).")
        assert texts[1].startswith(f"Queued `{ids[1]}` (imagine): number 1 in your queue.")
        assert texts[2].startswith(f"Queued `{ids[2]}` (imagine): number 2 in your queue.")
        assert all(labels(i.original or {}) == ["Cancel"] for i in asks)

        # The third moves up when the first finishes: its reply is edited to say so.
        moved = await w.discord.wait_for_answer(asks[2], lambda t: "number 1 in your queue" in t, 20)
        assert moved == f"`{ids[2]}` · imagine · number 1 in your queue…"
        posts = [await posted(w, task) for task in ids]
        assert [p["content"].split("**")[1] for p in posts] == [f"study number {n}" for n in (1, 2, 3)]
        for interaction in asks:
            final = await w.discord.wait_for_answer(interaction, lambda t: "posted" in t)
            assert "done — posted: https://discord.com/channels/" in final
            assert labels(interaction.original or {}) == []
        # The third reply, edit by edit: waiting second, then first, then posted.
        seen = [rev["content"] for rev in (asks[2].original or {})["revisions"] if rev["content"]]
        steps = ["number 2 in your queue", "number 1 in your queue", "done — posted"]
        at = [next(n for n, text in enumerate(seen) if step in text) for step in steps]
        assert at == sorted(at), seen

        prompts = [call.body["prompt"] for call in w.provider.calls("imagine")]
        assert prompts == [f"study number {n}" for n in (1, 2, 3)]
        assert running_at_create == [0, 0, 0]  # never two at the provider at once
        sent = [
            rows(w.data_dir, "SELECT submitted_at FROM tasks WHERE id = ?", i)[0]["submitted_at"] for i in ids
        ]
        assert sent == sorted(sent), "the queue started its tasks out of order"
        assert not w.discord.violations and not w.discord.unanswered()


async def test_a_full_queue_is_refused_with_the_unfinished_tasks(tmp_path: Path) -> None:
    async with world(tmp_path, duration_s=30, MAX_ACTIVE_PER_USER="2", MAX_QUEUED_PER_USER="1") as w:
        ids = []
        for n in (1, 2, 3):
            interaction = await w.discord.slash(w.alice, w.channel, "imagine", prompt=f"slow study {n}")
            ids.append(await started(w, interaction))
        refused = await ask(w, w.alice, "imagine", prompt="one too many")
        assert refused.startswith(
            "You already have 3 unfinished tasks (the limit is 2 running and 1 waiting)."
        )
        for task in ids:
            assert f"• `{task}` imagine · " in refused
        assert "number 1 in your queue" not in refused and "queued" in refused
        assert len(w.provider.creates()) == 2
        # The limit is per member: bob is not held up by alice's queue.
        assert "Started" in await ask(w, w.bob, "imagine", prompt="bob's own study")


async def test_cancel_a_waiting_task_from_its_reply_sends_nothing(tmp_path: Path) -> None:
    async with world(tmp_path, duration_s=1.5, MAX_ACTIVE_PER_USER="1") as w:
        first = await w.discord.slash(w.alice, w.channel, "imagine", prompt="the one that runs")
        first_id = await started(w, first)
        second = await w.discord.slash(w.alice, w.channel, "imagine", prompt="the one I change my mind on")
        second_id = await started(w, second)
        assert second.original is not None and labels(second.original) == ["Cancel"]

        press = await w.discord.press(w.alice, second.original, "Cancel")
        text = await w.discord.wait_for_answer(press, lambda t: "Cancelled" in t)
        assert text == (
            f"Cancelled `{second_id}` (imagine): it was still waiting, so nothing was sent or charged."
        )
        assert labels(second.original) == [] and second.visible_text() == text
        assert state_of(w, second_id) == "cancelled"

        # A later request queues behind the running one; once it has been made and posted, the
        # cancelled (older) one would have gone first had it still been waiting.
        third = await w.discord.slash(w.alice, w.channel, "imagine", prompt="the one after")
        third_id = await started(w, third)
        await posted(w, first_id)
        await posted(w, third_id)
        assert [c.body["prompt"] for c in w.provider.creates()] == ["the one that runs", "the one after"]
        assert len(bot_posts(w.channel)) == 2 and state_of(w, second_id) == "cancelled"
        assert f"`{second_id}` · imagine · “the one I change my mind on” · cancelled" in await ask(
            w, w.alice, "tasks"
        )


async def test_cancel_a_running_task_may_charge_and_is_never_posted(tmp_path: Path) -> None:
    async with world(tmp_path, duration_s=2.5) as w:
        running = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a change of heart")
        running_id = await started(w, running)
        text = await ask(w, w.alice, "cancel", id=running_id)
        assert text == (
            f"Cancelled `{running_id}` (imagine): I stop following it and won't post it. It had already "
            "reached the provider, which may still charge for it."
        )
        assert state_of(w, running_id) == "cancelled"
        assert await w.discord.wait_for_answer(running, lambda t: "cancelled" in t) == (
            f"`{running_id}` · imagine · cancelled."
        )
        assert labels(running.original or {}) == []  # its Cancel button went with it

        # The provider finishes it anyway; a task started after that is made and posted, the
        # cancelled one never is.
        [fake] = w.provider.tasks.values()
        w.provider.duration_s = 0.5
        while not fake.finished(time.monotonic()):
            await asyncio.sleep(0.05)
        later = await w.discord.slash(w.alice, w.channel, "imagine", prompt="after the change of heart")
        later_id = await started(w, later)
        await posted(w, later_id)
        await delivered(w, later_id)
        assert [m["content"].split("**")[1] for m in bot_posts(w.channel)] == ["after the change of heart"]
        assert state_of(w, running_id) == "cancelled"
        assert "· cancelled" in await ask(w, w.alice, "task", id=running_id)


async def test_cancel_refuses_other_members_and_finished_tasks(tmp_path: Path) -> None:
    async with world(tmp_path, duration_s=3.0) as w:
        mine = await w.discord.slash(w.alice, w.channel, "imagine", prompt="alice's own")
        mine_id = await started(w, mine)
        assert await ask(w, w.bob, "cancel", id=mine_id) == (
            f"No task `{mine_id}` in your log. See /tasks for your ids."
        )
        assert state_of(w, mine_id) != "cancelled"
        await posted(w, mine_id)
        text = await ask(w, w.alice, "cancel", id=mine_id)
        assert "nothing to cancel" in text and text.startswith(f"`{mine_id}` is already done")
        assert state_of(w, mine_id) == "succeeded"
