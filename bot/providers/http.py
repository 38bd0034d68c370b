"""One request helper over the shared `aiohttp.ClientSession`: headers, timeouts and transport errors.

Transport failures are mapped here once, so both clients treat them alike: nothing reached the
provider (connect failed) is `ProviderUnavailable`; a request that may have reached it but got no
usable answer is `OutcomeUnknown`, which the engine never re-sends blindly for a create.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from .base import parse_json_object
from .errors import (
    AuthError,
    MalformedResponse,
    OutcomeUnknown,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 2 * 1024 * 1024
RequestObserver = Callable[[str, str, str], None]  # provider, call, outcome
T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def retry_after(headers: Any, default: float = 5.0) -> float:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return max(0.0, min(seconds, 3600.0))


class JsonApi:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        provider: str,
        base_url: str,
        api_key: str,
        timeout_s: float,
        observer: RequestObserver | None = None,
    ) -> None:
        self._session = session
        self._provider = provider
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._observer = observer

    def _observe(self, call: str, outcome: str) -> None:
        if self._observer is not None:
            self._observer(self._provider, call, outcome)

    async def request(
        self,
        method: str,
        path: str,
        *,
        call: str,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Answer:
        """Send one request and return its JSON object; raise a domain error for transport/HTTP faults.

        Provider-level codes inside a 2xx/4xx JSON body are left to the caller to map.
        """
        url = self._base_url + path
        provider = self._provider
        try:
            async with self._session.request(
                method, url, json=json_body, params=params, headers=self._headers, timeout=self._timeout
            ) as response:
                raw = await response.content.read(MAX_ANSWER_BYTES + 1)
                status = response.status
                headers = {key: value for key, value in response.headers.items()}
        except aiohttp.ClientConnectorError as exc:
            self._observe(call, "unreachable")
            raise ProviderUnavailable(f"cannot connect: {exc}", provider=provider) from exc
        except TimeoutError as exc:
            self._observe(call, "timeout")
            raise OutcomeUnknown("timed out waiting for an answer", provider=provider) from exc
        except aiohttp.ClientError as exc:
            self._observe(call, "connection_error")
            raise OutcomeUnknown(f"connection broke: {type(exc).__name__}: {exc}", provider=provider) from exc

        if status == 429:
            self._observe(call, "http_429")
            raise RateLimited("HTTP 429", provider=provider, code="429", retry_after=retry_after(headers))
        if status in (401, 403):
            self._observe(call, f"http_{status}")
            log.error("%s refused the API key (HTTP %s): check the key in the settings", provider, status)
            raise AuthError(f"HTTP {status}", provider=provider, code=str(status))
        if status >= 500:
            self._observe(call, f"http_{status}")
            raise OutcomeUnknown(
                f"HTTP {status}", provider=provider, code=str(status), retry_after=retry_after(headers, 10.0)
            )
        if len(raw) > MAX_ANSWER_BYTES:
            self._observe(call, "malformed")
            raise MalformedResponse("answer too large", provider=provider)
        body = parse_json_object(raw)
        if body is None:
            self._observe(call, "malformed")
            snippet = raw[:120].decode("utf-8", "replace")
            raise MalformedResponse(f"HTTP {status}, not a JSON object: {snippet!r}", provider=provider)
        return Answer(status, body, headers)

    async def exchange(
        self,
        method: str,
        path: str,
        parse: Callable[[Answer], T],
        *,
        call: str,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> T:
        """`request` plus the client's own reading of the answer, counted once by its outcome:
        `ok`, or the provider's code (`code_455`) when the body reports an error."""
        answer = await self.request(method, path, call=call, json_body=json_body, params=params)
        try:
            result = parse(answer)
        except ProviderError as exc:
            self._observe(call, f"code_{exc.code}" if exc.code else type(exc).__name__.lower())
            raise
        self._observe(call, "ok")
        return result
