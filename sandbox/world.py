"""A whole offline world: the unmodified bot (`python -m bot` in a subprocess) against the loopback
Discord and a loopback provider. The end-to-end tests, the benchmarks and the demo all stand on it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .discord import Channel, FakeDiscord, Guild, User
from .midapi import FakeMidapi
from .provider import FakeProviderServer
from .vtrix import FakeVtrix

ROOT = Path(__file__).resolve().parents[1]
PROVIDER_KEY = "provider-secret-key-123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BotProcess:
    env: dict[str, str]
    log_path: Path
    process: asyncio.subprocess.Process | None = None
    max_open_files: int | None = None  # RLIMIT_NOFILE for the bot, as on a default Linux host

    async def start(self) -> None:
        limit = self.max_open_files

        def limit_files() -> None:
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                cwd=self.log_path.parent,
                env=self.env,
                stdout=log,
                stderr=log,
                preexec_fn=limit_files if limit is not None else None,
            )

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process else None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class World:
    discord: FakeDiscord
    provider: FakeProviderServer
    guild: Guild
    channel: Channel
    alice: User
    bob: User
    admin: User
    bot: BotProcess
    http_port: int
    data_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    async def ready(self, timeout: float = 30.0) -> None:
        """Until the bot has synced its commands and holds a gateway session."""

        async def synced() -> None:
            while not (self.discord.command_syncs and self.discord.is_connected()):
                if self.bot.process and self.bot.process.returncode is not None:
                    raise AssertionError(f"bot exited with {self.bot.process.returncode}:\n{self.bot.log()}")
                await asyncio.sleep(0.05)

        try:
            await asyncio.wait_for(synced(), timeout)
        except TimeoutError:
            raise AssertionError(f"bot never became ready:\n{self.bot.log()}") from None
        await asyncio.sleep(0.3)  # let discord.py parse GUILD_CREATE

    async def first_dm(self, user: User, timeout: float = 10.0) -> dict[str, Any]:
        """The first direct message the bot sent `user`."""
        for _ in range(int(timeout / 0.1)):
            dm = self.discord.dm_channel(user)
            if dm and dm.messages:
                return dm.messages[0]
            await asyncio.sleep(0.1)
        raise AssertionError(f"no DM to {user.name} within {timeout}s:\n{self.bot.log()[-2000:]}")

    async def restart(self, sig: int = signal.SIGTERM) -> int | None:
        code = await self.bot.stop(sig)
        self.discord.forget_connections()
        self.discord.command_syncs.clear()
        await self.bot.start()
        await self.ready()
        return code


def bot_env(
    discord: FakeDiscord, provider: FakeProviderServer, data_dir: Path, http_port: int, **extra: str
) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "DISCORD_TOKEN": discord.token,
        "DISCORD_API_BASE_URL": discord.api_url,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "DATABASE_URL": f"sqlite:///{data_dir / 'bot.sqlite3'}",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(http_port),
        "POLL_FIRST_S": "0.2",
        "POLL_MAX_S": "0.5",
        "TASK_TIMEOUT_S": "60",
        "LOG_LEVEL": "INFO",
        # The fakes serve result images on loopback, which the bot refuses to fetch by default.
        "DOWNLOAD_ALLOW_PRIVATE": "true",
    }
    if isinstance(provider, FakeVtrix):
        env.update(MJ_PROVIDER="vtrix", VTRIX_API_KEY=provider.api_key, VTRIX_BASE_URL=provider.base_url)
    else:
        env.update(MJ_PROVIDER="midapi", MIDAPI_API_KEY=provider.api_key, MIDAPI_BASE_URL=provider.base_url)
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def world(
    tmp_path: Path,
    provider: str = "midapi",
    *,
    duration_s: float = 0.6,
    max_open_files: int | None = None,
    **env: str,
) -> AsyncIterator[World]:
    discord = await FakeDiscord().start()
    fake: FakeProviderServer
    if provider == "vtrix":
        fake = FakeVtrix(duration_s=duration_s, api_key=PROVIDER_KEY)
    else:
        fake = FakeMidapi(duration_s=duration_s, api_key=PROVIDER_KEY)
    await fake.start()
    alice, bob, admin = discord.add_user("alice"), discord.add_user("bob"), discord.add_user("admin")
    guild = discord.add_guild("Art Club", admin)
    channel = discord.add_channel(guild, "art")
    http_port = free_port()
    env = {key: value.replace("{guild}", guild.id) for key, value in env.items()}
    bot = BotProcess(
        bot_env(discord, fake, tmp_path, http_port, **env),
        tmp_path / "bot.log",
        max_open_files=max_open_files,
    )
    w = World(discord, fake, guild, channel, alice, bob, admin, bot, http_port, tmp_path)
    await bot.start()
    try:
        await w.ready()
        yield w
    finally:
        await bot.stop()
        await fake.stop()
        await discord.stop()
