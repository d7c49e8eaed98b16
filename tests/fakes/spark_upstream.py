"""A fake iFlytek Spark upstream: the websocket chat API at ``/{version}/chat`` (and ``/chat/pro-128k``,
``/chat/max-32k``), following iFlytek's published protocol (xfyun.cn/doc/spark/Web.html and its URL-signing
guide).

Handshake. The URL must carry ``authorization``, ``date`` and ``host``. The fake recomputes the signature as
iFlytek's gateway does — HMAC-SHA256 keyed with the APISecret over ``host: <Host header>\\ndate: <date>\\nGET
<path> HTTP/1.1`` — from the ``Host`` header it received (so the signed host must be the host connected to), and
parses the base64 authorization origin (``api_key="…", algorithm="hmac-sha256", headers="host date
request-line", signature="…"``; the legacy ``hmac username="…"`` form is accepted too, and whitespace between
fields is tolerated, as the official SDK adds some). Refusals happen on the upgrade, as plain HTTP with a JSON
``{"message": …}`` body: a bad or missing signature or an unknown APIKey → 401; a date that does not parse or
is more than 5 minutes from the fake's clock (``clock_offset`` shifts that clock) → 403.

Dialogue. After the upgrade the client sends one request frame; the fake checks it (``header.app_id`` is the
channel's; ``parameter.chat.domain`` is the one its path serves; messages are ``system``/``user``/``assistant``
with non-empty text, a ``system`` message only first and only on v3+ domains; ``temperature``, ``top_k``,
``max_tokens`` and ``uid`` in range; ``payload.functions.text`` only on ``generalv3``, ``generalv3.5`` and
``4.0Ultra``, holding bare function definitions) and answers with frames ``{header: {code, message, sid,
status}, payload: {choices: {status, seq, text: [{content, role, index}]}}}`` — ``status`` 0 first, 1 between,
2 last — then closes the connection. The last frame carries ``payload.usage.text``. A refused frame gets one
frame with a non-zero ``header.code`` (as Spark does) and the connection closes.

Answers are deterministic ("words" = ``len(text.split())``):

* text: ``reply_text``'s or ``"echo: <last user text>"``, cut to ``max_tokens`` words, in ``pieces`` frames;
* with functions and a user message last: one ``function_call`` of the first function whose arguments fill
  every property of its schema (strings get the user text, integers 1, numbers 1.5, booleans true, enums
  their first value), in a single last frame with empty content;
* usage: ``prompt_tokens`` = words of every message, ``question_tokens`` = words of the last message,
  ``completion_tokens`` = words of the answer (of the arguments for a function call), ``total_tokens`` = sum.

Scripting (consumed in order by the next signed handshake): ``fail_next(code, message)`` answers with a
``header.code`` error frame; ``hang_handshake()`` never answers the upgrade; ``stall_after(n)`` sends ``n``
frames then stays silent with the connection open; ``drop_after(n)`` sends ``n`` frames then closes without the
last one. Every connection is recorded in ``dialogues`` (path, query, Host header, decoded authorization fields,
the request frame, the refusal status).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import hashlib
import hmac
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.openai_upstream import count_words, split_text

MAX_SKEW = 300.0  # seconds between the signed date and the server's clock that iFlytek tolerates
PATH_DOMAINS: dict[str, tuple[str, ...]] = {
    "/v1.1/chat": ("lite", "general"), "/v2.1/chat": ("generalv2",), "/v3.1/chat": ("generalv3",),
    "/v3.5/chat": ("generalv3.5",), "/v4.0/chat": ("4.0Ultra",), "/chat/pro-128k": ("pro-128k",),
    "/chat/max-32k": ("max-32k",)}
NO_SYSTEM_DOMAINS = frozenset({"lite", "general", "generalv2"})
FUNCTION_DOMAINS = frozenset({"generalv3", "generalv3.5", "4.0Ultra"})
ROLES = ("system", "user", "assistant")

BAD_SIGNATURE = "HMAC signature does not match"
BAD_DATE = "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication"
MISSING_AUTH = "HMAC signature cannot be verified: the authorization, date and host query parameters are required"
MALFORMED_AUTH = "HMAC signature cannot be verified: malformed authorization"
UNKNOWN_KEY = "HMAC signature cannot be verified: unknown api_key"
NO_LICENSE = "AppIdNoAuthError:(11200)auth no license"

_FIELD = re.compile(r'([A-Za-z_]+(?: [A-Za-z_]+)?)="([^"]*)"')


def sign(api_secret: str, host: str, date: str, path: str) -> str:
    """iFlytek's signature: base64 of HMAC-SHA256(APISecret, "host: …\\ndate: …\\nGET <path> HTTP/1.1")."""
    origin = f"host: {host}\ndate: {date}\nGET {path} HTTP/1.1"
    return base64.b64encode(hmac.new(api_secret.encode(), origin.encode(), hashlib.sha256).digest()).decode()


def parse_authorization(value: str) -> dict[str, str] | None:
    """The fields of a base64 authorization origin, or None when it is not one."""
    try:
        origin = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    fields = {name.removeprefix("hmac "): v for name, v in _FIELD.findall(origin)}
    return fields or None


def fill_arguments(parameters: Any, user_text: str) -> str:
    props = parameters.get("properties", {}) if isinstance(parameters, dict) else {}
    samples = {"string": user_text, "integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}
    args = {}
    for name, schema in props.items():
        schema = schema if isinstance(schema, dict) else {}
        args[name] = schema["enum"][0] if schema.get("enum") else samples.get(schema.get("type", "string"))
    return json.dumps(args, ensure_ascii=False)


@dataclass
class Dialogue:
    """One connection as the fake saw it."""

    path: str
    query: dict[str, str]
    host: str
    auth: dict[str, str] = field(default_factory=dict)
    frame: dict[str, Any] | None = None
    refused: int | None = None  # the HTTP status of a refused handshake


@dataclass(frozen=True)
class _Script:
    kind: str  # "fail", "hang", "stall", "drop"
    code: int = 0
    message: str = ""
    frames: int = 0


class FrameError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FakeSpark:
    """iFlytek Spark's websocket chat API for one app (see the module docstring)."""

    pieces: int = 3            # frames of a text answer
    frame_delay: float = 0.0   # seconds between frames

    def __init__(self, *, app_id: str = "spark-app", api_secret: str = "spark-secret", api_key: str = "spark-key",
                 clock_offset: float = 0.0) -> None:
        self.app_id = app_id
        self.api_secret = api_secret
        self.api_key = api_key
        self.clock_offset = clock_offset
        self.dialogues: list[Dialogue] = []
        self._script: deque[_Script] = deque()
        self._replies: deque[str] = deque()
        self._sids = itertools.count(1)
        self.app = web.Application()
        for path in PATH_DOMAINS:
            self.app.router.add_get(path, self._handle)

    @property
    def channel_key(self) -> str:
        """The key a oneapi channel needs: ``APPID|APISecret|APIKey``."""
        return f"{self.app_id}|{self.api_secret}|{self.api_key}"

    @property
    def frames(self) -> list[dict[str, Any]]:
        """The request frames received, in order."""
        return [d.frame for d in self.dialogues if d.frame is not None]

    # -- scripting
    def fail_next(self, code: int, message: str, times: int = 1) -> None:
        self._script.extend(_Script("fail", code, message) for _ in range(times))

    def hang_handshake(self, times: int = 1) -> None:
        self._script.extend(_Script("hang") for _ in range(times))

    def stall_after(self, frames: int, times: int = 1) -> None:
        self._script.extend(_Script("stall", frames=frames) for _ in range(times))

    def drop_after(self, frames: int, times: int = 1) -> None:
        self._script.extend(_Script("drop", frames=frames) for _ in range(times))

    def reply_text(self, text: str) -> None:
        self._replies.append(text)

    # -- handshake
    def _verify(self, request: web.Request, dialogue: Dialogue) -> tuple[int, str] | None:
        query = request.query
        if not all(query.get(k) for k in ("authorization", "date", "host")):
            return 401, MISSING_AUTH
        auth = parse_authorization(query["authorization"])
        if auth is None:
            return 401, MALFORMED_AUTH
        dialogue.auth = auth
        if auth.get("algorithm") != "hmac-sha256" or auth.get("headers") != "host date request-line" \
                or "signature" not in auth:
            return 401, MALFORMED_AUTH
        key = auth.get("api_key") or auth.get("username")
        if key != self.api_key:
            return 401, UNKNOWN_KEY
        try:
            signed_at = email.utils.parsedate_to_datetime(query["date"]).timestamp()
        except (TypeError, ValueError):
            return 403, BAD_DATE
        if abs(time.time() + self.clock_offset - signed_at) > MAX_SKEW:
            return 403, BAD_DATE
        expected = sign(self.api_secret, request.headers.get("Host", ""), query["date"], request.path)
        if not hmac.compare_digest(expected, auth["signature"]):
            return 401, BAD_SIGNATURE
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        dialogue = Dialogue(request.path, dict(request.query), request.headers.get("Host", ""))
        self.dialogues.append(dialogue)
        refusal = self._verify(request, dialogue)
        if refusal is not None:
            dialogue.refused = refusal[0]
            return web.json_response({"message": refusal[1]}, status=refusal[0])
        script = self._script.popleft() if self._script else None
        if script is not None and script.kind == "hang":
            await asyncio.sleep(3600)  # cancelled when the client gives up
        ws = web.WebSocketResponse()
        if not ws.can_prepare(request).ok:
            return web.json_response({"message": "a websocket upgrade is required"}, status=400)
        await ws.prepare(request)
        sid = f"cht000{next(self._sids):06d}@dx-fake"
        message = await ws.receive(timeout=60)  # Spark closes a connection that sends nothing for 60 s
        if message.type != WSMsgType.TEXT:
            await ws.close()
            return ws
        try:
            frames = self._answer(request.path, message.data, dialogue, script)
        except FrameError as exc:
            await ws.send_str(json.dumps({"header": {"code": exc.code, "message": exc.message, "sid": sid,
                                                     "status": 2}}, ensure_ascii=False))
            await ws.close()
            return ws
        for i, frame in enumerate(frames):
            if script is not None and script.kind in ("stall", "drop") and i == script.frames:
                if script.kind == "stall":
                    async for _ in ws:  # silent until the client closes
                        pass
                await ws.close()
                return ws
            if i and self.frame_delay:
                await asyncio.sleep(self.frame_delay)
            frame["header"]["sid"] = sid
            await ws.send_str(json.dumps(frame, ensure_ascii=False))
        await ws.close()
        return ws

    # -- the request frame and the answer
    def _answer(self, path: str, data: str, dialogue: Dialogue, script: _Script | None) -> list[dict[str, Any]]:
        try:
            frame = json.loads(data)
        except ValueError:
            raise FrameError(10003, "invalid message: the request frame is not JSON") from None
        if not isinstance(frame, dict):
            raise FrameError(10003, "invalid message: the request frame must be a JSON object")
        dialogue.frame = frame
        messages, functions, max_tokens = self._check(path, frame)
        if script is not None and script.kind == "fail":
            raise FrameError(script.code, script.message)
        return self._frames(messages, functions, max_tokens)

    def _check(self, path: str, frame: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, Any]],
                                                                 int | None]:
        header, parameter, payload = (frame.get(k) if isinstance(frame.get(k), dict) else None
                                      for k in ("header", "parameter", "payload"))
        if header is None or parameter is None or payload is None:
            raise FrameError(10004, "schema error: header, parameter and payload are required")
        if header.get("app_id") != self.app_id:
            raise FrameError(11200, NO_LICENSE)
        uid = header.get("uid")
        if uid is not None and (not isinstance(uid, str) or len(uid) > 32):
            raise FrameError(10005, "header.uid must be a string of at most 32 characters")
        chat = parameter.get("chat")
        if not isinstance(chat, dict):
            raise FrameError(10004, "schema error: parameter.chat is required")
        domain = chat.get("domain")
        if domain not in PATH_DOMAINS[path]:
            raise FrameError(10005, f"domain {domain!r} is not served at {path}")
        temperature, top_k, max_tokens = chat.get("temperature"), chat.get("top_k"), chat.get("max_tokens")
        if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, int | float)
                                        or not 0 <= temperature <= 2):
            raise FrameError(10005, "parameter.chat.temperature must be a number in [0, 2]")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 6):
            raise FrameError(10005, "parameter.chat.top_k must be an integer in [1, 6]")
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                       or not 1 <= max_tokens <= 32768):
            raise FrameError(10005, "parameter.chat.max_tokens must be an integer in [1, 32768]")
        message = payload.get("message")
        text = message.get("text") if isinstance(message, dict) else None
        if not isinstance(text, list) or not text:
            raise FrameError(10004, "schema error: payload.message.text must be a non-empty array")
        for i, item in enumerate(text):
            if not isinstance(item, dict) or item.get("role") not in ROLES:
                raise FrameError(10005, f"payload.message.text[{i}].role must be one of {', '.join(ROLES)}")
            if not isinstance(item.get("content"), str) or not item["content"]:
                raise FrameError(10005, f"payload.message.text[{i}].content must be non-empty text")
            if item["role"] == "system" and (i or domain in NO_SYSTEM_DOMAINS):
                raise FrameError(10005, f"payload.message.text[{i}]: a system message must come first, on a v3+ "
                                        "domain")
        functions: list[dict[str, Any]] = []
        if "functions" in payload:
            if domain not in FUNCTION_DOMAINS:
                raise FrameError(10005, f"functions are not supported on domain {domain}")
            declared = payload["functions"].get("text") if isinstance(payload["functions"], dict) else None
            if not isinstance(declared, list) or not declared:
                raise FrameError(10004, "schema error: payload.functions.text must be a non-empty array")
            for i, fn in enumerate(declared):
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
                    raise FrameError(10005, f"payload.functions.text[{i}].name is required")
            functions = declared
        return text, functions, max_tokens

    def _frames(self, messages: list[dict[str, str]], functions: list[dict[str, Any]],
                max_tokens: int | None) -> list[dict[str, Any]]:
        last = messages[-1]
        prompt = sum(count_words(m["content"]) for m in messages)
        question = count_words(last["content"])
        if functions and last["role"] == "user":
            fn = functions[0]
            arguments = fill_arguments(fn.get("parameters"), last["content"])
            item = {"content": "", "role": "assistant", "index": 0, "content_type": "text",
                    "function_call": {"arguments": arguments, "name": fn["name"]}}
            frame = self._frame(2, 0, [item])
            frame["payload"]["usage"] = self._usage(question, prompt, count_words(arguments))
            return [frame]
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        answer = self._replies.popleft() if self._replies else f"echo: {last_user}"
        words = answer.split()
        if max_tokens is not None and len(words) > max_tokens:
            answer = " ".join(words[:max_tokens])
        pieces = split_text(answer, self.pieces) or [""]
        frames = []
        for seq, piece in enumerate(pieces):
            status = 2 if seq == len(pieces) - 1 else (0 if seq == 0 else 1)
            frames.append(self._frame(status, seq, [{"content": piece, "role": "assistant", "index": 0}]))
        frames[-1]["payload"]["usage"] = self._usage(question, prompt, count_words(answer))
        return frames

    @staticmethod
    def _frame(status: int, seq: int, text: list[dict[str, Any]]) -> dict[str, Any]:
        return {"header": {"code": 0, "message": "Success", "sid": "", "status": status},
                "payload": {"choices": {"status": status, "seq": seq, "text": text}}}

    @staticmethod
    def _usage(question: int, prompt: int, completion: int) -> dict[str, Any]:
        return {"text": {"question_tokens": question, "prompt_tokens": prompt, "completion_tokens": completion,
                         "total_tokens": prompt + completion}}


async def start_spark(fake: FakeSpark) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its ``ws://`` base URL and the stop coroutine function.

    Handlers are cancelled when their client disconnects, so a handshake the client gave up on ends at once.
    """
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return f"ws://127.0.0.1:{port}", runner.cleanup
