"""The buttons under every grid (V1–V4, U1–U4, 🔄) as stateless `DynamicItem`s, and the remix editor.

Their custom_id carries the task and index, so they work after a restart and on old messages; each
press re-reads the grid from the store and answers privately when it is gone.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, ClassVar, Self

import discord

from ..providers.base import Capabilities
from ..store.models import Task
from .interactions import Interaction, own, report_error
from .submitting import CancelButton, submit_from

log = logging.getLogger(__name__)

TASK = r"(?P<task>[a-z0-9]{6})"
# discord.py types component and modal callbacks over any client; `own()` narrows them to ours.
AnyInteraction = discord.Interaction[discord.Client]
# Discord caps a text input in a modal at 4000 characters.
MODAL_TEXT_MAX = 4000


class _GridButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """A V or U button: `<kind>:<task>:<index>`. The base template matches nothing; subclasses set theirs."""

    kind: ClassVar[str]
    letter: ClassVar[str]
    row: ClassVar[int]

    def __init__(self, task_id: str, index: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"{self.letter}{index}",
                style=discord.ButtonStyle.secondary,
                custom_id=f"{self.kind}:{task_id}:{index}",
                row=self.row,
            )
        )
        self.task_id = task_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls, interaction: AnyInteraction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> Self:
        return cls(match["task"], int(match["index"]))

    async def callback(self, interaction: AnyInteraction) -> None:
        await self.pressed(own(interaction))

    async def pressed(self, interaction: Interaction) -> None:
        raise NotImplementedError


class VaryButton(_GridButton, template=rf"vary:{TASK}:(?P<index>[1-4])"):
    kind, letter, row = "vary", "V", 1

    async def pressed(self, interaction: Interaction) -> None:
        services = interaction.client.services
        settings = services.members.get(interaction.user.id)
        where = f"V{self.index} on {self.task_id}"
        if settings.remix and services.provider.capabilities.remix:
            try:
                # A modal must be the first answer: its text comes from memory for a grid this
                # process posted or read lately; for an older one, from one quick local read.
                async with asyncio.timeout(1.5):
                    prefill = await services.tasks.remix_prefill(self.task_id)
            except TimeoutError:
                prefill = ""
            except Exception as exc:
                await report_error(interaction, exc, where)
                return
            await interaction.response.send_modal(RemixModal(self.task_id, self.index, prefill))
            return
        await submit_from(
            interaction, lambda tasks, actor: tasks.press(actor, self.task_id, self.index, settings), where
        )


class UpscaleButton(_GridButton, template=rf"upscale:{TASK}:(?P<index>[1-4])"):
    kind, letter, row = "upscale", "U", 0

    async def pressed(self, interaction: Interaction) -> None:
        await submit_from(
            interaction,
            lambda tasks, actor: tasks.upscale(actor, self.task_id, self.index),
            f"U{self.index} on {self.task_id}",
        )


class RerollButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"reroll:{TASK}"):
    def __init__(self, task_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="🔄", style=discord.ButtonStyle.secondary, custom_id=f"reroll:{task_id}", row=1
            )
        )
        self.task_id = task_id

    @classmethod
    async def from_custom_id(
        cls, interaction: AnyInteraction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> RerollButton:
        return cls(match["task"])

    async def callback(self, interaction: AnyInteraction) -> None:
        await submit_from(
            own(interaction),
            lambda tasks, actor: tasks.reroll(actor, self.task_id),
            f"re-roll of {self.task_id}",
        )


class RemixModal(discord.ui.Modal):
    def __init__(self, task_id: str, index: int, prefill: str) -> None:
        super().__init__(title=f"Remix V{index} of {task_id}", timeout=900)
        self.task_id = task_id
        self.index = index
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Remix prompt",
            style=discord.TextStyle.paragraph,
            default=prefill[:MODAL_TEXT_MAX] or None,
            min_length=1,
            max_length=MODAL_TEXT_MAX,
        )
        self.add_item(self.prompt)

    async def on_submit(self, event: AnyInteraction, /) -> None:
        interaction = own(event)
        remix = self.prompt.value
        settings = interaction.client.services.members.get(interaction.user.id)
        await submit_from(
            interaction,
            lambda tasks, actor: tasks.press(actor, self.task_id, self.index, settings, remix_prompt=remix),
            f"remix V{self.index} on {self.task_id}",
        )

    async def on_error(
        self, interaction: AnyInteraction, error: Exception, item: discord.ui.Item[Any] | None = None, /
    ) -> None:
        await report_error(own(interaction), error, f"remix modal on {self.task_id}")


def result_view(task: Task, caps: Capabilities) -> discord.ui.View | None:
    """Buttons under a posted grid (none under single upscaled images)."""
    if task.kind == "upscale":
        return None
    view = discord.ui.View(timeout=None)
    if caps.upscale:
        for index in range(1, 5):
            view.add_item(UpscaleButton(task.id, index))
    for index in range(1, 5):
        view.add_item(VaryButton(task.id, index))
    if caps.reroll and task.effective_prompt:
        view.add_item(RerollButton(task.id))
    return view


DYNAMIC_ITEMS = (VaryButton, UpscaleButton, RerollButton, CancelButton)
