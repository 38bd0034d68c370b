"""Typed records in and out of the store, and the one list of task states."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from enum import StrEnum
from typing import Literal, TypedDict

TaskKind = Literal["imagine", "vary", "upscale"]
Strength = Literal["subtle", "strong"]

ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 6


def new_short_id() -> str:
    """The bot's own task id: six characters a member can type, drawn again on a collision."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


# Midjourney's own default for variations is the high ("strong") one; members change it in /settings.
DEFAULT_STRENGTH: Strength = "strong"


class TaskState(StrEnum):
    """Where a task is: `queued` → `submitted` → `running` → one of the four endings."""

    QUEUED = "queued"
    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


UNFINISHED: tuple[TaskState, ...] = (TaskState.QUEUED, TaskState.SUBMITTED, TaskState.RUNNING)
FINISHED: tuple[TaskState, ...] = (
    TaskState.SUCCEEDED,
    TaskState.FAILED,
    TaskState.TIMED_OUT,
    TaskState.CANCELLED,
)


def sql_list(states: tuple[TaskState, ...]) -> str:
    """`('queued', 'submitted', 'running')`: states are enum values, never member input."""
    return "(" + ", ".join(f"'{state.value}'" for state in states) + ")"


@dataclass(frozen=True)
class Task:
    id: str
    provider: str
    provider_task_id: str | None
    kind: TaskKind
    parent_id: str | None
    parent_provider_task_id: str | None
    image_index: int | None
    strength: Strength | None
    prompt: str | None
    remix_prompt: str | None
    request_key: str
    user_id: int
    guild_id: int | None
    channel_id: int | None
    state: TaskState
    progress: int
    error_code: str | None
    error_message: str | None
    result_urls: tuple[str, ...]
    result_message_id: int | None
    cost: Decimal | None
    create_started_at: float | None
    create_uncertain: bool
    status_reads: int
    poll_count: int
    created_at: float
    submitted_at: float | None
    last_checked_at: float | None
    next_check_at: float | None
    last_progress_at: float | None
    finished_at: float | None
    delivered_at: float | None
    delivery_attempts: int
    next_delivery_at: float | None
    delivery_error: str | None
    # A lease on due work: which process is handling the task, and until when (see `Store.claim_due`).
    claimed_by: str | None = None
    lease_until: float | None = None

    @property
    def finished(self) -> bool:
        return self.state.finished

    @property
    def delivered(self) -> bool:
        return self.delivered_at is not None

    @property
    def effective_prompt(self) -> str | None:
        """What this grid shows: its remix prompt where it has one, else its prompt."""
        return self.remix_prompt or self.prompt

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> Task:
        """A task from a whole row of `tasks` (every column, as `SELECT *` / `RETURNING *` give it)."""
        values = dict(row)
        urls = values["result_urls"]
        # Most rows read are unfinished tasks with no results: skip the JSON parse for those.
        values["result_urls"] = tuple(json.loads(str(urls))) if urls and urls != "[]" else ()
        cost = values["cost"]
        values["cost"] = Decimal(str(cost)) if cost is not None else None
        values["create_uncertain"] = bool(values["create_uncertain"])
        values["state"] = TaskState(str(values["state"]))
        if len(values) != len(TASK_COLUMNS):
            return cls(**values)  # type: ignore[arg-type]  # a partial row: the dataclass checks it
        # The engine reads thousands of rows a second under load, and a frozen dataclass's __init__
        # assigns its 37 fields one `object.__setattr__` at a time: filling the instance's dict
        # directly is 2.5x faster. The row has exactly the dataclass's fields (the table and the
        # class are kept in step, and a test holds them to it).
        task = object.__new__(cls)
        task.__dict__.update(values)
        return task


TASK_COLUMNS: tuple[str, ...] = tuple(field.name for field in fields(Task))


class TaskUpdate(TypedDict, total=False):
    """The columns a task may change after it is created (its identity and owner never do)."""

    provider_task_id: str | None
    parent_id: str | None
    parent_provider_task_id: str | None
    image_index: int | None
    strength: Strength | None
    prompt: str | None
    remix_prompt: str | None
    guild_id: int | None
    channel_id: int | None
    state: TaskState
    progress: int
    error_code: str | None
    error_message: str | None
    result_urls: tuple[str, ...]
    result_message_id: int | None
    cost: Decimal | None
    create_started_at: float | None
    create_uncertain: bool
    status_reads: int
    poll_count: int
    submitted_at: float | None
    last_checked_at: float | None
    next_check_at: float | None
    last_progress_at: float | None
    finished_at: float | None
    delivered_at: float | None
    delivery_attempts: int
    next_delivery_at: float | None
    delivery_error: str | None


UPDATABLE: frozenset[str] = frozenset(TaskUpdate.__annotations__)


@dataclass(frozen=True)
class NewTask:
    provider: str
    kind: TaskKind
    user_id: int
    guild_id: int | None
    channel_id: int | None
    request_key: str
    prompt: str | None = None
    parent_id: str | None = None
    parent_provider_task_id: str | None = None
    image_index: int | None = None
    strength: Strength | None = None
    remix_prompt: str | None = None


@dataclass(frozen=True)
class UserSettings:
    user_id: int
    strength: Strength = DEFAULT_STRENGTH
    remix: bool = False


@dataclass(frozen=True)
class GuildControls:
    guild_id: int
    paused: bool = False
    paused_by: int | None = None
    paused_at: float | None = None
