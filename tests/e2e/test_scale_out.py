"""Scaled out: two bot processes, one shard each, one PostgreSQL database (`sandbox/cluster.py`).

What members see must not depend on which process holds their guild's shard or follows their task:
both share the work, a process killed with `kill -9` loses nothing (the other takes its leases over
and delivers what it had started), nothing is created or posted twice, and a restarted process
serves its guild again.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.cluster import LEASE_S, cluster
from sandbox.discord import Channel
from tests.e2e.scale import (
    all_posted,
    both_claimed,
    creates_per_request,
    imagine,
    posted,
    posts_of,
    started,
)

pytestmark = pytest.mark.timeout(150)

# Long enough that every task of the burst is still running at the provider when a process dies.
BURST_DURATION_S = 8.0


async def test_two_processes_share_the_work_and_a_kill_9_loses_nothing(
    tmp_path: Path, pg_server: str
) -> None:
    async with cluster(tmp_path, pg_server, POLL_FIRST_S="0.3", POLL_MAX_S="0.5") as c:
        zero, one = c.nodes
        channels: dict[str, Channel] = {}

        # Two grids in each guild, posted and recorded, to press V on.
        grids: list[dict[str, Any]] = []
        for node in c.nodes:
            for n in range(2):
                task = await started(c, await imagine(c, c.members[n], node, f"grid {node.shard}.{n}"))
                channels[task] = node.channel
                grids.append(await posted(c, task, node.channel))
        await c.wait_for_rows(
            "SELECT id FROM tasks WHERE delivered_at IS NOT NULL", check=lambda found: len(found) == 4
        )

        # The burst: 36 /imagine and 4 V presses across both guilds, all asked at once.
        c.provider.duration_s = BURST_DURATION_S
        asked = []
        for n in range(36):
            node = c.nodes[n % 2]
            asked.append((node, await imagine(c, c.members[n % 3], node, f"burst {n}")))
        for n, message in enumerate(grids):
            node = c.nodes[n // 2]
            asked.append((node, await c.discord.press(c.members[2], message, f"V{n + 1}")))
        burst = await asyncio.gather(*(started(c, interaction) for _, interaction in asked))
        channels.update((task, node.channel) for task, (node, _) in zip(burst, asked, strict=True))
        assert len(set(burst)) == 40

        # Both processes follow tasks, whichever guild they came from.
        await both_claimed(c)

        # kill -9 the process of shard 1 while its guild's tasks are still at the provider.
        await c.kill(one)
        killed_at = time.monotonic()
        unfinished = await c.rows(
            "SELECT id FROM tasks WHERE guild_id = $1 AND finished_at IS NULL", int(one.guild.id)
        )
        assert unfinished, "the kill came too late: nothing of shard 1 was left to take over"

        # The survivor takes the dead process's leases over and posts everything, in both guilds.
        await all_posted(channels, timeout=LEASE_S + BURST_DURATION_S + 10)
        taken_over_in = time.monotonic() - killed_at
        done = await c.wait_for_rows(
            "SELECT id, state FROM tasks WHERE delivered_at IS NOT NULL",
            check=lambda found: len(found) == 44,
        )
        assert {row["state"] for row in done} == {"succeeded"}
        # Every delivery is recorded, so nothing more will be posted: count the posts now.
        assert {task: len(posts_of(channel, task)) for task, channel in channels.items()} == dict.fromkeys(
            channels, 1
        ), f"took {taken_over_in:.1f}s"
        created = creates_per_request(c)
        assert len(created) == 44 and set(created.values()) == {1}

        # The restarted process serves its guild again.
        await c.restart(one)
        again = await started(c, await imagine(c, c.members[0], one, "after the restart"))
        await posted(c, again, one.channel)

        # Commands were synced once, by the process running shard 0; never by the other one.
        assert c.discord.command_syncs == ["global"]
        assert "synced" in zero.bot.log() and "synced" not in one.bot.log().replace(
            "commands are synced by the process that runs shard 0", ""
        )
        assert c.discord.violations == [] and c.discord.unanswered() == []
