"""A fake Alibaba DashScope upstream (``dashscope.aliyuncs.com``) following DashScope's published formats.

Auth: ``Authorization: Bearer <key>`` with a key in ``keys``; otherwise 401 ``{"code": "InvalidApiKey",
"message": "Invalid API-key provided.", "request_id"}`` — as an SSE ``event:error`` block when the request
asked for a stream. Every error has this ``{code, message, request_id}`` shape and DashScope's status.

Endpoints:

* ``POST /api/v1/services/aigc/text-generation/generation`` — ``{model, input: {messages} (or the legacy
  {prompt}), parameters}``;
  content must be a string; roles system/user/assistant/tool; ``top_p`` in (0, 1), ``temperature`` in
  [0, 2); a model named ``...-internet`` does not exist (the suffix is One API's, not DashScope's).
  ``result_format: "message"`` answers ``output.choices``, otherwise ``output.text``. A stream is asked for
  with ``X-DashScope-SSE: enable`` (or ``Accept: text/event-stream``): events of ``id:``, ``event:result``,
  ``:HTTP_STATUS/200`` and ``data:{json}`` (no space), each with the cumulative usage; with
  ``parameters.incremental_output`` each event holds the new text only, otherwise the whole text so far; the
  last has ``finish_reason: "stop"`` (earlier ones ``"null"``).
* ``POST /api/v1/services/aigc/multimodal-generation/generation`` — the same with content lists
  (``[{"image": url}, {"text": ...}]``) answered as ``[{"text": ...}]``.
* ``POST /api/v1/services/embeddings/text-embedding/text-embedding`` — ``{model, input: {texts}, parameters:
  {dimension?}}`` (text-embedding-v1..v4; at most 25 texts, 10 for v3/v4; ``dimension`` v3/v4 only) →
  ``output.embeddings`` with ``text_index`` (``shuffle_embeddings`` answers them in reverse order).

Deterministic usage ("words" = whitespace-separated words): input_tokens = words of every message + 3 per
message; output_tokens = words of the answer; embeddings total_tokens = words. The answer is ``reply_text``'s or
``"echo: <last user text>"``; with ``tools`` it is one call of the first tool. ``fail_next(status, code,
message)`` answers the next API call with an error. Requests are recorded in ``requests`` before any check.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import count_words, json_response, split_text
from tests.fakes.zhipu_upstream import vector

TEXT_PATH = "/api/v1/services/aigc/text-generation/generation"
MULTIMODAL_PATH = "/api/v1/services/aigc/multimodal-generation/generation"
EMBEDDING_PATH = "/api/v1/services/embeddings/text-embedding/text-embedding"
EMBEDDING_MODELS = {"text-embedding-v1": 25, "text-embedding-v2": 25, "text-embedding-v3": 10,
                    "text-embedding-v4": 10}
DIMENSIONS = {"text-embedding-v3": (1024, 768, 512, 256, 128, 64),
              "text-embedding-v4": (2048, 1536, 1024, 768, 512, 256, 128, 64)}
ROLES = ("system", "user", "assistant", "tool")


class DashScopeError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> DashScopeError:
    return DashScopeError(400, "InvalidParameter", message)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p["text"]) for p in content if isinstance(p, dict) and "text" in p)
    return ""


class FakeDashScope:
    stream_pieces = 3
    shuffle_embeddings = False

    def __init__(self, keys: set[str] | None = None) -> None:
        self.keys = keys if keys is not None else {"sk-ali-key"}
        self.requests: list[Recorded] = []
        self._failures: deque[DashScopeError] = deque()
        self._replies: deque[str] = deque()
        self.app = web.Application()
        self.app.router.add_post(TEXT_PATH, self._guard(self._generation))
        self.app.router.add_post(MULTIMODAL_PATH, self._guard(self._generation))
        self.app.router.add_post(EMBEDDING_PATH, self._guard(self._embeddings))

    def fail_next(self, status: int, code: str, message: str) -> None:
        self._failures.append(DashScopeError(status, code, message))

    def reply_text(self, text: str) -> None:
        self._replies.append(text)

    @staticmethod
    def wants_stream(request: web.Request) -> bool:
        return (request.headers.get("X-DashScope-SSE", "").lower() == "enable"
                or "text/event-stream" in request.headers.get("Accept", ""))

    def _guard(self, handler: Callable[[web.Request, Recorded, str], Awaitable[web.StreamResponse]]
               ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            record = Recorded(request.path, {k.lower(): v for k, v in request.headers.items()}, await request.read())
            self.requests.append(record)
            request_id = str(uuid.uuid4())
            try:
                scheme, _, key = request.headers.get("Authorization", "").partition(" ")
                if scheme != "Bearer" or key not in self.keys:
                    raise DashScopeError(401, "InvalidApiKey", "Invalid API-key provided.")
                if self._failures:
                    raise self._failures.popleft()
                return await handler(request, record, request_id)
            except DashScopeError as exc:
                error = {"code": exc.code, "message": exc.message, "request_id": request_id}
                if self.wants_stream(request) and request.path != EMBEDDING_PATH:
                    body = f"id:1\nevent:error\n:HTTP_STATUS/{exc.status}\ndata:{json.dumps(error)}\n\n"
                    return web.Response(status=exc.status, body=body.encode(),
                                        content_type="text/event-stream", charset="utf-8")
                return json_response(error, status=exc.status)
        return guarded

    # -- generation
    def _check(self, request: web.Request, body: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
            raise _invalid("Model not specified.")
        if body["model"].endswith("-internet") or not body["model"].startswith(("qwen", "qwq", "qvq", "deepseek")):
            raise _invalid("Model not exist.")
        given: dict[str, Any] = body["input"] if isinstance(body.get("input"), dict) else {}
        messages = given.get("messages")
        if messages is None and isinstance(given.get("prompt"), str):  # the legacy single-prompt input
            messages = [{"role": "user", "content": given["prompt"]}]
        multimodal = request.path == MULTIMODAL_PATH
        if not isinstance(messages, list) or not messages:
            raise _invalid("Input should be a valid dictionary with messages.")
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(message, dict) or message.get("role") not in ROLES:
                raise _invalid("Role must be in [user, assistant, system, tool]")
            if not (isinstance(content, list) if multimodal else isinstance(content, str)):
                raise _invalid("Input should be a valid string" if not multimodal else "Input should be a list")
        params = body.get("parameters") or {}
        if not isinstance(params, dict):
            raise _invalid("parameters must be an object")
        top_p, temperature = params.get("top_p"), params.get("temperature")
        if top_p is not None and (not isinstance(top_p, int | float) or not 0 < top_p < 1):
            raise _invalid("Range of top_p should be (0.0, 1.0)")
        if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature < 2):
            raise _invalid("Range of temperature should be [0.0, 2.0)")
        return messages, params

    def _answer(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> tuple[str, str]:
        last = next((message_text(m["content"]) for m in reversed(messages) if m["role"] == "user"), "")
        text = self._replies.popleft() if self._replies else f"echo: {last}"
        words = text.split()
        limit = params.get("max_tokens")
        if isinstance(limit, int) and len(words) > limit:
            return " ".join(words[:limit]), "length"
        return text, "stop"

    async def _generation(self, request: web.Request, record: Recorded, request_id: str) -> web.StreamResponse:
        body = _json(record.body)
        messages, params = self._check(request, body)
        prompt = sum(count_words(message_text(m["content"])) + 3 for m in messages)
        multimodal = request.path == MULTIMODAL_PATH
        calls: list[dict[str, Any]] = []
        if params.get("tools") and messages[-1]["role"] == "user":
            calls = [_tool_call(params["tools"], message_text(messages[-1]["content"]))]
            text, finish = "", "tool_calls"
            completion = count_words(calls[0]["function"]["arguments"])
        else:
            text, finish = self._answer(messages, params)
            completion = count_words(text)
        usage = {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion}
        if self.wants_stream(request):
            return await self._stream(request, params, text, finish, calls, usage, request_id, multimodal)
        return json_response({"output": _output(params, text, finish, calls, multimodal), "usage": usage,
                              "request_id": request_id})

    async def _stream(self, request: web.Request, params: dict[str, Any], text: str, finish: str,
                      calls: list[dict[str, Any]], usage: dict[str, int], request_id: str,
                      multimodal: bool) -> web.StreamResponse:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream;charset=UTF-8"})
        await out.prepare(request)
        incremental = params.get("incremental_output") is True
        pieces, sent, produced = split_text(text, self.stream_pieces), "", 0
        for number, piece in enumerate(pieces, 1):
            sent += piece
            produced = count_words(sent) if number < len(pieces) else usage["output_tokens"]
            part_usage = {**usage, "output_tokens": produced, "total_tokens": usage["input_tokens"] + produced}
            shown = piece if incremental else sent
            data = {"output": _output(params, shown, "null", [], multimodal), "usage": part_usage,
                    "request_id": request_id}
            await out.write(_sse(number, data))
        final_text = "" if incremental else sent
        data = {"output": _output(params, final_text, finish, calls, multimodal), "usage": usage,
                "request_id": request_id}
        await out.write(_sse(len(pieces) + 1, data))
        await out.write_eof()
        return out

    # -- embeddings
    async def _embeddings(self, request: web.Request, record: Recorded, request_id: str) -> web.StreamResponse:
        body = _json(record.body)
        model = body.get("model") if isinstance(body, dict) else None
        if model not in EMBEDDING_MODELS:
            raise _invalid("Model not exist.")
        texts = (body.get("input") or {}).get("texts") if isinstance(body.get("input"), dict) else None
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            raise _invalid("input.texts should be a non-empty list of non-empty strings")
        if len(texts) > EMBEDDING_MODELS[model]:
            raise _invalid(f"batch size is invalid, it should not be larger than {EMBEDDING_MODELS[model]}.")
        dimension = (body.get("parameters") or {}).get("dimension")
        if dimension is not None and dimension not in DIMENSIONS.get(model, ()):
            raise _invalid("dimension is invalid")
        items = [{"text_index": i, "embedding": vector(t, dimension or 8)} for i, t in enumerate(texts)]
        if self.shuffle_embeddings:
            items.reverse()
        return json_response({"output": {"embeddings": items},
                              "usage": {"total_tokens": sum(count_words(t) for t in texts)},
                              "request_id": request_id})


def _tool_call(tools: list[Any], user_text: str) -> dict[str, Any]:
    function = tools[0].get("function", {}) if isinstance(tools[0], dict) else {}
    props = (function.get("parameters") or {}).get("properties") or {}
    args = {name: user_text for name, schema in props.items() if (schema or {}).get("type", "string") == "string"}
    return {"index": 0, "id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": function.get("name", ""), "arguments": json.dumps(args, ensure_ascii=False)}}


def _output(params: dict[str, Any], text: str, finish: str, calls: list[dict[str, Any]],
            multimodal: bool) -> dict[str, Any]:
    if params.get("result_format") != "message" and not multimodal:
        return {"text": text, "finish_reason": finish}
    message: dict[str, Any] = {"role": "assistant", "content": [{"text": text}] if multimodal else text}
    if calls:
        message["tool_calls"] = calls
    return {"choices": [{"finish_reason": finish, "message": message}]}


def _sse(number: int, data: dict[str, Any]) -> bytes:
    return f"id:{number}\nevent:result\n:HTTP_STATUS/200\ndata:{json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise _invalid("The request body is not valid JSON.") from None


async def start_fake(fake: FakeDashScope) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its base URL and the stop coroutine function."""
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner.cleanup
