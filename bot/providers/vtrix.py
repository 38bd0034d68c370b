"""Vtrix client (see docs/providers.md): one request shape for every model, answers parsed tolerantly.

Vtrix documents the variation model's parameters and codes but not the paths or the envelope, so the
paths and the imagine model id are settings, and every answer is read wherever the id, status and
error may sit (top level or under `data`).
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import aiohttp

from ..errors import Unsupported
from .base import (
    Capabilities,
    TaskStatus,
    VaryRequest,
    is_task_id,
    parse_json_object,
    parse_progress,
    validate_callback,
    validate_prompt,
    validate_remix,
)
from .errors import (
    GenerationFailed,
    InvalidRequest,
    MalformedResponse,
    NotFound,
    ProviderError,
    ProviderUnavailable,
)
from .http import Answer, JsonApi, RequestObserver

log = logging.getLogger(__name__)

NAME = "vtrix"
VARIATION_MODEL = "midjourney_variation"
UNFINISHED = {"pending", "queued", "submitted", "processing", "running", "in_progress", "created", "starting"}
DONE = {"completed", "succeeded", "success"}
OVER = {"failed", "error", "cancelled", "canceled"}
_INVALID_MESSAGES = {
    8004004001: "The provider says the job id is missing.",
    8004004002: "The provider says the image number is missing.",
    8004004003: "The provider says the image number is invalid: pick image 1, 2, 3 or 4.",
    8004004004: "The provider says the variation type is missing.",
    8004004005: "The provider says the variation type is invalid: use subtle or strong.",
    8004004006: "The provider says the callback URL is invalid (it must start with http:// or https://).",
    8004004007: "The provider says the remix prompt length is invalid: it must be 1 to 8192 characters.",
}
GENERATION_FAILED = 8004004098
PROVIDER_UNAVAILABLE = 8004004099


def error_for(code: int, message: str) -> ProviderError:
    """The domain error for one of Vtrix's documented codes (or an unknown one)."""
    if code in _INVALID_MESSAGES:
        return InvalidRequest(message, provider=NAME, code=str(code), user_message=_INVALID_MESSAGES[code])
    if code == GENERATION_FAILED:
        return GenerationFailed(message, provider=NAME, code=str(code))
    if code == 404:
        return NotFound(message, provider=NAME, code=str(code))
    if code == PROVIDER_UNAVAILABLE:
        return ProviderUnavailable(message, provider=NAME, code=str(code))
    return ProviderUnavailable(message or "unknown error code", provider=NAME, code=str(code))


class VtrixClient:
    name = NAME

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str,
        base_url: str = "https://api.vtrix.ai",
        submit_path: str = "/v1/tasks",
        status_path: str = "/v1/tasks/{task_id}",
        imagine_model: str = "midjourney_imagine",
        timeout_s: float = 30.0,
        observer: RequestObserver | None = None,
    ) -> None:
        self._api = JsonApi(
            session, provider=NAME, base_url=base_url, api_key=api_key, timeout_s=timeout_s, observer=observer
        )
        self._submit_path = submit_path
        self._status_path = status_path
        self._imagine_model = imagine_model
        self._unknown_words: set[str] = set()
        self.capabilities = Capabilities(
            imagine=bool(imagine_model),
            vary_strength=True,
            remix=True,
            upscale=False,
            reroll=bool(imagine_model),
            callbacks=True,
            index_base=0,
        )

    async def imagine(self, prompt: str, callback_url: str | None = None) -> str:
        if not self._imagine_model:
            raise Unsupported("/imagine is turned off for this provider (VTRIX_IMAGINE_MODEL is empty).")
        validate_prompt(prompt)
        validate_callback(callback_url)
        body: dict[str, Any] = {"model": self._imagine_model, "prompt": prompt}
        if callback_url:
            body["callback"] = callback_url
        return await self._submit(body, call="imagine")

    async def vary(self, request: VaryRequest) -> str:
        validate_remix(request.remix_prompt)
        validate_callback(request.callback_url)
        body: dict[str, Any] = {
            "model": VARIATION_MODEL,
            "jobId": request.parent_task_id,
            "imageNo": request.index - 1,
            "type": 1 if request.strength == "strong" else 0,
        }
        if request.callback_url:
            body["callback"] = request.callback_url
        if request.remix_prompt is not None:
            body["remixPrompt"] = request.remix_prompt
        return await self._submit(body, call="vary")

    async def upscale(self, parent_task_id: str, index: int, callback_url: str | None = None) -> str:
        raise Unsupported("Upscaling is not available with this provider.")

    async def status(self, task_id: str) -> TaskStatus:
        # Quoted whole: whatever the id holds, it stays one path segment of the status path.
        path = self._status_path.replace("{task_id}", quote(task_id, safe=""))
        return await self._api.exchange(
            "GET", path, lambda answer: self._read_status(task_id, answer), call="status"
        )

    def _read_status(self, task_id: str, answer: Answer) -> TaskStatus:
        if answer.status == 404:
            raise NotFound(f"task {task_id} unknown", provider=NAME, code="404")
        body = answer.body
        record = _record(body)
        error = _error(body) or _error(record)
        status_word = record.get("status")
        if not isinstance(status_word, str):
            if error is not None:
                raise error_for(*error)
            raise MalformedResponse(f"status answer has no status: {str(body)[:120]}", provider=NAME)
        word = status_word.strip().lower()
        reported = _task_id(body)
        if reported is not None and not is_task_id(reported):
            raise MalformedResponse("status answer has a malformed task id", provider=NAME)
        common: dict[str, Any] = {"task_id": reported or task_id}
        if word in DONE:
            urls = _output_urls(record.get("output"))
            if not urls:
                raise MalformedResponse("completed without image output", provider=NAME)
            return TaskStatus(state="succeeded", progress=100, result_urls=urls, cost=_cost(record), **common)
        if word in OVER:
            code, message = error or (GENERATION_FAILED, f"task {word}")
            return TaskStatus(state="failed", error_code=str(code), error_message=message, **common)
        if word not in UNFINISHED and word not in self._unknown_words:
            self._unknown_words.add(word)
            log.warning("vtrix: unknown task status %r for %s, treating it as unfinished", word, task_id)
        return TaskStatus(state="running", progress=parse_progress(record.get("progress")), **common)

    def callback_task_id(self, body: bytes) -> str | None:
        payload = parse_json_object(body)
        task_id = _task_id(payload) if payload else None
        return task_id if task_id is not None and is_task_id(task_id) else None

    async def _submit(self, body: dict[str, Any], *, call: str) -> str:
        def parse(answer: Answer) -> str:
            error = _error(answer.body) or _error(_record(answer.body))
            if error is not None:
                raise error_for(*error)
            if answer.status >= 400:
                raise InvalidRequest(f"HTTP {answer.status}", provider=NAME, code=str(answer.status))
            task_id = _task_id(answer.body)
            if not task_id:
                raise MalformedResponse(
                    f"{call} answer has no task id: {str(answer.body)[:120]}", provider=NAME
                )
            if not is_task_id(task_id):
                raise MalformedResponse(
                    f"{call} answer has a malformed task id {task_id[:40]!r}", provider=NAME
                )
            return task_id

        return await self._api.exchange("POST", self._submit_path, parse, json_body=body, call=call)


def _record(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    return data if isinstance(data, dict) else body


def _task_id(body: dict[str, Any]) -> str | None:
    for place in (body, body.get("data")):
        if not isinstance(place, dict):
            continue
        for key in ("id", "task_id", "taskId"):
            value = place.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)
    return None


def _error(body: dict[str, Any]) -> tuple[int, str] | None:
    """The (code, message) of an error envelope, or None when the body reports no error (code 0)."""
    error = body.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("error_message") or error.get("message")
    else:
        code, message = body.get("code"), body.get("message") or body.get("msg") or error
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool) or code in (0, 200):
        return None
    return code, str(message or "")


def _output_urls(output: Any) -> tuple[str, ...]:
    urls: list[str] = []
    for item in output if isinstance(output, list) else []:
        contents = item.get("content") if isinstance(item, dict) else None
        for content in contents if isinstance(contents, list) else []:
            if not isinstance(content, dict):
                continue
            url = content.get("url")
            if isinstance(url, str) and url and content.get("type", "image") == "image":
                urls.append(url)
    return tuple(urls)


def _cost(record: dict[str, Any]) -> Decimal | None:
    usage = record.get("usage")
    cost = usage.get("cost") if isinstance(usage, dict) else None
    if cost is None or isinstance(cost, bool):
        return None
    try:
        value = Decimal(str(cost))
    except InvalidOperation:
        return None
    return value if value.is_finite() and value >= 0 else None
