"""A scaled-out world: two real bot processes (`python -m bot`), one shard of two each, sharing one
fresh PostgreSQL database, against one loopback Discord (told to need two shards) and one loopback
midapi. Each shard has its own guild with a channel and members, so which process receives an
interaction is decided as on Discord: by the guild's shard.

The processes are the unmodified bot, built from `world.py`'s pieces (`BotProcess`, `bot_env`); tests
see them only from the outside: Discord, the provider, `/healthz`, their logs and the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from .discord import Channel, FakeDiscord, Guild, User
from .midapi import FakeMidapi
from .world import PROVIDER_KEY, BotProcess, bot_env, free_port

SHARDS = 2
# The shortest lease the bot accepts: a dead process's work is taken over this soon.
LEASE_S = 5
CALLBACK_SECRET = "cluster-callback-secret-0123456789"


class PostgresUnavailable(Exception):
    """No PostgreSQL server answered where the cluster was told to find one."""


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def create_database(server: str, prefix: str = "mjbot_cluster") -> str:
    """A fresh, empty database on `server` (a URL whose user may CREATE DATABASE); its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        connection = await asyncpg.connect(server, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise PostgresUnavailable(f"{type(exc).__name__}: {exc}") from exc
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return with_database(server, name)


async def drop_database(server: str, url: str) -> None:
    name = urlsplit(url).path.strip("/")
    connection = await asyncpg.connect(server, timeout=5)
    try:
        # FORCE: a killed bot's connections may not have been noticed by the server yet.
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@dataclass
class Node:
    """One bot process and the shard, guild and channel that are its own."""

    name: str
    shard: int
    bot: BotProcess
    http_port: int
    guild: Guild
    channel: Channel

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def alive(self) -> bool:
        process = self.bot.process
        return process is not None and process.returncode is None

    def log_size(self) -> int:
        return self.bot.log_path.stat().st_size if self.bot.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        return self.bot.log()[offset:] if offset else self.bot.log()


@dataclass
class Cluster:
    discord: FakeDiscord
    provider: FakeMidapi
    database_url: str
    nodes: list[Node]
    members: list[User]
    admin: User
    data_dir: Path
    session: aiohttp.ClientSession
    db: asyncpg.Connection
    extra: dict[str, Any] = field(default_factory=dict)

    def owner_of(self, channel: Channel) -> Node:
        """The process whose shard receives interactions from this channel's guild."""
        return next(node for node in self.nodes if node.channel is channel)

    async def health(self, node: Node) -> dict[str, Any]:
        async with self.session.get(f"{node.base_url}/healthz") as response:
            body: dict[str, Any] = await response.json()
            return body

    async def ready(self, node: Node, since: int = 0, timeout: float = 30.0) -> None:
        """Until `node` holds its shard's gateway session, has its guild in hand (discord.py logs
        "connected" after the guilds arrive) and answers /healthz with 200; shard 0's process must
        also have synced the commands."""
        deadline = time.monotonic() + timeout
        while True:
            if not node.alive:
                raise AssertionError(f"{node.name} exited:\n{node.log_since(since)[-3000:]}")
            if (
                node.shard in self.discord.connected_shards()
                and "connected to Discord as" in node.log_since(since)
                and (node.shard != 0 or self.discord.command_syncs)
                and await self._healthy(node)
            ):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{node.name} never became ready:\n{node.log_since(since)[-3000:]}")
            await asyncio.sleep(0.1)

    async def _healthy(self, node: Node) -> bool:
        try:
            async with self.session.get(f"{node.base_url}/healthz") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    async def kill(self, node: Node) -> None:
        """`kill -9`: no shutdown, no lease handed back, no last write."""
        await node.bot.stop(signal.SIGKILL)

    async def restart(self, node: Node) -> None:
        await node.bot.stop()
        since = node.log_size()
        await node.bot.start()
        await self.ready(node, since)

    async def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Read the shared store as an operator would (the bots write; tests only read)."""
        return [dict(row) for row in await self.db.fetch(sql, *params)]

    async def wait_for_rows(
        self,
        sql: str,
        *params: Any,
        check: Callable[[list[dict[str, Any]]], bool] = bool,
        timeout: float = 20.0,
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = await self.rows(sql, *params)
            if check(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"store never matched within {timeout}s: {sql} {params} -> {found}")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path,
    server: str,
    *,
    duration_s: float = 0.6,
    callbacks: bool = False,
    members: int = 3,
    node_env: dict[int, dict[str, str]] | None = None,
    **env: str,
) -> AsyncIterator[Cluster]:
    """Two bot processes, shard 0 and shard 1 of 2, on a fresh database of `server` (dropped after).

    `env` goes to both processes, `node_env[shard]` to one only. With `callbacks`, each process names
    its own web port as CALLBACK_PUBLIC_URL (one shared CALLBACK_SECRET, so either accepts the other's
    callbacks, as behind one proxy).
    """
    database_url = await create_database(server)
    discord = await FakeDiscord(recommended_shards=SHARDS).start()
    fake = FakeMidapi(duration_s=duration_s, api_key=PROVIDER_KEY)
    await fake.start()
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    db = await asyncpg.connect(database_url)
    admin = discord.add_user("admin")
    people = [discord.add_user(f"member{n + 1}") for n in range(members)]
    nodes: list[Node] = []
    try:
        for shard in range(SHARDS):
            guild = discord.add_guild(f"Shard {shard} Club", admin, shard=(shard, SHARDS))
            channel = discord.add_channel(guild, f"art{shard}")
            port = free_port()
            name = f"bot-{shard}"
            own = {
                "DATABASE_URL": database_url,
                "SHARD_COUNT": str(SHARDS),
                "SHARD_IDS": str(shard),
                "INSTANCE_NAME": name,
                "LEASE_S": str(LEASE_S),
                "MAX_ACTIVE_PER_USER": "50",
                "MAX_QUEUED_PER_USER": "50",
                **env,
            }
            if callbacks:
                own.update(CALLBACK_PUBLIC_URL=f"http://127.0.0.1:{port}", CALLBACK_SECRET=CALLBACK_SECRET)
            own.update((node_env or {}).get(shard, {}))
            process = BotProcess(bot_env(discord, fake, tmp_path, port, **own), tmp_path / f"{name}.log")
            nodes.append(Node(name, shard, process, port, guild, channel))
        c = Cluster(discord, fake, database_url, nodes, people, admin, tmp_path, session, db)
        for node in nodes:
            await node.bot.start()
        await asyncio.gather(*(c.ready(node) for node in nodes))
        yield c
    finally:
        await asyncio.gather(*(node.bot.stop() for node in nodes))
        await db.close()
        await session.close()
        await fake.stop()
        await discord.stop()
        await drop_database(server, database_url)
