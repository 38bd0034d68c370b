"""The buttons under every grid: V1–V4, U1–U4 and 🔄, as stateless `DynamicItem`s.

Their custom_id carries the task and index, so they work after a restart and on old messages; each
press re-reads the grid from the store and answers ephemerally when it is gone.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, ClassVar, Self

import discord
from discord.ext import commands

from bot.discord_app import MJBot, report_error, services_of, submit_from
from bot.providers.base import Capabilities
from bot.service import MODAL_MAX
from bot.store import Task

log = logging.getLogger(__name__)

TASK = r"(?P<task>[a-z0-9]{6})"


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
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> Self:
        return cls(match["task"], int(match["index"]))


class VaryButton(_GridButton, template=rf"vary:{TASK}:(?P<index>[1-4])"):
    kind, letter, row = "vary", "V", 1

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction)
        try:
            # A modal must be the first answer, so this one quick local read comes before any defer.
            async with asyncio.timeout(1.5):
                remix = await services.tasks.wants_remix(interaction.user.id)
                prefill = await services.tasks.remix_prefill(self.task_id) if remix else ""
        except TimeoutError:
            remix = False
        except Exception as exc:
            await report_error(interaction, exc, f"V{self.index} on {self.task_id}")
            return
        if remix:
            await interaction.response.send_modal(RemixModal(self.task_id, self.index, prefill))
            return
        await submit_from(
            interaction,
            lambda tasks, actor: tasks.press(actor, self.task_id, self.index),
            f"V{self.index} on {self.task_id}",
        )


class UpscaleButton(_GridButton, template=rf"upscale:{TASK}:(?P<index>[1-4])"):
    kind, letter, row = "upscale", "U", 0

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
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
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> RerollButton:
        return cls(match["task"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await submit_from(
            interaction, lambda tasks, actor: tasks.reroll(actor, self.task_id), f"re-roll of {self.task_id}"
        )


class RemixModal(discord.ui.Modal):
    def __init__(self, task_id: str, index: int, prefill: str) -> None:
        super().__init__(title=f"Remix V{index} of {task_id}", timeout=900)
        self.task_id = task_id
        self.index = index
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Remix prompt",
            style=discord.TextStyle.paragraph,
            default=prefill[:MODAL_MAX] or None,
            min_length=1,
            max_length=MODAL_MAX,
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        remix = self.prompt.value
        await submit_from(
            interaction,
            lambda tasks, actor: tasks.press(actor, self.task_id, self.index, remix_prompt=remix),
            f"remix V{self.index} on {self.task_id}",
        )

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: Any = None, /
    ) -> None:
        await report_error(interaction, error, f"remix modal on {self.task_id}")


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


class Buttons(commands.Cog):
    ITEMS = (VaryButton, UpscaleButton, RerollButton)

    def __init__(self, bot: MJBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*self.ITEMS)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*self.ITEMS)


async def setup(bot: MJBot) -> None:
    await bot.add_cog(Buttons(bot))
