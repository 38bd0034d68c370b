"""The one interface the bot talks to a provider through, and the models in and out of it."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol

from ..store.models import Strength
from .errors import InvalidRequest

log = logging.getLogger(__name__)

# The longest prompt or remix prompt the providers accept (Vtrix documents 1-8192 for remixPrompt;
# midapi documents no limit, so the same bound keeps a runaway prompt from reaching it).
PROMPT_MAX_CHARS = 8192
ProviderState = Literal["running", "succeeded", "failed"]
# What a provider task id may look like. Ids go into URL paths and come back from the network, so
# anything else (`../../v1/account`, `x?delete=1`) is refused before a request or treated as a
# malformed answer, never passed on.
_TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


def is_task_id(value: str) -> bool:
    return _TASK_ID.fullmatch(value) is not None


@dataclass(frozen=True)
class Capabilities:
    imagine: bool
    vary_strength: bool
    remix: bool
    upscale: bool
    reroll: bool
    callbacks: bool
    index_base: int


@dataclass(frozen=True)
class VaryRequest:
    parent_task_id: str
    index: int  # 1-4, as the member sees V1-V4 (admission guarantees the range)
    strength: Strength
    remix_prompt: str | None = None
    callback_url: str | None = None


@dataclass(frozen=True)
class TaskStatus:
    """A provider's answer about one task, normalised."""

    task_id: str
    state: ProviderState
    progress: int | None = None
    result_urls: tuple[str, ...] = ()
    error_code: str | None = None
    error_message: str | None = None
    cost: Decimal | None = None
    prompt: str | None = None


class Provider(Protocol):
    name: str
    capabilities: Capabilities

    async def imagine(self, prompt: str, callback_url: str | None = None) -> str: ...

    async def vary(self, request: VaryRequest) -> str: ...

    async def upscale(self, parent_task_id: str, index: int, callback_url: str | None = None) -> str: ...

    async def status(self, task_id: str) -> TaskStatus: ...

    def callback_task_id(self, body: bytes) -> str | None: ...


def validate_remix(remix_prompt: str | None) -> None:
    if remix_prompt is None:
        return
    if not remix_prompt.strip():
        raise InvalidRequest(
            "empty remix", user_message="The remix prompt is empty; write a prompt or leave it out."
        )
    if len(remix_prompt) > PROMPT_MAX_CHARS:
        raise InvalidRequest(
            "remix too long",
            user_message=f"The remix prompt is {len(remix_prompt)} characters; the limit is {PROMPT_MAX_CHARS}.",
        )


def validate_callback(url: str | None) -> None:
    if url is not None and not url.startswith(("http://", "https://")):
        raise InvalidRequest(
            "callback scheme", user_message="The callback URL must start with http:// or https://."
        )


def validate_prompt(prompt: str) -> None:
    if not prompt.strip():
        raise InvalidRequest("empty prompt", user_message="The prompt is empty; describe the image you want.")
    if len(prompt) > PROMPT_MAX_CHARS:
        raise InvalidRequest(
            "prompt too long",
            user_message=f"The prompt is {len(prompt)} characters; the limit is {PROMPT_MAX_CHARS}.",
        )


def parse_progress(value: Any) -> int | None:
    """A progress figure in any of the shapes providers use: 40, 0.4, "40%", "40"; None if absent."""
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("%"))
        except ValueError:
            return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0, min(100, int(value * 100 if 0 < value < 1 else value)))
    return None


def parse_json_object(body: bytes) -> dict[str, Any] | None:
    """A callback or answer body as a JSON object, or None when it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
