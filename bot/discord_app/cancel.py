"""The Cancel button under the private reply of a queued or running task."""

from __future__ import annotations

import re
from typing import Any

import discord

from ..store import Task
from .interactions import actor_of, own, report_error

TASK = r"(?P<task>[a-z0-9]{6})"
AnyInteraction = discord.Interaction[discord.Client]


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
