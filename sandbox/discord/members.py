"""Driving the loopback Discord like members do: `slash(...)` runs a slash command, `press(...)` a button,
`submit_modal(...)` a modal; `wait_for_message(...)` and `wait_for_answer(...)` watch what the bot does,
and `unanswered()` lists what a member would see as "This interaction failed"."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from .gateway import Gateway
from .model import Channel, Interaction, User, new_token, snowflake


class MemberDriver(Gateway):
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
        if not self._connections:
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
                **self._member_payload(user),
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
