"""What members see in the channel: Midjourney's captions, ids and lineage in small text, no cost, and a
ping for the requester only; /task's lineage; /show re-posting a grid with live buttons."""

from __future__ import annotations

from pathlib import Path

from sandbox.world import world
from tests.e2e.members import (
    ask,
    bot_posts,
    grid,
    labels,
    posted,
    small_text,
    started,
)


def jump(message: dict[str, object]) -> str:
    """The message's link, as Discord's "jump to" builds it."""
    return f"https://discord.com/channels/{message['guild_id']}/{message['channel_id']}/{message['id']}"


async def test_midapi_captions_lineage_and_pings(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        # The prompt names bob; only alice, who asked, may be pinged by her grid.
        prompt = f"a portrait of <@{w.bob.id}> as a lighthouse keeper"
        grid_id, post = await grid(w, prompt)
        assert post["content"].splitlines()[0] == f"**{prompt}** - <@{w.alice.id}>"
        assert small_text(post) == f"-# `{grid_id}`"
        assert post["pinged"] == [w.alice.id]

        v2 = await w.discord.press(w.bob, post, "V2")
        v2_id = await started(w, v2)
        variation = await posted(w, v2_id)
        assert variation["content"].startswith(f"**{prompt}** - Variations by <@{w.bob.id}>\n")
        assert small_text(variation) == f"-# `{v2_id}` · V2 of `{grid_id}` · [from this grid]({jump(post)})"
        assert variation["pinged"] == [w.bob.id]

        u3 = await w.discord.press(w.bob, post, "U3")
        u3_id = await started(w, u3)
        upscaled = await posted(w, u3_id)
        assert upscaled["content"].startswith(f"**{prompt}** - Image #3 <@{w.bob.id}>\n")
        assert small_text(upscaled) == f"-# `{u3_id}` · U3 of `{grid_id}` · [from this grid]({jump(post)})"
        assert upscaled["pinged"] == [w.bob.id] and labels(upscaled) == []

        for message in bot_posts(w.channel):
            assert "$" not in message["content"] and "cost" not in message["content"].lower()
        assert not w.discord.violations and not w.discord.unanswered()


async def test_vtrix_captions_name_strength_and_remix(tmp_path: Path) -> None:
    async with world(tmp_path, "vtrix") as w:
        grid_id, post = await grid(w, "a quiet forest")
        strong = await w.discord.press(w.bob, post, "V1")
        variation = await posted(w, await started(w, strong))
        assert variation["content"].startswith(f"**a quiet forest** - Variations (Strong) by <@{w.bob.id}>\n")
        assert f" · V1 strong of `{grid_id}` · [from this grid]({jump(post)})" in small_text(variation)

        subtle = await w.discord.slash(w.alice, w.channel, "vary", task=grid_id, image=2, strength="subtle")
        variation = await posted(w, await started(w, subtle))
        assert variation["content"].startswith(f"**a quiet forest** - Variations (Subtle) by <@{w.alice.id}>")

        remix = await w.discord.slash(w.alice, w.channel, "vary", task=grid_id, image=3, remix="in snow")
        remixed = await posted(w, await started(w, remix))
        assert remixed["content"].startswith(f"**in snow** - Remix (Strong) by <@{w.alice.id}>")
        assert remixed["pinged"] == [w.alice.id]
        for message in bot_posts(w.channel):
            assert "$" not in message["content"]
        # The cost is kept for the member's own log, not the channel.
        assert "$0.04" in await ask(w, w.alice, "task", id=grid_id)


async def test_task_shows_where_a_result_came_from_and_what_came_of_it(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        grid_id, post = await grid(w, "a harbour at noon")
        v2 = await w.discord.press(w.alice, post, "V2")
        v2_id = await started(w, v2)
        variation = await posted(w, v2_id)

        child = await ask(w, w.alice, "task", id=v2_id)
        assert f"**Task `{v2_id}`** · V2 of {grid_id} · done" in child
        assert f"Made from: [`{grid_id}`]({jump(post)}) by V2" in child
        assert f"Result: {jump(variation)}" in child

        parent = await ask(w, w.alice, "task", id=grid_id)
        assert f"↳ V2: [`{v2_id}`]({jump(variation)}) · done" in parent
        assert "Made from" not in parent


async def test_show_reposts_a_grid_with_live_buttons_for_its_owner_only(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        grid_id, _post = await grid(w, "a comet over the bay")
        gallery = w.discord.add_channel(w.guild, "gallery")

        show = await w.discord.slash(w.alice, gallery, "show", id=grid_id)
        answer = await w.discord.wait_for_answer(show)
        assert answer.startswith(f"Posted `{grid_id}` here again, with live buttons: ") and show.ephemeral
        again = await w.discord.wait_for_message(gallery, lambda m: bool(m["attachments"]))
        assert answer.endswith(jump(again))
        assert again["content"].startswith(f"**a comet over the bay** - <@{w.alice.id}>")
        assert labels(again) == ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4", "🔄"]

        press = await w.discord.press(w.bob, again, "V1")
        v1_id = await started(w, press)
        variation = await posted(w, v1_id, gallery)
        assert variation["content"].startswith(f"**a comet over the bay** - Variations by <@{w.bob.id}>")
        assert f"V1 of `{grid_id}`" in small_text(variation)

        nosy = await w.discord.slash(w.bob, gallery, "show", id=grid_id)
        assert f"No task `{grid_id}` in your log" in await w.discord.wait_for_answer(nosy)
        assert len(bot_posts(gallery)) == 2  # the re-post and the variation, nothing for bob's /show
        assert not w.discord.violations and not w.discord.unanswered()
