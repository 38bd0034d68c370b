"""Every text a member sees, as plain functions of store records (testable without Discord)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from discord.utils import escape_markdown

from .engine import describe
from .store import Task

CONTENT_LIMIT = 2000
STATE_WORDS = {
    "queued": "queued",
    "submitted": "submitted",
    "running": "running",
    "succeeded": "done",
    "failed": "failed",
    "timed_out": "timed out",
    "cancelled": "cancelled",
}


def shorten(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def quoted(prompt: str | None, limit: int) -> str:
    """A member's prompt inside our own formatting: shortened, its markdown shown literally."""
    return escape_markdown(shorten(prompt, limit))


def what(task: Task) -> str:
    """`V2 · strong · of a1b2c3`, as result posts say it."""
    return (
        describe(task)
        .replace(" of ", " · of ")
        .replace(" strong", " · strong")
        .replace(" subtle", " · subtle")
        .replace(" remix", " · remix")
    )


def age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def state_phrase(task: Task) -> str:
    if task.state == "running":
        return f"running {task.progress}%"
    if task.state == "submitted" and task.create_uncertain:
        return "waiting for the provider to confirm"
    return STATE_WORDS[task.state]


def accepted(task: Task, *, existing: bool, paused: bool = False) -> str:
    """The ephemeral answer to an /imagine, /vary or button press."""
    if existing:
        return (
            f"Already working on it: `{task.id}` ({describe(task)}) is {state_phrase(task)}. "
            "I'll post the result in this channel."
        )
    if task.state == "failed":
        return f"`{task.id}` ({describe(task)}) could not start: {task.error_message}"
    note = (
        " The provider is busy; it is queued and will go through." if paused or task.state == "queued" else ""
    )
    return f"Started `{task.id}` ({describe(task)}).{note} I'll post the result in this channel."


def progress(task: Task) -> str:
    """The deferred reply, edited as the task moves."""
    head = f"`{task.id}` · {describe(task)} · {state_phrase(task)}"
    if task.state == "succeeded":
        return f"{head} — posted in the channel."
    if task.state in ("failed", "timed_out", "cancelled"):
        return f"{head}: {task.error_message or 'no reason given'}"
    return head + "…"


def result(task: Task, *, linked: bool = False) -> str:
    """A result post in the channel: mention, prompt, what it is."""
    prompt = quoted(task.effective_prompt, 1200)
    body = (
        f"<@{task.user_id}> **{prompt}**\n{what(task)} · `{task.id}`"
        if prompt
        else f"<@{task.user_id}> {what(task)} · `{task.id}`"
    )
    if task.cost is not None:
        body += f" · ${task.cost}"
    if linked:
        body += "\n-# The images could not be re-uploaded, so these are the provider's links (they expire in about 15 days)."
    return shorten_block(body)


def failure(task: Task) -> str:
    prompt = quoted(task.effective_prompt, 300)
    label = "timed out" if task.state == "timed_out" else "failed"
    text = f"<@{task.user_id}> `{task.id}` ({describe(task)}) {label}"
    if prompt:
        text += f" — **{prompt}**"
    return shorten_block(f"{text}\n{task.error_message or 'The provider gave no reason.'}")


def shorten_block(text: str) -> str:
    return text if len(text) <= CONTENT_LIMIT else text[: CONTENT_LIMIT - 1] + "…"


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


def task_detail(task: Task, link: str | None, now: float | None = None) -> str:
    now = time.time() if now is None else now
    lines = [f"**Task `{task.id}`** · {describe(task)} · {state_phrase(task)}"]
    if task.effective_prompt:
        lines.append(f"Prompt: {quoted(task.effective_prompt, 900)}")
    lines.append(f"Created {age(now - task.created_at)} · provider {task.provider}")
    if task.provider_task_id:
        lines.append(f"Provider task: `{task.provider_task_id}`")
    if task.parent_id:
        lines.append(f"Parent: `{task.parent_id}`")
    if task.cost is not None:
        lines.append(f"Cost: ${task.cost}")
    if task.error_message and task.state != "succeeded":
        lines.append(f"Why: {task.error_message}")
    if link:
        lines.append(f"Result: {link}")
    elif task.result_urls:
        lines.append("Images: " + " ".join(f"<{url}>" for url in task.result_urls[:4]))
    if task.delivery_error and task.state == "succeeded" and not link:
        lines.append("-# The result could not be posted to its channel; the image links are above.")
    return shorten_block("\n".join(lines))


def next_utc_midnight(now: float) -> datetime:
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=1)


def resets_in(now: float) -> str:
    reset = next_utc_midnight(now)
    left = int(reset.timestamp() - now)
    return f"resets at 00:00 UTC (<t:{int(reset.timestamp())}:R>, in {left // 3600}h {left % 3600 // 60}m)"
