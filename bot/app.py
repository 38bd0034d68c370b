"""Builds the whole bot from settings and runs it until a signal: the entry point's long-lived resources.

Order matters: the store opens first (a bad file stops start-up with one clear line), then one shared
HTTP session, the provider client, the engine, the web server and the Discord client. Shutdown runs
in reverse: stop taking interactions, let in-flight engine work finish, close Discord, the web server,
the session and the store.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import aiohttp
import discord

from .callbacks import CallbackTokens
from .config import Settings
from .discord_app.client import MJBot, Services, point_discord_at
from .discord_app.delivery import Deliverer
from .metrics import Metrics
from .netguard import address_check, download_session
from .providers import make_provider
from .relay import Relay
from .store import open_store
from .store.models import Task
from .tasks.admission import Admission
from .tasks.engine import Engine
from .tasks.grids import RecentGrids
from .tasks.members import MemberSettings
from .tasks.outbox import Outbox
from .tasks.quota import Quota
from .tasks.service import TaskService
from .web import WebServer

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 6.0
# Before the engine's grace: with both, a stop stays inside Docker's and systemd's 15 s.
INTERACTION_GRACE_S = 5.0
UNREACHABLE = (
    aiohttp.ClientError,
    OSError,
    discord.DiscordServerError,
    discord.GatewayNotFound,
    TimeoutError,
)


class StartupError(Exception):
    """Start-up cannot continue; the message is one line for the operator."""


async def run(settings: Settings) -> int:
    point_discord_at(settings)
    store = await open_store(settings.database)
    metrics = Metrics(settings.instance_name)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    web: WebServer | None = None
    try:
        # Result downloads get their own session: its resolver refuses internal addresses.
        downloads = download_session(address_check(settings.download_allow_private))
        # The provider session: the APIs authenticate by key, so a cookie set by a provider (or by
        # anything in between) is never kept or sent back, and no request pays for a cookie jar.
        provider_session = aiohttp.ClientSession(
            headers={"User-Agent": "mjbot/0.1"}, cookie_jar=aiohttp.DummyCookieJar()
        )
        async with provider_session as session, downloads:
            provider = make_provider(settings, session, metrics.observe_request)
            tokens = (
                CallbackTokens(settings.callback_secret.get(), settings.callback_public_url, provider.name)
                if settings.callback_public_url
                else None
            )
            members = MemberSettings(store)
            await members.load()

            # With several processes, the one that follows a task may not be the one holding the
            # member's private reply: tell the others so the holder can show the move.
            shared = settings.database.kind == "postgres"

            grids = RecentGrids()

            def wire(bot: MJBot) -> Services:
                async def on_update(task: Task, position: int) -> None:
                    await bot.tracker.update(task, position)
                    if shared:
                        engine.broadcast.send("task", task.id)

                def on_recorded(task: Task) -> None:
                    grids.remember(task)  # a press on it opens the remix editor with no I/O
                    if shared:
                        engine.broadcast.send("task", task.id)

                deliverer = Deliverer(bot, downloads, settings, provider.capabilities, bot.tracker, store)
                engine = Engine(
                    store,
                    provider,
                    settings,
                    deliver=Outbox(store, deliverer.post, metrics, on_recorded).deliver,
                    on_update=on_update,
                    callback_url=tokens.url if tokens else None,
                    metrics=metrics,
                )
                quota = Quota(store, settings)
                admission = Admission(store, provider.name, provider.capabilities, settings)
                tasks = TaskService(store, engine, provider, admission, quota, members, grids)
                return Services(
                    settings, store, engine, provider, metrics, tasks, quota, members, session, deliverer
                )

            bot = MJBot(settings, wire)
            engine = bot.services.engine
            await store.listen(Relay(store, engine, members, bot.tracker).handler)
            web = WebServer(
                engine=engine,
                store=store,
                metrics=metrics,
                tokens=tokens,
                max_lag_s=settings.health_max_lag_s,
                gateway_connected=lambda: bot.gateway_connected,
                shards=bot.shard_report,
                store_kind=settings.database.kind,
            )
            try:
                await web.start(settings.http_host, settings.http_port)
            except OSError as exc:
                raise StartupError(
                    f"HTTP_PORT: cannot listen on {settings.http_host}:{settings.http_port} ({exc.strerror})"
                ) from exc
            log.info(
                "starting: provider %s, store %s, callbacks %s",
                provider.name,
                settings.database.shown,
                "on" if tokens else "off (polling only)",
            )
            return await _run_bot(bot, engine, settings, stop)
    finally:
        if web is not None:
            await web.stop()
        await store.close()
        log.info("stopped")


async def _run_bot(bot: MJBot, engine: Engine, settings: Settings, stop: asyncio.Event) -> int:
    async with bot:
        stopper = asyncio.create_task(stop.wait(), name="signal")
        code, runner = await _stay_connected(bot, settings, stopper)
        log.info("shutting down: no new interactions; letting in-flight work finish")
        # The gateway stays up meanwhile, so members pressing now are told the bot is restarting.
        bot.accepting = False
        stopper.cancel()
        # Acknowledged presses are owed their outcome: their work still needs the store and engine.
        await bot.in_flight.drain(INTERACTION_GRACE_S)
        try:
            async with asyncio.timeout(SHUTDOWN_GRACE_S):
                await engine.stop(grace_s=SHUTDOWN_GRACE_S - 1)
        except TimeoutError:
            log.warning("engine did not stop in time; unfinished tasks resume on the next start")
        try:
            async with asyncio.timeout(2.0):
                await bot.close()
        except Exception as exc:
            log.warning("closing the Discord connection did not finish cleanly: %s", exc)
        if runner is not None:
            runner.cancel()
            try:
                await runner
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                log.warning("the Discord session ended with %s: %s", type(exc).__name__, exc)
        return code


async def _stay_connected(
    bot: MJBot, settings: Settings, stopper: asyncio.Task[Any]
) -> tuple[int, asyncio.Task[None] | None]:
    """Run the Discord client until a signal. Discord out of reach is waited out with backoff (the
    engine keeps following tasks meanwhile); a rejected token is fatal."""
    backoff = 1.0
    while True:
        logged_in = bot.user is not None
        session = bot.connect() if logged_in else bot.start(settings.discord_token.get())
        runner = asyncio.create_task(session, name="discord")
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner not in done:
            return 0, runner  # a signal: the caller winds down while the gateway still answers
        exc = runner.exception()
        if exc is None:
            return 0, None
        if isinstance(exc, discord.LoginFailure):
            raise StartupError("DISCORD_TOKEN: Discord rejected the token (check it in the developer portal)")
        if isinstance(exc, discord.PrivilegedIntentsRequired):
            raise StartupError("Discord refused the gateway intents this bot asked for")
        if not isinstance(exc, UNREACHABLE):
            log.error("lost the Discord connection for good: %s", exc, exc_info=exc)
            return 1, None
        log.warning("cannot reach Discord (%s: %s); retrying in %.0fs", type(exc).__name__, exc, backoff)
        if not logged_in:
            # The next log-in opens a fresh HTTP session; closing the old one closed its connector too.
            await bot.http.close()
            bot.http.connector = discord.utils.MISSING
        try:
            async with asyncio.timeout(backoff):
                await asyncio.shield(stopper)
            return 0, None
        except TimeoutError:
            backoff = min(backoff * 2, 60.0)
