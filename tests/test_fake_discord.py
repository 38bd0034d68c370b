"""The loopback Discord refuses what Discord refuses, so a bot bug that would fail there fails here."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sandbox.discord import FakeDiscord
from sandbox.discord.model import Interaction


class Gateway:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.inflate = zlib.decompressobj()

    async def receive(self) -> dict[str, Any]:
        frame = await self.ws.receive(timeout=5)
        return json.loads(self.inflate.decompress(frame.data))  # type: ignore[no-any-return]


@pytest.fixture
async def discord() -> AsyncIterator[FakeDiscord]:
    fake = await FakeDiscord().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def gateway(discord: FakeDiscord, session: aiohttp.ClientSession) -> AsyncIterator[Gateway]:
    owner = discord.add_user("owner")
    guild = discord.add_guild("G", owner)
    discord.add_channel(guild, "general")
    ws = await session.ws_connect(discord.gateway_url + "?v=10&encoding=json&compress=zlib-stream")
    gw = Gateway(ws)
    hello = await gw.receive()
    assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
    await ws.send_json({"op": 2, "d": {"token": discord.token, "intents": 1, "properties": {}}})
    ready = await gw.receive()
    assert ready["t"] == "READY" and ready["d"]["application"]["id"] == discord.application_id
    created = await gw.receive()
    assert created["t"] == "GUILD_CREATE" and created["d"]["id"] == guild.id
    await ws.send_json({"op": 1, "d": 2})
    assert (await gw.receive())["op"] == 11
    headers = {"Authorization": f"Bot {discord.token}"}
    command = {"name": "ping", "description": "ping", "type": 1, "options": []}
    async with session.put(
        f"{discord.api_url}/applications/{discord.application_id}/commands", json=[command], headers=headers
    ) as r:
        assert r.status == 200
    yield gw
    await ws.close()


async def interaction(discord: FakeDiscord, gw: Gateway) -> Interaction:
    user = discord.add_user("member")
    channel = next(iter(discord.channels.values()))
    created = await discord.slash(user, channel, "ping")
    event = await gw.receive()
    assert event["t"] == "INTERACTION_CREATE" and event["d"]["token"] == created.token
    return created


def callback_url(discord: FakeDiscord, i: Interaction) -> str:
    return f"{discord.api_url}/interactions/{i.id}/{i.token}/callback"


def webhook_url(discord: FakeDiscord, i: Interaction) -> str:
    return f"{discord.api_url}/webhooks/{discord.application_id}/{i.token}"


async def test_bad_token_is_refused(discord: FakeDiscord, session: aiohttp.ClientSession) -> None:
    async with session.get(discord.api_url + "/users/@me", headers={"Authorization": "Bot wrong"}) as r:
        assert r.status == 401
    ws = await session.ws_connect(discord.gateway_url)
    await ws.receive(timeout=5)
    await ws.send_json({"op": 2, "d": {"token": "wrong"}})
    closing = await ws.receive(timeout=5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == 4004


async def test_double_acknowledgement_is_40060(
    discord: FakeDiscord, gateway: Gateway, session: aiohttp.ClientSession
) -> None:
    i = await interaction(discord, gateway)
    async with session.post(callback_url(discord, i), json={"type": 5, "data": {"flags": 64}}) as r:
        assert r.status == 200
    async with session.post(callback_url(discord, i), json={"type": 4, "data": {"content": "again"}}) as r:
        assert r.status == 400 and (await r.json())["code"] == 40060
    assert discord.violations


async def test_late_acknowledgement_is_10062(
    discord: FakeDiscord, gateway: Gateway, session: aiohttp.ClientSession
) -> None:
    i = await interaction(discord, gateway)
    i.dispatched_at -= 3.5
    async with session.post(callback_url(discord, i), json={"type": 5}) as r:
        assert r.status == 404 and (await r.json())["code"] == 10062
    assert discord.unanswered() == [i]


async def test_follow_up_before_acknowledgement(
    discord: FakeDiscord, gateway: Gateway, session: aiohttp.ClientSession
) -> None:
    i = await interaction(discord, gateway)
    async with session.post(webhook_url(discord, i), json={"content": "too early"}) as r:
        assert r.status == 404
    assert "before acknowledging" in discord.violations[0]


async def test_expired_token_is_50027(
    discord: FakeDiscord, gateway: Gateway, session: aiohttp.ClientSession
) -> None:
    i = await interaction(discord, gateway)
    async with session.post(callback_url(discord, i), json={"type": 5}) as r:
        assert r.status == 200
    i.dispatched_at -= 15 * 60 + 1
    async with session.patch(webhook_url(discord, i) + "/messages/@original", json={"content": "late"}) as r:
        assert r.status == 401 and (await r.json())["code"] == 50027


def button(custom_id: str = "x", label: str = "V1") -> dict[str, Any]:
    return {"type": 2, "style": 2, "custom_id": custom_id, "label": label}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"content": "x" * 2001}, "content is 2001"),
        ({"components": [{"type": 1, "components": [button()]}] * 6}, "6 component rows"),
        ({"components": [{"type": 1, "components": [button()] * 6}]}, "6 buttons in a row"),
        ({"components": [{"type": 1, "components": [button("c" * 101)]}]}, "custom_id"),
        ({"components": [{"type": 1, "components": [button(label="l" * 81)]}]}, "label is 81"),
    ],
)
async def test_payload_limits_are_50035(
    discord: FakeDiscord, gateway: Gateway, session: aiohttp.ClientSession, data: dict[str, Any], problem: str
) -> None:
    i = await interaction(discord, gateway)
    async with session.post(callback_url(discord, i), json={"type": 4, "data": data}) as r:
        body = await r.json()
        assert r.status == 400 and body["code"] == 50035 and problem in body["message"]


async def test_too_many_attachments(
    discord: FakeDiscord, gateway: Gateway, session: aiohttp.ClientSession
) -> None:
    channel = next(iter(discord.channels.values()))
    form = aiohttp.FormData()
    form.add_field("payload_json", json.dumps({"content": "files"}), content_type="application/json")
    for n in range(11):
        form.add_field(f"files[{n}]", b"\x89PNG\r\n\x1a\n", filename=f"{n}.png", content_type="image/png")
    headers = {"Authorization": f"Bot {discord.token}"}
    async with session.post(
        f"{discord.api_url}/channels/{channel.id}/messages", data=form, headers=headers
    ) as r:
        assert r.status == 400 and "11 attachments" in (await r.json())["message"]


async def test_missing_permission_is_50013(
    discord: FakeDiscord, gateway: Gateway, session: aiohttp.ClientSession
) -> None:
    channel = next(iter(discord.channels.values()))
    discord.deny(channel, "embed_links")
    headers = {"Authorization": f"Bot {discord.token}"}
    body = {"content": "x", "embeds": [{"image": {"url": "http://x/y.png"}}]}
    async with session.post(
        f"{discord.api_url}/channels/{channel.id}/messages", json=body, headers=headers
    ) as r:
        assert r.status == 403 and (await r.json())["code"] == 50013


async def post(
    discord: FakeDiscord, session: aiohttp.ClientSession, channel_id: str, body: dict[str, Any]
) -> aiohttp.ClientResponse:
    headers = {"Authorization": f"Bot {discord.token}"}
    async with session.post(
        f"{discord.api_url}/channels/{channel_id}/messages", json=body, headers=headers
    ) as r:
        await r.read()
        return r


async def test_allowed_mentions_decide_who_is_pinged(
    discord: FakeDiscord, gateway: Gateway, session: aiohttp.ClientSession
) -> None:
    channel = next(iter(discord.channels.values()))
    alice, bob = discord.add_user("alice"), discord.add_user("bob")
    both = f"<@{alice.id}> and <@!{bob.id}>, and <@{alice.id}> again"
    cases: list[tuple[dict[str, Any] | None, list[str]]] = [
        (None, [alice.id, bob.id]),
        ({"parse": ["users"]}, [alice.id, bob.id]),
        ({"parse": []}, []),
        ({"parse": ["roles", "everyone"]}, []),
        ({"users": [bob.id]}, [bob.id]),
    ]
    for allowed, pinged in cases:
        body: dict[str, Any] = {"content": both}
        if allowed is not None:
            body["allowed_mentions"] = allowed
        assert (await post(discord, session, channel.id, body)).status == 200
        message = channel.messages[-1]
        assert message["pinged"] == pinged, allowed
        assert [m["id"] for m in message["mentions"]] == [alice.id, bob.id, alice.id]

    # An edit rebuilds the pings from the new content, by the edit's allowed_mentions or the defaults.
    headers = {"Authorization": f"Bot {discord.token}"}
    url = f"{discord.api_url}/channels/{channel.id}/messages/{message['id']}"
    async with session.patch(url, json={"content": f"<@{alice.id}> <@{bob.id}>"}, headers=headers) as r:
        assert r.status == 200 and "pinged" not in await r.json()
    assert message["pinged"] == [alice.id, bob.id]
    edit = {"content": f"<@{alice.id}> <@{bob.id}>", "allowed_mentions": {"users": [alice.id]}}
    async with session.patch(url, json=edit, headers=headers) as r:
        assert r.status == 200 and "revisions" not in await r.json()
    assert message["pinged"] == [alice.id]
    # Each state the message went through is kept, for tests and the demo to read back.
    assert [rev["content"] for rev in message["revisions"]] == [both, *[f"<@{alice.id}> <@{bob.id}>"] * 2]


async def test_replies_ping_the_replied_author_only_when_allowed(
    discord: FakeDiscord, gateway: Gateway, session: aiohttp.ClientSession
) -> None:
    channel = next(iter(discord.channels.values()))
    alice = discord.add_user("alice")
    original = discord.add_message(channel, alice, "look at this")
    reply = {"content": "nice", "message_reference": {"message_id": original["id"]}}
    await post(discord, session, channel.id, reply)
    assert channel.messages[-1]["pinged"] == [alice.id]
    await post(discord, session, channel.id, {**reply, "allowed_mentions": {"parse": ["users"]}})
    assert channel.messages[-1]["pinged"] == []
    allowed = {"parse": [], "replied_user": True}
    await post(discord, session, channel.id, {**reply, "allowed_mentions": allowed})
    assert channel.messages[-1]["pinged"] == [alice.id]


@pytest.mark.parametrize(
    ("allowed", "problem"),
    [
        ({"parse": ["users"], "users": ["1"]}, "mutually exclusive"),
        ({"users": [str(n) for n in range(101)]}, "101 ids"),
        ({"parse": ["nobody"]}, "unknown types"),
    ],
)
async def test_invalid_allowed_mentions_are_50035(
    discord: FakeDiscord,
    gateway: Gateway,
    session: aiohttp.ClientSession,
    allowed: dict[str, Any],
    problem: str,
) -> None:
    channel = next(iter(discord.channels.values()))
    i = await interaction(discord, gateway)
    data = {"content": "hi", "allowed_mentions": allowed}
    async with session.post(callback_url(discord, i), json={"type": 4, "data": data}) as r:
        body = await r.json()
        assert r.status == 400 and body["code"] == 50035 and problem in body["message"]
    assert (await post(discord, session, channel.id, data)).status == 400
