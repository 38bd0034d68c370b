"""Failures are told privately, worded for what the member did: in their reply while it can be edited,
else by DM, else a short note in the channel without the prompt or the reason. Provider codes only in
/task. And the commands a member is offered follow what the configured provider can do."""

from __future__ import annotations

from pathlib import Path

from sandbox.world import world
from tests.e2e.members import ask, bot_posts, delivered, grid, started

REFUSED = "The provider refused to make this image (often its moderation filter)."


async def test_a_failed_imagine_and_a_failed_variation_are_told_in_the_reply(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        bad = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a forbidden garden [fail]")
        bad_id = await started(w, bad)
        text = await w.discord.wait_for_answer(bad, lambda t: "did not work" in t)
        assert text.startswith(f"Your /imagine `{bad_id}` (“a forbidden garden [fail]”) did not work: ")
        assert text.endswith(f"{REFUSED} — moderation: prompt rejected. Try a different prompt.")
        assert bad.original is not None and bad.original["components"] == []  # no Cancel left
        await delivered(w, bad_id)

        grid_id, post = await grid(w, "a lantern festival")
        w.provider.fail_next_task(501, "moderation: image rejected")
        press = await w.discord.press(w.bob, post, "V2")
        v2_id = await started(w, press)
        text = await w.discord.wait_for_answer(press, lambda t: "did not work" in t)
        assert text.startswith(f"Your V2 of `{grid_id}` `{v2_id}` did not work: {REFUSED}")
        assert text.endswith("Try another image or a different prompt.")
        assert "provider code" not in text and "501" not in text
        await delivered(w, v2_id)

        # Nothing about either failure in the channel, and no DM: the reply said it all.
        assert [m["id"] for m in bot_posts(w.channel)] == [post["id"]]
        assert w.discord.dm_channel(w.alice) is None and w.discord.dm_channel(w.bob) is None
        for who, task in ((w.alice, bad_id), (w.bob, v2_id)):
            detail = await ask(w, who, "task", id=task)
            assert "(provider code 501)" in detail and "failed" in detail


async def test_after_a_restart_a_failure_goes_by_dm_or_as_a_short_channel_note(tmp_path: Path) -> None:
    async with world(tmp_path, duration_s=3.0) as w:
        w.discord.dm_closed.add(w.bob.id)
        mine = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a secret recipe [fail]")
        mine_id = await started(w, mine)
        theirs = await w.discord.slash(w.bob, w.channel, "imagine", prompt="a private diary [fail]")
        theirs_id = await started(w, theirs)
        # A new process has no interaction tokens: the replies cannot be edited any more.
        await w.restart()

        dm = await w.first_dm(w.alice, timeout=20)
        assert dm["content"].startswith(f"Your /imagine `{mine_id}` (“a secret recipe [fail]”) did not work")
        assert REFUSED in dm["content"] and "provider code" not in dm["content"]
        assert "did not work" not in (mine.original or {}).get("content", "")

        note = await w.discord.wait_for_message(w.channel, lambda m: theirs_id in m["content"], timeout=20)
        assert note["content"] == (
            f"<@{w.bob.id}> your request `{theirs_id}` did not work. `/task id:{theirs_id}` says why."
        )
        assert note["pinged"] == [w.bob.id] and note["attachments"] == []
        await delivered(w, mine_id)
        assert [m["id"] for m in bot_posts(w.channel)] == [note["id"]]  # alice's failure stayed private
        assert "(provider code 501)" in await ask(w, w.bob, "task", id=theirs_id)


async def test_vary_is_registered_in_the_shape_each_provider_supports(tmp_path: Path) -> None:
    for name in ("midapi", "vtrix"):
        (tmp_path / name).mkdir()
    async with world(tmp_path / "midapi") as w:
        vary = w.discord.command_schema("vary", None)
        assert [o["name"] for o in vary["options"]] == ["task", "image"]
        assert all(o["required"] for o in vary["options"])
        w.discord.command_schema("imagine", None)
    async with world(tmp_path / "vtrix", "vtrix") as w:
        vary = w.discord.command_schema("vary", None)
        options = {o["name"]: o for o in vary["options"]}
        assert list(options) == ["task", "image", "strength", "remix"]
        assert sorted(c["value"] for c in options["strength"]["choices"]) == ["strong", "subtle"]
        assert not options["strength"].get("required") and not options["remix"].get("required")
        w.discord.command_schema("imagine", None)


async def test_a_provider_that_cannot_imagine_offers_no_imagine(tmp_path: Path) -> None:
    async with world(tmp_path, "vtrix", VTRIX_IMAGINE_MODEL="") as w:
        names = {c["name"] for c in w.discord.global_commands}
        assert "imagine" not in names and {"vary", "tasks", "task", "settings"} <= names


async def test_vary_without_strength_uses_the_members_setting(tmp_path: Path) -> None:
    async with world(tmp_path, "vtrix") as w:
        grid_id, _post = await grid(w, "a field of poppies")
        assert "subtle" in await ask(w, w.bob, "settings", strength="subtle")
        vary = await w.discord.slash(w.bob, w.channel, "vary", task=grid_id, image=1)
        await started(w, vary)
        assert w.provider.calls("vary")[0].body["type"] == 0
        vary = await w.discord.slash(w.alice, w.channel, "vary", task=grid_id, image=1)
        await started(w, vary)
        assert w.provider.calls("vary")[1].body["type"] == 1  # alice kept the default, strong
