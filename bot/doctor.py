"""`python -m bot doctor`: check the configuration against the real services, without creating a task.

Each check prints one line, `ok` or `FAIL`, naming the setting and what to do about it; the exit code
is 0 only when every check passes (2 for a configuration error before any check, as `python -m bot`).
Nothing here costs money or leaves a trace at the provider: the key is tested with a status look-up of
a made-up task id, and Vtrix's routes with requests that cannot create anything.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from .config import ConfigError, Settings, load_settings, read_environment
from .discord_app.invite import invite_url
from .logs import RedactSecrets, setup_logging
from .providers import make_provider
from .providers.base import parse_json_object
from .providers.errors import (
    AuthError,
    MalformedResponse,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from .store import open_store
from .store.base import StoreError

DISCORD_TIMEOUT_S = 15.0
CALLBACK_TIMEOUT_S = 10.0
USER_AGENT = "mjbot-doctor/0.1"


@dataclass(frozen=True)
class Check:
    ok: bool
    text: str
    notes: tuple[str, ...] = field(default=())

    def lines(self) -> list[str]:
        return [f"{'ok  ' if self.ok else 'FAIL'}  {self.text}", *(f"      {note}" for note in self.notes)]


def passed(text: str, *notes: str) -> Check:
    return Check(True, text, notes)


def failed(text: str) -> Check:
    return Check(False, text)


def main(argv: list[str]) -> int:
    argparse.ArgumentParser(
        prog="python -m bot doctor",
        description="Check the Discord token, the provider key and paths, the store and the callback URL "
        "against the real services, without creating a task. Exit code 0 means every check passed.",
    ).parse_args(argv)
    try:
        settings = load_settings(read_environment())
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    # The lines below are the whole report; library log records would only repeat them out of order.
    setup_logging("CRITICAL", settings.log_format, settings.secrets())
    scrub = RedactSecrets(settings.secrets()).scrub
    print(f"Checking the configuration for provider {settings.mj_provider} (no task is created):")
    checks = asyncio.run(run_checks(settings, lambda line: print(scrub(line), flush=True)))
    failures = sum(not check.ok for check in checks)
    if failures:
        print(f"{failures} of {len(checks)} checks failed; fix the settings named above and run this again.")
        return 1
    print(f"All {len(checks)} checks passed.")
    return 0


async def run_checks(settings: Settings, emit: Callable[[str], None]) -> list[Check]:
    """Every check in turn, each emitted as soon as it is done (a slow one shows where it hangs)."""
    checks: list[Check] = []

    def report(new: list[Check]) -> None:
        for check in new:
            checks.append(check)
            for line in check.lines():
                emit(line)

    async with aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}) as session:
        report([await check_discord(settings, session)])
        report(await check_provider(settings, session))
        report([await check_store(settings)])
        report([await check_callbacks(settings, session)])
    return checks


# --- Discord ---------------------------------------------------------------------------------------
async def check_discord(settings: Settings, session: aiohttp.ClientSession) -> Check:
    base = settings.discord_api_base_url.rstrip("/")
    headers = {"Authorization": f"Bot {settings.discord_token.get()}"}
    timeout = aiohttp.ClientTimeout(total=DISCORD_TIMEOUT_S)
    try:
        async with session.get(f"{base}/users/@me", headers=headers, timeout=timeout) as response:
            status, me = response.status, parse_json_object(await response.read())
        if status != 200 or me is None:
            return _discord_refusal(status)
        # The invite needs the application's id; for old applications it differs from the bot user's.
        async with session.get(
            f"{base}/oauth2/applications/@me", headers=headers, timeout=timeout
        ) as response:
            application = parse_json_object(await response.read()) if response.status == 200 else None
    except (aiohttp.ClientError, TimeoutError) as exc:
        return failed(
            f"DISCORD_API_BASE_URL: cannot reach Discord at {base} ({_reason(exc)}); "
            "check this machine's internet access, or the setting if you use a proxy"
        )
    application_id = _snowflake((application or {}).get("id")) or _snowflake(me.get("id"))
    name = f"{me.get('username', '?')} (id {me.get('id', '?')})"
    notes = [f"invite link: {invite_url(application_id)}"] if application_id else []
    return passed(f"DISCORD_TOKEN: accepted; the bot is {name}", *notes)


def _discord_refusal(status: int) -> Check:
    if status == 401:
        return failed(
            "DISCORD_TOKEN: Discord rejected the token (HTTP 401); in the developer portal open your "
            "application, Bot, Reset Token, and put the new token in DISCORD_TOKEN"
        )
    return failed(
        f"DISCORD_TOKEN: not checked: Discord answered GET /users/@me with HTTP {status}; "
        "try again in a minute (if it persists, check DISCORD_API_BASE_URL)"
    )


def _snowflake(value: Any) -> int | None:
    return int(value) if isinstance(value, str | int) and str(value).isdigit() else None


# --- provider --------------------------------------------------------------------------------------
async def check_provider(settings: Settings, session: aiohttp.ClientSession) -> list[Check]:
    provider = make_provider(settings, session)
    name = provider.name
    key_var, base_var = (
        ("VTRIX_API_KEY", "VTRIX_BASE_URL") if name == "vtrix" else ("MIDAPI_API_KEY", "MIDAPI_BASE_URL")
    )
    base = settings.vtrix_base_url if name == "vtrix" else settings.midapi_base_url
    made_up = f"mjbot-doctor-{secrets.token_hex(8)}"
    routes: list[Check] = []
    status_route_missing = False
    if name == "vtrix":
        routes, status_route_missing = await check_vtrix_routes(settings, session, made_up)
    try:
        await provider.status(made_up)
    except NotFound:
        key = passed(
            f"{key_var}: accepted by {name} (a status look-up of a made-up task answered 'not found')"
        )
    except AuthError as exc:
        key = failed(
            f"{key_var}: {name} refused the key ({_code(exc)}); copy the key again from your {name} "
            f"account and put it in {key_var}"
        )
    except MalformedResponse as exc:
        if status_route_missing:
            key = failed(f"{key_var}: not checked, because VTRIX_STATUS_PATH does not exist (next line)")
        else:
            key = failed(
                f"{base_var}: {base} does not look like the {name} API ({exc.detail}); "
                f"check {base_var} and the provider's status"
            )
    except (ProviderUnavailable, RateLimited) as exc:
        key = failed(_unavailable(exc, name, key_var, base_var, base))
    except ProviderError as exc:
        key = failed(
            f"{key_var}: not confirmed: a status look-up of a made-up task should answer 'not found', "
            f"but {name} answered {type(exc).__name__} ({_code(exc)}: {exc.detail})"
        )
    else:
        # Finding a task by a random id is all but impossible; it does prove the key reads tasks.
        key = passed(f"{key_var}: accepted by {name} (a status look-up answered)")
    return [key, *routes]


def _unavailable(exc: ProviderError, name: str, key_var: str, base_var: str, base: str) -> str:
    if isinstance(exc, RateLimited):
        return f"{key_var}: not checked: {name} is rate limiting this key (HTTP 429); try again in a minute"
    if isinstance(exc, OutcomeUnknown):
        return f"{key_var}: not checked: {name} at {base} did not answer ({exc.detail}); try again later"
    if exc.code is None:  # no answer at all: the connection itself failed
        return f"{base_var}: cannot reach {name} at {base} ({exc.detail}); check the URL and this machine's internet access"
    return f"{key_var}: not checked: {name} is unavailable right now ({_code(exc)}: {exc.detail}); try again later"


def _code(exc: ProviderError) -> str:
    return f"code {exc.code}" if exc.code else type(exc).__name__


def route_exists(status: int, body: bytes) -> bool | None:
    """Whether an answer shows that the route exists: True, False, or None when it cannot tell.

    A web framework or gateway answers a route it does not have with a 404 whose body is HTML, plain
    text or empty; an API route that exists answers a made-up task with its own JSON error, even when
    that is a 404. So a 404 without a JSON object means "no such path", and any other answer (200, 400,
    405 for a POST-only route, a JSON 404) means the path is there. 401/403 come from auth that may run
    before routing, and 5xx from trouble, so neither says anything about the path.
    """
    if status in (401, 403) or status >= 500:
        return None
    if status == 404:
        return parse_json_object(body) is not None
    return True


async def check_vtrix_routes(
    settings: Settings, session: aiohttp.ClientSession, made_up: str
) -> tuple[list[Check], bool]:
    """One line per configured path, and whether the status path is known to be missing."""
    base = settings.vtrix_base_url.rstrip("/")
    status_url = base + settings.vtrix_status_path.replace("{task_id}", made_up)
    # GET, never POST, on the submit path: nothing can be created; a POST-only route answers 405.
    probes = [
        ("VTRIX_STATUS_PATH", settings.vtrix_status_path, status_url),
        ("VTRIX_SUBMIT_PATH", settings.vtrix_submit_path, base + settings.vtrix_submit_path),
    ]
    headers = {"Authorization": f"Bearer {settings.vtrix_api_key.get()}", "Accept": "application/json"}
    timeout = aiohttp.ClientTimeout(total=settings.provider_timeout_s)
    checks: list[Check] = []
    status_missing = False
    for variable, path, url in probes:
        try:
            async with session.get(url, headers=headers, timeout=timeout) as response:
                status, body = response.status, await response.content.read(64 * 1024)
        except (aiohttp.ClientError, TimeoutError) as exc:
            checks.append(failed(f"{variable}: not checked: cannot reach Vtrix at {base} ({_reason(exc)})"))
            continue
        exists = route_exists(status, body)
        if exists:
            why = {404: "a made-up task answered a JSON 'not found'", 405: "the route takes only POST"}
            shown = why.get(status, "an API answer, not a missing page")
            checks.append(passed(f"{variable}: {path} exists at Vtrix (GET answered HTTP {status}: {shown})"))
        elif exists is False:
            status_missing = status_missing or variable == "VTRIX_STATUS_PATH"
            checks.append(
                failed(
                    f"{variable}: {path} does not exist at Vtrix: GET {url} answered HTTP 404 without a "
                    f"JSON body; set {variable} to the path in Vtrix's API documentation"
                )
            )
        else:
            hint = (
                "fix VTRIX_API_KEY first"
                if status in (401, 403)
                else "Vtrix is having trouble; try again later"
            )
            checks.append(failed(f"{variable}: not checked: GET {url} answered HTTP {status} ({hint})"))
    return checks, status_missing


# --- store -----------------------------------------------------------------------------------------
async def check_store(settings: Settings) -> Check:
    where = settings.database.path
    try:
        store = await open_store(settings.database)
    except StoreError as exc:
        return failed(
            f"DATABASE_URL: cannot open the store: {exc}; make {where} a file in a directory the bot's "
            "user can write (in Docker the /data volume must belong to uid 10001)"
        )
    try:
        await store.check_writable()
    except Exception as exc:
        return failed(
            f"DATABASE_URL: the store {where} opened but a write failed ({exc}); check the file's "
            "owner and permissions and the free disk space"
        )
    finally:
        await store.close()
    return passed(f"DATABASE_URL: the store {where} is migrated and writable")


# --- callbacks -------------------------------------------------------------------------------------
async def check_callbacks(settings: Settings, session: aiohttp.ClientSession) -> Check:
    public = settings.callback_public_url
    if public is None:
        return passed("CALLBACK_PUBLIC_URL: not set, so callbacks are off and the bot polls for results")
    host, port = settings.http_host, settings.http_port
    nonce = secrets.token_urlsafe(16)
    # The same shape as a real callback URL, so a proxy that forwards only /callbacks/ passes it too.
    path = f"/callbacks/{settings.mj_provider}/doctor-{nonce}"

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=nonce)

    app = web.Application()
    app.router.add_route("*", path, answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return failed(
                    f"CALLBACK_PUBLIC_URL: not checked: {host}:{port} (HTTP_HOST:HTTP_PORT) is in use, most "
                    "likely by the running bot; stop the bot and run this again"
                )
            return failed(f"HTTP_PORT: cannot listen on {host}:{port} ({exc.strerror})")
        url = public + path
        try:
            timeout = aiohttp.ClientTimeout(total=CALLBACK_TIMEOUT_S)
            async with session.post(url, json={"probe": True}, timeout=timeout) as response:
                status, body = response.status, await response.content.read(4096)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return failed(
                f"CALLBACK_PUBLIC_URL: cannot reach {public} from here ({_reason(exc)}); check the DNS name, "
                "the reverse proxy and its TLS certificate"
            )
    finally:
        await runner.cleanup()
    if status == 200 and body.decode("utf-8", "replace") == nonce:
        return passed(f"CALLBACK_PUBLIC_URL: {public} reaches this bot's web server on {host}:{port}")
    return failed(
        f"CALLBACK_PUBLIC_URL: {public} answered HTTP {status}, but not from this bot's web server; "
        f"make the reverse proxy forward {public}/callbacks/ to {host}:{port}"
    )


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
