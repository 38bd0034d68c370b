"""Typed records out of the store."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

TaskKind = Literal["imagine", "vary", "upscale"]
TaskState = Literal["queued", "submitted", "running", "succeeded", "failed", "timed_out", "cancelled"]
Strength = Literal["subtle", "strong"]

UNFINISHED: tuple[TaskState, ...] = ("queued", "submitted", "running")
FINISHED: tuple[TaskState, ...] = ("succeeded", "failed", "timed_out", "cancelled")
STATES: tuple[TaskState, ...] = UNFINISHED + FINISHED


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

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def delivered(self) -> bool:
        return self.delivered_at is not None

    @property
    def effective_prompt(self) -> str | None:
        """What this grid shows: its remix prompt where it has one, else its prompt."""
        return self.remix_prompt or self.prompt

    @classmethod
    def from_row(cls, row: dict[str, object]) -> Task:
        values = dict(row)
        values["result_urls"] = tuple(json.loads(str(values["result_urls"] or "[]")))
        values["cost"] = Decimal(str(values["cost"])) if values["cost"] is not None else None
        values["create_uncertain"] = bool(values["create_uncertain"])
        return cls(**values)  # type: ignore[arg-type]


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
    strength: Strength = "strong"
    remix: bool = False


@dataclass(frozen=True)
class GuildControls:
    guild_id: int
    paused: bool = False
    paused_by: int | None = None
    paused_at: float | None = None
