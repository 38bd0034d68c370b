"""When to ask the provider again: the poll schedule, and the provider-wide pause after a 429 or outage.

The policy is pure functions of a task and the settings, so it can be read and tested on its own;
`ProviderPause` is the one piece of state it needs (how long no request may go out).
"""

from __future__ import annotations

import logging
import time

from ..providers.errors import ProviderError
from ..store import Task

log = logging.getLogger(__name__)

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


class ProviderPause:
    """While the provider asks us to wait (429, maintenance, an outage), no request goes out."""

    def __init__(self, longest_poll_s: float) -> None:
        self.longest_poll_s = longest_poll_s
        self.until = 0.0
        self.reason: str | None = None
        self._streak = 0

    def active(self, now: float | None = None) -> bool:
        return self.until > (time.time() if now is None else now)

    def seconds_left(self, now: float | None = None) -> float:
        return max(0.0, self.until - (time.time() if now is None else now))

    def begin(self, exc: ProviderError) -> None:
        """Stop every provider request for the window the provider asked for (or a growing guess)."""
        self._streak += 1
        wait = pause_length(exc.retry_after, self._streak, self.longest_poll_s)
        until = time.time() + wait
        if until > self.until:
            self.until = until
            self.reason = f"{type(exc).__name__} {exc.code or ''}".strip()
            log.warning("engine: provider paused for %.1fs (%s)", wait, self.reason)

    def answered(self) -> None:
        """The provider answered normally: the next pause starts from the shortest guess again."""
        self._streak = 0
