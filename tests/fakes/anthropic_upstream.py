"""A fake Anthropic Messages API (``POST /v1/messages``) following Anthropic's published wire format.

Authentication is the ``x-api-key`` header — or ``Authorization: Bearer <key>``, which the API also accepts and
current SDKs send — (missing or unknown → 401 ``authentication_error``; ``keys=None`` accepts any non-empty key),
plus a required ``anthropic-version`` header (a date from 2023-01-01 on). Errors have Anthropic's shape
``{"type": "error", "error": {"type", "message"}, "request_id"}``.

The fake refuses what the real API refuses (400 ``invalid_request_error``): missing ``model`` /
``max_tokens`` / ``messages``, unknown top-level fields ("Extra inputs are not permitted"), a ``system`` role
inside ``messages``, a first message that is not ``user``, roles that do not alternate, empty or
whitespace-only text blocks, empty content (except a final assistant turn), a final assistant turn ending in
whitespace, images outside user turns or with an unsupported media type / bad base64 / bytes that are not the
declared type, ``tool_result`` blocks that are not first in their user turn or do not answer a ``tool_use`` of
the previous assistant turn, ``tool_use`` blocks left unanswered by the next turn, ``temperature`` / ``top_p``
outside 0–1, malformed ``tools`` / ``tool_choice`` / ``metadata`` / ``stop_sequences``. Models not starting
with ``claude`` get 404 ``not_found_error``.

Answers are deterministic ("words" = ``len(text.split())``):

* text: ``reply_text``'s queued text, else ``"tool result: <texts of the tool results>"`` when the last user turn
  carries tool results, else ``"echo: <text of the last user turn>"``;
* with ``tools`` (and ``tool_choice`` not ``none``) and a last user turn without tool results: one ``tool_use``
  per tool (only the named one for ``{"type": "tool"}``, only the first with ``disable_parallel_tool_use``),
  inputs filling each schema property (strings get the user text, integers 1, numbers 1.5, booleans true,
  enums their first value), preceded by a text block when ``tool_preamble`` is set; ``stop_reason: tool_use``;
* the first ``stop_sequences`` match cuts the text before it (``stop_reason: stop_sequence``), and
  ``max_tokens`` cuts it to that many words (``stop_reason: max_tokens``);
* ``usage.input_tokens`` = words of ``system`` + for each message 3 + words of its text (text blocks, tool
  result texts, the JSON of tool inputs) + :data:`IMAGE_TOKENS` per image; ``usage.output_tokens`` = words of
  the answer text + words of each tool input's JSON; ``cache_read_input_tokens`` /
  ``cache_creation_input_tokens`` are the attributes of the same names.

``POST /v1/messages/count_tokens`` takes the same request without ``max_tokens`` and the other generation fields
(refused as extra inputs) and answers ``{"input_tokens": n}``, n as ``usage.input_tokens`` would be.

Streams follow the real event sequence: ``message_start`` (usage with ``output_tokens: 1``), per block
``content_block_start`` / ``content_block_delta`` (``text_delta``; ``input_json_delta`` starting with an empty
``partial_json``) / ``content_block_stop``, one ``ping`` after the first block start, ``message_delta`` with the
stop reason and the *cumulative* ``output_tokens``, ``message_stop``. Scripting: ``fail_next(status, type)``
answers the next authenticated calls with an error (a 429 with ``retry-after``, as the API sends it);
``fail_stream_next(type)`` sends an ``error`` event in the middle of the next stream (or right after
``message_start`` with ``before_content=True``, as overloaded errors often arrive); ``break_stream_next()``
drops the next stream's connection after its first delta, without an event; ``delay`` stalls every
answer; ``chunk_delay`` separates stream events; ``crlf`` ends stream lines with CRLF. Every request is
recorded in ``requests`` before anything else.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import itertools
import json
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import Headers, Recorded, count_words, split_text

OLDEST_VERSION = "2023-01-01"  # anthropic-version values are dates (2023-06-01 is the classic one; SDKs send newer)
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
IMAGE_TOKENS = 85
FIELDS = frozenset({"model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream",
                    "temperature", "top_k", "top_p", "tools", "tool_choice", "thinking", "service_tier",
                    "container", "mcp_servers", "context_management", "output_config"})
COUNT_FIELDS = frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers",
                          "context_management", "output_config"})
TOOL_FIELDS = frozenset({"type", "name", "description", "input_schema", "cache_control", "strict"})
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_MAGIC = {"image/png": (b"\x89PNG",), "image/jpeg": (b"\xff\xd8\xff",), "image/gif": (b"GIF87a", b"GIF89a")}
ERROR_MESSAGES = {400: ("invalid_request_error", "Invalid request."),
                  401: ("authentication_error", "invalid x-api-key"),
                  403: ("permission_error", "Your API key does not have permission to use the specified resource."),
                  404: ("not_found_error", "The requested resource could not be found."),
                  413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
                  429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
                  500: ("api_error", "An unexpected error has occurred internal to Anthropic's systems."),
                  529: ("overloaded_error", "Overloaded")}


class ApiError(Exception):
    """An Anthropic error answer."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message

    def body(self, request_id: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": self.type, "message": self.message}, "request_id": request_id}


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


# ---------------------------------------------------------------------------------------------- validation

def _number(body: dict[str, Any], name: str, lo: float, hi: float | None) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"{name}: Input should be a valid number")
    if value < lo:
        raise _bad(f"{name}: Input should be greater than or equal to {lo:g}")
    if hi is not None and value > hi:
        raise _bad(f"{name}: Input should be less than or equal to {hi:g}")


def validate(body: Any) -> dict[str, Any]:
    """The request as the real API checks it; raises :class:`ApiError` (400) on what it refuses."""
    if not isinstance(body, dict):
        raise _bad("Input should be a valid dictionary")
    for name in body:
        if name not in FIELDS:
            raise _bad(f"{name}: Extra inputs are not permitted")
    for name in ("model", "messages", "max_tokens"):
        if name not in body:
            raise _bad(f"{name}: Field required")
    if not isinstance(body["model"], str) or not body["model"]:
        raise _bad("model: Input should be a valid string")
    max_tokens = body["max_tokens"]
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise _bad("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise _bad("max_tokens: Input should be greater than or equal to 1")
    _number(body, "temperature", 0, 1)
    _number(body, "top_p", 0, 1)
    top_k = body.get("top_k")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0):
        raise _bad("top_k: Input should be a valid integer greater than or equal to 0")
    if not isinstance(body.get("stream", False), bool):
        raise _bad("stream: Input should be a valid boolean")
    _validate_system(body.get("system"))
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise _bad("stop_sequences: Input should be a valid list of strings")
    if stops and any(not s.strip() for s in stops):
        raise _bad("stop_sequences: each stop sequence must contain non-whitespace")
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise _bad("metadata: Input should be a valid dictionary")
        for key, value in metadata.items():
            if key != "user_id":
                raise _bad(f"metadata.{key}: Extra inputs are not permitted")
            if value is not None and not isinstance(value, str):
                raise _bad("metadata.user_id: Input should be a valid string")
    names = _validate_tools(body.get("tools"))
    _validate_tool_choice(body.get("tool_choice"), names, "tools" in body)
    _validate_messages(body["messages"])
    return body


def _validate_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _bad("system: Input should be a valid string or list of text blocks")
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise _bad(f"system.{i}: Input should be a text block")
        _check_text(block["text"])


def _validate_tools(tools: Any) -> list[str]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _bad("tools: Input should be a valid list")
    names = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _bad(f"tools.{i}: Input should be a valid dictionary")
        for key in tool:
            if key not in TOOL_FIELDS:
                raise _bad(f"tools.{i}.custom.{key}: Extra inputs are not permitted")
        if not isinstance(tool.get("name"), str) or not _TOOL_NAME.match(tool["name"]):
            raise _bad(f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise _bad(f"tools.{i}.custom.input_schema: Field required")
        if schema.get("type") != "object":
            raise _bad(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
        if "description" in tool and not isinstance(tool["description"], str):
            raise _bad(f"tools.{i}.custom.description: Input should be a valid string")
        names.append(tool["name"])
    if len(set(names)) != len(names):
        raise _bad("tools: Tool names must be unique.")
    return names


def _validate_tool_choice(choice: Any, names: list[str], has_tools: bool) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        raise _bad("tool_choice: Input tag found using 'type' does not match any of the expected tags: 'auto', "
                   "'any', 'tool', 'none'")
    allowed = {"type", "disable_parallel_tool_use"} | ({"name"} if choice["type"] == "tool" else set())
    for key in choice:
        if key not in allowed:
            raise _bad(f"tool_choice.{choice['type']}.{key}: Extra inputs are not permitted")
    if not isinstance(choice.get("disable_parallel_tool_use", False), bool):
        raise _bad(f"tool_choice.{choice['type']}.disable_parallel_tool_use: Input should be a valid boolean")
    if not has_tools and choice["type"] != "none":
        raise _bad("tool_choice may only be specified while providing tools.")
    if choice["type"] == "tool" and choice.get("name") not in names:
        raise _bad(f"Tool '{choice.get('name')}' not found in provided tools")


def _check_text(text: str) -> None:
    if not text:
        raise _bad("messages: text content blocks must be non-empty")
    if not text.strip():
        raise _bad("messages: text content blocks must contain non-whitespace text")


def _check_image(where: str, block: dict[str, Any]) -> None:
    source = block.get("source")
    if not isinstance(source, dict) or source.get("type") not in ("base64", "url"):
        raise _bad(f"{where}.source: Input tag found using 'type' does not match any of the expected tags: "
                   "'base64', 'url'")
    if source["type"] == "url":
        if not isinstance(source.get("url"), str) or not source["url"].startswith(("http://", "https://")):
            raise _bad(f"{where}.source.url: Input should be a valid URL")
        return
    media = source.get("media_type")
    if media not in IMAGE_TYPES:
        raise _bad(f"{where}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or "
                   "'image/webp'")
    try:
        raw = base64.b64decode(str(source.get("data") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"{where}.source.base64.data: invalid base64 data") from None
    if not raw:
        raise _bad(f"{where}.source.base64.data: image cannot be empty")
    magic = _MAGIC.get(media)
    is_webp = raw[:4] == b"RIFF" and raw[8:12] == b"WEBP"
    if (magic and not raw.startswith(magic)) or (media == "image/webp" and not is_webp):
        raise _bad(f"{where}: Image does not match the provided media type {media}")


def _check_tool_result(where: str, block: dict[str, Any]) -> None:
    if not isinstance(block.get("tool_use_id"), str) or not _TOOL_ID.match(block["tool_use_id"]):
        raise _bad(f"{where}.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'")
    content = block.get("content")
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _bad(f"{where}.content: Input should be a valid string or list")
    for k, part in enumerate(content):
        if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
            _check_text(part["text"])
        elif isinstance(part, dict) and part.get("type") == "image":
            _check_image(f"{where}.content.{k}", part)
        else:
            raise _bad(f"{where}.content.{k}: Input tag does not match any of the expected tags: 'text', 'image'")


def _blocks_of(i: int, message: dict[str, Any], last: bool) -> list[dict[str, Any]]:
    content = message.get("content")
    final_assistant = last and message["role"] == "assistant"
    if isinstance(content, str):
        if not content and not final_assistant:
            raise _bad(f"messages.{i}: all messages must have non-empty content except for the optional final "
                       "assistant message")
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise _bad(f"messages.{i}.content: Input should be a valid string or list")
    if not content and not final_assistant:
        raise _bad(f"messages.{i}: all messages must have non-empty content except for the optional final "
                   "assistant message")
    return content


def _validate_messages(messages: Any) -> None:
    if not isinstance(messages, list):
        raise _bad("messages: Input should be a valid list")
    if not messages:
        raise _bad("messages: at least one message is required")
    previous_role: str | None = None
    open_ids: list[str] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _bad(f"messages.{i}: Input should be a valid dictionary")
        role = message.get("role")
        if role == "system":
            raise _bad('messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                       'parameter, not "system" as an input message role.')
        if role not in ("user", "assistant"):
            raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if i == 0 and role != "user":
            raise _bad('messages: first message must use the "user" role')
        if role == previous_role:
            raise _bad(f'messages: roles must alternate between "user" and "assistant", but found multiple '
                       f'"{role}" roles in a row')
        blocks = _blocks_of(i, message, i == len(messages) - 1)
        answered = _validate_blocks(i, role, blocks, open_ids)
        missing = [x for x in open_ids if x not in answered]
        if missing:
            raise _bad(f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                       f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                       "`tool_result` block in the next message.")
        open_ids = [b["id"] for b in blocks if role == "assistant" and b.get("type") == "tool_use"]
        previous_role = role
    last = messages[-1]
    blocks = _blocks_of(len(messages) - 1, last, True)
    if last["role"] == "assistant" and blocks and blocks[-1].get("type") == "text" \
            and blocks[-1]["text"] != blocks[-1]["text"].rstrip():
        raise _bad("messages: final assistant content cannot end with trailing whitespace")


def _validate_blocks(i: int, role: str, blocks: list[Any], open_ids: list[str]) -> list[str]:
    """Check one message's blocks; return the tool_use ids its tool_result blocks answer."""
    answered: list[str] = []
    seen_other = False
    for j, block in enumerate(blocks):
        where = f"messages.{i}.content.{j}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            _check_text(block["text"])
        elif kind == "image" and role == "user":
            _check_image(where, block)
        elif kind == "tool_use" and role == "assistant":
            if not isinstance(block.get("id"), str) or not _TOOL_ID.match(block["id"]):
                raise _bad(f"{where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
            if not isinstance(block.get("name"), str) or not isinstance(block.get("input"), dict):
                raise _bad(f"{where}.tool_use: name and input (an object) are required")
        elif kind == "tool_result" and role == "user":
            _check_tool_result(where, block)
            if seen_other:
                raise _bad(f"messages.{i}: `tool_result` blocks must come first in the user message content")
            if block["tool_use_id"] not in open_ids or block["tool_use_id"] in answered:
                raise _bad(f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                           f"{block['tool_use_id']}. Each `tool_result` block must have a corresponding "
                           "`tool_use` block in the previous message.")
            answered.append(block["tool_use_id"])
            continue
        else:
            raise _bad(f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected tags "
                       f"for a {role} message")
        seen_other = True
    return answered


# ---------------------------------------------------------------------------------------------- answers

def block_text(block: dict[str, Any]) -> str:
    """The words a block counts for: text, tool result text, or a tool input's JSON."""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text") or "")
    if kind == "tool_use":
        return json.dumps(block.get("input") or {})
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            return " ".join(block_text(p) for p in content if isinstance(p, dict))
        return str(content or "")
    return ""


def message_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _images(blocks: list[dict[str, Any]]) -> int:
    count = 0
    for block in blocks:
        if block.get("type") == "image":
            count += 1
        elif block.get("type") == "tool_result" and isinstance(block.get("content"), list):
            count += _images([p for p in block["content"] if isinstance(p, dict)])
    return count


def input_tokens(body: dict[str, Any]) -> int:
    system = body.get("system")
    system_text = system if isinstance(system, str) else " ".join(b["text"] for b in system or [])
    total = count_words(system_text)
    for message in body["messages"]:
        blocks = message_blocks(message)
        total += 3 + sum(count_words(block_text(b)) for b in blocks) + IMAGE_TOKENS * _images(blocks)
    return total


def _sample_input(schema: dict[str, Any], user_text: str) -> dict[str, Any]:
    samples: dict[str, Any] = {"string": user_text, "integer": 1, "number": 1.5, "boolean": True, "array": [],
                               "object": {}}
    out = {}
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, dict) else {}
        out[name] = prop["enum"][0] if prop.get("enum") else samples.get(prop.get("type", "string"))
    return out


@dataclass
class Answer:
    content: list[dict[str, Any]]
    stop_reason: str
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int


BROKEN = -1  # a scripted stream failure that drops the connection instead of sending an error event


@dataclass
class _Scripted:
    status: int
    type: str
    message: str


@dataclass
class FakeAnthropic:
    """See the module docstring."""

    keys: set[str] | None = None
    stream_pieces: int = 4
    chunk_delay: float = 0.0
    delay: float = 0.0
    crlf: bool = False
    tool_preamble: str | None = None
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._script: deque[_Scripted] = deque()
        self._stream_errors: deque[_Scripted] = deque()
        self._replies: deque[str] = deque()
        self._ids = itertools.count(1)
        self.app = web.Application(middlewares=[self._record], client_max_size=64 * 1024 * 1024)
        self.app.router.add_post("/v1/messages", self._messages)
        self.app.router.add_post("/v1/messages/count_tokens", self._count_tokens)

    # -- scripting
    def fail_next(self, status: int, type_: str | None = None, message: str | None = None, times: int = 1) -> None:
        """Answer the next ``times`` authenticated calls with an Anthropic error."""
        default_type, default_message = ERROR_MESSAGES.get(status, ("api_error", f"Error {status}"))
        self._script.extend(_Scripted(status, type_ or default_type, message or default_message)
                            for _ in range(times))

    def fail_stream_next(self, type_: str = "overloaded_error", message: str = "Overloaded", *,
                         before_content: bool = False) -> None:
        """Send an ``error`` event in the next stream: after its first delta, or before any content block."""
        self._stream_errors.append(_Scripted(0 if before_content else 200, type_, message))

    def break_stream_next(self) -> None:
        """Drop the connection of the next stream after its first delta (a network failure, not an event)."""
        self._stream_errors.append(_Scripted(BROKEN, "", ""))

    def reply_text(self, text: str) -> None:
        self._replies.append(text)

    def bodies(self) -> list[dict[str, Any]]:
        """Every recorded request body, decoded."""
        return [r.json() for r in self.requests]

    # -- plumbing
    def _id(self, prefix: str) -> str:
        return prefix + hashlib.sha1(str(next(self._ids)).encode()).hexdigest()[:24]

    @web.middleware
    async def _record(self, request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        body = await request.read()
        headers = Headers((k.lower(), v) for k, v in request.headers.items())
        self.requests.append(Recorded(request.method, request.path, dict(request.query), headers, body))
        request_id = self._id("req_")
        try:
            response = await handler(request)
        except ApiError as exc:
            response = web.json_response(exc.body(request_id), status=exc.status)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
            response = web.json_response(ApiError(exc.status, "Not found", "not_found_error").body(request_id),
                                         status=exc.status)
        if not response.prepared:
            response.headers["request-id"] = request_id
            if response.status == 429:  # docs.anthropic.com/en/api/rate-limits: when to retry, in seconds
                response.headers["retry-after"] = "3"
                response.headers["anthropic-ratelimit-requests-remaining"] = "0"
        return response

    def _authenticate(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization", "")
        key = request.headers.get("x-api-key", "") or (auth[7:].strip() if auth[:7].lower() == "bearer " else "")
        if not key:
            raise ApiError(401, "x-api-key header is required", "authentication_error")
        if self.keys is not None and key not in self.keys:
            raise ApiError(401, "invalid x-api-key", "authentication_error")
        version = request.headers.get("anthropic-version")
        if not version:
            raise _bad("anthropic-version: header is required")
        if not _VERSION.match(version) or version < OLDEST_VERSION:
            raise _bad(f"anthropic-version: invalid version '{version}'")

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        if self.delay:
            await asyncio.sleep(self.delay)
        self._authenticate(request)
        if self._script:
            scripted = self._script.popleft()
            raise ApiError(scripted.status, scripted.message, scripted.type)
        try:
            body = json.loads(await request.read())
        except ValueError:
            raise _bad("There was an error parsing the body of your request.") from None
        body = validate(body)
        if not body["model"].startswith("claude"):
            raise ApiError(404, f"model: {body['model']}", "not_found_error")
        answer = self._answer(body)
        message = {"id": self._id("msg_"), "type": "message", "role": "assistant", "model": body["model"],
                   "content": answer.content, "stop_reason": answer.stop_reason,
                   "stop_sequence": answer.stop_sequence, "usage": self._usage(answer, answer.output_tokens)}
        if body.get("stream"):
            return await self._stream(request, message, answer)
        return web.json_response(message)

    async def _count_tokens(self, request: web.Request) -> web.Response:
        """``POST /v1/messages/count_tokens``: the request of ``/v1/messages`` without ``max_tokens`` (nor the
        other generation fields); answers ``{"input_tokens": n}`` with the count ``usage`` would report."""
        self._authenticate(request)
        if self._script:
            scripted = self._script.popleft()
            raise ApiError(scripted.status, scripted.message, scripted.type)
        try:
            body = json.loads(await request.read())
        except ValueError:
            raise _bad("There was an error parsing the body of your request.") from None
        if not isinstance(body, dict):
            raise _bad("Input should be a valid dictionary")
        for name in body:
            if name not in COUNT_FIELDS:
                raise _bad(f"{name}: Extra inputs are not permitted")
        body = validate({**body, "max_tokens": 1})
        if not body["model"].startswith("claude"):
            raise ApiError(404, f"model: {body['model']}", "not_found_error")
        return web.json_response({"input_tokens": input_tokens(body)})

    def _usage(self, answer: Answer, output_tokens: int) -> dict[str, Any]:
        return {"input_tokens": answer.input_tokens, "cache_creation_input_tokens": self.cache_creation_input_tokens,
                "cache_read_input_tokens": self.cache_read_input_tokens, "output_tokens": output_tokens,
                "service_tier": "standard"}

    def _answer(self, body: dict[str, Any]) -> Answer:
        messages = body["messages"]
        users = [m for m in messages if m["role"] == "user"]
        last_user = message_blocks(users[-1]) if users else []
        user_text = " ".join(b["text"] for b in last_user if b.get("type") == "text")
        results = [b for b in last_user if b.get("type") == "tool_result"]
        choice = body.get("tool_choice") or {"type": "auto"}
        content: list[dict[str, Any]] = []
        stop_reason, stop_sequence = "end_turn", None
        if body.get("tools") and choice["type"] != "none" and not results and messages[-1]["role"] == "user":
            tools = body["tools"]
            if choice["type"] == "tool":
                tools = [t for t in tools if t["name"] == choice["name"]]
            if choice.get("disable_parallel_tool_use"):
                tools = tools[:1]
            if self.tool_preamble:
                content.append({"type": "text", "text": self.tool_preamble})
            content += [{"type": "tool_use", "id": self._id("toolu_"), "name": t["name"],
                         "input": _sample_input(t["input_schema"], user_text)} for t in tools]
            stop_reason = "tool_use"
        else:
            if self._replies:
                text = self._replies.popleft()
            elif results:
                text = "tool result: " + " | ".join(block_text(b) for b in results)
            else:
                text = f"echo: {user_text}"
            found = [(text.find(s), s) for s in body.get("stop_sequences") or [] if s in text]
            if found:
                position, stop_sequence = min(found)
                text, stop_reason = text[:position], "stop_sequence"
            words = text.split()
            if len(words) > body["max_tokens"]:
                text, stop_reason, stop_sequence = " ".join(words[:body["max_tokens"]]), "max_tokens", None
            content.append({"type": "text", "text": text})
        output = sum(count_words(block_text(b)) for b in content)
        return Answer(content, stop_reason, stop_sequence, input_tokens(body), output)

    # -- streams
    def _events(self, message: dict[str, Any], answer: Answer) -> Iterator[tuple[str, dict[str, Any]]]:
        yield "message_start", {"type": "message_start", "message": {
            **message, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": self._usage(answer, 1)}}
        failure = self._stream_errors.popleft() if self._stream_errors else None
        if failure is not None and failure.status == 0:
            yield "error", {"type": "error", "error": {"type": failure.type, "message": failure.message}}
            return
        for index, block in enumerate(answer.content):
            if block["type"] == "text":
                yield "content_block_start", {"type": "content_block_start", "index": index,
                                              "content_block": {"type": "text", "text": ""}}
                pieces = [{"type": "text_delta", "text": p} for p in split_text(block["text"], self.stream_pieces)]
            else:
                yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                    "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}
                arguments = json.dumps(block["input"])
                pieces = [{"type": "input_json_delta", "partial_json": p}
                          for p in ["", *split_text(arguments, self.stream_pieces)]]
            if index == 0:
                yield "ping", {"type": "ping"}
            for k, delta in enumerate(pieces):
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                if failure is not None and failure.status == BROKEN and k == 0:
                    yield "", {}  # _stream drops the connection here
                    return
                if failure is not None and k == 0:
                    yield "error", {"type": "error", "error": {"type": failure.type, "message": failure.message}}
                    return
            yield "content_block_stop", {"type": "content_block_stop", "index": index}
        yield "message_delta", {"type": "message_delta", "delta": {"stop_reason": answer.stop_reason,
                                                                   "stop_sequence": answer.stop_sequence},
                                "usage": {"output_tokens": answer.output_tokens}}
        yield "message_stop", {"type": "message_stop"}

    async def _stream(self, request: web.Request, message: dict[str, Any], answer: Answer) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                               "Cache-Control": "no-cache", "request-id": self._id("req_")})
        await response.prepare(request)
        newline = "\r\n" if self.crlf else "\n"
        try:
            for i, (name, data) in enumerate(self._events(message, answer)):
                if i and self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
                if not name:
                    await asyncio.sleep(0.05)  # what was written reaches the client before the connection drops
                    if request.transport is not None:
                        request.transport.abort()
                    return response
                text = f"event: {name}{newline}data: {json.dumps(data)}{newline}{newline}"
                await response.write(text.encode())
            await response.write_eof()
        except ConnectionResetError:
            pass
        return response


async def start_fake(fake: FakeAnthropic) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its base URL and the coroutine that stops it."""
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return f"http://127.0.0.1:{port}", runner.cleanup
