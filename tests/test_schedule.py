"""The poll schedule, the duration model it learns from, and the provider pause, as pure policy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.messages import timeout_message
from bot.tasks.schedule import DurationModel, Learned, pause_length, poll_gap, quantile
from tests.helpers import TASK

BASE = TASK


@pytest.mark.parametrize(
    ("polls", "gap"), [(0, 5.0), (1, 7.5), (2, 11.25), (3, 16.875), (6, 30.0), (20, 30.0)]
)
def test_backoff_grows_from_first_to_longest(polls: int, gap: float) -> None:
    task = replace(BASE, poll_count=polls)
    assert poll_gap(task, None, first=5, longest=30, callbacks=False) == pytest.approx(gap)


def test_without_progress_or_history_it_is_the_backoff_of_old() -> None:
    # A fresh process, or a kind never seen finishing: the same steps whether or not `now` is known.
    for polls, gap in [(0, 5.0), (2, 11.25), (9, 30.0)]:
        task = replace(BASE, poll_count=polls)
        assert poll_gap(task, 1040.0, first=5, longest=30, callbacks=False, learned=None) == pytest.approx(
            gap
        )


def test_backoff_steps_are_jittered_so_tasks_started_together_spread() -> None:
    task = replace(BASE, poll_count=1)
    assert poll_gap(task, 1010.0, first=5, longest=30, callbacks=False, jitter=1.1) == pytest.approx(8.25)


def test_progress_predicts_the_finish_from_the_rate() -> None:
    # 20 s in and 40% done (a whole percent: 40.5% taken): 29.4 s to go; read just after it.
    task = replace(BASE, progress=40, poll_count=2)
    gap = poll_gap(task, 1020.0, first=5, longest=60, callbacks=False)
    assert gap == pytest.approx(20 * 59.5 / 40.5 + 0.25)  # a twentieth of POLL_FIRST_S after it
    # Targeted reads are not jittered: each already aims at its own moment.
    assert poll_gap(task, 1020.0, first=5, longest=60, callbacks=False, jitter=1.1) == gap


def test_a_far_prediction_is_read_short_of_and_refined() -> None:
    # 5 s in and 10% done: about 45 s to go, more than half of POLL_MAX_S: read at 85% of the way.
    task = replace(BASE, progress=10)
    assert poll_gap(task, 1005.0, first=5, longest=60, callbacks=False) == pytest.approx(
        5 * 89.5 / 10.5 * 0.85 + 0.25
    )
    # ... and never beyond POLL_MAX_S.
    assert poll_gap(task, 1005.0, first=5, longest=30, callbacks=False) == 30.0


def test_an_imminent_finish_still_leaves_a_quarter_of_first() -> None:
    task = replace(BASE, progress=99)
    assert poll_gap(task, 1030.0, first=5, longest=30, callbacks=False) == 1.25


LEARNED = Learned(low=32.0, high=49.0, step=1.5)  # 10% done by 32 s, 95% by 49 s; a 1.5 s step


def test_no_progress_with_history_waits_for_the_low_quantile() -> None:
    # First read at 5 s found nothing: the next is at the 10% quantile of recent durations (32 s).
    task = replace(BASE, poll_count=1)
    assert poll_gap(task, 1005.0, first=5, longest=30, callbacks=False, learned=LEARNED) == 27.0
    # A long wait for it is still split at POLL_MAX_S.
    assert poll_gap(task, 1001.0, first=5, longest=30, callbacks=False, learned=LEARNED) == 30.0


def test_no_progress_with_history_steps_tightly_through_the_bulk() -> None:
    # From the 10% quantile (32 s) to a quarter of the bulk past the 95% one (53.25 s): the step.
    task = replace(BASE, poll_count=2)
    for elapsed in (32.0, 40.0, 53.0):
        gap = poll_gap(task, 1000 + elapsed, first=5, longest=30, callbacks=False, learned=LEARNED)
        assert gap == 1.5


def test_no_progress_past_the_bulk_backs_off() -> None:
    task = replace(BASE, poll_count=9)
    gaps = [
        poll_gap(task, 1000 + elapsed, first=5, longest=30, callbacks=False, learned=LEARNED)
        for elapsed in (54.0, 63.25, 100.0, 200.0)
    ]
    assert gaps == pytest.approx([1.5, 5.0, 23.375, 30.0])


def test_a_tight_history_never_reads_faster_than_a_quarter_of_first() -> None:
    tight = Learned(low=40.0, high=41.0, step=0.1)
    task = replace(BASE, poll_count=2)
    assert poll_gap(task, 1040.0, first=5, longest=30, callbacks=False, learned=tight) == 1.25


def test_learned_quantiles_spread_each_duration_over_what_the_reads_bracket() -> None:
    exact = [(float(d), float(d)) for d in range(30, 51)]
    assert quantile(exact, 0.1) == pytest.approx(32.0, abs=1e-6)
    # Known only as "done by the first read at 32 s, after the one at 5 s": spread over 5..32, so a
    # task seen that late does not pull the learned start later (nor, from one task, to 5 s).
    assert quantile([(5.0, 32.0), *exact[5:]], 0.05) == pytest.approx(5 + 27 * 0.05 * 17, abs=1e-6)


def test_duration_model_steps_by_the_middle_half_of_recent_durations() -> None:
    model = DurationModel()
    task = replace(BASE, submitted_at=1000.0)
    for seconds in range(30, 51):  # each seen exactly when it finished (a callback, say)
        model.record(replace(task, last_checked_at=1000.0 + seconds), 1000.0 + seconds)
    learned = model.learned(task)
    assert learned is not None
    assert learned.step == pytest.approx((45 - 35) / 8, abs=1e-6)  # interquartile range / 8


def test_duration_model_learns_per_provider_and_kind_once_it_has_enough() -> None:
    model = DurationModel(size=3, min_samples=2)
    imagine = replace(BASE, kind="imagine", submitted_at=1000.0)
    model.record(replace(imagine, last_checked_at=1038.0), 1042.0)  # done between 38 s and 42 s
    assert model.learned(imagine) is None
    model.record(replace(imagine, last_checked_at=1040.0), 1040.0)  # done at 40 s exactly
    learned = model.learned(imagine)
    assert learned is not None and 38.0 < learned.low < 40.0 < learned.high < 42.0
    assert model.learned(replace(imagine, kind="upscale")) is None
    assert model.learned(replace(imagine, provider="vtrix")) is None
    for end in (1020.0, 1020.0, 1020.0):  # the provider got faster: only the newest `size` count
        model.record(replace(imagine, last_checked_at=end), end)
    assert model.learned(imagine) == Learned(20.0, 20.0, 0.0)


def test_with_callbacks_polling_is_the_safety_net() -> None:
    assert poll_gap(BASE, None, first=5, longest=30, callbacks=True) == 60.0
    assert poll_gap(replace(BASE, poll_count=9), None, first=5, longest=30, callbacks=True) == 60.0
    # With history, not before the callback is overdue: 1.5 x the 95% quantile (49 s) from submit.
    late = poll_gap(BASE, 1005.0, first=5, longest=30, callbacks=True, learned=LEARNED)
    assert late == pytest.approx(49 * 1.5 - 5)


@pytest.mark.parametrize(
    ("retry_after", "streak", "wait"),
    [(2.0, 1, 2.0), (None, 1, 5.0), (None, 2, 10.0), (0, 3, 20.0), (None, 9, 60.0)],
)
def test_pause_honours_retry_after_else_doubles(retry_after: float | None, streak: int, wait: float) -> None:
    assert pause_length(retry_after, streak, longest=30) == wait


def test_timeout_message_says_how_long() -> None:
    assert "no progress on this for 15 minutes" in timeout_message(900)
    assert "for 1 minute," in timeout_message(30)
