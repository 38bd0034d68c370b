"""When to ask the provider again: the poll schedule and the pause after a 429 or an outage.

Pure functions of a task and the settings, so the policy can be read and tested on its own.
"""

from __future__ import annotations

from .store import Task

DEFAULT_PAUSE_S = 5.0


def poll_gap(task: Task, now: float | None, *, first: float, longest: float, callbacks: bool) -> float:
    """The gap to the next status read: backoff, sharpened by the provider's own progress.

    Backoff grows 1.5x per read from `first` (POLL_FIRST_S) to `longest` (POLL_MAX_S). With a progress
    figure the remaining time is estimated from the rate so far, so the next read lands just after the
    expected finish instead of a backoff step late, never sooner than `first`. With callbacks on,
    polling is only the safety net, so it backs off further (up to 4x `longest`).
    """
    gap = min(longest, first * (1.5**task.poll_count))
    started = task.submitted_at or task.created_at
    if now is not None and 0 < task.progress < 100 and now > started:
        remaining = (now - started) * (100 - task.progress) / task.progress
        gap = min(longest, max(first, remaining * 1.1))
    if callbacks:
        gap = min(longest * 4, max(gap * 2, longest))
    return gap


def pause_length(retry_after: float | None, streak: int, longest: float) -> float:
    """How long no request may go out: the provider's Retry-After, or a guess that doubles per pause
    in a row (5 s, 10 s, ...) up to twice POLL_MAX_S."""
    if retry_after is not None and retry_after > 0:
        return retry_after
    return min(longest * 2, DEFAULT_PAUSE_S * 2.0 ** min(max(streak, 1) - 1, 4))


def timeout_message(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return (
        f"The provider made no progress on this for {minutes} minute{'s' if minutes != 1 else ''}, "
        "so the bot stopped waiting. Try again; if it keeps happening the provider may be overloaded."
    )
