"""Why a request was refused: provider abilities, unknown or unusable grids, limits, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..store.models import Task, UserSettings
from .common import STATE_WORDS, quoted


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
