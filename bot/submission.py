"""What a member asks for, before the engine takes it: the request, its dedupe key, its wording."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .providers.errors import BotError
from .store import Task
from .store.models import Strength, TaskKind


class TooManyActive(BotError):
    """The member already has `MAX_ACTIVE_PER_USER` unfinished tasks."""

    def __init__(self, tasks: list[Task], limit: int) -> None:
        lines = "\n".join(f"• `{t.id}` {describe(t)} · {t.state}" for t in tasks)
        super().__init__(
            f"You already have {len(tasks)} unfinished tasks (the limit is {limit}). "
            f"Wait for one to finish:\n{lines}"
        )
        self.tasks = tasks


@dataclass
class SubmitRequest:
    kind: TaskKind
    user_id: int
    guild_id: int | None
    channel_id: int | None
    prompt: str | None = None
    parent: Task | None = None
    parent_provider_task_id: str | None = None
    index: int | None = None
    strength: Strength | None = None
    remix_prompt: str | None = None


@dataclass(frozen=True)
class SubmitResult:
    task: Task
    existing: bool = False


def describe(task: Task) -> str:
    """What a task is, as members read it: `imagine`, `V2 strong of a1b2c3`, `U3 of a1b2c3`."""
    if task.kind == "imagine":
        return "imagine"
    parent = task.parent_id or (task.parent_provider_task_id or "?")[:12]
    if task.kind == "upscale":
        return f"U{task.image_index} of {parent}"
    strength = f" {task.strength}" if task.strength else ""
    remix = " remix" if task.remix_prompt else ""
    return f"V{task.image_index}{strength}{remix} of {parent}"


def request_key(request: SubmitRequest) -> str:
    parent = request.parent.provider_task_id if request.parent else request.parent_provider_task_id
    payload = [request.kind, parent, request.index, request.strength, request.remix_prompt, request.prompt]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:32]
