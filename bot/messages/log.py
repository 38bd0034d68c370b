"""/tasks and /task: the member's log, one task in detail with its lineage."""

from __future__ import annotations

import time

from ..store.models import Task, TaskState
from .common import age, describe, message_link, quoted, shorten_block, state_phrase


# --- the task log ------------------------------------------------------------------------------
def task_line(task: Task, now: float, link: str | None) -> str:
    parts = [f"`{task.id}`", describe(task)]
    prompt = quoted(task.effective_prompt, 40)
    if prompt:
        parts.append(f"“{prompt}”")
    parts += [state_phrase(task), age(now - task.created_at)]
    if task.cost is not None:
        parts.append(f"${task.cost}")
    line = " · ".join(parts)
    return f"{line} · [result]({link})" if link else line


def task_detail(
    task: Task,
    link: str | None,
    *,
    parent: Task | None = None,
    children: list[Task] | None = None,
    now: float | None = None,
) -> str:
    now = time.time() if now is None else now
    lines = [f"**Task `{task.id}`** · {describe(task)} · {state_phrase(task)}"]
    if task.effective_prompt:
        lines.append(f"Prompt: {quoted(task.effective_prompt, 900)}")
    lines.append(f"Created {age(now - task.created_at)} · provider {task.provider}")
    if task.provider_task_id:
        lines.append(f"Provider task: `{task.provider_task_id}`")
    if task.cost is not None:
        lines.append(f"Cost: ${task.cost}")
    if task.error_message and task.state != TaskState.SUCCEEDED:
        code = f" (provider code {task.error_code})" if task.error_code and task.error_code.isdigit() else ""
        lines.append(f"Why: {task.error_message}{code}")
    if link:
        lines.append(f"Result: {link}")
    elif task.result_urls:
        lines.append("Images: " + " ".join(f"<{url}>" for url in task.result_urls[:4]))
    if task.delivery_error and task.state == TaskState.SUCCEEDED and not link:
        lines.append("-# The result could not be posted to its channel; the image links are above.")
    if parent is not None:
        lines.append(f"Made from: {_linked(parent)} by {describe(task).split(' of ')[0]}")
    elif task.parent_provider_task_id:
        lines.append(f"Made from the provider's task `{task.parent_provider_task_id}`")
    for child in (children or [])[:10]:
        lines.append(f"↳ {describe(child).split(' of ')[0]}: {_linked(child)} · {state_phrase(child)}")
    if children and len(children) > 10:
        lines.append(f"↳ … and {len(children) - 10} more")
    return shorten_block("\n".join(lines))


def _linked(task: Task) -> str:
    link = message_link(task)
    return f"[`{task.id}`]({link})" if link else f"`{task.id}`"


def no_such_task(reference: str) -> str:
    return f"No task `{quoted(reference.strip(), 40)}` in your log. See /tasks for your ids."


def unknown_filter(status: str, allowed: list[str]) -> str:
    return f"Unknown status filter `{quoted(status, 20)}`. Use one of: {', '.join(allowed)}."
