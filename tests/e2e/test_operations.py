"""Operations end to end: /admin, daily limits, health and metrics of the running bot."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from sandbox.world import world
from tests.helpers import eventually


async def test_admin_is_hidden_checked_and_pauses_the_server(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        admin = w.discord.command_schema("admin", None)
        assert str(admin["default_member_permissions"]) == "32" and {o["name"] for o in admin["options"]} == {
            "status",
            "pause",
            "resume",
            "sync",
        }
        nosy = await w.discord.slash(w.alice, w.channel, "admin pause")
        assert "Manage Server" in await w.discord.wait_for_answer(nosy) and nosy.ephemeral

        pause = await w.discord.slash(w.admin, w.channel, "admin pause")
        assert "Paused" in await w.discord.wait_for_answer(pause)
        refused = await w.discord.slash(w.alice, w.channel, "imagine", prompt="during the pause")
        assert "paused new requests" in await w.discord.wait_for_answer(refused)
        assert w.provider.creates() == []

        status = await w.discord.slash(w.admin, w.channel, "admin status")
        text = await w.discord.wait_for_answer(status)
        assert "Engine: running" in text and "**paused**" in text and "Spend today" in text

        resume = await w.discord.slash(w.admin, w.channel, "admin resume")
        assert "Resumed" in await w.discord.wait_for_answer(resume)
        again = await w.discord.slash(w.alice, w.channel, "imagine", prompt="after the pause")
        assert "Started" in await w.discord.wait_for_answer(again, lambda t: "`" in t)

        sync = await w.discord.slash(w.admin, w.channel, "admin sync")
        assert "global commands" in await w.discord.wait_for_answer(sync)
        assert w.discord.command_syncs.count("global") == 2


async def test_daily_limits_say_when_they_reset(tmp_path: Path) -> None:
    async with world(
        tmp_path, USER_DAILY_REQUESTS="2", GUILD_DAILY_SPEND_USD="0.15", DEFAULT_REQUEST_COST_USD="0.05"
    ) as w:
        for n in range(2):
            ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt=f"limit {n}")
            await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        over = await w.discord.slash(w.alice, w.channel, "imagine", prompt="one too many")
        text = await w.discord.wait_for_answer(over)
        assert "your 2 requests for today" in text and "resets at 00:00 UTC" in text
        log = await w.discord.slash(w.alice, w.channel, "tasks")
        assert "2/2 requests today" in await w.discord.wait_for_answer(log)

        ask = await w.discord.slash(w.bob, w.channel, "imagine", prompt="the third request of the server")
        await w.discord.wait_for_answer(ask, lambda t: "Started" in t)
        capped = await w.discord.slash(w.bob, w.channel, "imagine", prompt="over the cap")
        text = await w.discord.wait_for_answer(capped)
        assert "daily spend cap ($0.15 of $0.15)" in text and "resets at 00:00 UTC" in text
        assert len(w.provider.creates()) == 3


async def test_health_and_metrics_of_the_running_bot(tmp_path: Path) -> None:
    async with world(tmp_path, INSTANCE_NAME="bot-a") as w:
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a measured thing")
        await w.discord.wait_for_answer(ask, lambda t: "posted" in t)
        async with aiohttp.ClientSession() as session:
            async with session.get(w.base_url + "/healthz") as response:
                body = await response.json()
                assert response.status == 200 and body["ok"] is True, body
                assert (
                    body["instance"] == "bot-a" and body["shards"]["ids"] == [0] and body["store"] == "sqlite"
                )
            async with session.get(w.base_url + "/metrics") as response:
                text = await response.text()
        assert 'mjbot_tasks{state="succeeded",instance="bot-a"} 1.0' in text
        assert (
            'mjbot_provider_requests_total{call="imagine",outcome="ok",provider="midapi",instance="bot-a"} 1.0'
            in text
        )
        assert 'mjbot_status_reads_per_task_count{instance="bot-a"} 1.0' in text
        assert 'mjbot_delivery_seconds_count{instance="bot-a"} 1.0' in text
        assert 'mjbot_interaction_ack_seconds_count{instance="bot-a"} 1.0' in text
        assert "mjbot_engine_lag_seconds" in text
        await w.discord.stop()  # Discord goes away: the gateway is gone
        async with aiohttp.ClientSession() as session:
            for _ in range(50):
                async with session.get(w.base_url + "/healthz") as response:
                    if response.status == 503:
                        body = await response.json()
                        break
        assert "discord gateway not connected" in body["reasons"]


async def test_guild_command_sync_registers_only_in_the_dev_guild(tmp_path: Path) -> None:
    async with world(tmp_path, COMMAND_SYNC="guild", DEV_GUILD_IDS="{guild}") as w:
        gid = w.guild.id
        assert w.discord.command_syncs == [f"guild:{gid}"] and w.discord.global_commands == []
        names = {c["name"] for c in w.discord.guild_commands[gid]}
        assert names == {"imagine", "vary", "tasks", "task", "cancel", "show", "settings", "admin"}
        assert f"synced commands: 8 to guild {gid}" in w.bot.log()
        ask = await w.discord.slash(w.alice, w.channel, "imagine", prompt="a guild-only command")
        assert "Started" in await w.discord.wait_for_answer(ask, lambda t: "Started" in t)


async def test_an_outdated_command_form_gets_a_clear_answer(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        # As if Discord still had an older /vary without the required image option.
        ask = await w.discord.slash(w.alice, w.channel, "vary", check_required=False, task="abcdef")
        text = await w.discord.wait_for_answer(ask)
        assert "older version of this command" in text and ask.ephemeral
        assert w.provider.creates() == []


async def test_discord_down_at_start_is_waited_out(tmp_path: Path) -> None:
    from sandbox.discord import FakeDiscord
    from sandbox.midapi import FakeMidapi
    from sandbox.world import BotProcess, bot_env, free_port

    discord = FakeDiscord()
    discord.port = free_port()  # Discord will listen here, but not yet
    provider = await FakeMidapi().start()
    http_port = free_port()
    bot = BotProcess(bot_env(discord, provider, tmp_path, http_port), tmp_path / "bot.log")
    await bot.start()
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                if "cannot reach Discord" in bot.log():
                    break
                await asyncio.sleep(0.1)
            assert "cannot reach Discord" in bot.log() and "Traceback" not in bot.log()
            async with session.get(f"http://127.0.0.1:{http_port}/healthz") as response:
                assert response.status == 503
            await discord.start()
            user = discord.add_user("late")
            guild = discord.add_guild("Late Club", user)
            channel = discord.add_channel(guild, "late")
            await asyncio.wait_for(discord.identified.wait(), 15)
            for _ in range(100):
                if discord.command_syncs:
                    break
                await asyncio.sleep(0.1)

            async def healthy() -> bool:  # gateway held, engine ticking, store writable
                async with session.get(f"http://127.0.0.1:{http_port}/healthz") as response:
                    return response.status == 200

            await eventually(healthy, timeout=10)
            ask = await discord.slash(user, channel, "imagine", prompt="after the outage")
            assert "Started" in await discord.wait_for_answer(ask, lambda t: "Started" in t)
        assert await bot.stop() == 0
    finally:
        await bot.stop()
        await provider.stop()
        await discord.stop()
