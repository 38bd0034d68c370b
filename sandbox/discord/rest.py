"""The loopback Discord's REST API (v10): the slice of routes this bot uses, each refusing what Discord
refuses. A refusal that only a bot bug can cause (a malformed body, a double or late acknowledgement,
an expired token) is also listed in `violations`, so a test can assert there were none."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from .model import (
    ATTACH_FILES,
    EMBED_LINKS,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    Channel,
    DiscordError,
    Interaction,
    snowflake,
)
from .state import API, DiscordState, json_response


class RestApi(DiscordState):
    def _add_rest_routes(self, r: web.UrlDispatcher) -> None:
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
            return json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except DiscordError as exc:
            if exc.status == 400 or exc.code in (10062, 40060, 50027):
                self.violations.append(f"{request.method} {request.path.split('/')[3]}: {exc.message}")
            return json_response({"message": exc.message, "code": exc.code}, status=exc.status)

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

    async def _gateway_info(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url,
                "shards": self.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    async def _me(self, request: web.Request) -> web.Response:
        return json_response({**self.bot.payload(), "verified": True, "mfa_enabled": False, "flags": 0})

    async def _user(self, request: web.Request) -> web.Response:
        user = self.users.get(request.match_info["user_id"])
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        return json_response(user.payload())

    async def _application(self, request: web.Request) -> web.Response:
        return json_response(
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
        return json_response(self.global_commands)

    async def _get_global_commands(self, request: web.Request) -> web.Response:
        return json_response(self.global_commands)

    async def _put_guild_commands(self, request: web.Request) -> web.Response:
        guild_id = request.match_info["guild"]
        if guild_id not in self.guilds:
            raise DiscordError(403, 50001, "Missing Access")
        self.guild_commands[guild_id] = self._register(await request.json())
        self.command_syncs.append(f"guild:{guild_id}")
        return json_response(self.guild_commands[guild_id])

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
        return json_response(answer)

    async def _get_original(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request.match_info["token"], need_ack=True)
        if interaction.original is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return json_response(self._public(interaction.original))

    async def _edit_original(self, request: web.Request) -> web.Response:
        interaction = self._interaction(request.match_info["token"], need_ack=True)
        body, files = await self._read(request)
        if interaction.original is None:
            if interaction.ack_type in (6, 7) and interaction.source_message is not None:
                self._apply_edit(interaction.source_message, body, files)
                return json_response(self._public(interaction.source_message))
            raise DiscordError(404, 10008, "Unknown Message")
        self._apply_edit(interaction.original, body, files)
        return json_response(self._public(interaction.original))

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
            return json_response(self._public(interaction.original))
        message = self._message(interaction.channel_id, body, files)
        interaction.followups.append(message)
        return json_response(self._public(message))

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
        return json_response(self._public(target))

    async def _get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._channel(request.match_info["channel_id"]).payload(self.users))

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
        return json_response(self._public(message))

    async def _get_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request.match_info["channel_id"])
        message = next((m for m in channel.messages if m["id"] == request.match_info["message_id"]), None)
        if message is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return json_response(self._public(message))

    async def _patch_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request.match_info["channel_id"])
        message = next((m for m in channel.messages if m["id"] == request.match_info["message_id"]), None)
        if message is None:
            raise DiscordError(404, 10008, "Unknown Message")
        body, files = await self._read(request)
        self._apply_edit(message, body, files)
        return json_response(self._public(message))

    async def _open_dm(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = self.users.get(str(body.get("recipient_id")))
        if user is None:
            raise DiscordError(400, 50035, "Invalid Form Body: unknown recipient")
        channel = self.dm_channel(user)
        if channel is None:
            channel = Channel(snowflake(), f"dm-{user.name}", None, kind=1, recipient=user.id)
            self.channels[channel.id] = channel
        return json_response(channel.payload(self.users))
