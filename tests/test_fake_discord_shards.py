"""The loopback Discord shards as Discord does, so a sharded bot can be tested against it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import discord as discordpy
import pytest
import yarl

from sandbox.discord import FakeDiscord
from sandbox.discord.model import shard_of


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = await FakeDiscord(recommended_shards=2).start()
    yield server
    await server.stop()


@pytest.fixture
def pointed_at_fake(fake: FakeDiscord) -> Iterator[None]:
    """discord.py reads these class attributes process-wide: restore them for the other tests."""
    saved = discordpy.http.Route.BASE, discordpy.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discordpy.http.Route.BASE = fake.api_url
    discordpy.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discordpy.http.Route.BASE, discordpy.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


def test_guilds_land_on_the_shard_asked_for_and_ids_keep_increasing(fake: FakeDiscord) -> None:
    owner = fake.add_user("owner")
    ids = []
    for shard in [(1, 2), (0, 2), (1, 2), (2, 3), (0, 3), (4, 5), (0, 1)]:
        guild = fake.add_guild(f"on {shard}", owner, shard=shard)
        assert shard_of(guild.id, shard[1]) == shard[0]
        ids.append(int(guild.id))
        ids.append(int(fake.add_channel(guild, "general").id))
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    with pytest.raises(ValueError):
        fake.add_guild("nowhere", owner, shard=(2, 2))


async def identify(session: aiohttp.ClientSession, fake: FakeDiscord, **extra: Any) -> Any:
    ws = await session.ws_connect(fake.gateway_url + "?v=10&encoding=json")
    assert (await ws.receive_json(timeout=5))["op"] == 10
    await ws.send_json({"op": 2, "d": {"token": fake.token, "intents": 1, "properties": {}, **extra}})
    return ws


async def test_a_shard_session_hears_only_its_guilds(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    owner, member = fake.add_user("owner"), fake.add_user("member")
    zero = fake.add_guild("zero", owner, shard=(0, 2))
    one = fake.add_guild("one", owner, shard=(1, 2))
    here, there = fake.add_channel(one, "here"), fake.add_channel(zero, "there")
    command = {"name": "ping", "description": "ping", "type": 1, "options": []}
    headers = {"Authorization": f"Bot {fake.token}"}
    async with session.get(fake.api_url + "/gateway/bot", headers=headers) as r:
        assert (await r.json())["shards"] == 2
    async with session.put(
        f"{fake.api_url}/applications/{fake.application_id}/commands", json=[command], headers=headers
    ) as r:
        assert r.status == 200

    ws = await identify(session, fake, shard=[1, 2])
    ready = await ws.receive_json(timeout=5)
    assert ready["t"] == "READY" and ready["d"]["shard"] == [1, 2]
    assert [g["id"] for g in ready["d"]["guilds"]] == [one.id]
    created = await ws.receive_json(timeout=5)
    assert created["t"] == "GUILD_CREATE" and created["d"]["id"] == one.id
    assert fake.connected_shards() == {1}

    await fake.slash(member, there, "ping")
    fake.deny(there, "embed_links")
    heard = await fake.slash(member, here, "ping")
    event = await ws.receive_json(timeout=5)
    assert event["t"] == "INTERACTION_CREATE" and event["d"]["id"] == heard.id
    assert event["s"] == created["s"] + 1  # nothing for shard 0 was sent in between
    await ws.close()


async def test_unsharded_sessions_hear_everything_and_unknown_resumes_are_refused(
    fake: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    owner = fake.add_user("owner")
    guilds = {fake.add_guild("zero", owner, shard=(0, 2)).id, fake.add_guild("one", owner, shard=(1, 2)).id}
    ws = await identify(session, fake)
    ready = await ws.receive_json(timeout=5)
    assert ready["d"]["shard"] == [0, 1] and {g["id"] for g in ready["d"]["guilds"]} == guilds
    await ws.close()

    ws = await session.ws_connect(fake.gateway_url)
    await ws.receive_json(timeout=5)
    await ws.send_json({"op": 6, "d": {"token": fake.token, "session_id": "nope", "seq": 3}})
    assert await ws.receive_json(timeout=5) == {"op": 9, "d": False, "s": None, "t": None}
    await ws.close()

    ws = await identify(session, fake, shard=[2, 2])
    await ws.receive(timeout=5)
    assert ws.close_code == 4010


class ShardOne(discordpy.AutoShardedClient):
    def __init__(self) -> None:
        super().__init__(
            intents=discordpy.Intents(guilds=True), shard_ids=[1], shard_count=2, guild_ready_timeout=0.2
        )
        self.interactions: list[discordpy.Interaction[Any]] = []
        self.up = asyncio.Event()

    async def on_ready(self) -> None:
        self.up.set()

    async def on_interaction(self, interaction: discordpy.Interaction[Any]) -> None:
        self.interactions.append(interaction)
        await interaction.response.send_message("pong", ephemeral=True)


@pytest.mark.usefixtures("pointed_at_fake")
async def test_discord_py_runs_one_shard_of_two_against_it(fake: FakeDiscord) -> None:
    owner, member = fake.add_user("owner"), fake.add_user("member")
    zero = fake.add_guild("zero", owner, shard=(0, 2))
    one = fake.add_guild("one", owner, shard=(1, 2))
    elsewhere, here = fake.add_channel(zero, "elsewhere"), fake.add_channel(one, "here")
    fake.global_commands = [{"id": "1", "name": "ping", "description": "ping", "type": 1, "options": []}]
    client = ShardOne()
    await client.login(fake.token)
    running = asyncio.create_task(client.connect())
    try:
        await asyncio.wait_for(client.up.wait(), 10)
        assert [g.id for g in client.guilds] == [int(one.id)] and client.shards.keys() == {1}
        assert fake.connected_shards() == {1}

        await fake.drop_gateway()
        for _ in range(100):
            if fake.connected_shards() == {1}:
                break
            await asyncio.sleep(0.05)
        assert fake.resumes == 1 and fake.connected_shards() == {1}

        missed = await fake.slash(member, elsewhere, "ping")
        heard = await fake.slash(member, here, "ping")
        assert await fake.wait_for_answer(heard) == "pong"
        # One websocket delivers in order: had `missed` reached shard 1, it would have come first.
        assert [i.id for i in client.interactions] == [int(heard.id)]
        assert not missed.answered and fake.violations == []
    finally:
        await client.close()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await running
