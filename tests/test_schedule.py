"""The poll schedule and the provider pause, as pure policy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.messages import timeout_message
from bot.store import Task, TaskState
from bot.tasks.schedule import pause_length, poll_gap

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


def test_progress_estimates_the_finish() -> None:
    # 20 s in and 40% done: about 30 s to go, read again just after (x1.1), capped by longest.
    task = replace(BASE, progress=40, poll_count=2)
    assert poll_gap(task, 1020.0, first=5, longest=60, callbacks=False) == pytest.approx(33.0)
    assert poll_gap(task, 1020.0, first=5, longest=30, callbacks=False) == 30.0


def test_an_imminent_finish_never_reads_sooner_than_first() -> None:
    task = replace(BASE, progress=99)
    assert poll_gap(task, 1030.0, first=5, longest=30, callbacks=False) == 5.0


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
