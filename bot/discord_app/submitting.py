"""Running a request from a command, a button or the remix editor: acknowledge, submit, answer, follow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .. import messages
from ..tasks import Actor, Reply, TaskService
from .cancel import cancel_view
from .interactions import (
    Interaction,
    actor_of,
    defer_private,
    report_error,
    require_post_permissions,
    respond,
)

Action = Callable[[TaskService, Actor], Awaitable[Reply]]


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
