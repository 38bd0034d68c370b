"""Loopback fake of Vtrix, with switchable answer shapes.

`id_key` and `nest` choose where the task id sits (`id`/`task_id`/`taskId`, top level or under
`data`), `words` which status vocabulary it speaks, and `error_style` how errors are wrapped, so the
client's tolerant parsing is exercised against each variant Vtrix is known to send.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .provider import JSON_BODY, FakeProviderServer, FakeTask, Fault, Handler, json_answer

VARIATION = "midjourney_variation"
NOT_FOUND_PAGE = "<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1></body></html>"


class FakeVtrix(FakeProviderServer):
    name = "vtrix"
    generation_failed_code = 8004004098

    def __init__(
        self,
        *,
        imagine_model: str = "midjourney_imagine",
        submit_path: str = "/v1/tasks",
        status_prefix: str = "/v1/tasks/",
        id_key: str = "id",
        nest: bool = True,
        words: tuple[str, str, str] = ("processing", "completed", "failed"),
        error_style: str = "nested",
        cost: str = "0.04",
        **kwargs: Any,
    ) -> None:
        self.imagine_model = imagine_model
        self.submit_path = submit_path
        self.status_prefix = status_prefix
        self.id_key = id_key
        self.nest = nest
        self.words = words
        self.error_style = error_style
        self.cost = cost
        self.unavailable = False
        super().__init__(**kwargs)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(self.submit_path, self._submit)
        app.router.add_get(self.status_prefix + "{task_id}", self._status)
        app.middlewares.append(self._unknown_route)

    @web.middleware
    async def _unknown_route(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """A path Vtrix does not have answers as a web server or gateway would: a 404 page in HTML.

        Only an existing route answers JSON (an unknown task is a JSON 404), so a client can tell a wrong
        VTRIX_SUBMIT_PATH/VTRIX_STATUS_PATH from a task that is not there; `python -m bot doctor` does.
        """
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return web.Response(status=404, text=NOT_FOUND_PAGE, content_type="text/html")

    def call_name(self, request: web.Request, body: Any) -> str:
        if request.method == "GET" and request.path.startswith(self.status_prefix):
            return "status"
        if request.path == self.submit_path and isinstance(body, dict):
            return "vary" if body.get("model") == VARIATION else "imagine"
        return "other"

    def _wrap(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"code": 0, "message": "success", "data": record} if self.nest else record

    def _error(
        self, code: int, message: str, status: int = 400, headers: dict[str, str] | None = None
    ) -> web.Response:
        if self.error_style == "nested":
            payload: dict[str, Any] = {"status": "failed", "error": {"code": code, "error_message": message}}
        else:
            payload = {"code": code, "message": message}
        return json_answer(payload, status=status, headers=headers)

    def fault_answer(self, fault: Fault) -> web.StreamResponse:
        if fault.kind == "429":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            return json_answer(
                {"error": {"code": 429, "error_message": "too many requests"}}, status=429, headers=headers
            )
        if fault.kind in ("maintenance", "500"):
            return self._error(8004004099, "provider unavailable", status=200)
        return self._error(int(fault.kind), "injected")

    def callback_body(self, task: FakeTask) -> dict[str, Any]:
        return self._wrap(self._record(task, time.monotonic()))

    def _record(self, task: FakeTask, now: float) -> dict[str, Any]:
        running, done, failed = self.words
        record: dict[str, Any] = {self.id_key: task.task_id, "metadata": {"model": task.kind}}
        if not task.finished(now):
            record.update(
                status=running if task.elapsed(now) > 0.05 else "pending", progress=task.progress(now)
            )
        elif task.fail_code is not None:
            record.update(status=failed, error={"code": task.fail_code, "error_message": task.fail_message})
        else:
            record.update(
                status=done,
                output=[
                    {
                        "content": [
                            {"type": "image", "url": self.file_url(task.task_id, n)}
                            for n in range(task.images)
                        ]
                    }
                ],
                usage={"cost": self.cost, "discount": 0},
            )
        return record

    async def _submit(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return json_answer({"error": {"code": 401, "error_message": "unauthorized"}}, status=401)
        if self.unavailable:
            return self._error(8004004099, "provider unavailable", status=200)
        body = request[JSON_BODY]
        if not isinstance(body, dict):
            return self._error(400, "body must be a JSON object")
        model = body.get("model")
        callback = body.get("callback")
        if callback is not None and (
            not isinstance(callback, str) or not callback.startswith(("http://", "https://"))
        ):
            return self._error(8004004006, "invalid callback URL")
        if model == VARIATION:
            return self._variation(body, callback)
        if model == self.imagine_model and self.imagine_model:
            prompt = body.get("prompt")
            if not isinstance(prompt, str) or not prompt.strip():
                return self._error(400, "prompt is required")
            task = self.new_task("imagine", prompt, callback_url=callback)
            return self._created(task)
        return self._error(400, f"unknown model {model!r}")

    def _variation(self, body: dict[str, Any], callback: str | None) -> web.Response:
        job_id = body.get("jobId")
        if not isinstance(job_id, str) or not job_id:
            return self._error(8004004001, "jobId is required")
        if "imageNo" not in body:
            return self._error(8004004002, "imageNo is required")
        image_no = body["imageNo"]
        if not isinstance(image_no, int) or isinstance(image_no, bool) or not 0 <= image_no <= 3:
            return self._error(8004004003, "imageNo must be 0-3")
        if "type" not in body:
            return self._error(8004004004, "type is required")
        if body["type"] not in (0, 1) or isinstance(body["type"], bool):
            return self._error(8004004005, "type must be 0 or 1")
        remix = body.get("remixPrompt")
        if remix is not None and (not isinstance(remix, str) or not 1 <= len(remix) <= 8192):
            return self._error(8004004007, "remixPrompt must be 1-8192 characters")
        parent = self.tasks.get(job_id)
        if parent is None:
            return self._error(404, "job not found", status=404)
        if not parent.finished(time.monotonic()) or parent.fail_code is not None:
            return self._error(8004004001, "job has not completed")
        task = self.new_task(
            "vary",
            remix or parent.prompt,
            parent_id=job_id,
            index=image_no,
            strength=body["type"],
            remix_prompt=remix,
            callback_url=callback,
        )
        return self._created(task)

    def _created(self, task: FakeTask) -> web.Response:
        return json_answer(self._wrap({self.id_key: task.task_id, "status": "pending"}))

    async def _status(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return json_answer({"error": {"code": 401, "error_message": "unauthorized"}}, status=401)
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            return self._error(404, "task not found", status=404)
        task.read()
        return json_answer(self._wrap(self._record(task, time.monotonic())))
