"""/tasks (the member's own log, paged with Prev/Next) and /task (one task in detail)."""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages
from bot.discord_app.client import MJBot
from bot.discord_app.interactions import (
    actor_of,
    defer_private,
    observe_ack,
    own,
    report_error,
    require_post_permissions,
)
from bot.tasks.service import FILTERS, TaskPage

STATUS_CHOICES = [app_commands.Choice(name=name.replace("_", " "), value=name) for name in FILTERS]


class PageButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"tasks:(?P<user>\d+):(?P<status>[a-z_]+):(?P<page>\d+):(?P<way>[pn])",
):
    """Prev/Next under a /tasks page; the target page is in the custom_id, so no state is kept."""

    def __init__(self, user_id: int, status: str, page: int, way: str, *, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label="◀ Prev" if way == "p" else "Next ▶",
                style=discord.ButtonStyle.secondary,
                custom_id=f"tasks:{user_id}:{status}:{page}:{way}",
                disabled=disabled,
            )
        )
        self.user_id, self.status, self.page = user_id, status, page

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[discord.Client],
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> PageButton:
        return cls(int(match["user"]), match["status"], int(match["page"]), match["way"])

    async def callback(self, event: discord.Interaction[discord.Client]) -> None:
        interaction = own(event)
        try:
            if interaction.user.id != self.user_id:
                await interaction.response.send_message(
                    "That is someone else's task log; use /tasks for yours.", ephemeral=True
                )
                return
            await interaction.response.defer()
            observe_ack(interaction)
            page = await interaction.client.services.tasks.tasks_page(
                self.user_id, interaction.guild_id, self.status, self.page
            )
            await interaction.edit_original_response(content=page.content, view=pager(self.user_id, page))
        except Exception as exc:
            await report_error(interaction, exc, "/tasks page")


def pager(user_id: int, page: TaskPage) -> discord.ui.View | None:
    if page.pages <= 1:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(PageButton(user_id, page.status, max(1, page.page - 1), "p", disabled=page.page <= 1))
    view.add_item(
        PageButton(
            user_id, page.status, min(page.pages, page.page + 1), "n", disabled=page.page >= page.pages
        )
    )
    return view


class Tasks(commands.Cog):
    def __init__(self, bot: MJBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PageButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PageButton)

    @app_commands.command(name="tasks", description="Your task log, newest first")
    @app_commands.describe(status="Show only tasks in this state", page="Which page (10 tasks a page)")
    @app_commands.choices(status=STATUS_CHOICES)
    async def tasks(
        self,
        interaction: discord.Interaction[MJBot],
        status: app_commands.Choice[str] | None = None,
        page: app_commands.Range[int, 1, 10000] = 1,
    ) -> None:
        await defer_private(interaction)
        result = await self.bot.services.tasks.tasks_page(
            interaction.user.id, interaction.guild_id, status.value if status else "all", page
        )
        view = pager(interaction.user.id, result)
        if view is None:
            await interaction.edit_original_response(content=result.content)
        else:
            await interaction.edit_original_response(content=result.content, view=view)

    @app_commands.command(name="cancel", description="Cancel one of your queued or running tasks")
    @app_commands.describe(id="The short id from /tasks")
    async def cancel(
        self, interaction: discord.Interaction[MJBot], id: app_commands.Range[str, 1, 100]
    ) -> None:
        await defer_private(interaction)
        text = await self.bot.services.tasks.cancel(actor_of(interaction), id)
        await interaction.edit_original_response(content=text)

    @app_commands.command(
        name="show", description="Post one of your finished grids here again, with live buttons"
    )
    @app_commands.describe(id="The short id from /tasks")
    async def show(
        self, interaction: discord.Interaction[MJBot], id: app_commands.Range[str, 1, 100]
    ) -> None:
        await defer_private(interaction)
        require_post_permissions(interaction)
        task = await self.bot.services.tasks.showable(actor_of(interaction), id)
        channel_id = interaction.channel_id
        if channel_id is None:
            raise app_commands.CheckFailure(messages.NOT_ALLOWED)
        message = await self.bot.services.deliverer.show(task, channel_id, interaction.guild_id)
        await interaction.edit_original_response(content=messages.shown(task, message.jump_url))

    @app_commands.command(name="task", description="One of your tasks in detail")
    @app_commands.describe(id="The short id from /tasks, or the provider's task id")
    async def task(
        self, interaction: discord.Interaction[MJBot], id: app_commands.Range[str, 1, 100]
    ) -> None:
        await defer_private(interaction)
        text = await self.bot.services.tasks.task_detail(interaction.user.id, id)
        await interaction.edit_original_response(content=text)


async def setup(bot: MJBot) -> None:
    await bot.add_cog(Tasks(bot))
