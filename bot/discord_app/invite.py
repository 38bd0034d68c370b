"""The bot's invite URL: one builder, so the start-up log, `python -m bot doctor` and the README agree."""

from __future__ import annotations

import discord

# Exactly what delivery needs and nothing more: Send Messages (2048) + Embed Links (16384) + Attach Files
# (32768) = 51200. Asking for less breaks posting; asking for more makes server owners rightly wary.
PERMISSIONS = discord.Permissions(send_messages=True, embed_links=True, attach_files=True)
# `bot` puts the bot user in the server; `applications.commands` lets it register slash commands there.
SCOPES = ("bot", "applications.commands")


def invite_url(application_id: int) -> str:
    """`https://discord.com/oauth2/authorize?client_id=<id>&scope=bot+applications.commands&permissions=51200`."""
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS, scopes=SCOPES)
