"""The poll schedule, the duration model it learns from, and the provider pause, as pure policy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.messages import timeout_message
from bot.store import Task, TaskState
from bot.tasks.schedule import DurationModel, pause_length, poll_gap, quantile

BASE = Task(
    id="a1b2c3",
    provider="midapi",
    provider_task_id="p",
    kind="imagine",
    parent_id=None,
    parent_provider_task_id=None,
    image_index=None,
    strength=None,
    prompt="x",
    remix_prompt=None,
    request_key="k",
    user_id=1,
    guild_id=1,
    channel_id=1,
    state=TaskState.RUNNING,
    progress=0,
    error_code=None,
    error_message=None,
    result_urls=(),
    result_message_id=None,
    cost=None,
    create_started_at=None,
    create_uncertain=False,
    status_reads=0,
    poll_count=0,
    created_at=1000.0,
    submitted_at=1000.0,
    last_checked_at=None,
    next_check_at=None,
    last_progress_at=None,
    finished_at=None,
    delivered_at=None,
    delivery_attempts=0,
    next_delivery_at=None,
    delivery_error=None,
)


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
        assert poll_gap(task, 1040.0, first=5, longest=30, callbacks=False, learned=()) == pytest.approx(gap)


def test_backoff_steps_are_jittered_so_tasks_started_together_spread() -> None:
    task = replace(BASE, poll_count=1)
    assert poll_gap(task, 1010.0, first=5, longest=30, callbacks=False, jitter=1.1) == pytest.approx(8.25)


def test_progress_predicts_the_finish_from_the_rate() -> None:
    # 20 s in and 40% done (a whole percent: 40.5% taken): 29.4 s to go; read just after it.
    task = replace(BASE, progress=40, poll_count=2)
    gap = poll_gap(task, 1020.0, first=5, longest=60, callbacks=False)
    assert gap == pytest.approx(20 * 59.5 / 40.5 + 0.5)
    # Targeted reads are not jittered: each already aims at its own moment.
    assert poll_gap(task, 1020.0, first=5, longest=60, callbacks=False, jitter=1.1) == gap


def test_a_far_prediction_is_read_short_of_and_refined() -> None:
    # 5 s in and 10% done: about 45 s to go, more than half of POLL_MAX_S: read at 85% of the way.
    task = replace(BASE, progress=10)
    assert poll_gap(task, 1005.0, first=5, longest=60, callbacks=False) == pytest.approx(
        5 * 89.5 / 10.5 * 0.85
    )
    # ... and never beyond POLL_MAX_S.
    assert poll_gap(task, 1005.0, first=5, longest=30, callbacks=False) == 30.0


def test_an_imminent_finish_still_leaves_a_quarter_of_first() -> None:
    task = replace(BASE, progress=99)
    assert poll_gap(task, 1030.0, first=5, longest=30, callbacks=False) == 1.25


LEARNED = tuple(float(s) for s in range(30, 51))  # recent tasks took 30..50 s


def test_no_progress_with_history_waits_for_the_low_quantile() -> None:
    # First read at 5 s found nothing: the next is at the 10% quantile of recent durations (32 s).
    task = replace(BASE, poll_count=1)
    assert quantile(LEARNED, 0.1) == 32.0
    assert poll_gap(task, 1005.0, first=5, longest=30, callbacks=False, learned=LEARNED) == 27.0
    # A long wait for it is still split at POLL_MAX_S.
    assert poll_gap(task, 1001.0, first=5, longest=30, callbacks=False, learned=LEARNED) == 30.0


def test_no_progress_with_history_steps_tightly_through_the_bulk() -> None:
    # Between the 10% (32 s) and 95% (49 s) quantiles: a tenth of that span, 1.7 s, a read.
    task = replace(BASE, poll_count=2)
    for elapsed in (32.0, 40.0, 48.0):
        gap = poll_gap(task, 1000 + elapsed, first=5, longest=30, callbacks=False, learned=LEARNED)
        assert gap == pytest.approx(1.7)


def test_no_progress_past_the_bulk_backs_off() -> None:
    task = replace(BASE, poll_count=9)
    gaps = [
        poll_gap(task, 1000 + elapsed, first=5, longest=30, callbacks=False, learned=LEARNED)
        for elapsed in (50.0, 60.0, 100.0, 200.0)
    ]
    assert gaps == pytest.approx([1.7, 5.5, 25.5, 30.0])


def test_a_tight_history_never_reads_faster_than_a_quarter_of_first() -> None:
    tight = (40.0,) * 10
    task = replace(BASE, poll_count=2)
    assert poll_gap(task, 1040.0, first=5, longest=30, callbacks=False, learned=tight) == 1.25


def test_duration_model_learns_per_provider_and_kind_once_it_has_enough() -> None:
    model = DurationModel(size=3, min_samples=2)
    imagine = replace(BASE, kind="imagine", submitted_at=1000.0)
    model.record(replace(imagine, last_checked_at=1038.0), 1042.0)  # done between 38 s and 42 s: 40
    assert model.learned(imagine) == ()
    model.record(replace(imagine, last_checked_at=None), 1030.0)  # one read only: half of it
    assert model.learned(imagine) == (15.0, 40.0)
    assert model.learned(replace(imagine, kind="upscale")) == ()
    assert model.learned(replace(imagine, provider="vtrix")) == ()
    for end in (1050.0, 1060.0):
        model.record(imagine, end)
    assert model.learned(imagine) == (15.0, 25.0, 30.0)  # the first (40 s) made way: newest `size` kept


def test_with_callbacks_polling_is_the_safety_net() -> None:
    assert poll_gap(BASE, None, first=5, longest=30, callbacks=True) == 30.0
    assert poll_gap(replace(BASE, poll_count=9), None, first=5, longest=30, callbacks=True) == 60.0


@pytest.mark.parametrize(
    ("retry_after", "streak", "wait"),
    [(2.0, 1, 2.0), (None, 1, 5.0), (None, 2, 10.0), (0, 3, 20.0), (None, 9, 60.0)],
)
def test_pause_honours_retry_after_else_doubles(retry_after: float | None, streak: int, wait: float) -> None:
    assert pause_length(retry_after, streak, longest=30) == wait


def test_timeout_message_says_how_long() -> None:
    assert "no progress on this for 15 minutes" in timeout_message(900)
    assert "for 1 minute," in timeout_message(30)
