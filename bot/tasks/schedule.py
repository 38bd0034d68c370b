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
from dataclasses import dataclass

from ..providers.errors import ProviderError
from ..store.models import Task

log = logging.getLogger(__name__)

DEFAULT_PAUSE_S = 5.0

# Targeted reads (a predicted finish, the learned bulk) may come this much sooner than POLL_FIRST_S:
# there is a reason to expect the result then, unlike a blind backoff step.
NEAR_FLOOR = 0.25
# The learned schedule: the first read at the LOW_Q quantile of recent durations (a low one, so few
# tasks finish before it), then tight reads up to the HIGH_Q one and a little past it, then a backoff.
LOW_Q, HIGH_Q = 0.1, 0.95
# The tight step is the interquartile range over STEP_SPLIT: the middle half of recent tasks gets that
# many reads. The knob between reads and lateness (see bench/README.md); the interquartile range, not
# the whole spread, because a few tasks seen only roughly (read on a wide backoff) widen the tails of
# what is learned far more than its middle. 8 rather than 6: with 6, p95 lateness wandered between 2
# and 3 s for tasks of 20-60 s; 8 costs about one more read per task and finds results within 1.4-1.8 s.
STEP_SPLIT = 8
# A predicted finish further off than this share of POLL_MAX_S is read short of it (at REFINE_AT of
# the way) and predicted again: early progress figures are coarse (whole percents, uneven steps), and
# a guess made near the end is close.
REFINE_BEYOND = 0.5
REFINE_AT = 0.85
# A predicted read lands this share of POLL_FIRST_S after the predicted finish, so that a prediction a
# hair early does not cost a read and a wait. A share, like every constant here, so the schedule
# scales with the settings.
MARGIN = 0.05
# With callbacks, the safety-net read waits until a callback is overdue: this times the high quantile,
# which is generous because a callback read brackets a finish only from the read before it.
CALLBACK_OVERDUE = 1.5


def poll_gap(
    task: Task,
    now: float | None,
    *,
    first: float,
    longest: float,
    callbacks: bool,
    learned: Learned | None = None,
    jitter: float = 1.0,
    progress: int | None = None,
) -> float:
    """The gap to the next status read (see the module docstring for the order of evidence).

    `learned` is what recent tasks of the same provider and kind took (None: not enough known yet). `jitter` (about 1) spreads blind backoff steps so tasks started together do not read
    together; targeted reads are not jittered, since each already aims at its own moment.
    With callbacks on, polling is only the safety net: twice `longest`, later when recent tasks took
    longer (up to 4x `longest`).
    `progress` overrides the task's own (a read just reported it and it is not stored yet).
    """
    progress = task.progress if progress is None else progress
    backoff = min(longest, first * (1.5**task.poll_count))
    if callbacks:
        # Nothing learned yet: twice the longest gap, past most Midjourney jobs, so a task whose
        # callback comes costs that one read.
        safety_net = longest * 2
        if learned is not None and now is not None:
            # Not before the callback is overdue: half again what nearly every recent task took.
            safety_net = max(safety_net, learned.high * CALLBACK_OVERDUE - _elapsed(task, now))
        return min(longest * 4, safety_net) * jitter
    if now is None:
        return backoff * jitter
    floor = first * NEAR_FLOOR
    elapsed = _elapsed(task, now)
    if 0 < progress < 100 and elapsed > 0:
        return _clamp(_from_progress(elapsed, progress, longest) + first * MARGIN, floor, longest)
    if learned:
        return _clamp(_from_learned(elapsed, learned, floor), floor, longest)
    return backoff * jitter


def _from_progress(elapsed: float, progress: int, longest: float) -> float:
    """Read when the rate so far says the task finishes; a far guess is refined on the way."""
    # A reported whole percent means anything up to the next one: take the middle.
    remaining = elapsed * (100 - progress - 0.5) / (progress + 0.5)
    if remaining > REFINE_BEYOND * longest:
        return remaining * REFINE_AT
    return remaining


def _from_learned(elapsed: float, learned: Learned, floor: float) -> float:
    """Wait for the low quantile, step tightly through the bulk, back off past it."""
    low, high = learned.low, learned.high
    step = max(floor, learned.step)
    if elapsed < low - floor:
        return low - elapsed
    # A few recent tasks cannot pin the high quantile down: keep the step a little past it.
    past = high + (high - low) / 4
    if elapsed < past:
        return step
    # Outliving nearly every recent task: back off, by half the time past the bulk so far.
    return max(step, (elapsed - past) / 2)


def _elapsed(task: Task, now: float) -> float:
    return now - (task.submitted_at or task.created_at)


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


@dataclass(frozen=True)
class Learned:
    """Recent durations of one provider and kind, as the schedule uses them."""

    low: float  # the LOW_Q quantile, seconds from submit
    high: float  # the HIGH_Q quantile
    step: float  # the interquartile range over STEP_SPLIT


Bracket = tuple[float, float]  # a task finished between these two times (seconds from submit)


def quantile(brackets: Sequence[Bracket], q: float) -> float:
    """The q-quantile of durations each known only to lie within a bracket, spread evenly across it.

    Reads only bracket a finish, and how widely depends on the schedule itself: a task done before
    the first targeted read is only known to be done by then. Taking either end of such a bracket
    would drag the learned quantiles (and with them the reads) ever earlier or ever later; spread
    evenly, a low quantile settles where that share of tasks really has finished.
    """
    low, high = min(a for a, _ in brackets), max(b for _, b in brackets)
    for _ in range(40):  # bisection to well under a millisecond
        middle = (low + high) / 2
        if _share_done(brackets, middle) < q:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _share_done(brackets: Sequence[Bracket], at: float) -> float:
    done = 0.0
    for start, end in brackets:
        if end <= at:
            done += 1
        elif start < at:
            done += (at - start) / (end - start)
    return done / len(brackets)


class DurationModel:
    """How long recent tasks took, per provider and kind: the evidence for polling without progress.

    In memory on purpose: a restart starts from backoff and relearns within `min_samples` tasks, and a
    few dozen recent figures follow the provider's current speed better than a long history would.
    """

    def __init__(self, size: int = 20, min_samples: int = 8) -> None:
        self.size = size
        self.min_samples = min_samples
        self._recent: dict[tuple[str, str], deque[Bracket]] = {}
        self._learned: dict[tuple[str, str], Learned] = {}

    def record(self, task: Task, now: float) -> None:
        """A task was seen succeeded at `now`: it finished after the read before (or its submit)."""
        started = task.submitted_at or task.created_at
        before = max(started, task.last_checked_at or started)
        if now <= started:
            return
        key = (task.provider, task.kind)
        recent = self._recent.setdefault(key, deque(maxlen=self.size))
        recent.append((before - started, now - started))
        if len(recent) >= self.min_samples:
            # Worked out once per finished task, not per read: reads far outnumber finishes.
            spread = quantile(recent, 0.75) - quantile(recent, 0.25)
            self._learned[key] = Learned(
                quantile(recent, LOW_Q), quantile(recent, HIGH_Q), spread / STEP_SPLIT
            )

    def learned(self, task: Task) -> Learned | None:
        """What recent tasks of this provider and kind took; None until `min_samples` finished."""
        return self._learned.get((task.provider, task.kind))


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
