"""Every text a member or an admin sees, as plain functions and constants (testable without Discord).

Prompts are members' words inside our formatting: always shortened, then escaped, never trusted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from discord.utils import escape_markdown

from .store import GuildControls, Task, TaskState, UserSettings

# Discord refuses a message whose content is longer than this.
DISCORD_CONTENT_MAX = 2000
STATE_WORDS = {
    TaskState.QUEUED: "queued",
    TaskState.SUBMITTED: "submitted",
    TaskState.RUNNING: "running",
    TaskState.SUCCEEDED: "done",
    TaskState.FAILED: "failed",
    TaskState.TIMED_OUT: "timed out",
    TaskState.CANCELLED: "cancelled",
}

RESTARTING = "The bot is restarting right now. Try again in a minute; nothing you started is lost."
APOLOGY = "Sorry, something went wrong on my side. It has been logged; please try again."
NOT_ALLOWED = "You can't use that here."
OUTDATED_COMMAND = (
    "Discord sent an older version of this command (it is still being updated). "
    "Try again in a minute; if it persists, ask an admin to run /admin sync."
)
ADMIN_ONLY = "Only members with the Manage Server permission can use /admin."
GUILD_PAUSED = "An admin has paused new requests on this server. Try again later."
WHICH_GRID = "Which grid? Give a task id from /tasks."
UPSCALE_UNAVAILABLE = "Upscaling is not available with this provider."
CHANNEL_GONE = "The channel this was started in is gone, so here it is."
LINKED_NOTE = (
    "-# The images could not be re-uploaded, so these are the provider's links "
    "(they expire in about 15 days)."
)
NO_ANSWER_NOW = (
    "The provider's answer to this request could not be read, and the bot did not send it again so "
    "you are not charged twice. If it went through it shows up at the provider; otherwise try again."
)
NO_ANSWER = (
    "The provider never confirmed this request, and the bot did not send it again so you are "
    "not charged twice. Check /tasks in a while, or press the button again."
)
ADMIN_PAUSED = (
    "Paused: new requests on this server are refused until `/admin resume`. Running tasks still finish."
)
ADMIN_RESUMED = "Resumed: members can make new requests again."


# --- building blocks ---------------------------------------------------------------------------
def shorten(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def quoted(prompt: str | None, limit: int) -> str:
    """A member's prompt inside our own formatting: shortened, its markdown shown literally, and no
    longer than `limit` once escaped (escaping can double a prompt made of markdown characters)."""
    escaped = escape_markdown(shorten(prompt, limit))
    if len(escaped) <= limit:
        return escaped
    low, high = 0, limit  # the longest shortening whose escaped form fits
    while low < high:
        middle = (low + high + 1) // 2
        if len(escape_markdown(shorten(prompt, middle))) <= limit:
            low = middle
        else:
            high = middle - 1
    return escape_markdown(shorten(prompt, low))


def shorten_block(text: str) -> str:
    return text if len(text) <= DISCORD_CONTENT_MAX else text[: DISCORD_CONTENT_MAX - 1] + "…"


def describe(task: Task) -> str:
    """What a task is, as members read it: `imagine`, `V2 strong of a1b2c3`, `U3 of a1b2c3`."""
    if task.kind == "imagine":
        return "imagine"
    parent = task.parent_id or (task.parent_provider_task_id or "?")[:12]
    if task.kind == "upscale":
        return f"U{task.image_index} of {parent}"
    strength = f" {task.strength}" if task.strength else ""
    remix = " remix" if task.remix_prompt else ""
    return f"V{task.image_index}{strength}{remix} of {parent}"


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
    if task.state == TaskState.RUNNING:
        return f"running {task.progress}%"
    if task.state == TaskState.SUBMITTED and task.create_uncertain:
        return "waiting for the provider to confirm"
    return STATE_WORDS[task.state]


def message_link(task: Task) -> str | None:
    if task.result_message_id is None or task.channel_id is None:
        return None
    guild = task.guild_id if task.guild_id is not None else "@me"
    return f"https://discord.com/channels/{guild}/{task.channel_id}/{task.result_message_id}"


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


def progress(task: Task) -> str:
    """The deferred reply, edited as the task moves."""
    head = f"`{task.id}` · {describe(task)} · {state_phrase(task)}"
    if task.state == TaskState.SUCCEEDED:
        return f"{head} — posted in the channel."
    if task.finished:
        return f"{head}: {task.error_message or 'no reason given'}"
    return head + "…"


def posted(task: Task, jump_url: str) -> str:
    return f"`{task.id}` · {what(task)} · done — posted: {jump_url}"


# --- channel posts -----------------------------------------------------------------------------
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
        body += "\n" + LINKED_NOTE
    return shorten_block(body)


def failure(task: Task) -> str:
    prompt = quoted(task.effective_prompt, 300)
    label = "timed out" if task.state == TaskState.TIMED_OUT else "failed"
    text = f"<@{task.user_id}> `{task.id}` ({describe(task)}) {label}"
    if prompt:
        text += f" — **{prompt}**"
    return shorten_block(f"{text}\n{task.error_message or 'The provider gave no reason.'}")


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
    if task.error_message and task.state != TaskState.SUCCEEDED:
        lines.append(f"Why: {task.error_message}")
    if link:
        lines.append(f"Result: {link}")
    elif task.result_urls:
        lines.append("Images: " + " ".join(f"<{url}>" for url in task.result_urls[:4]))
    if task.delivery_error and task.state == TaskState.SUCCEEDED and not link:
        lines.append("-# The result could not be posted to its channel; the image links are above.")
    return shorten_block("\n".join(lines))


def no_such_task(reference: str) -> str:
    return f"No task `{quoted(reference.strip(), 40)}` in your log. See /tasks for your ids."


def unknown_filter(status: str, allowed: list[str]) -> str:
    return f"Unknown status filter `{quoted(status, 20)}`. Use one of: {', '.join(allowed)}."


# --- refusals at admission ---------------------------------------------------------------------
def imagine_unavailable(provider: str) -> str:
    return f"/imagine is turned off for {provider} here; vary an existing task with /vary."


def remix_unavailable(provider: str) -> str:
    return f"Remix is not available with {provider}. Leave the remix option out to vary normally."


def strength_ignored(provider: str, strength: str) -> str:
    return f"{provider} has no variation strength, so `{strength}` was ignored."


def not_a_task_id(reference: str) -> str:
    return f"`{quoted(reference, 40)}` is not a task id. Use an id from /tasks."


def provider_wait(seconds: float) -> str:
    return f"The provider asked us to wait; try again in about {max(1, round(seconds))} seconds."


def unknown_everywhere(reference: str) -> str:
    return (
        f"Neither I nor the provider know a task `{quoted(reference, 40)}`. Check the id in /tasks, "
        "or start a new grid with /imagine."
    )


def provider_task_unusable(reference: str, state: str) -> str:
    word = "still running" if state == "running" else "failed"
    return f"The provider's task `{quoted(reference, 40)}` has {word}, so it has no images to vary yet."


def grid_gone(task_id: str) -> str:
    return (
        f"That grid (`{task_id}`) is no longer in my task log, so I can't vary it. "
        "Start a new one with /imagine."
    )


def grid_unusable(task: Task) -> str:
    return f"Grid `{task.id}` has {STATE_WORDS[task.state]}, so it has no images to use."


def grid_too_old(task_id: str) -> str:
    return (
        f"Grid `{task_id}` is older than the provider keeps results (about 15 days). "
        "Start a new one with /imagine."
    )


EMPTY_PROMPT = "The prompt is empty; describe the image you want."


def not_a_grid(task: Task) -> str:
    parent = f" `{task.parent_id}`" if task.parent_id else ""
    return (
        f"`{task.id}` is a single upscaled image, not a grid, so it has no images to vary or upscale. "
        f"Use the grid it came from{parent}."
    )


def lookup_too_often(seconds: float) -> str:
    return (
        "You have looked up several unknown task ids in a short time; "
        f"try again in about {max(1, round(seconds))} seconds, or use an id from /tasks."
    )


REROLL_NO_PROMPT = "I don't know that grid's prompt, so I can't re-roll it. Use /imagine with a prompt."


def next_utc_midnight(now: float) -> datetime:
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=1)


def resets_in(now: float) -> str:
    reset = next_utc_midnight(now)
    left = int(reset.timestamp() - now)
    return f"resets at 00:00 UTC (<t:{int(reset.timestamp())}:R>, in {left // 3600}h {left % 3600 // 60}m)"


def daily_limit_reached(limit: int, now: float) -> str:
    return f"You have used your {limit} requests for today; the limit {resets_in(now)}."


def spend_cap_reached(spent: object, cap: object, now: float) -> str:
    return (
        f"This server has reached its daily spend cap (${spent:.2f} of ${cap:.2f}); the cap {resets_in(now)}."
    )


def missing_permissions(missing: list[str]) -> str:
    many = len(missing) > 1
    return (
        f"I can't post results in this channel: I'm missing the **{'**, **'.join(missing)}** "
        f"permission{'s' if many else ''}. Ask a server admin to grant {'them' if many else 'it'}, "
        "or use another channel."
    )


def invalid_value(value: object) -> str:
    return f"`{quoted(str(value), 60)}` is not a valid value there. Check the option and try again."


# --- /settings ---------------------------------------------------------------------------------
def remix_setting_unavailable(provider: str) -> str:
    return f"Remix is unavailable with {provider}; V buttons vary normally."


def strength_setting_kept(provider: str) -> str:
    return f"{provider} has no variation strength; the setting is kept for later."


def settings_now(settings: UserSettings, remix_available: bool, provider: str, *, saved: bool) -> str:
    remix_word = "on" if settings.remix and remix_available else "off"
    head = "Saved. " if saved else ""
    text = f"{head}Your settings: strength **{settings.strength}**, remix **{remix_word}**."
    if not remix_available:
        text += f" (Remix is unavailable with {provider}.)"
    return text


def bad_index(index: object) -> str:
    return f"Image must be 1, 2, 3 or 4 (got {index!r})."


# --- /admin ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdminStatus:
    engine: EngineView
    pause: PauseView
    provider: str
    counts: dict[str, int]
    undelivered: int
    controls: GuildControls
    spend: Decimal
    spend_cap: Decimal | None
    daily_requests: int | None


class EngineView(Protocol):
    running: bool
    last_tick: float | None
    lag_s: float
    inflight: int
    errors: int


class PauseView(Protocol):
    reason: str | None

    def active(self, now: float | None = None) -> bool: ...

    def seconds_left(self, now: float | None = None) -> float: ...


def admin_status(report: AdminStatus, now: float) -> str:
    engine, pause, counts = report.engine, report.pause, report.counts
    tick = f"{now - engine.last_tick:.1f}s ago" if engine.last_tick else "never"
    paused = (
        f"paused for {pause.seconds_left(now):.0f}s more ({pause.reason})"
        if pause.active(now)
        else "not paused"
    )
    cap = report.spend_cap
    running = counts[TaskState.SUBMITTED] + counts[TaskState.RUNNING]
    controls = report.controls
    lines = [
        "**Image bot status**",
        f"Engine: {'running' if engine.running else 'stopped'} · last tick {tick} · lag {engine.lag_s:.1f}s · "
        f"{engine.inflight} in flight · {engine.errors} errors since start",
        f"Provider `{report.provider}`: {paused}",
        f"Queue: {counts[TaskState.QUEUED]} queued · {running} running · {report.undelivered} waiting to be posted",
        f"Spend today on this server: ${report.spend:.2f}"
        + (f" of ${cap:.2f} cap" if cap is not None else " (no cap)"),
        f"Per-member daily limit: {report.daily_requests if report.daily_requests is not None else 'none'}",
        "New requests here: " + (f"**paused** by <@{controls.paused_by}>" if controls.paused else "open"),
    ]
    return "\n".join(lines)


def queue_full(unfinished: list[Task], max_active: int, max_queued: int) -> str:
    lines = "\n".join(f"• `{t.id}` {describe(t)} · {state_phrase(t)}" for t in unfinished[:15])
    room = f"{max_active} running and {max_queued} waiting" if max_queued else f"{max_active} running"
    return (
        f"You already have {len(unfinished)} unfinished tasks (the limit is {room}). "
        f"Wait for one to finish, or cancel one:\n{lines}"
    )
