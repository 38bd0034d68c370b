"""Scaled out, what one process tells the other: a callback received by either process wakes the
task wherever it is followed, and a member's private reply, held by the process whose shard got the
interaction, shows the progress and the result link when the other process followed the task."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.cluster import Node, cluster
from tests.e2e.members import task_id
from tests.e2e.scale import claimed, imagine, posted, started
from tests.helpers import eventually

pytestmark = pytest.mark.timeout(120)


async def test_a_callback_to_either_process_wakes_the_task(tmp_path: Path, pg_server: str) -> None:
    # The first status read is due a minute after the create: only a callback explains an earlier end.
    async with cluster(
        tmp_path, pg_server, callbacks=True, duration_s=0.5, POLL_FIRST_S="60", POLL_MAX_S="60"
    ) as c:
        zero, one = c.nodes

        async def finished_by_callback(creator: Node, prompt: str, receiver: Node) -> None:
            task = await started(c, await imagine(c, c.members[0], creator, prompt))
            await posted(c, task, creator.channel)
            (row,) = await c.rows("SELECT provider_task_id FROM tasks WHERE id = $1", task)
            fake = c.provider.tasks[row["provider_task_id"]]
            # The provider was given the URL of the process that created the task...
            assert fake.callback_url is not None and fake.callback_url.startswith(creator.base_url)
            path = fake.callback_url[len(creator.base_url) :]
            # ...and the callback reached `receiver`, which took it, and nothing but it read the status.
            assert [
                (url, status)
                for url, body, status in c.provider.callbacks_posted
                if body["data"]["taskId"] == fake.task_id
            ] == [(receiver.base_url + path, 200)]
            assert fake.status_reads == 1

        # Each process receives the callbacks of the tasks it created.
        await finished_by_callback(zero, "called back to shard 0", zero)
        await finished_by_callback(one, "called back to shard 1", one)

        # Behind one proxy a callback may reach either process: send each to the other one.
        swap = {zero.base_url: one.base_url, one.base_url: zero.base_url}

        def elsewhere(url: str) -> str:
            base = next(b for b in swap if url.startswith(b))
            return swap[base] + url[len(base) :]

        c.provider.redirect_callbacks = elsewhere
        await finished_by_callback(zero, "created on 0, called back on 1", one)
        await finished_by_callback(one, "created on 1, called back on 0", zero)
        assert c.discord.violations == []


async def test_the_reply_follows_a_task_the_other_process_polls(tmp_path: Path, pg_server: str) -> None:
    # The process of shard 0 takes one check at a time, and a status read that the provider keeps
    # open occupies it, so every check of the member's task must be the other process's.
    async with cluster(
        tmp_path,
        pg_server,
        duration_s=0.5,
        POLL_FIRST_S="0.2",
        POLL_MAX_S="0.4",
        node_env={0: {"ENGINE_CONCURRENCY": "1", "PROVIDER_TIMEOUT_S": "120"}},
    ) as c:
        zero, one = c.nodes
        # With shard 1's process down, only shard 0's process can take the blocker's first check.
        await one.bot.stop()
        c.provider.inject("status", "hold")
        blocker = await started(c, await imagine(c, c.members[0], zero, "a check that hangs"))
        await eventually(lambda: c.provider.calls("status"), timeout=10)
        await c.restart(one)

        # Long enough at the provider for several progress reports.
        c.provider.duration_s = 5.0
        ask = await imagine(c, c.members[1], zero, "followed by the other process")
        task = await started(c, ask)
        post = await posted(c, task, zero.channel)
        link = f"https://discord.com/channels/{zero.guild.id}/{zero.channel.id}/{post['id']}"
        final = await c.discord.wait_for_answer(ask, lambda text: "posted:" in text)
        assert final.endswith(f"done — posted: {link}")
        revisions = [str(revision["content"]) for revision in (ask.original or {}).get("revisions", [])]
        shown = revisions[next(n for n, text in enumerate(revisions) if text.startswith("Started")) :]
        assert shown[0].startswith(f"Started `{task}`") and shown[-1] == final
        # In between, progress the other process read, shown by this one.
        assert any(text.startswith(f"`{task}`") and "running" in text for text in shown[1:-1]), shown

        # Shard 0's process still holds its one check; the other one did all the following.
        zero_health = await c.health(zero)
        assert zero_health["engine"]["inflight"] >= 1
        assert await claimed(c, one) > 0

        # Let the held read answer: the blocker is delivered too, once.
        c.provider.release_held()
        await posted(c, blocker, zero.channel)
        assert task_id(final) == task and c.discord.violations == []
