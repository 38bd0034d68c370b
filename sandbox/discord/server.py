"""A loopback Discord: the slice of REST v10 and the gateway this bot uses, enforcing Discord's rules.

The real bot reaches it only through `DISCORD_API_BASE_URL` and `DISCORD_GATEWAY_URL`. Tests and the
demo drive it like members would: `slash(...)` runs a slash command, `press(...)` a button,
`submit_modal(...)` a modal, and `wait_for_message(...)` watches a channel. Whatever the bot does that
Discord would refuse (a late or double acknowledgement, an oversized payload, a follow-up before the
acknowledgement, an expired token) is refused here too, and listed in `violations`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mimetypes
import time
import zlib
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from ..provider import bound_port
from .model import (
    ADMINISTRATOR,
    ATTACH_FILES,
    BOT_DEFAULT,
    EMBED_LINKS,
    MANAGE_GUILD,
    MEMBER_DEFAULT,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    Channel,
    Guild,
    Interaction,
    Limits,
    User,
    check_message,
    iso,
    new_token,
    snowflake,
)

log = logging.getLogger(__name__)
API = "/api/v10"
OPTION_TYPES = {3: str, 4: int, 5: bool, 10: float}


class DiscordError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FakeDiscord:
    def __init__(self, *, token: str = "discord-test-token", host: str = "127.0.0.1") -> None:
        self.token = token
        self.host = host
        self.port = 0
        self.limits = Limits()
        self.application_id = snowflake()
        self.bot = User(self.application_id, "MJBot", bot=True)
        self.users: dict[str, User] = {self.bot.id: self.bot}
        self.guilds: dict[str, Guild] = {}
        self.channels: dict[str, Channel] = {}
        self.interactions: dict[str, Interaction] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[str, list[dict[str, Any]]] = {}
        self.command_syncs: list[str] = []
        self.violations: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.dm_closed: set[str] = set()
        self._sockets: list[tuple[web.WebSocketResponse, Any]] = []
        self._sequence = 0
        self._session_id = snowflake()
        self._message_waiters: list[asyncio.Event] = []
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.resumes = 0
        self.identified = asyncio.Event()
        self.app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._errors])
        self._routes()

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}{API}"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    async def start(self) -> FakeDiscord:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = bound_port(site)
        return self

    async def stop(self) -> None:
        for ws, _ in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the world -------------------------------------------------------------------------------
    def add_user(self, name: str) -> User:
        user = User(snowflake(), name)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str, owner: User) -> Guild:
        guild = Guild(snowflake(), name, owner.id, admins={owner.id})
        self.guilds[guild.id] = guild
        return guild

    def add_channel(self, guild: Guild, name: str, *, bot_denied: int = 0) -> Channel:
        channel = Channel(snowflake(), name, guild.id, bot_denied=bot_denied)
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        return channel

    def deny(self, channel: Channel, *permissions: str) -> None:
        """Take permissions from the bot in a channel; like Discord, tell the bot with CHANNEL_UPDATE."""
        bits = {"send_messages": SEND_MESSAGES, "attach_files": ATTACH_FILES, "embed_links": EMBED_LINKS}
        for name in permissions:
            channel.bot_denied |= bits[name]
        self._announce("CHANNEL_UPDATE", self._channel_payload(channel))

    def _announce(self, event: str, payload: dict[str, Any]) -> None:
        """Dispatch an event from synchronous test code, if a bot is connected to hear it."""
        if self._sockets:
            sending = asyncio.get_running_loop().create_task(self._send_dispatch(event, payload))
            self._background.add(sending)
            sending.add_done_callback(self._background.discard)

    async def drop_gateway(self, code: int = 4000) -> None:
        """A Discord hiccup: close every gateway session; a healthy client reconnects and RESUMEs."""
        for ws, _ in list(self._sockets):
            await ws.close(code=code, message=b"hiccup")
        self._sockets.clear()

    def _channel_payload(self, channel: Channel) -> dict[str, Any]:
        data = channel.payload(self.users)
        if channel.bot_denied:
            data["permission_overwrites"] = [
                {"id": self.bot.id, "type": 1, "allow": "0", "deny": str(channel.bot_denied)}
            ]
        return data

    def delete_channel(self, channel: Channel) -> None:
        channel.deleted = True
        self._announce("CHANNEL_DELETE", self._channel_payload(channel))

    def bot_permissions(self, channel: Channel) -> int:
        return BOT_DEFAULT & ~channel.bot_denied

    def member_permissions(self, guild: Guild | None, user_id: str) -> int:
        if guild is None:
            return MEMBER_DEFAULT
        if user_id in guild.admins:
            return MEMBER_DEFAULT | MANAGE_GUILD | ADMINISTRATOR
        return MEMBER_DEFAULT

    def messages(self, channel: Channel) -> list[dict[str, Any]]:
        return channel.messages

    def dm_channel(self, user: User) -> Channel | None:
        return next((c for c in self.channels.values() if c.kind == 1 and c.recipient == user.id), None)

    # --- driving it like members do --------------------------------------------------------------
    def command_schema(self, name: str, guild_id: str | None) -> dict[str, Any]:
        pools = [self.guild_commands.get(guild_id or "", []), self.global_commands]
        for pool in pools:
            for command in pool:
                if command["name"] == name:
                    return command
        raise AssertionError(f"/{name} is not registered with Discord (synced: {self.command_syncs})")

    async def slash(
        self, user: User, channel: Channel, command: str, *, check_required: bool = True, **options: Any
    ) -> Interaction:
        """Run `/command` (`/admin status` style names reach subcommands) with typed, checked options."""
        parts = command.split()
        schema = self.command_schema(parts[0], channel.guild_id)
        data: dict[str, Any] = {"id": schema["id"], "name": parts[0], "type": 1}
        if channel.guild_id and any(schema is c for c in self.guild_commands.get(channel.guild_id, [])):
            data["guild_id"] = channel.guild_id
        target, holder = schema, data
        for sub in parts[1:]:
            child = next(
                (o for o in target.get("options", []) if o["name"] == sub and o["type"] in (1, 2)), None
            )
            if child is None:
                raise AssertionError(f"/{command}: no subcommand {sub!r}")
            entry: dict[str, Any] = {"name": sub, "type": child["type"], "options": []}
            holder.setdefault("options", []).append(entry)
            target, holder = child, entry
        holder.setdefault("options", [])
        for name, value in options.items():
            option = next((o for o in target.get("options", []) if o["name"] == name), None)
            if option is None:
                raise AssertionError(
                    f"/{command} has no option {name!r}: {[o['name'] for o in target.get('options', [])]}"
                )
            choices = [c["value"] for c in option.get("choices", [])]
            if choices and value not in choices:
                raise AssertionError(f"/{command} {name}={value!r} is not one of the choices {choices}")
            if "max_length" in option and len(str(value)) > option["max_length"]:
                raise AssertionError(f"Discord refuses {name} longer than {option['max_length']}")
            holder["options"].append({"name": name, "type": option["type"], "value": value})
        for option in target.get("options", []):
            if check_required and option.get("required") and option["name"] not in options:
                raise AssertionError(f"/{command} needs option {option['name']!r}")
        return await self._dispatch(2, user, channel, command, data)

    async def press(self, user: User, message: dict[str, Any], label: str) -> Interaction:
        for row in message.get("components") or []:
            for button in row.get("components") or []:
                name = button.get("label") or (button.get("emoji") or {}).get("name")
                if name == label:
                    if button.get("disabled"):
                        raise AssertionError(f"button {label} is disabled")
                    channel = self.channels[message["channel_id"]]
                    data = {"custom_id": button["custom_id"], "component_type": 2}
                    return await self._dispatch(3, user, channel, label, data, message=message)
        raise AssertionError(f"no button {label!r} on message {message.get('id')}")

    async def submit_modal(
        self, user: User, opened: Interaction, values: dict[str, str] | None = None
    ) -> Interaction:
        modal = opened.modal
        if modal is None:
            raise AssertionError("that interaction opened no modal")
        rows = []
        for row in modal["components"]:
            items = []
            for item in row.get("components", []):
                value = (values or {}).get(
                    item["custom_id"], (values or {}).get("*", item.get("value") or "")
                )
                items.append({"type": 4, "custom_id": item["custom_id"], "value": value})
            rows.append({"type": 1, "components": items})
        channel = self.channels[opened.channel_id]
        data = {"custom_id": modal["custom_id"], "components": rows}
        return await self._dispatch(5, user, channel, f"modal {modal.get('title')}", data)

    async def wait_for_message(
        self,
        channel: Channel,
        check: Callable[[dict[str, Any]], bool] = lambda m: True,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for message in channel.messages:
                if check(message):
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no matching message in #{channel.name} within {timeout}s: {[m.get('content') for m in channel.messages]}"
                )
            event = asyncio.Event()
            self._message_waiters.append(event)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(0.25, max(0.01, deadline - time.monotonic())))

    async def wait_for_answer(
        self, interaction: Interaction, check: Callable[[str], bool] = bool, timeout: float = 10.0
    ) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = interaction.visible_text()
            if interaction.answered and check(text):
                return text
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"interaction {interaction.name!r} answer never matched; last: {interaction.visible_text()!r}"
        )

    def unanswered(self, older_than: float | None = None) -> list[Interaction]:
        """Interactions a member would see as "This interaction failed"."""
        limit = self.limits.ack_deadline_s if older_than is None else older_than
        now = time.monotonic()
        return [i for i in self.interactions.values() if not i.answered and now - i.dispatched_at > limit]

    async def _dispatch(
        self,
        kind: int,
        user: User,
        channel: Channel,
        name: str,
        data: dict[str, Any],
        *,
        message: dict[str, Any] | None = None,
    ) -> Interaction:
        if not self._sockets:
            await asyncio.wait_for(self.identified.wait(), 15)
        interaction = Interaction(
            snowflake(), new_token(), kind, user.id, channel.id, channel.guild_id, name, time.monotonic()
        )
        self.interactions[interaction.id] = interaction
        guild = self.guilds.get(channel.guild_id or "")
        payload: dict[str, Any] = {
            "id": interaction.id,
            "application_id": self.application_id,
            "type": kind,
            "token": interaction.token,
            "version": 1,
            "data": data,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": self.limits.upload_bytes,
            "channel_id": channel.id,
            "channel": channel.payload(self.users),
            "context": 0 if guild else 1,
            "app_permissions": str(self.bot_permissions(channel)),
        }
        if guild is not None:
            payload["guild_id"] = guild.id
            payload["guild_locale"] = "en-US"
            payload["member"] = {
                "user": user.payload(),
                "roles": [],
                "joined_at": iso(),
                "deaf": False,
                "mute": False,
                "flags": 0,
                "permissions": str(self.member_permissions(guild, user.id)),
                "nick": None,
            }
            payload["authorizing_integration_owners"] = {"0": guild.id}
        else:
            payload["user"] = user.payload()
        if message is not None:
            interaction.source_message = message
            payload["message"] = self._public(message)
        await self._send_dispatch("INTERACTION_CREATE", payload)
        return interaction

    # --- REST ------------------------------------------------------------------------------------
    def _routes(self) -> None:
        r = self.app.router
        r.add_get("/gateway", self._gateway)
        r.add_get(API + "/gateway", self._gateway_info)
        r.add_get(API + "/gateway/bot", self._gateway_info)
        r.add_get(API + "/users/@me", self._me)
        r.add_get(API + "/users/{user_id}", self._user)
        r.add_get(API + "/oauth2/applications/@me", self._application)
        r.add_get(API + "/applications/@me", self._application)
        r.add_put(API + "/applications/{app}/commands", self._put_global_commands)
        r.add_get(API + "/applications/{app}/commands", self._get_global_commands)
        r.add_put(API + "/applications/{app}/guilds/{guild}/commands", self._put_guild_commands)
        r.add_post(API + "/interactions/{id}/{token}/callback", self._callback)
        r.add_get(API + "/webhooks/{app}/{token}/messages/@original", self._get_original)
        r.add_patch(API + "/webhooks/{app}/{token}/messages/@original", self._edit_original)
        r.add_delete(API + "/webhooks/{app}/{token}/messages/@original", self._delete_original)
        r.add_post(API + "/webhooks/{app}/{token}", self._followup)
        r.add_patch(API + "/webhooks/{app}/{token}/messages/{message_id}", self._edit_followup)
        r.add_get(API + "/channels/{channel_id}", self._get_channel)
        r.add_post(API + "/channels/{channel_id}/messages", self._post_message)
        r.add_get(API + "/channels/{channel_id}/messages/{message_id}", self._get_message)
        r.add_patch(API + "/channels/{channel_id}/messages/{message_id}", self._patch_message)
        r.add_post(API + "/users/@me/channels", self._open_dm)

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        open_paths = (API + "/webhooks/", API + "/interactions/")
        if (
            request.path.startswith(API)
            and not request.path.startswith(open_paths)
            and request.headers.get("Authorization") != f"Bot {self.token}"
        ):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except DiscordError as exc:
            if exc.status == 400 or exc.code in (10062, 40060, 50027):
                self.violations.append(f"{request.method} {request.path.split('/')[3]}: {exc.message}")
            return _json({"message": exc.message, "code": exc.code}, status=exc.status)

    async def _read(self, request: web.Request) -> tuple[dict[str, Any], list[tuple[str, bytes, str]]]:
        if request.content_type.startswith("multipart/"):
            payload: dict[str, Any] = {}
            files = []
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":  # type: ignore[union-attr]
                    payload = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    data = await part.read()  # type: ignore[union-attr]
                    files.append((part.filename or "file", bytes(data), part.headers.get("Content-Type", "")))  # type: ignore[union-attr]
            return payload, files
        raw = await request.read()
        return (json.loads(raw) if raw else {}), []

    def _message(
        self,
        channel_id: str,
        payload: dict[str, Any],
        files: list[tuple[str, bytes, str]],
        *,
        author: User | None = None,
        flags: int = 0,
    ) -> dict[str, Any]:
        problems = check_message(payload, files, self.limits)
        if problems:
            raise DiscordError(400, 50035, "Invalid Form Body: " + "; ".join(problems))
        message_id = snowflake()
        attachments = [
            {
                "id": snowflake(),
                "filename": name,
                "size": len(data),
                "content_type": mimetypes.guess_type(name)[0]
                or kind
                or "application/octet-stream",  # as Discord: by name
                "url": f"http://{self.host}:{self.port}/attachments/{channel_id}/{message_id}/{name}",
                "proxy_url": f"http://{self.host}:{self.port}/attachments/{channel_id}/{message_id}/{name}",
                "data": data,
            }
            for name, data, kind in files
        ]
        channel = self.channels.get(channel_id)
        return {
            "id": message_id,
            "channel_id": channel_id,
            "guild_id": channel.guild_id if channel else None,
            "author": (author or self.bot).payload(),
            "content": payload.get("content") or "",
            "timestamp": iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [
                self.users[u].payload() for u in _mentions(payload.get("content") or "") if u in self.users
            ],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": payload.get("embeds") or [],
            "pinned": False,
            "type": 0,
            "flags": flags | (payload.get("flags") or 0),
            "components": payload.get("components") or [],
        }

    @staticmethod
    def _public(message: dict[str, Any]) -> dict[str, Any]:
        return {
            **message,
            "attachments": [{k: v for k, v in a.items() if k != "data"} for a in message["attachments"]],
        }

    def _notify_messages(self) -> None:
        for event in self._message_waiters:
            event.set()
        self._message_waiters.clear()

    async def _gateway_info(self, request: web.Request) -> web.Response:
        return _json(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _me(self, request: web.Request) -> web.Response:
        return _json({**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0})

    async def _user(self, request: web.Request) -> web.Response:
        user = self.users.get(request.match_info["user_id"])
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        return _json(user.payload())

    async def _application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": self.application_id,
                "name": "MJBot",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "team": None,
                "owner": self.bot.payload(),
                "summary": "",
                "rpc_origins": [],
            }
        )

    def _register(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        registered = []
        for command in commands:
            if len(command.get("name", "")) > 32 or len(command.get("description", "")) > 100:
                raise DiscordError(400, 50035, "Invalid Form Body: command name/description too long")
            registered.append(
                {**command, "id": snowflake(), "application_id": self.application_id, "version": snowflake()}
            )
        return registered

    async def _put_global_commands(self, request: web.Request) -> web.Response:
        self.global_commands = self._register(await request.json())
        self.command_syncs.append("global")
        return _json(self.global_commands)

    async def _get_global_commands(self, request: web.Request) -> web.Response:
        return _json(self.global_commands)

    async def _put_guild_commands(self, request: web.Request) -> web.Response:
        guild_id = request.match_info["guild"]
        if guild_id not in self.guilds:
            raise DiscordError(403, 50001, "Missing Access")
        self.guild_commands[guild_id] = self._register(await request.json())
        self.command_syncs.append(f"guild:{guild_id}")
        return _json(self.guild_commands[guild_id])

    def _interaction(self, token: str, *, need_ack: bool) -> Interaction:
        interaction = next((i for i in self.interactions.values() if i.token == token), None)
        if interaction is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if time.monotonic() - interaction.dispatched_at > self.limits.token_ttl_s:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if need_ack and not interaction.answered:
            self.violations.append(f"follow-up or edit before acknowledging {interaction.name!r}")
            raise DiscordError(404, 10015, "Unknown Webhook (the interaction was not acknowledged yet)")
        return interaction

    async def _callback(self, request: web.Request) -> web.Response:
        interaction = self.interactions.get(request.match_info["id"])
        if interaction is None or interaction.token != request.match_info["token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        now = time.monotonic()
        if interaction.answered:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if now - interaction.dispatched_at > self.limits.ack_deadline_s:
            interaction.errors.append("late acknowledgement")
            raise DiscordError(404, 10062, "Unknown interaction (acknowledged after the 3 s deadline)")
        body, files = await self._read(request)
        kind = body.get("type")
        data = body.get("data") or {}
        interaction.ack_type = kind
        interaction.ephemeral = bool((data.get("flags") or 0) & 64)
        resource: dict[str, Any] = {"type": kind}
        if kind in (4, 5):
            content = data.get("content") if kind == 4 else ""
            original = self._message(
                interaction.channel_id,
                {**data, "content": content},
                files,
                flags=(data.get("flags") or 0) | (128 if kind == 5 else 0),
            )
            interaction.original = original
            resource["message"] = self._public(original)
        elif kind in (6, 7):
            target = interaction.source_message
            if kind == 7 and target is not None:
                self._apply_edit(target, data, files)
                resource["message"] = self._public(target)
        elif kind == 9:
            if len(data.get("components") or []) > 5 or not data.get("custom_id") or not data.get("title"):
                raise DiscordError(400, 50035, "Invalid Form Body: modal")
            for row in data.get("components", []):
                for item in row.get("components", []):
                    if len(item.get("value") or "") > 4000:
                        raise DiscordError(400, 50035, "Invalid Form Body: modal value over 4000")
            interaction.modal = data
        elif kind != 1:
            raise DiscordError(400, 50035, f"Invalid Form Body: unknown callback type {kind}")
        interaction.acked_at = time.monotonic()
        answer = {
            "interaction": {
                "id": interaction.id,
                "type": interaction.kind,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": interaction.ephemeral,
                "response_message_id": interaction.original["id"] if interaction.original else None,
            },
            "resource": resource,
        }
        return _json(answer)

    def _apply_edit(
        self, message: dict[str, Any], data: dict[str, Any], files: list[tuple[str, bytes, str]]
    ) -> None:
        merged = {**message, **{k: v for k, v in data.items() if k in ("content", "components", "embeds")}}
        problems = check_message(merged, files, self.limits)
        if problems:
            raise DiscordError(400, 50035, "Invalid Form Body: " + "; ".join(problems))
        message.update({k: v for k, v in merged.items() if k in ("content", "components", "embeds")})
        message["flags"] = (message.get("flags") or 0) & ~128
        message["edited_timestamp"] = iso()

    async def _get_original(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request.match_info["token"], need_ack=True)
        if interaction.original is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return _json(self._public(interaction.original))

    async def _edit_original(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request.match_info["token"], need_ack=True)
        body, files = await self._read(request)
        if interaction.original is None:
            if interaction.ack_type in (6, 7) and interaction.source_message is not None:
                self._apply_edit(interaction.source_message, body, files)
                return _json(self._public(interaction.source_message))
            raise DiscordError(404, 10008, "Unknown Message")
        self._apply_edit(interaction.original, body, files)
        return _json(self._public(interaction.original))

    async def _delete_original(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request.match_info["token"], need_ack=True)
        interaction.original = None
        return web.Response(status=204)

    async def _followup(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request.match_info["token"], need_ack=True)
        body, files = await self._read(request)
        if interaction.original is not None and interaction.original.get("flags", 0) & 128:
            # The first follow-up after a "thinking" defer replaces the loading message.
            self._apply_edit(interaction.original, body, files)
            return _json(self._public(interaction.original))
        message = self._message(interaction.channel_id, body, files)
        interaction.followups.append(message)
        return _json(self._public(message))

    async def _edit_followup(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request.match_info["token"], need_ack=True)
        body, files = await self._read(request)
        target = next((m for m in interaction.followups if m["id"] == request.match_info["message_id"]), None)
        if (
            target is None
            and interaction.original
            and interaction.original["id"] == request.match_info["message_id"]
        ):
            target = interaction.original
        if target is None:
            raise DiscordError(404, 10008, "Unknown Message")
        self._apply_edit(target, body, files)
        return _json(self._public(target))

    def _channel(self, channel_id: str) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None or channel.deleted:
            raise DiscordError(404, 10003, "Unknown Channel")
        return channel

    async def _get_channel(self, request: web.Request) -> web.Response:
        return _json(self._channel(request.match_info["channel_id"]).payload(self.users))

    async def _post_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request.match_info["channel_id"])
        body, files = await self._read(request)
        if channel.kind == 1:
            if channel.recipient in self.dm_closed:
                raise DiscordError(403, 50007, "Cannot send messages to this user")
        else:
            allowed = self.bot_permissions(channel)
            if not allowed & VIEW_CHANNEL:
                raise DiscordError(403, 50001, "Missing Access")
            needed = (
                SEND_MESSAGES | (ATTACH_FILES if files else 0) | (EMBED_LINKS if body.get("embeds") else 0)
            )
            if allowed & needed != needed:
                raise DiscordError(403, 50013, "Missing Permissions")
        message = self._message(channel.id, body, files)
        channel.messages.append(message)
        self._notify_messages()
        return _json(self._public(message))

    async def _get_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request.match_info["channel_id"])
        message = next((m for m in channel.messages if m["id"] == request.match_info["message_id"]), None)
        if message is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return _json(self._public(message))

    async def _patch_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request.match_info["channel_id"])
        message = next((m for m in channel.messages if m["id"] == request.match_info["message_id"]), None)
        if message is None:
            raise DiscordError(404, 10008, "Unknown Message")
        body, files = await self._read(request)
        self._apply_edit(message, body, files)
        return _json(self._public(message))

    async def _open_dm(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = self.users.get(str(body.get("recipient_id")))
        if user is None:
            raise DiscordError(400, 50035, "Invalid Form Body: unknown recipient")
        channel = self.dm_channel(user)
        if channel is None:
            channel = Channel(snowflake(), f"dm-{user.name}", None, kind=1, recipient=user.id)
            self.channels[channel.id] = channel
        return _json(channel.payload(self.users))

    # --- gateway ---------------------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        compressor = zlib.compressobj() if request.query.get("compress") == "zlib-stream" else None
        entry = (ws, compressor)
        await self._send(entry, {"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                op = message.get("op")
                if op == 1:
                    await self._send(entry, {"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    if message["d"].get("token") not in (self.token, f"Bot {self.token}"):
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    self._sockets.append(entry)
                    await self._ready(entry)
                elif op == 6:
                    if message["d"].get("token") not in (self.token, f"Bot {self.token}"):
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    self.resumes += 1
                    self._sockets.append(entry)
                    await self._send(entry, self._frame("RESUMED", {}))
        finally:
            if entry in self._sockets:
                self._sockets.remove(entry)
        return ws

    def _frame(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        self._sequence += 1
        return {"op": 0, "t": event, "s": self._sequence, "d": data}

    async def _send(self, entry: tuple[web.WebSocketResponse, Any], payload: dict[str, Any]) -> None:
        ws, compressor = entry
        raw = json.dumps(payload).encode()
        if compressor is None:
            await ws.send_str(raw.decode())
        else:
            await ws.send_bytes(compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH))

    async def _send_dispatch(self, event: str, data: dict[str, Any]) -> None:
        for entry in list(self._sockets):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._send(entry, self._frame(event, data))

    async def _ready(self, entry: tuple[web.WebSocketResponse, Any]) -> None:
        await self._send(
            entry,
            self._frame(
                "READY",
                {
                    "v": 10,
                    "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0},
                    "guilds": [{"id": g, "unavailable": True} for g in self.guilds],
                    "session_id": self._session_id,
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": self.application_id, "flags": 0},
                    "private_channels": [],
                    "relationships": [],
                    "presences": [],
                    "shard": [0, 1],
                },
            ),
        )
        for guild in self.guilds.values():
            await self._send(entry, self._frame("GUILD_CREATE", self._guild_payload(guild)))
        self.identified.set()

    def _guild_payload(self, guild: Guild) -> dict[str, Any]:
        channels = [self._channel_payload(c) for c in guild.channels.values() if not c.deleted]
        return {
            "id": guild.id,
            "name": guild.name,
            "icon": None,
            "owner_id": guild.owner_id,
            "unavailable": False,
            "member_count": len(self.users),
            "large": False,
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": [
                {
                    "id": guild.id,
                    "name": "@everyone",
                    "permissions": str(BOT_DEFAULT),
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "channels": channels,
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "members": [
                {
                    "user": self.bot.payload(),
                    "roles": [],
                    "joined_at": iso(),
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                }
            ],
            "joined_at": iso(),
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "system_channel_flags": 0,
            "nsfw_level": 0,
        }


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json", as Discord sends it: discord.py compares the header verbatim.
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _mentions(content: str) -> list[str]:
    import re

    return re.findall(r"<@!?(\d+)>", content)
