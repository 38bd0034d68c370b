"""End to end: the real bot process, the loopback Discord and a loopback provider, driven like members."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp

from sandbox.world import PROVIDER_KEY, free_port, world
from tests.e2e.conftest import recorded, rows
from tests.helpers import eventually


def labels(message: dict[str, object]) -> list[str]:
    out = []
    for row in message.get("components") or []:  # type: ignore[attr-defined]
        for button in row["components"]:
            out.append(button.get("label") or button.get("emoji", {}).get("name"))
    return out


def is_result(task_word: str):  # type: ignore[no-untyped-def]
    """A result post whose caption or small text holds `task_word` (`imagine` for a new grid)."""
    if task_word == "imagine":
        return lambda m: bool(m["attachments"]) and " of `" not in m["content"]
    return lambda m: task_word in m["content"] and bool(m["attachments"])


async def test_midapi_imagine_then_v2_by_another_member(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a lighthouse at dusk")
        answer = await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        assert ask.ephemeral and ask.ack_latency is not None and ask.ack_latency < 3
        grid = await w.discord.wait_for_message(w.channel, is_result("imagine"))
        assert f"<@{w.alice.id}>" in grid["content"] and "a lighthouse at dusk" in grid["content"]
        assert grid["pinged"] == [w.alice.id]
        assert len(grid["attachments"]) == 4 and all(
            a["content_type"] == "image/png" for a in grid["attachments"]
        )
        assert grid["attachments"][0]["data"].startswith(b"\x89PNG")
        assert labels(grid) == ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4", "🔄"]
        grid_id = answer.split("`")[1]

        press = await w.discord.press(w.bob, grid, "V2")
        assert "Started" in await w.discord.wait_for_answer(press, lambda t: "Started" in t)
        variation = await w.discord.wait_for_message(w.channel, is_result(f"V2 of `{grid_id}`"))
        assert variation["content"].startswith(f"**a lighthouse at dusk** - Variations by <@{w.bob.id}>")
        assert variation["pinged"] == [w.bob.id] and "$" not in variation["content"]
        assert "V1" in labels(variation)
        sent = w.provider.calls("vary")[0].body
        assert (
            sent["imageIndex"] == 1
            and sent["taskId"]
            == rows(w.data_dir, "SELECT provider_task_id FROM tasks WHERE id = ?", grid_id)[0][
                "provider_task_id"
            ]
        )
        # The deferred reply followed the task to the end; the store records the post right after.
        await w.discord.wait_for_answer(press, lambda t: "posted" in t)
        await eventually(lambda: recorded(w.data_dir, "kind = 'vary' AND delivered_at IS NOT NULL"))
        logged = rows(
            w.data_dir, "SELECT user_id, kind, state, result_message_id FROM tasks WHERE kind = 'vary'"
        )
        assert logged == [
            {
                "user_id": int(w.bob.id),
                "kind": "vary",
                "state": "succeeded",
                "result_message_id": int(variation["id"]),
            }
        ]
        assert not w.discord.unanswered() and not w.discord.violations


async def test_vtrix_strength_and_remix(tmp_path: Path) -> None:
    async with world(tmp_path, "vtrix") as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a quiet forest")
        grid_id = (await w.discord.wait_for_answer(ask, lambda t: "Started" in t)).split("`")[1]
        grid = await w.discord.wait_for_message(w.channel, is_result("imagine"))

        vary = await w.discord.slash(
            w.alice, w.channel, "vary", task=grid_id, image=3, strength="subtle", remix="the forest in snow"
        )
        await w.discord.wait_for_answer(vary, lambda t: "Started" in t)
        first = w.provider.calls("vary")[0].body
        assert first["imageNo"] == 2 and first["type"] == 0 and first["remixPrompt"] == "the forest in snow"

        settings = await w.discord.slash(w.bob, w.channel, "settings", remix="on")
        assert "remix **on**" in await w.discord.wait_for_answer(settings)
        press = await w.discord.press(w.bob, grid, "V4")
        await eventually(lambda: press.modal is not None)  # the editor opens as the press's answer
        assert press.modal is not None, press.visible_text()
        field = press.modal["components"][0]["components"][0]
        assert field["value"] == "a quiet forest"
        submitted = await w.discord.submit_modal(w.bob, press, {"*": "a quiet forest at night"})
        await w.discord.wait_for_answer(submitted, lambda t: "Started" in t)
        second = w.provider.calls("vary")[1].body
        assert second == {
            "model": "midjourney_variation",
            "jobId": first["jobId"],
            "imageNo": 3,
            "type": 1,
            "remixPrompt": "a quiet forest at night",
        }
        await w.discord.wait_for_message(w.channel, is_result("Remix (Strong) by"))
        costs = rows(w.data_dir, "SELECT cost FROM tasks WHERE state = 'succeeded'")
        assert costs and all(row["cost"] == "0.04" for row in costs)
        assert not w.discord.unanswered() and not w.discord.violations


async def test_kill_9_mid_task_then_restart_delivers_once_without_second_create(tmp_path: Path) -> None:
    async with world(tmp_path, duration_s=3.0) as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a slow painting")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        await eventually(lambda: w.provider.calls("status"))  # the provider was asked: mid-task
        assert await w.restart(signal.SIGKILL) == -signal.SIGKILL
        await w.discord.wait_for_message(w.channel, is_result("imagine"), timeout=15)
        # Once the store says delivered, no process posts it again: the channel is final.
        await eventually(lambda: recorded(w.data_dir, "delivered_at IS NOT NULL"), timeout=10)
        posts = [m for m in w.channel.messages if m["attachments"]]
        assert len(posts) == 1 and len(w.provider.creates()) == 1


async def test_sigterm_during_a_task_exits_0_and_the_next_start_delivers(tmp_path: Path) -> None:
    async with world(tmp_path, duration_s=2.0) as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a patient harbour")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        code = await w.bot.stop(signal.SIGTERM, timeout=10)
        assert code == 0, w.bot.log()
        w.discord.forget_connections()
        w.discord.command_syncs.clear()
        await w.bot.start()
        await w.ready()
        await w.discord.wait_for_message(w.channel, is_result("imagine"), timeout=15)
        assert len(w.provider.creates()) == 1


async def test_429_and_maintenance_are_survived(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.provider.inject("create", "maintenance")
        w.provider.inject("status", "429", retry_after=1)
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a stormy sea")
        text = await w.discord.wait_for_answer(ask, lambda t: "`" in t)
        assert "queued" in text
        await w.discord.wait_for_message(w.channel, is_result("imagine"), timeout=20)
        assert len(w.provider.creates()) == 2  # the refused one and the accepted one
        assert not w.discord.unanswered()


async def test_generation_failure_is_explained(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="something forbidden [fail]")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        # Told privately, in the member's own reply, worded for an /imagine; nothing in the channel.
        text = await w.discord.wait_for_answer(ask, lambda t: "did not work" in t)
        assert "refused to make this image" in text and "Try a different prompt." in text
        assert "provider code" not in text and w.discord.messages(w.channel) == []
        task_id = text.split("`")[1]
        detail = await w.discord.slash(w.alice, w.channel, "task", id=task_id)
        assert "(provider code 501)" in await w.discord.wait_for_answer(detail)


async def test_double_press_makes_one_create(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="twin peaks")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        grid = await w.discord.wait_for_message(w.channel, is_result("imagine"))
        w.provider.duration_s = 3
        first = await w.discord.press(w.bob, grid, "V1")
        second = await w.discord.press(w.bob, grid, "V1")
        texts = [await w.discord.wait_for_answer(i, lambda t: "`" in t) for i in (first, second)]
        assert sum("Already working on it" in t for t in texts) == 1
        assert len(w.provider.calls("vary")) == 1


async def test_callbacks_end_to_end_and_a_forged_one_is_rejected(tmp_path: Path) -> None:
    # Slow polling, so only the callback can explain a fast result.
    port = free_port()
    async with world(
        tmp_path,
        HTTP_PORT=str(port),
        CALLBACK_PUBLIC_URL=f"http://127.0.0.1:{port}",
        POLL_FIRST_S="30",
        POLL_MAX_S="60",
        CALLBACK_SECRET="callback-secret-0123456789",
    ) as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a signal fire")
        task_id = (await w.discord.wait_for_answer(ask, lambda t: "Started" in t)).split("`")[1]
        url = w.provider.calls("imagine")[0].body["callBackUrl"]
        assert url.startswith(f"http://127.0.0.1:{port}/callbacks/midapi/{task_id}.")
        await w.discord.wait_for_message(
            w.channel, is_result("imagine"), timeout=8
        )  # polling alone would take 30 s
        async with aiohttp.ClientSession() as session:
            forged = f"http://127.0.0.1:{port}/callbacks/midapi/{task_id}.{'f' * 64}"
            async with session.post(forged, json={"code": 200, "data": {"taskId": "x"}}) as response:
                assert response.status == 404
        assert (
            rows(w.data_dir, "SELECT status_reads FROM tasks WHERE id = ?", task_id)[0]["status_reads"] == 1
        )


async def test_tasks_paging_and_privacy(tmp_path: Path) -> None:
    async with world(tmp_path, duration_s=0.1, MAX_ACTIVE_PER_USER="20") as w:
        for n in range(12):
            ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt=f"study number {n}")
            await w.discord.wait_for_answer(ask, lambda t: "`" in t)
        mine = await w.discord.slash(w.alice, w.channel, "tasks")
        page1 = await w.discord.wait_for_answer(mine, lambda t: "page 1/2" in t)
        assert "study number 11" in page1 and "study number 1”" not in page1 and mine.ephemeral
        assert page1.count("\n`") == 10
        page2_press = await w.discord.press(w.alice, mine.original or {}, "Next ▶")
        await eventually(lambda: "page 2/2" in (mine.original or {}).get("content", ""))
        assert "page 2/2" in (mine.original or {})["content"] and page2_press.answered
        assert "study number 0" in (mine.original or {})["content"]

        theirs = await w.discord.slash(w.bob, w.channel, "tasks")
        assert "Nothing here yet" in await w.discord.wait_for_answer(theirs)
        some_id = page1.split("`")[1]
        peek = await w.discord.slash(w.bob, w.channel, "task", id=some_id)
        assert f"No task `{some_id}` in your log" in await w.discord.wait_for_answer(peek)
        own = await w.discord.slash(w.alice, w.channel, "task", id=some_id)
        assert f"Task `{some_id}`" in await w.discord.wait_for_answer(own)
        assert not w.discord.violations


async def test_missing_permission_is_explained(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.discord.deny(w.channel, "attach_files")
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a locked gallery")
        text = await w.discord.wait_for_answer(ask)
        assert "missing the **Attach Files** permission" in text and ask.ephemeral
        assert w.provider.creates() == []
        assert "bot lacks Attach Files" in w.bot.log()


async def test_deleted_channel_result_goes_by_dm(tmp_path: Path) -> None:
    async with world(tmp_path, duration_s=1.0) as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a vanishing room")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        w.discord.delete_channel(w.channel)
        dm = await w.first_dm(w.alice)
        assert dm["attachments"] and "channel this was started in is gone" in dm["content"]


async def test_secrets_never_reach_the_log(tmp_path: Path) -> None:
    async with world(tmp_path, LOG_LEVEL="DEBUG", LOG_FORMAT="json") as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a secret garden")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        await w.discord.wait_for_message(w.channel, is_result("imagine"))
    log = w.bot.log()
    assert '"level": "INFO"' in log
    for secret in (w.discord.token, PROVIDER_KEY):
        assert secret not in log


async def test_dead_result_links_are_posted_as_linked_images(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        original = w.provider.new_task

        def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
            task = original(*args, **kwargs)
            w.provider.broken_files.add(task.task_id)
            return task

        w.provider.new_task = broken  # type: ignore[method-assign]
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="links that died")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        post = await w.discord.wait_for_message(w.channel, lambda m: "links that died" in m["content"])
        assert post["attachments"] == [] and len(post["embeds"]) == 4
        assert "could not be re-uploaded" in post["content"] and "V1" in labels(post)


async def test_permission_lost_before_delivery_sends_the_result_by_dm(tmp_path: Path) -> None:
    async with world(tmp_path, duration_s=1.0) as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a closing door")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        w.discord.deny(w.channel, "send_messages")
        dm = await w.first_dm(w.alice)
        assert dm["attachments"] and f"I couldn't post this in <#{w.channel.id}>" in dm["content"]
        assert "Send Messages" in dm["content"] and "missing: Send Messages" in w.bot.log()


async def test_members_are_told_the_bot_is_restarting_during_shutdown(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="in flight during shutdown")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        reads = len(w.provider.calls("status"))
        w.provider.inject("status", "slow", delay_s=3)  # keeps an engine read in flight while stopping
        await eventually(lambda: len(w.provider.calls("status")) > reads)
        assert w.bot.process is not None
        w.bot.process.send_signal(signal.SIGTERM)
        await eventually(lambda: "shutting down" in w.bot.log())
        late = await w.discord.slash(w.bob, w.channel, "imagine", prompt="too late")
        assert "restarting" in await w.discord.wait_for_answer(late)
        assert await asyncio.wait_for(w.bot.process.wait(), 12) == 0


async def test_u_button_posts_one_upscaled_image_without_buttons(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a castle to upscale")
        grid_id = (await w.discord.wait_for_answer(ask, lambda t: "Started" in t)).split("`")[1]
        grid = await w.discord.wait_for_message(w.channel, is_result("imagine"))
        press = await w.discord.press(w.bob, grid, "U3")
        await w.discord.wait_for_answer(press, lambda t: "Started" in t)
        upscaled = await w.discord.wait_for_message(w.channel, is_result(f"U3 of `{grid_id}`"))
        assert f"**a castle to upscale** - Image #3 <@{w.bob.id}>" in upscaled["content"]
        assert len(upscaled["attachments"]) == 1 and upscaled["components"] == []
        assert w.provider.calls("upscale")[0].body["imageIndex"] == 2


async def test_gateway_hiccup_is_resumed_and_members_keep_being_served(tmp_path: Path) -> None:
    async with world(tmp_path, duration_s=1.5) as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="through the storm")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        await w.discord.drop_gateway()
        for _ in range(100):
            if w.discord.is_connected():
                break
            await asyncio.sleep(0.1)
        assert w.discord.resumes == 1
        await w.discord.wait_for_message(w.channel, is_result("imagine"))
        again = await w.discord.slash(w.bob, w.channel, "imagine", prompt="after the storm")
        assert "Started" in await w.discord.wait_for_answer(again, lambda t: "Started" in t)


async def test_sigterm_lets_acknowledged_presses_finish_before_the_store_closes(tmp_path: Path) -> None:
    # Three presses acknowledged, their creates still at the provider when SIGTERM comes: each
    # member still gets their task started (nothing lost), and the process exits 0.
    async with world(tmp_path) as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a grid pressed at closing time")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        grid = await w.discord.wait_for_message(w.channel, is_result("imagine"))
        w.provider.inject("create", "slow", times=3, delay_s=2)
        members = [w.bob, w.discord.add_user("carol"), w.discord.add_user("dave")]
        presses = [await w.discord.press(m, grid, f"V{n + 1}") for n, m in enumerate(members)]
        await eventually(lambda: len(w.provider.creates()) == 4)  # all three creates in flight
        assert all(p.answered for p in presses) and w.bot.process is not None
        w.bot.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(w.bot.process.wait(), 15) == 0
        for press in presses:
            assert "Started" in await w.discord.wait_for_answer(press, lambda t: "Started" in t, timeout=1)
        assert "Cannot operate on a closed database" not in w.bot.log()
        assert (
            len(rows(w.data_dir, "SELECT id FROM tasks WHERE state = 'submitted' AND parent_id IS NOT NULL"))
            == 3
        )
