"""What a member is told about their own requests: private replies, result posts, failures."""

from __future__ import annotations

from ..providers.errors import GENERATION_REFUSED
from ..store.models import Task, TaskState
from .common import (
    LINKED_NOTE,
    STATE_WORDS,
    describe,
    quoted,
    shorten_block,
    state_phrase,
)


# --- the private reply to a request ------------------------------------------------------------
def accepted(task: Task, *, existing: bool, paused: bool = False, position: int = 0) -> str:
    """The ephemeral answer to an /imagine, /vary or button press."""
    if position:
        return (
            f"Queued `{task.id}` ({describe(task)}): number {position} in your queue. It starts by itself "
            "when one of your running tasks finishes, and I'll post the result in this channel."
        )
    if existing:
        return (
            f"Already working on it: `{task.id}` ({describe(task)}) is {state_phrase(task)}. "
            "I'll post the result in this channel."
        )
    if task.state == TaskState.FAILED:
        if task.error_code == "no-answer":
            return f"`{task.id}` ({describe(task)}): {task.error_message}"
        return f"`{task.id}` ({describe(task)}) could not start: {task.error_message}"
    if task.create_uncertain:
        return (
            f"Sent `{task.id}` ({describe(task)}), but the provider's answer could not be read. It was not "
            "sent again, so you are not charged twice; waiting for the provider's confirmation."
        )
    note = (
        " The provider is busy; it is queued and will go through."
        if paused or task.state == TaskState.QUEUED
        else ""
    )
    return f"Started `{task.id}` ({describe(task)}).{note} I'll post the result in this channel."


def progress(task: Task, position: int = 0) -> str:
    """The private reply, edited as the task moves: queued (with its place) → running N% → done."""
    head = f"`{task.id}` · {describe(task)}"
    if position:
        return f"{head} · number {position} in your queue…"
    if task.state == TaskState.SUCCEEDED:
        return f"{head} · done — posted in the channel."
    if task.state == TaskState.CANCELLED:
        return f"{head} · cancelled."
    if task.finished:
        return failure_notice(task)
    return f"{head} · {state_phrase(task)}…"


def posted(task: Task, jump_url: str) -> str:
    return f"`{task.id}` · {describe(task)} · done — posted: {jump_url}"


def cancelled(task: Task, *, was_sent: bool) -> str:
    if was_sent:
        return (
            f"Cancelled `{task.id}` ({describe(task)}): I stop following it and won't post it. It had "
            "already reached the provider, which may still charge for it."
        )
    return f"Cancelled `{task.id}` ({describe(task)}): it was still waiting, so nothing was sent or charged."


# How a finished task's ending reads in a sentence ("`abc123` is already done").
ENDED = {
    TaskState.SUCCEEDED: "is already done",
    TaskState.FAILED: "has already failed",
    TaskState.TIMED_OUT: "has already timed out",
    TaskState.CANCELLED: "was already cancelled",
}


def cannot_cancel(task: Task) -> str:
    return f"`{task.id}` {ENDED.get(task.state, 'has already finished')}, so there is nothing to cancel."


# --- channel posts -----------------------------------------------------------------------------
def action(task: Task) -> str:
    """What made a post, as Midjourney captions say it: `Variations (Strong) by`, `Image #2`."""
    if task.kind == "upscale":
        return f"Image #{task.image_index}"
    if task.kind == "vary":
        strength = f" ({task.strength.capitalize()})" if task.strength else ""
        return f"{'Remix' if task.remix_prompt else 'Variations'}{strength} by"
    return ""


def result(task: Task, *, parent_link: str | None = None, linked: bool = False) -> str:
    """A result post: `**prompt** - Variations (Strong) by @member`, then ids and lineage in small text."""
    prompt = quoted(task.effective_prompt, 1500)
    head = " ".join(part for part in (action(task), f"<@{task.user_id}>") if part)
    lines = [f"**{prompt}** - {head}" if prompt else head]
    small = f"-# `{task.id}`"
    if task.kind != "imagine":
        parent = task.parent_id or (task.parent_provider_task_id or "?")[:12]
        small += f" · {describe(task).split(' of ')[0]} of `{parent}`"
        if parent_link:
            small += f" · [from this grid]({parent_link})"
    lines.append(small)
    if linked:
        lines.append(LINKED_NOTE)
    return shorten_block("\n".join(lines))


def failure_notice(task: Task) -> str:
    """A failure, told privately to the member who asked, worded for what they did."""
    what = "/imagine" if task.kind == "imagine" else describe(task).replace(" of ", " of `") + "`"
    prompt = quoted(task.effective_prompt, 80)
    about = f" (“{prompt}”)" if prompt and task.kind == "imagine" else ""
    verb = "timed out" if task.state == TaskState.TIMED_OUT else "did not work"
    reason = (task.error_message or "the provider gave no reason").rstrip()
    # The provider's own words often end without a full stop; the advice is a new sentence.
    text = f"Your {what} `{task.id}`{about} {verb}: {reason}{'' if reason.endswith(('.', '!', '?')) else '.'}"
    if (task.error_message or "").startswith(GENERATION_REFUSED):
        text += (
            " Try a different prompt."
            if task.kind == "imagine"
            else " Try another image or a different prompt."
        )
    return shorten_block(text)


def failure_channel_note(task: Task) -> str:
    """The last resort when neither the private reply nor a DM reaches the member: no prompt, no reason."""
    return f"<@{task.user_id}> your request `{task.id}` did not work. `/task id:{task.id}` says why."


def shown(task: Task, jump_url: str) -> str:
    return f"Posted `{task.id}` here again, with live buttons: {jump_url}"


def not_showable(task: Task) -> str:
    ended = ENDED.get(task.state) if task.finished else f"is still {STATE_WORDS[task.state]}"
    return f"`{task.id}` {ended}, so it has no images to show."


def cannot_post_in(channel_id: int | None, missing: list[str]) -> str:
    return f"I couldn't post this in <#{channel_id}>" + (
        f" (I'm missing **{', '.join(missing)}** there)." if missing else "."
    )


def timeout_message(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return (
        f"The provider made no progress on this for {minutes} minute{'s' if minutes != 1 else ''}, "
        "so the bot stopped waiting. Try again; if it keeps happening the provider may be overloaded."
    )
