"""A fake Replicate API (``api.replicate.com``) following Replicate's published HTTP API
(https://replicate.com/docs/reference/http, .../topics/predictions/create-a-prediction, .../streaming).

Auth: ``Authorization: Bearer <token>`` (or ``Token <token>``) with a token in ``tokens``; otherwise 401 problem
details ``{"title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401}``.
Every error is such a ``{title, detail, status}`` body (``application/problem+json``).

Endpoints:

* ``POST /v1/models/{owner}/{name}/predictions`` — ``{input, stream?, webhook?...}``; the model must be one of
  ``LANGUAGE_MODELS`` or ``IMAGE_MODELS`` (else 404). Language models need ``input.prompt`` (a string) and take
  ``max_tokens``, ``temperature``, ``top_p``, penalties; image models need ``input.prompt`` and take
  ``aspect_ratio`` (one of Flux's) and ``output_format`` — anything else is 422 "Input validation failed" with
  ``invalid_fields``. With ``Prefer: wait`` (or ``wait=N``) the answer (201) is the finished prediction, unless
  ``slow`` is set: then it stays ``starting``. Without it the prediction comes back ``starting``. A language
  model's prediction has ``urls.stream`` when the request asked ``stream`` (unless ``streams`` is False: a model
  that does not stream).
* ``GET /v1/predictions/{id}`` — the prediction: ``processing`` for the first ``polls_before_done`` reads, then
  ``succeeded`` (or ``failed`` when ``fail_next_prediction``).
* ``POST /v1/predictions/{id}/cancel`` — a prediction still running becomes ``canceled``; the prediction.
* ``GET /v1/stream/{id}`` (``Accept: text/event-stream``) — SSE ``event: output`` / ``data: <text piece>``
  events (a piece with a newline as several ``data:`` lines), then ``event: done`` / ``data: {}``; with
  ``stream_error`` set, an ``event: error`` with ``{"detail": ...}`` after the first piece instead. Reading the
  stream finishes the prediction.

Language models' output is a list of text pieces ``"echo: <prompt's last line>"`` (split in words) with
``metrics.input_token_count`` = words of the prompt and ``output_token_count`` = words of the answer (cut at
``max_tokens``). Image models' output is ``["https://replicate.delivery/fake/<id>/out-0.png"]``.
Requests are recorded in ``requests`` before any check.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import count_words

LANGUAGE_MODELS = {"meta/meta-llama-3-8b-instruct", "meta/meta-llama-3-70b-instruct",
                   "ibm-granite/granite-3.0-8b-instruct"}
IMAGE_MODELS = {"black-forest-labs/flux-schnell", "black-forest-labs/flux-1.1-pro", "stability-ai/stable-diffusion-3"}
LANGUAGE_INPUTS = {"prompt", "system_prompt", "max_tokens", "min_tokens", "temperature", "top_p", "top_k",
                   "presence_penalty", "frequency_penalty", "stop_sequences", "seed", "prompt_template"}
IMAGE_INPUTS = {"prompt", "aspect_ratio", "output_format", "output_quality", "seed", "num_outputs",
                "go_fast", "megapixels", "disable_safety_checker", "safety_tolerance"}
ASPECT_RATIOS = {"1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"}


class ProblemError(Exception):
    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def problem(exc: ProblemError) -> web.Response:
    body = {"title": exc.title, "detail": exc.detail, "status": exc.status, **exc.extra}
    return web.Response(body=json.dumps(body).encode(), status=exc.status, content_type="application/problem+json")


class FakeReplicate:
    def __init__(self, tokens: set[str] | None = None) -> None:
        self.tokens = tokens if tokens is not None else {"r8_fake"}
        self.requests: list[Recorded] = []
        self.slow = False
        self.fail_next_prediction = False
        self.polls_before_done = 0
        self.streams = True
        self.stream_error = ""
        self._running: dict[str, int] = {}  # prediction id → reads still answered "processing"
        self._predictions: dict[str, dict[str, Any]] = {}
        self._base = ""
        self.app = web.Application()
        self.app.router.add_post("/v1/models/{owner}/{name}/predictions", self._guard(self._create))
        self.app.router.add_get("/v1/predictions/{id}", self._guard(self._get))
        self.app.router.add_get("/v1/stream/{id}", self._guard(self._stream))
        self.app.router.add_post("/v1/predictions/{id}/cancel", self._guard(self._cancel))

    def _guard(self, handler: Callable[[web.Request, Recorded], Awaitable[web.StreamResponse]]
               ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            record = Recorded(request.method, request.path, {k.lower(): v for k, v in request.headers.items()},
                              await request.read())
            self.requests.append(record)
            self._base = f"{request.scheme}://{request.host}"
            try:
                scheme, _, token = request.headers.get("Authorization", "").partition(" ")
                if scheme not in ("Bearer", "Token") or token not in self.tokens:
                    raise ProblemError(401, "Unauthenticated", "You did not pass a valid authentication token")
                return await handler(request, record)
            except ProblemError as exc:
                return problem(exc)
        return guarded

    def _check(self, model: str, inputs: Any) -> None:
        if model not in LANGUAGE_MODELS | IMAGE_MODELS:
            raise ProblemError(404, "Not found", "The requested resource could not be found.")
        if not isinstance(inputs, dict):
            raise ProblemError(422, "Input validation failed", "input is required",
                               invalid_fields=[{"type": "required", "field": "input", "description": "required"}])
        allowed = LANGUAGE_INPUTS if model in LANGUAGE_MODELS else IMAGE_INPUTS
        invalid = [{"type": "additional_property_not_allowed", "field": f"input.{k}",
                    "description": f"Additional property {k} is not allowed"} for k in sorted(set(inputs) - allowed)]
        if not isinstance(inputs.get("prompt"), str) or not inputs["prompt"]:
            invalid.append({"type": "required", "field": "input.prompt", "description": "prompt is required"})
        if model in IMAGE_MODELS and inputs.get("aspect_ratio", "1:1") not in ASPECT_RATIOS:
            invalid.append({"type": "enum", "field": "input.aspect_ratio", "description": "must be one of ..."})
        if invalid:
            raise ProblemError(422, "Input validation failed", invalid[0]["description"], invalid_fields=invalid)

    def _run(self, model: str, inputs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        if model in IMAGE_MODELS:
            return [f"https://replicate.delivery/fake/{uuid.uuid4().hex[:8]}/out-0.png"], {"predict_time": 1.2}
        last = inputs["prompt"].rstrip("\n").split("\n")[-1]
        words = f"echo: {last.partition(': ')[2] or last}".split()
        limit = inputs.get("max_tokens")
        words = words[:limit] if isinstance(limit, int) else words
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        return pieces, {"input_token_count": count_words(inputs["prompt"]), "output_token_count": len(words),
                        "predict_time": 0.5}

    async def _create(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        try:
            body = json.loads(record.body)
        except ValueError:
            raise ProblemError(400, "Invalid JSON", "The request body is not valid JSON") from None
        model = f"{request.match_info['owner']}/{request.match_info['name']}"
        inputs = body.get("input") if isinstance(body, dict) else None
        self._check(model, inputs)
        output, metrics = self._run(model, inputs)  # type: ignore[arg-type]
        prediction_id = uuid.uuid4().hex[:26]
        urls = {"get": f"{self._base}/v1/predictions/{prediction_id}",
                "cancel": f"{self._base}/v1/predictions/{prediction_id}/cancel",
                "web": f"https://replicate.com/p/{prediction_id}"}
        if body.get("stream") and self.streams and model in LANGUAGE_MODELS:
            urls["stream"] = f"{self._base}/v1/stream/{prediction_id}"
        prediction = {"id": prediction_id, "model": model, "version": "hidden", "input": inputs, "logs": "",
                      "output": None, "data_removed": False, "error": None, "status": "starting",
                      "created_at": "2026-01-01T00:00:00.000Z", "urls": urls}
        done = {**prediction, "output": output, "status": "succeeded", "metrics": metrics,
                "started_at": "2026-01-01T00:00:00.100Z", "completed_at": "2026-01-01T00:00:01.000Z"}
        self._predictions[prediction_id] = done
        self._running[prediction_id] = self.polls_before_done
        waits = request.headers.get("Prefer", "").startswith("wait")
        answer = done if waits and not self.slow else prediction
        return web.json_response(answer, status=201)

    def _found(self, request: web.Request) -> dict[str, Any]:
        found = self._predictions.get(request.match_info["id"])
        if found is None:
            raise ProblemError(404, "Not found", "The requested resource could not be found.")
        if self.fail_next_prediction:
            self.fail_next_prediction = False
            found = {**found, "status": "failed", "output": None, "error": "CUDA out of memory"}
        return found

    async def _get(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        prediction_id = request.match_info["id"]
        if self._running.get(prediction_id):
            self._running[prediction_id] -= 1
            found = self._predictions[prediction_id]
            return web.json_response({**found, "status": "processing", "output": None, "metrics": {},
                                      "completed_at": None})
        return web.json_response(self._found(request))

    async def _cancel(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        prediction_id = request.match_info["id"]
        found = self._predictions.get(prediction_id)
        if found is None:
            raise ProblemError(404, "Not found", "The requested resource could not be found.")
        if self._running.get(prediction_id):  # still running: it stops here, without output
            self._running[prediction_id] = 0
            self._predictions[prediction_id] = found = {**found, "status": "canceled", "output": None,
                                                        "metrics": {}, "completed_at": "2026-01-01T00:00:02.000Z"}
        return web.json_response(found)

    async def _stream(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        prediction = self._found(request)
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await out.prepare(request)
        self._running[request.match_info["id"]] = 0
        for number, piece in enumerate(prediction["output"] or []):
            data = "".join(f"data: {line}\n" for line in str(piece).split("\n"))
            await out.write(f"event: output\nid: {number}\n{data}\n".encode())
            if self.stream_error:
                await out.write(f"event: error\ndata: {json.dumps({'detail': self.stream_error})}\n\n".encode())
                await out.write_eof()
                return out
        await out.write(b"event: done\nid: done\ndata: {}\n\n")
        await out.write_eof()
        return out


async def start_fake(fake: FakeReplicate) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its base URL and the stop coroutine function."""
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner.cleanup
