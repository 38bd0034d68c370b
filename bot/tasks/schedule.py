"""When to ask the provider again: the poll schedule, and the provider-wide pause after a 429 or outage.

The policy is pure functions of a task, the settings and what was learned, so it can be read and
tested on its own. Two small objects hold the state it needs: `DurationModel` (how long recent tasks
of each kind took, in memory) and `ProviderPause` (how long no request may go out).

Where the next status read lands, best evidence first:

1. The provider reports progress: predict the finish from the rate so far and read just after it.
2. No progress, but recent tasks of the same provider and kind finished: read first near a low
   quantile of their durations, then at a tight step through the bulk of them, backing off again
   once the task outlives them (it is an outlier: a provider queue, a stuck job).
3. Nothing known (a fresh process, a new kind): back off from POLL_FIRST_S to POLL_MAX_S.

Every gap stays within POLL_MAX_S (members still see progress, stalls are still noticed) and no
targeted read comes sooner than a quarter of POLL_FIRST_S after the last one.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence

from ..providers.errors import ProviderError
from ..store import Task

log = logging.getLogger(__name__)

DEFAULT_PAUSE_S = 5.0

# Targeted reads (a predicted finish, the learned bulk) may come this much sooner than POLL_FIRST_S:
# there is a reason to expect the result then, unlike a blind backoff step.
NEAR_FLOOR = 0.25
# The learned schedule: the first read at this quantile of recent durations (a low one, so few tasks
# finish before it), tight reads up to the high one, then a backoff.
LOW_Q, HIGH_Q = 0.1, 0.95
# Tight reads through the learned bulk: this many steps between the two quantiles. The knob between
# reads and lateness: ten keeps p95 lateness near 5% of a task's length (see bench/README.md).
BULK_STEPS = 10
# A predicted finish further off than this share of POLL_MAX_S is read short of it (at REFINE_AT of
# the way) and predicted again: early progress figures are coarse (whole percents, uneven steps), and
# a guess made near the end is close.
REFINE_BEYOND = 0.5
REFINE_AT = 0.85


def poll_gap(
    task: Task,
    now: float | None,
    *,
    first: float,
    longest: float,
    callbacks: bool,
    learned: Sequence[float] = (),
    jitter: float = 1.0,
) -> float:
    """The gap to the next status read (see the module docstring for the order of evidence).

    `learned` is the sorted sample of recent durations for the task's provider and kind (empty: none
    yet). `jitter` (about 1) spreads blind backoff steps so tasks started together do not read
    together; targeted reads are not jittered, since each already aims at its own moment.
    With callbacks on, polling is only the safety net, so it backs off further (up to 4x `longest`).
    """
    backoff = min(longest, first * (1.5**task.poll_count))
    if callbacks:
        return min(longest * 4, max(backoff * 2, longest)) * jitter
    if now is None:
        return backoff * jitter
    floor = first * NEAR_FLOOR
    elapsed = now - (task.submitted_at or task.created_at)
    if 0 < task.progress < 100 and elapsed > 0:
        return _clamp(_from_progress(elapsed, task.progress, longest), floor, longest)
    if learned:
        return _clamp(_from_learned(elapsed, learned, floor), floor, longest)
    return backoff * jitter


def _from_progress(elapsed: float, progress: int, longest: float) -> float:
    """Read when the rate so far says the task finishes; a far guess is refined on the way."""
    # A reported whole percent means anything up to the next one: take the middle.
    remaining = elapsed * (100 - progress - 0.5) / (progress + 0.5)
    if remaining > REFINE_BEYOND * longest:
        return remaining * REFINE_AT
    return remaining + 0.5


def _from_learned(elapsed: float, learned: Sequence[float], floor: float) -> float:
    """Wait for the low quantile, step tightly through the bulk, back off past it."""
    low, high = quantile(learned, LOW_Q), quantile(learned, HIGH_Q)
    step = max(floor, (high - low) / BULK_STEPS)
    if elapsed < low - floor:
        return low - elapsed
    if elapsed < high:
        return step
    # Outliving every recent task: back off, by half the time past the bulk so far.
    return max(step, (elapsed - high) / 2)


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of a sorted, non-empty sample, interpolated between neighbours."""
    position = q * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


class DurationModel:
    """How long recent tasks took, per provider and kind: the evidence for polling without progress.

    In memory on purpose: a restart starts from backoff and relearns within `min_samples` tasks, and a
    few dozen recent figures follow the provider's current speed better than a long history would.
    """

    def __init__(self, size: int = 50, min_samples: int = 8) -> None:
        self.size = size
        self.min_samples = min_samples
        self._recent: dict[tuple[str, str], deque[float]] = {}
        self._sorted: dict[tuple[str, str], tuple[float, ...]] = {}

    def record(self, task: Task, now: float) -> None:
        """A task succeeded at `now`: remember how long it took."""
        started = task.submitted_at or task.created_at
        # It finished between the last read that saw it running and this one: take the middle. The
        # bracket is one tight step for most tasks; recording the end instead would make every
        # duration look a read later, and the first read would creep later with each task.
        before = max(started, task.last_checked_at or started)
        seconds = (before + now) / 2 - started
        if seconds <= 0:
            return
        key = (task.provider, task.kind)
        recent = self._recent.setdefault(key, deque(maxlen=self.size))
        recent.append(seconds)
        self._sorted[key] = tuple(sorted(recent))

    def learned(self, task: Task) -> tuple[float, ...]:
        """The sorted recent durations for the task's provider and kind; empty until enough are known."""
        ordered = self._sorted.get((task.provider, task.kind), ())
        return ordered if len(ordered) >= self.min_samples else ()


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
