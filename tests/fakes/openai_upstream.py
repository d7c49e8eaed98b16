"""A fake OpenAI / Azure OpenAI upstream that follows OpenAI's published wire format.

``FakeOpenAI()`` serves ``/v1/...`` with ``Authorization: Bearer <key>``; ``FakeOpenAI(azure=True)`` serves the
same handlers under ``/openai/deployments/{deployment}/{task}?api-version=...`` with the ``api-key`` header, answers
with ``model`` = the deployment name, and starts every stream with Azure's prompt-filter chunk (``choices: []``).
``keys=None`` accepts any non-empty key; otherwise a missing or unknown key gets 401 ``invalid_api_key``.

Every request is recorded (``requests``; ``record = False`` for load tests) before anything else, so tests can
check what the relay sent: the path (with the Azure deployment name), headers, query and body bytes. Scripting
(``fail_next``, ``drop_next``) is consumed in order by the next authenticated POST to an API endpoint;
``reply_text`` by the next chat or completions answer. ``delay`` stalls every authenticated answer;
``chunk_delay`` separates stream events; ``aborted_streams`` counts streams whose client went away.

Usage is deterministic so billing tests can compute the expected charge by hand ("words" = whitespace-separated
words, ``len(text.split())``):

* chat: ``prompt_tokens`` = words of every message's content (a string, or the ``text`` of its text parts)
  + 3 per message; ``completion_tokens`` = words of the answer × ``n``; for tool calls, the words of every call's
  ``arguments`` string × ``n``.
* completions: ``prompt_tokens`` = words of each prompt string (a token array counts its length);
  ``completion_tokens`` as for chat.
* embeddings: ``prompt_tokens`` = ``total_tokens`` = words (token arrays: their length).
* ``max_tokens`` / ``max_completion_tokens`` cut the answer to that many words, with ``finish_reason: "length"``.
* ``omit_usage = True`` drops the usage object (and the ``include_usage`` chunk) to exercise fallback counting;
  ``report_usage(...)`` makes the next chat answer report the given numbers instead (absurd usage);
  ``honour_max_tokens = False`` makes chat answers ignore the limit.

Answers: chat text is ``reply_text``'s or ``"echo: <last user text>"``; after a ``tool`` message it is
``"tool result: <tool content>"``; with ``tools`` and a user message last it is one call per tool (only the named
one for ``tool_choice: {"function": ...}``, only the first when ``parallel_tool_calls`` is false) whose arguments
fill each schema property (strings get the user text, integers 1, numbers 1.5, booleans true, enums their first
value). Embeddings are :func:`embedding_vector` (multiples of 1/256, so float32 base64 round-trips exactly).
Moderation flags ``violence`` when the text contains "kill". Transcripts are ``transcript``.
"""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import hashlib
import itertools
import json
import struct
import time
import uuid
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from aiohttp import web

TRANSCRIPT = "hello from the fake transcript"
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo", "gpt-4", "text-embedding-3-small", "text-embedding-ada-002",
          "omni-moderation-latest", "dall-e-2", "dall-e-3", "whisper-1", "tts-1")
AZURE_TASKS = ("chat/completions", "completions", "embeddings", "images/generations", "audio/speech",
               "audio/transcriptions", "audio/translations")
MODERATION_CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
                         "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions", "sexual",
                         "sexual/minors", "violence", "violence/graphic")
IMAGE_SIZES = {"dall-e-2": ("256x256", "512x512", "1024x1024"), "dall-e-3": ("1024x1024", "1792x1024", "1024x1792")}
ANY_IMAGE_SIZE = ("256x256", "512x512", "1024x1024", "1792x1024", "1024x1792", "1536x1024", "1024x1536", "auto")
SPEECH_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
                "wav": "audio/wav", "pcm": "audio/pcm"}
BAD_JSON = ("We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
            "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")


# ---------------------------------------------------------------------------------------------- pure helpers

def count_words(text: str) -> int:
    """The fake's token count: whitespace-separated words."""
    return len(text.split())


def content_text(content: Any) -> str:
    """A message content as text: the string itself, or its ``text`` parts joined by spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content
                        if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str))
    return ""


def chat_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Words of every message's content plus 3 per message."""
    return sum(count_words(content_text(m.get("content"))) + 3 for m in messages)


def embedding_vector(text: str, dimensions: int = 8) -> list[float]:
    """The fake's deterministic embedding of ``text``: bytes of its SHA-256 mapped to multiples of 1/256."""
    return [(b - 128) / 256 for b in hashlib.sha256(text.encode()).digest()[:dimensions]]


def split_text(text: str, pieces: int) -> list[str]:
    """``text`` cut into ``pieces`` nearly equal non-empty parts (fewer when it is shorter)."""
    if not text:
        return []
    pieces = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), pieces)
    out, start = [], 0
    for i in range(pieces):
        end = start + size + (1 if i < extra else 0)
        out.append(text[start:end])
        start = end
    return out


@cache
def tiny_png() -> bytes:
    """A valid 1×1 RGBA PNG (what image answers carry)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\x10\xa3\x7f\xff"))
            + chunk(b"IEND", b""))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _usage(prompt: int, completion: int, *, details: bool = True) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if details:
        usage["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
        usage["completion_tokens_details"] = {"reasoning_tokens": 0, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    return usage


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer with OpenAI's exact ``Content-Type: application/json`` (no charset parameter)."""
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def _truncate(text: str, limit: int | None) -> tuple[str, str]:
    words = text.split()
    if limit is not None and len(words) > limit:
        return " ".join(words[:limit]), "length"
    return text, "stop"


# ---------------------------------------------------------------------------------------------- errors

class ApiError(Exception):
    """An OpenAI error answer: ``{"error": {"message", "type", "param", "code"}}`` with an HTTP status."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = {"message": message, "type": type_, "param": param, "code": code}

    def response(self) -> web.Response:
        return json_response({"error": self.error}, status=self.status)


ORGANIZATION = "org-fakeaccount"  # the account a channel's key belongs to: never shown to oneapi's clients
RATE_LIMIT_HEADERS = {"x-ratelimit-limit-requests": "10000", "x-ratelimit-limit-tokens": "2000000",
                      "x-ratelimit-remaining-requests": "9999", "x-ratelimit-remaining-tokens": "1999990",
                      "x-ratelimit-reset-requests": "6ms", "x-ratelimit-reset-tokens": "0s"}


def default_error(status: int) -> dict[str, Any]:
    """The error object OpenAI sends with ``status``."""
    known: dict[int, tuple[str, str, str | None]] = {
        400: ("Invalid request.", "invalid_request_error", None),
        401: ("Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
              "invalid_request_error", "invalid_api_key"),
        403: ("You are not allowed to sample from this model.", "invalid_request_error", None),
        404: ("The model does not exist or you do not have access to it.", "invalid_request_error",
              "model_not_found"),
        429: ("Rate limit reached for requests. Please try again in 20ms.", "requests", "rate_limit_exceeded"),
        500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
        503: ("The engine is currently overloaded, please try again later.", "server_error", None),
    }
    message, type_, code = known.get(status, (f"Upstream error {status}.",
                                              "server_error" if status >= 500 else "invalid_request_error", None))
    return {"message": message, "type": type_, "param": None, "code": code}


def _missing(param: str) -> ApiError:
    return ApiError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def _bad_type(param: str, expected: str, value: Any) -> ApiError:
    return ApiError(400, f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)} instead.",
                    param=param, code="invalid_type")


def _not_one_of(param: str, value: Any, allowed: Iterable[str]) -> ApiError:
    return ApiError(400, f"'{value}' is not one of {list(allowed)} - '{param}'", param=param, code="invalid_value")


def _opt_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad_type(name, "a boolean", value)
    return value


def _opt_int(body: dict[str, Any], name: str, default: int | None, lo: int, hi: int) -> int | None:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad_type(name, "an integer", value)
    if value < lo:
        raise ApiError(400, f"Invalid '{name}': integer below minimum value. Expected a value >= {lo}, but got "
                            f"{value} instead.", param=name, code="integer_below_min_value")
    if value > hi:
        raise ApiError(400, f"Invalid '{name}': integer above maximum value. Expected a value <= {hi}, but got "
                            f"{value} instead.", param=name, code="integer_above_max_value")
    return value


def _max_tokens(body: dict[str, Any]) -> int | None:
    limit = _opt_int(body, "max_completion_tokens", None, 1, 1_000_000)
    return limit if limit is not None else _opt_int(body, "max_tokens", None, 1, 1_000_000)


def _include_usage(body: dict[str, Any], stream: bool) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not stream:
        raise ApiError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                       param="stream_options")
    if not isinstance(options, dict):
        raise _bad_type("stream_options", "an object", options)
    return _opt_bool(options, "include_usage")


def _validate_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" not in body:
        raise _missing("messages")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _bad_type("messages", "an array", messages)
    if not messages:
        raise ApiError(400, "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
                            "empty array instead.", param="messages", code="empty_array")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _bad_type(f"messages[{i}]", "an object", message)
        if "role" not in message:
            raise _missing(f"messages[{i}].role")
        if message["role"] not in ROLES:
            raise ApiError(400, f"Invalid value: '{message['role']}'. Supported values are: 'system', 'assistant', "
                                "'user', 'function', 'tool', and 'developer'.", param=f"messages[{i}].role",
                           code="invalid_value")
    return messages


def _validate_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise _bad_type("tools", "an array", tools)
    if not tools:
        raise ApiError(400, "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an "
                            "empty array instead.", param="tools", code="empty_array")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            raise ApiError(400, f"Invalid 'tools[{i}]': expected a function tool.", param=f"tools[{i}]",
                           code="invalid_value")
        if not isinstance(tool["function"].get("name"), str):
            raise _missing(f"tools[{i}].function.name")
    return tools


def _arguments(parameters: Any, user_text: str) -> str:
    """JSON arguments filling every property of a JSON-schema ``parameters`` object."""
    props = parameters.get("properties", {}) if isinstance(parameters, dict) else {}
    samples = {"string": user_text, "integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}
    args = {}
    for name, schema in props.items():
        schema = schema if isinstance(schema, dict) else {}
        args[name] = schema["enum"][0] if schema.get("enum") else samples.get(schema.get("type", "string"))
    return json.dumps(args)


def _moderation_result(text: str) -> dict[str, Any]:
    flagged = "kill" in text.lower()
    return {"flagged": flagged,
            "categories": {c: flagged and c == "violence" for c in MODERATION_CATEGORIES},
            "category_scores": {c: 0.9 if flagged and c == "violence" else 0.0001 for c in MODERATION_CATEGORIES},
            "category_applied_input_types": {c: ["text"] for c in MODERATION_CATEGORIES}}


def _parse_form(content_type: str, body: bytes) -> dict[str, Any]:
    """Fields of a multipart/form-data body: str for plain fields, ``(filename, bytes)`` for files."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields: dict[str, Any] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        fields[str(name)] = (filename, payload) if filename is not None else payload.decode()
    return fields


# ---------------------------------------------------------------------------------------------- records

class Headers(dict[str, str]):
    """Request headers with case-insensitive lookup (keys are stored lower-cased)."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass
class Recorded:
    """One request the fake received, exactly as it arrived."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, Any]:
        """Multipart fields: str values, and ``(filename, bytes)`` for files."""
        return _parse_form(self.headers.get("content-type", ""), self.body)


@dataclass
class _Scripted:
    status: int  # 0 = drop the connection
    body: bytes = b""
    content_type: str = "application/json"


@dataclass
class _Answer:
    text: str | None  # None when answering with tool calls
    calls: list[dict[str, Any]]
    finish: str
    prompt_tokens: int
    completion_tokens: int


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# ---------------------------------------------------------------------------------------------- the fake

class FakeOpenAI:
    """OpenAI (or Azure OpenAI with ``azure=True``) on an aiohttp app; see the module docstring."""

    stream_chunks: int = 5
    chunk_delay: float = 0.0
    delay: float = 0.0
    omit_usage: bool = False
    honour_max_tokens: bool = True  # False: a misbehaving upstream that writes past max_tokens

    def __init__(self, *, keys: set[str] | None = None, azure: bool = False) -> None:
        self.keys = keys
        self.azure = azure
        self.requests: list[Recorded] = []
        self.record = True  # benchmarks turn this off so ``requests`` does not grow without bound
        self.models: list[str] = list(MODELS)
        self.transcript = TRANSCRIPT
        self.aborted_streams = 0
        self._script: deque[_Scripted] = deque()
        self._replies: deque[str] = deque()
        self._usages: deque[dict[str, Any]] = deque()
        self._ids = itertools.count(1)
        self.app = self._make_app()

    # -- scripting
    def fail_next(self, status: int, error: dict[str, Any] | None = None, times: int = 1, *,
                  body: bytes | None = None, content_type: str = "application/json") -> None:
        """Answer the next ``times`` API calls with ``status`` and an OpenAI error body (or the raw ``body``).

        ``error`` is the inner error object (missing keys filled from :func:`default_error`), or a whole body
        when it has an ``"error"`` key.
        """
        if body is None:
            payload = error if error and "error" in error else {"error": {**default_error(status), **(error or {})}}
            body = json.dumps(payload).encode()
        self._script.extend(_Scripted(status, body, content_type) for _ in range(times))

    def drop_next(self, times: int = 1) -> None:
        """Close the connection without answering the next ``times`` API calls."""
        self._script.extend(_Scripted(0) for _ in range(times))

    def reply_text(self, text: str) -> None:
        """Queue the content of the next chat (or completions) answer."""
        self._replies.append(text)

    def report_usage(self, **numbers: Any) -> None:
        """Queue usage numbers that the next chat answer reports instead of its own (a lying upstream)."""
        self._usages.append(numbers)

    # -- app
    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record], client_max_size=64 * 1024 * 1024)
        routes = app.router
        if self.azure:
            for task in AZURE_TASKS:
                routes.add_post(f"/openai/deployments/{{deployment}}/{task}", self._endpoint(task))
            routes.add_get("/openai/models", self._guarded(self._models))
        else:
            for task in (*AZURE_TASKS, "moderations"):
                routes.add_post(f"/v1/{task}", self._endpoint(task))
            routes.add_get("/v1/models", self._guarded(self._models))
            routes.add_get("/v1/models/{model}", self._guarded(self._model_info))
        routes.add_get("/fake-images/{name}", self._image_file)
        app.on_response_prepare.append(self._stamp)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        headers = Headers((k.lower(), v) for k, v in request.headers.items())
        if self.record:
            self.requests.append(Recorded(request.method, request.path, dict(request.query), headers, body))
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
            return ApiError(exc.status, f"Invalid URL ({request.method} {request.path})").response()

    async def _stamp(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("x-request-id", f"req_{uuid.uuid4().hex}")
        if self.azure:
            response.headers.setdefault("apim-request-id", str(uuid.uuid4()))
            return
        # What api.openai.com sends with every answer (platform.openai.com/docs/guides/rate-limits): the API
        # version, the time spent, the account (organization, project) and its rate-limit state; a 429 adds
        # when to retry.
        response.headers.setdefault("openai-version", "2020-10-01")
        response.headers.setdefault("openai-processing-ms", "12")
        response.headers.setdefault("openai-organization", ORGANIZATION)
        response.headers.setdefault("openai-project", "proj_fakeproject")
        for name, value in RATE_LIMIT_HEADERS.items():
            response.headers.setdefault(name, value)
        if response.status == 429:
            response.headers.setdefault("retry-after", "1")
            response.headers.setdefault("retry-after-ms", "20")

    def _authenticate(self, request: web.Request) -> None:
        if self.azure:
            key = request.headers.get("api-key", "")
        else:
            auth = request.headers.get("Authorization", "")
            key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not key:
            raise ApiError(401, "You didn't provide an API key. You need to provide your API key in an Authorization "
                                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                           code="invalid_api_key")
        if self.keys is not None and key not in self.keys:
            shown = f"{key[:3]}{'*' * 8}{key[-4:]}" if len(key) > 8 else "*" * len(key)
            raise ApiError(401, f"Incorrect API key provided: {shown}. You can find your API key at "
                                "https://platform.openai.com/account/api-keys.", code="invalid_api_key")
        if self.azure and not request.query.get("api-version"):
            raise ApiError(400, "Missing required query parameter 'api-version'.", param="api-version",
                           code="missing_required_parameter")

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if self.delay:
                await asyncio.sleep(self.delay)
            self._authenticate(request)
            return await handler(request)
        return guarded

    def _endpoint(self, task: str) -> Handler:
        handlers: dict[str, Handler] = {
            "chat/completions": self._chat, "completions": self._completions, "embeddings": self._embeddings,
            "moderations": self._moderations, "images/generations": self._images, "audio/speech": self._speech,
            "audio/transcriptions": self._transcribe, "audio/translations": self._transcribe}
        handler = handlers[task]

        async def endpoint(request: web.Request) -> web.StreamResponse:
            if self.delay:
                await asyncio.sleep(self.delay)
            self._authenticate(request)
            if self._script:
                return await self._play(request, self._script.popleft())
            return await handler(request)
        return endpoint

    async def _play(self, request: web.Request, scripted: _Scripted) -> web.StreamResponse:
        if scripted.status == 0:
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing may be written: the client sees the connection drop
        return web.Response(status=scripted.status, body=scripted.body, content_type=scripted.content_type)

    # -- plumbing
    def _id(self, prefix: str, length: int = 24) -> str:
        return prefix + hashlib.sha1(str(next(self._ids)).encode()).hexdigest()[:length]

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.read())
        except ValueError:
            raise ApiError(400, BAD_JSON) from None
        if not isinstance(body, dict):
            raise ApiError(400, f"Invalid type for request body: expected an object, but got {_json_type(body)} "
                                "instead.", code="invalid_type")
        return body

    def _model(self, request: web.Request, body: dict[str, Any], default: str | None = None) -> str:
        if self.azure:
            return request.match_info["deployment"]
        model = body.get("model", default)
        if model is None or model == "":
            raise ApiError(400, "you must provide a model parameter")
        if not isinstance(model, str):
            raise _bad_type("model", "a string", model)
        return model

    async def _sse(self, request: web.Request, events: Iterable[dict[str, Any]]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            for i, event in enumerate(events):
                if i and self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
                await response.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:
            self.aborted_streams += 1
        except asyncio.CancelledError:
            self.aborted_streams += 1
            raise
        return response

    # -- chat
    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        model = self._model(request, body)
        messages = _validate_messages(body)
        n = _opt_int(body, "n", 1, 1, 128) or 1
        stream = _opt_bool(body, "stream")
        include_usage = _include_usage(body, stream)
        answer = self._chat_answer(body, messages, n, _max_tokens(body) if self.honour_max_tokens else None)
        usage = None if self.omit_usage else _usage(answer.prompt_tokens, answer.completion_tokens)
        if usage is not None and self._usages:
            usage.update(self._usages.popleft())
        head = {"id": self._id("chatcmpl-"), "object": "chat.completion", "created": int(time.time()),
                "model": model, "system_fingerprint": "fp_fake"}
        if stream:
            head["object"] = "chat.completion.chunk"
            return await self._sse(request, self._chat_chunks(head, answer, n, include_usage, usage))
        message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None, "annotations": []}
        if answer.calls:
            message["tool_calls"] = answer.calls
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": answer.finish}
        result: dict[str, Any] = {**head, "choices": [{**choice, "index": i} for i in range(n)]}
        if usage is not None:
            result["usage"] = usage
        result["service_tier"] = "default"
        if self.azure:
            result["prompt_filter_results"] = self._prompt_filter()["prompt_filter_results"]
        return json_response(result)

    def _chat_answer(self, body: dict[str, Any], messages: list[dict[str, Any]], n: int,
                     limit: int | None) -> _Answer:
        prompt = chat_prompt_tokens(messages)
        users = [m for m in messages if m["role"] == "user"]
        user_text = content_text(users[-1].get("content")) if users else ""
        calls = self._tool_calls(body, messages, user_text) if "tools" in body else []
        if calls:
            words = sum(count_words(c["function"]["arguments"]) for c in calls)
            return _Answer(None, calls, "tool_calls", prompt, words * n)
        last = messages[-1]
        if self._replies:
            text = self._replies.popleft()
        elif last["role"] == "tool":
            text = f"tool result: {content_text(last.get('content'))}"
        else:
            text = f"echo: {user_text}"
        text, finish = _truncate(text, limit)
        return _Answer(text, [], finish, prompt, count_words(text) * n)

    def _tool_calls(self, body: dict[str, Any], messages: list[dict[str, Any]], user_text: str) -> list[dict[str, Any]]:
        tools = _validate_tools(body["tools"])
        choice = body.get("tool_choice", "auto")
        names = [t["function"]["name"] for t in tools]
        if isinstance(choice, dict):
            name = (choice.get("function") or {}).get("name")
            if name not in names:
                raise ApiError(400, f"Invalid value for 'tool_choice': function '{name}' not found in 'tools'.",
                               param="tool_choice", code="invalid_value")
            tools = [tools[names.index(name)]]
        elif choice not in ("auto", "required", "none"):
            raise _not_one_of("tool_choice", choice, ("none", "auto", "required"))
        if choice == "none" or messages[-1]["role"] != "user":
            return []
        if body.get("parallel_tool_calls") is False:
            tools = tools[:1]
        return [{"id": self._id("call_"), "type": "function",
                 "function": {"name": t["function"]["name"],
                              "arguments": _arguments(t["function"].get("parameters"), user_text)}}
                for t in tools]

    def _prompt_filter(self) -> dict[str, Any]:
        safe = {"filtered": False, "severity": "safe"}
        results = {"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe}
        return {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": results}]}

    def _chat_chunks(self, head: dict[str, Any], answer: _Answer, n: int, include_usage: bool,
                     usage: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
        def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            event = {**head, "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            if include_usage:
                event["usage"] = None
            return event

        if self.azure:
            yield self._prompt_filter()
        for i in range(n):
            if answer.text is None:
                for k, call in enumerate(answer.calls):
                    fn = call["function"]
                    delta: dict[str, Any] = {"role": "assistant", "content": None} if k == 0 else {}
                    delta["tool_calls"] = [{"index": k, "id": call["id"], "type": "function",
                                            "function": {"name": fn["name"], "arguments": ""}}]
                    yield chunk(i, delta)
                    for piece in split_text(fn["arguments"], self.stream_chunks):
                        yield chunk(i, {"tool_calls": [{"index": k, "function": {"arguments": piece}}]})
            else:
                yield chunk(i, {"role": "assistant", "content": "", "refusal": None})
                for piece in split_text(answer.text, self.stream_chunks):
                    yield chunk(i, {"content": piece})
            yield chunk(i, {}, answer.finish)
        if include_usage and usage is not None:
            yield {**head, "choices": [], "usage": usage}

    # -- completions
    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        model = self._model(request, body)
        if "prompt" not in body:
            raise _missing("prompt")
        prompt = body["prompt"]
        if isinstance(prompt, str) or (isinstance(prompt, list) and prompt and isinstance(prompt[0], int)):
            prompt = [prompt]
        if not isinstance(prompt, list) or not prompt:
            raise _bad_type("prompt", "a string or an array", body["prompt"])
        n = _opt_int(body, "n", 1, 1, 128) or 1
        stream = _opt_bool(body, "stream")
        include_usage = _include_usage(body, stream)
        limit = _opt_int(body, "max_tokens", None, 1, 1_000_000)
        reply = self._replies.popleft() if self._replies else None
        texts, prompt_tokens, completion_tokens = [], 0, 0
        for p in prompt:
            as_text = p if isinstance(p, str) else " ".join(str(t) for t in p)
            prompt_tokens += count_words(p) if isinstance(p, str) else len(p)
            text, finish = _truncate(reply if reply is not None else f"echo: {as_text}", limit)
            texts.extend([(text, finish)] * n)
            completion_tokens += count_words(text) * n
        usage = None if self.omit_usage else _usage(prompt_tokens, completion_tokens, details=False)
        head = {"id": self._id("cmpl-"), "object": "text_completion", "created": int(time.time()), "model": model,
                "system_fingerprint": "fp_fake"}
        if stream:
            return await self._sse(request, self._completion_chunks(head, texts, include_usage, usage))
        result: dict[str, Any] = {**head, "choices": [
            {"text": text, "index": i, "logprobs": None, "finish_reason": finish}
            for i, (text, finish) in enumerate(texts)]}
        if usage is not None:
            result["usage"] = usage
        return json_response(result)

    def _completion_chunks(self, head: dict[str, Any], texts: list[tuple[str, str]], include_usage: bool,
                           usage: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
        def chunk(index: int, text: str, finish: str | None = None) -> dict[str, Any]:
            event = {**head, "choices": [{"text": text, "index": index, "logprobs": None, "finish_reason": finish}]}
            if include_usage:
                event["usage"] = None
            return event

        for i, (text, finish) in enumerate(texts):
            for piece in split_text(text, self.stream_chunks):
                yield chunk(i, piece)
            yield chunk(i, "", finish)
        if include_usage and usage is not None:
            yield {**head, "choices": [], "usage": usage}

    # -- embeddings, moderations
    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        model = self._model(request, body)
        if "input" not in body:
            raise _missing("input")
        inputs = body["input"]
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or any(i in ("", []) for i in inputs):
            raise ApiError(400, "'$.input' is invalid. Please check the API reference: "
                                "https://platform.openai.com/docs/api-reference.")
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise _not_one_of("encoding_format", encoding, ("float", "base64"))
        dimensions = _opt_int(body, "dimensions", 8, 1, 32) or 8
        data, tokens = [], 0
        for index, item in enumerate(inputs):
            text = item if isinstance(item, str) else " ".join(str(t) for t in item)
            tokens += count_words(item) if isinstance(item, str) else len(item)
            vector: Any = embedding_vector(text, dimensions)
            if encoding == "base64":
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        result: dict[str, Any] = {"object": "list", "data": data, "model": model}
        if not self.omit_usage:
            result["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
        return json_response(result)

    async def _moderations(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        model = self._model(request, body, default="omni-moderation-latest")
        if "input" not in body:
            raise _missing("input")
        inputs = body["input"]
        if isinstance(inputs, list) and inputs and all(isinstance(i, dict) for i in inputs):
            inputs = [content_text(inputs)]  # multimodal parts: one result for the whole input
        elif isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise _bad_type("input", "a string or an array of strings", body["input"])
        return json_response({"id": self._id("modr-"), "model": model,
                                  "results": [_moderation_result(text) for text in inputs]})

    # -- images, audio
    async def _images(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        model = self._model(request, body, default="dall-e-2")
        prompt = body.get("prompt")
        if not prompt:
            raise _missing("prompt")
        if not isinstance(prompt, str):
            raise _bad_type("prompt", "a string", prompt)
        max_prompt, max_n = {"dall-e-2": (1000, 10), "dall-e-3": (4000, 1)}.get(model, (32000, 10))
        if len(prompt) > max_prompt:
            raise ApiError(400, f"Invalid 'prompt': string too long. Expected a string with maximum length "
                                f"{max_prompt}, but got a string with length {len(prompt)} instead.",
                           param="prompt", code="string_above_max_length")
        n = _opt_int(body, "n", 1, 1, max_n) or 1
        size = body.get("size") or "1024x1024"
        if size not in IMAGE_SIZES.get(model, ANY_IMAGE_SIZE):
            raise _not_one_of("size", size, IMAGE_SIZES.get(model, ANY_IMAGE_SIZE))
        fmt = body.get("response_format") or "url"
        if fmt not in ("url", "b64_json"):
            raise _not_one_of("response_format", fmt, ("url", "b64_json"))
        data = []
        for i in range(n):
            item = ({"url": f"{request.scheme}://{request.host}/fake-images/{i}.png"} if fmt == "url"
                    else {"b64_json": base64.b64encode(tiny_png()).decode()})
            if model == "dall-e-3":
                item["revised_prompt"] = prompt
            data.append(item)
        return json_response({"created": int(time.time()), "data": data})

    async def _image_file(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=tiny_png(), content_type="image/png")

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        body = await self._json(request)
        self._model(request, body)
        for name in ("input", "voice"):
            if not body.get(name):
                raise _missing(name)
        text = body["input"]
        if not isinstance(text, str):
            raise _bad_type("input", "a string", text)
        if len(text) > 4096:
            raise ApiError(400, f"Invalid 'input': string too long. Expected a string with maximum length 4096, but "
                                f"got a string with length {len(text)} instead.", param="input",
                           code="string_above_max_length")
        fmt = body.get("response_format") or "mp3"
        if fmt not in SPEECH_TYPES:
            raise _not_one_of("response_format", fmt, SPEECH_TYPES)
        audio = b"ID3\x04\x00\x00\x00\x00\x00\x00fake-speech:" + text.encode()
        return web.Response(body=audio, content_type=SPEECH_TYPES[fmt])

    async def _transcribe(self, request: web.Request) -> web.StreamResponse:
        if request.content_type != "multipart/form-data":
            raise ApiError(400, f"Invalid Content-Type header ({request.content_type}), expected "
                                "multipart/form-data.")
        form = _parse_form(request.headers.get("Content-Type", ""), await request.read())
        self._model(request, form)
        if not isinstance(form.get("file"), tuple):
            raise _missing("file")
        fmt = form.get("response_format") or "json"
        translate = request.path.endswith("/translations")
        text = self.transcript
        if fmt == "json":
            return json_response({"text": text} if translate
                                     else {"text": text, "usage": {"type": "duration", "seconds": 2}})
        if fmt == "verbose_json":
            segment = {"id": 0, "seek": 0, "start": 0.0, "end": 2.0, "text": text, "tokens": [1, 2, 3],
                       "temperature": 0.0, "avg_logprob": -0.1, "compression_ratio": 1.0, "no_speech_prob": 0.0}
            return json_response({"task": "translate" if translate else "transcribe", "language": "english",
                                      "duration": 2.0, "text": text, "segments": [segment]})
        formats = {"text": f"{text}\n", "srt": f"1\n00:00:00,000 --> 00:00:02,000\n{text}\n\n",
                   "vtt": f"WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n{text}\n\n"}
        if fmt not in formats:
            raise _not_one_of("response_format", fmt, ("json", "text", "srt", "verbose_json", "vtt"))
        return web.Response(text=formats[fmt], content_type="text/plain")

    # -- models
    async def _models(self, request: web.Request) -> web.StreamResponse:
        return json_response({"object": "list", "data": [self._model_object(m) for m in self.models]})

    async def _model_info(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        if model not in self.models:
            raise ApiError(404, f"The model '{model}' does not exist", param="model", code="model_not_found")
        return json_response(self._model_object(model))

    def _model_object(self, model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1686935002, "owned_by": "system"}


async def start_fake(fake: FakeOpenAI) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its base URL and the coroutine function that stops it.

    Handlers are cancelled when their client disconnects, so a relay closing a stream is seen at once.
    """
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return f"http://127.0.0.1:{port}", runner.cleanup
