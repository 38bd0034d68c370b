"""Loopback fake of midapi: `{code, msg, data}` answers, with its rules for the code in the body."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .provider import JSON_BODY, FakeProviderServer, FakeTask, Fault, json_answer


def envelope(
    code: int, msg: str, data: Any = None, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return json_answer({"code": code, "msg": msg, "data": data}, status=status, headers=headers)


class FakeMidapi(FakeProviderServer):
    name = "midapi"
    generation_failed_code = 501

    def __init__(self, *, index_base: int = 0, credits: int = 10_000, **kwargs: Any) -> None:
        self.index_base = index_base
        self.credits = credits
        self.maintenance = False
        self.feature_disabled = False
        self.forced_code: int | None = None  # every create answers this body code
        # Off: every running task reports 0% until it is done, as providers without progress do.
        self.reports_progress = True
        super().__init__(**kwargs)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/mj/generate", self._generate)
        app.router.add_post("/api/v1/mj/generateVary", self._vary)
        app.router.add_post("/api/v1/mj/generateUpscale", self._upscale)
        app.router.add_get("/api/v1/mj/record-info", self._record)

    def call_name(self, request: web.Request, body: Any) -> str:
        return {
            "/api/v1/mj/generate": "imagine",
            "/api/v1/mj/generateVary": "vary",
            "/api/v1/mj/generateUpscale": "upscale",
            "/api/v1/mj/record-info": "status",
        }.get(request.path, "other")

    def fault_answer(self, fault: Fault) -> web.StreamResponse:
        if fault.kind == "429":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            return envelope(429, "rate limited", status=429, headers=headers)
        if fault.kind == "maintenance":
            return envelope(455, "system maintenance")
        if fault.kind == "500":
            return envelope(500, "server error")
        code = int(fault.kind)
        return envelope(code, f"injected {code}")

    def callback_body(self, task: FakeTask) -> dict[str, Any]:
        ok = task.fail_code is None
        return {
            "code": 200 if ok else 500,
            "msg": "success" if ok else task.fail_message,
            "data": {
                "taskId": task.task_id,
                "promptJson": {"prompt": task.prompt},
                "resultUrls": [self.file_url(task.task_id, n) for n in range(task.images)] if ok else [],
            },
        }

    def _gate(self, request: web.Request) -> web.Response | None:
        if not self.authorized(request):
            return envelope(401, "unauthorized", status=401)
        if self.maintenance:
            return envelope(455, "system maintenance")
        if self.forced_code is not None:
            return envelope(self.forced_code, f"forced {self.forced_code}")
        return None

    def _charge(self) -> web.Response | None:
        if self.credits <= 0:
            return envelope(402, "insufficient credits")
        self.credits -= 1
        return None

    def _callback(self, body: dict[str, Any]) -> tuple[str | None, web.Response | None]:
        url = body.get("callBackUrl")
        if url is None:
            return None, None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return None, envelope(422, "callBackUrl must be a valid http(s) URL")
        return url, None

    async def _generate(self, request: web.Request) -> web.Response:
        if (denied := self._gate(request)) is not None:
            return denied
        body = request[JSON_BODY]
        if not isinstance(body, dict):
            return envelope(400, "body must be a JSON object")
        if body.get("taskType") != "mj_txt2img":
            return envelope(422, "taskType must be mj_txt2img")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return envelope(422, "prompt is required")
        url, bad = self._callback(body)
        if bad is not None:
            return bad
        if (no_credit := self._charge()) is not None:
            return no_credit
        task = self.new_task("imagine", prompt, callback_url=url)
        return envelope(200, "success", {"taskId": task.task_id})

    async def _vary(self, request: web.Request) -> web.Response:
        return await self._second(request, "vary")

    async def _upscale(self, request: web.Request) -> web.Response:
        return await self._second(request, "upscale")

    async def _second(self, request: web.Request, kind: str) -> web.Response:
        if (denied := self._gate(request)) is not None:
            return denied
        if kind == "vary" and self.feature_disabled:
            return envelope(505, "feature disabled")
        body = request[JSON_BODY]
        if not isinstance(body, dict):
            return envelope(400, "body must be a JSON object")
        parent_id = body.get("taskId")
        if not isinstance(parent_id, str) or not parent_id:
            return envelope(422, "taskId is required")
        index = body.get("imageIndex")
        low = self.index_base
        if not isinstance(index, int) or isinstance(index, bool) or not low <= index <= low + 3:
            return envelope(422, f"imageIndex must be between {low} and {low + 3}")
        parent = self.tasks.get(parent_id)
        if parent is None:
            return envelope(404, "task not found")
        if not parent.finished(time.monotonic()) or parent.fail_code is not None:
            return envelope(422, "parent task has not succeeded")
        url, bad = self._callback(body)
        if bad is not None:
            return bad
        if (no_credit := self._charge()) is not None:
            return no_credit
        task = self.new_task(kind, parent.prompt, parent_id=parent_id, index=index, callback_url=url)
        task.images = 4 if kind == "vary" else 1
        return envelope(200, "success", {"taskId": task.task_id})

    async def _record(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return envelope(401, "unauthorized", status=401)
        task = self.tasks.get(request.query.get("taskId", ""))
        if task is None:
            return envelope(404, "task not found")
        task.read()
        now = time.monotonic()
        data: dict[str, Any] = {
            "taskId": task.task_id,
            "taskType": {"imagine": "mj_txt2img", "vary": "mj_vary", "upscale": "mj_upscale"}[task.kind],
            "paramJson": f'{{"prompt": "{task.prompt}"}}' if '"' not in task.prompt else "{}",
            "successFlag": 0,
            "resultInfoJson": None,
            "errorCode": None,
            "errorMessage": None,
            "createTime": int(task.created_at * 1000),
            "completeTime": None,
            "progress": f"{task.progress(now) if self.reports_progress else 0}%",
        }
        if task.finished(now):
            data["completeTime"] = int(now * 1000)
            if task.fail_code is None:
                data["successFlag"] = 1
                data["resultInfoJson"] = {
                    "resultUrls": [{"resultUrl": self.file_url(task.task_id, n)} for n in range(task.images)]
                }
            else:
                data["successFlag"] = 3
                data["errorCode"] = task.fail_code
                data["errorMessage"] = task.fail_message
        return envelope(200, "success", data)
