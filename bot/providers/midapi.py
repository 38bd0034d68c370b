"""midapi client (see docs/providers.md): every answer is `{code, msg, data}`; the body's code rules."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from .base import (
    Capabilities,
    TaskStatus,
    VaryRequest,
    is_task_id,
    parse_json_object,
    parse_progress,
    validate_callback,
    validate_prompt,
)
from .errors import (
    AuthError,
    FeatureDisabled,
    GenerationFailed,
    InvalidRequest,
    MalformedResponse,
    NotFound,
    OutOfCredits,
    ProviderError,
    ProviderFailed,
    ProviderUnavailable,
    RateLimited,
)
from .http import Answer, JsonApi, RequestObserver, retry_after

log = logging.getLogger(__name__)

NAME = "midapi"
_ERRORS: dict[int, type[ProviderError]] = {
    400: InvalidRequest,
    401: AuthError,
    402: OutOfCredits,
    404: NotFound,
    422: InvalidRequest,
    429: RateLimited,
    455: ProviderUnavailable,
    500: ProviderUnavailable,
    501: GenerationFailed,
    505: FeatureDisabled,
}
_MESSAGES = {
    455: "The provider is down for maintenance; it will be retried.",
    505: "This provider has variations switched off right now.",
}


class MidapiClient:
    name = NAME

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str,
        base_url: str = "https://api.midapi.ai",
        index_base: int = 0,
        timeout_s: float = 30.0,
        observer: RequestObserver | None = None,
    ) -> None:
        if index_base not in (0, 1):
            raise ValueError("index_base must be 0 or 1")
        self._api = JsonApi(
            session, provider=NAME, base_url=base_url, api_key=api_key, timeout_s=timeout_s, observer=observer
        )
        self.capabilities = Capabilities(
            imagine=True,
            vary_strength=False,
            remix=False,
            upscale=True,
            reroll=True,
            callbacks=True,
            index_base=index_base,
        )

    def provider_index(self, index: int) -> int:
        """V1-V4 as this provider wants them: 0-3 by default, 1-4 with MIDAPI_IMAGE_INDEX_BASE=1."""
        return index - 1 + self.capabilities.index_base

    async def imagine(self, prompt: str, callback_url: str | None = None) -> str:
        validate_prompt(prompt)
        validate_callback(callback_url)
        body: dict[str, Any] = {"taskType": "mj_txt2img", "prompt": prompt}
        if callback_url:
            body["callBackUrl"] = callback_url
        return await self._create("/api/v1/mj/generate", body, call="imagine")

    async def vary(self, request: VaryRequest) -> str:
        # No strength and no remix at midapi: its capabilities say so, and admission holds them.
        validate_callback(request.callback_url)
        body: dict[str, Any] = {
            "taskId": request.parent_task_id,
            "imageIndex": self.provider_index(request.index),
        }
        if request.callback_url:
            body["callBackUrl"] = request.callback_url
        return await self._create("/api/v1/mj/generateVary", body, call="vary")

    async def upscale(self, parent_task_id: str, index: int, callback_url: str | None = None) -> str:
        validate_callback(callback_url)
        body: dict[str, Any] = {"taskId": parent_task_id, "imageIndex": self.provider_index(index)}
        if callback_url:
            body["callBackUrl"] = callback_url
        return await self._create("/api/v1/mj/generateUpscale", body, call="upscale")

    async def status(self, task_id: str) -> TaskStatus:
        def parse(answer: Answer) -> TaskStatus:
            data = self._data(answer.body, answer.headers)
            if not isinstance(data, dict):
                raise MalformedResponse(f"record-info data is {type(data).__name__}", provider=NAME)
            return parse_record(task_id, data)

        return await self._api.exchange(
            "GET", "/api/v1/mj/record-info", parse, params={"taskId": task_id}, call="status"
        )

    def callback_task_id(self, body: bytes) -> str | None:
        payload = parse_json_object(body)
        data = payload.get("data") if payload else None
        task_id = data.get("taskId") if isinstance(data, dict) else None
        if isinstance(task_id, bool) or not isinstance(task_id, str | int):
            return None
        return str(task_id) if is_task_id(str(task_id)) else None

    async def _create(self, path: str, body: dict[str, Any], *, call: str) -> str:
        def parse(answer: Answer) -> str:
            data = self._data(answer.body, answer.headers, creating=True)
            task_id = data.get("taskId") if isinstance(data, dict) else None
            if not isinstance(task_id, str) or not task_id:
                raise MalformedResponse(f"{call} answer has no data.taskId", provider=NAME)
            if not is_task_id(task_id):
                raise MalformedResponse(f"{call} answer has a malformed data.taskId", provider=NAME)
            return task_id

        return await self._api.exchange("POST", path, parse, json_body=body, call=call)

    @staticmethod
    def _data(body: dict[str, Any], headers: dict[str, str], *, creating: bool = False) -> Any:
        code = body.get("code")
        if isinstance(code, bool) or not isinstance(code, int):
            raise MalformedResponse(f"answer has no integer code: {str(body)[:120]}", provider=NAME)
        if code == 200:
            return body.get("data")
        message = str(body.get("msg") or "")
        error = _ERRORS.get(code)
        if code == 500 and creating:
            # A server error in the answer to a create: nothing was made, and sending it again could
            # charge twice if the provider half-did it, so the task fails with a clear message.
            error = ProviderFailed
        if error is None:
            raise ProviderUnavailable(message or "unknown code", provider=NAME, code=str(code))
        user_message = _MESSAGES.get(code)
        if error is InvalidRequest and message:
            user_message = f"The provider rejected the request: {message}"
        wait = retry_after(headers) if error in (RateLimited, ProviderUnavailable) else None
        raise error(message, provider=NAME, code=str(code), retry_after=wait, user_message=user_message)


def parse_record(task_id: str, data: dict[str, Any]) -> TaskStatus:
    flag = data.get("successFlag")
    if isinstance(flag, str) and flag.isdigit():
        flag = int(flag)
    result_info = data.get("resultInfoJson")
    if isinstance(result_info, str):
        result_info = parse_json_object(result_info.encode())
    urls: list[str] = []
    if isinstance(result_info, dict):
        for item in result_info.get("resultUrls") or []:
            url = item.get("resultUrl") if isinstance(item, dict) else item
            if isinstance(url, str) and url:
                urls.append(url)
    progress = parse_progress(data.get("progress"))
    prompt = None
    params = data.get("paramJson")
    if isinstance(params, str):
        params = parse_json_object(params.encode())
    if isinstance(params, dict) and isinstance(params.get("prompt"), str):
        prompt = params["prompt"]
    reported = str(data.get("taskId") or task_id)
    if not is_task_id(reported):
        raise MalformedResponse("record-info has a malformed taskId", provider=NAME)
    common: dict[str, Any] = {"task_id": reported}
    if flag == 1:
        if not urls:
            raise MalformedResponse("success without result URLs", provider=NAME)
        return TaskStatus(state="succeeded", progress=100, result_urls=tuple(urls), prompt=prompt, **common)
    if flag in (2, 3):
        code = data.get("errorCode")
        return TaskStatus(
            state="failed",
            error_code=str(code) if code not in (None, "") else str(501),
            error_message=str(
                data.get("errorMessage") or ("creation failed" if flag == 2 else "generation failed")
            ),
            prompt=prompt,
            **common,
        )
    if flag in (0, None):
        return TaskStatus(state="running", progress=progress, prompt=prompt, **common)
    raise MalformedResponse(f"unknown successFlag {flag!r}", provider=NAME)
