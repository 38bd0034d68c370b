"""Running a request from a command, a button or the remix editor: acknowledge, submit, answer, follow;
and the Cancel button that the answer carries while the task is queued or running."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord

from .. import messages
from ..store.models import Task
from ..tasks.actor import Actor
from .interactions import (
    Interaction,
    actor_of,
    defer_private,
    own,
    report_error,
    require_post_permissions,
    respond,
)

if TYPE_CHECKING:
    from ..tasks.service import Reply, TaskService

    Action = Callable[[TaskService, Actor], Awaitable[Reply]]

TASK = r"(?P<task>[a-z0-9]{6})"
# discord.py types component callbacks over any client; `own()` narrows them to ours.
AnyInteraction = discord.Interaction[discord.Client]


async def submit_from(interaction: Interaction, action: Action, where: str) -> None:
    """Defer at once (privately), run the request, answer, and follow the task in that reply."""
    client = interaction.client
    if not client.accepting:
        await respond(interaction, messages.RESTARTING)
        return
    try:
        if not interaction.response.is_done():
            await defer_private(interaction)
        require_post_permissions(interaction)
        reply = await action(client.services.tasks, actor_of(interaction))
        task = reply.task
        if task is not None and not task.finished:
            await interaction.edit_original_response(content=reply.content, view=cancel_view(task))
            client.tracker.watch(task, interaction, reply.content, reply.position)
        else:
            await interaction.edit_original_response(content=reply.content)
    except Exception as exc:
        await report_error(interaction, exc, where)


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"cancel:{TASK}"):
    """Under the private reply of a queued or running task; only its member ever sees it."""

    def __init__(self, task_id: str) -> None:
        super().__init__(
            discord.ui.Button(label="Cancel", style=discord.ButtonStyle.danger, custom_id=f"cancel:{task_id}")
        )
        self.task_id = task_id

    @classmethod
    async def from_custom_id(
        cls, interaction: AnyInteraction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CancelButton:
        return cls(match["task"])

    async def callback(self, event: AnyInteraction) -> None:
        interaction = own(event)
        try:
            await interaction.response.defer()
            text = await interaction.client.services.tasks.cancel(actor_of(interaction), self.task_id)
            await interaction.edit_original_response(content=text, view=None)
        except Exception as exc:
            await report_error(interaction, exc, f"cancel of {self.task_id}")


def cancel_view(task: Task) -> discord.ui.View | None:
    if task.finished:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(task.id))
    return view
