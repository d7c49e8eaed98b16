"""A fake Zhipu BigModel upstream (``open.bigmodel.cn``) following Zhipu's published formats.

Auth, as documented: ``Authorization: Bearer <token>`` where the token is either the API key ``<id>.<secret>``
itself or an HS256 JWT — header ``{"alg":"HS256","sign_type":"SIGN"}`` (a ``typ`` is tolerated), payload
``{"api_key": <id>, "exp": <ms>, "timestamp": <ms>}`` — signed with the secret. The retired v3 endpoints also
take the bare token. Refusals are 401 ``{"error": {"code", "message"}}`` with Zhipu's codes and (Chinese)
messages: 1001 no header, 1002 malformed token, 1003 expired (``exp`` in ms before ``clock()``; a payload in
seconds is therefore expired), 1004 wrong signature, 1000 unknown key. ``keys`` maps id → secret;
``jwt_only=True`` refuses raw API keys (to prove a client signs).

Endpoints:

* ``POST /api/paas/v4/chat/completions`` — OpenAI-shaped; temperature and top_p must lie in the open interval
  (0, 1) (400, code 1214, otherwise); streams end with a chunk carrying ``finish_reason`` and ``usage``, then
  ``data: [DONE]``.
* ``POST /api/paas/v4/embeddings`` — ``input`` a string or up to 64 non-empty strings (token arrays refused);
  ``dimensions`` (embedding-3 only) gives the vector length, else 8.
* ``POST /api/paas/v3/model-api/{model}/invoke`` and ``/sse-invoke`` — ``{prompt: [{role: user|assistant,
  content}]}``; answers ``{code, msg, success, data}`` with the content as a JSON string literal; errors inside a
  200 (``success: false``). The stream sends ``event:add`` blocks whose ``data:`` lines are raw text (a text with
  newlines spans several data lines), then ``event:finish`` with a ``meta:`` JSON line carrying usage.
  ``incremental: false`` makes every block repeat the whole text so far.

Deterministic usage ("words" = whitespace-separated words): prompt_tokens = words of every message + 3 per
message; completion_tokens = words of the answer; embeddings prompt_tokens = total_tokens = words. The answer is
``reply_text``'s or ``"echo: <last user text>"``; with tools it is one call of the first tool whose string
properties get the user text. ``max_tokens`` cuts the answer to that many words (finish_reason ``length``).
Scripting: ``fail_next(status, code, message)`` answers the next API call with an error;
``stream_error_next(code, message)`` breaks the next v4 stream with ``data: {"error": ...}`` after one chunk.
Every request is recorded in ``requests`` (with ``auth_kind`` "jwt" / "api_key" / "bare") before checks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import chat_prompt_tokens, content_text, count_words, json_response, split_text

V4_MODELS = ("glm-4-plus", "glm-4-0520", "glm-4-airx", "glm-4-air", "glm-4-long", "glm-4-flashx", "glm-4-flash",
             "glm-4", "glm-3-turbo", "glm-4v", "glm-4v-plus", "glm-zero-preview", "charglm-4", "emohaa",
             "codegeex-4")
V3_MODELS = ("chatglm_turbo", "chatglm_pro", "chatglm_std", "chatglm_lite")
EMBEDDING_MODELS = ("embedding-2", "embedding-3")
EMBEDDING_DIMENSIONS = (256, 512, 1024, 2048)
MAX_EMBEDDING_INPUTS = 64
MESSAGES = {
    "1000": "身份验证失败。",
    "1001": "Header中未收到Authorization参数，无法进行身份验证。",
    "1002": "Authorization Token非法，请确认Authorization Token正确传递。",
    "1003": "Authorization Token已过期，请重新生成/获取。",
    "1004": "通过Authorization Token验证失败！",
    "1210": "API 调用参数有误，请检查文档。",
    "1211": "模型不存在，请检查模型代码。",
    "1214": "{field}参数非法。请检查文档。",
    "1301": "系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语，感谢您的配合。",
    "1302": "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。",
}


class ZhipuError(Exception):
    def __init__(self, status: int, code: str, message: str | None = None, **fmt: str) -> None:
        self.status = status
        self.code = code
        self.message = message or MESSAGES.get(code, "error").format(**fmt)
        super().__init__(self.message)


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def make_jwt(key: str, now_ms: int, ttl_ms: int = 3_600_000, *, header: dict[str, Any] | None = None) -> str:
    """A JWT as Zhipu documents it (for tests of the fake itself)."""
    key_id, secret = key.split(".", 1)

    def enc(obj: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    signing = f"{enc(header or {'alg': 'HS256', 'sign_type': 'SIGN'})}." \
              f"{enc({'api_key': key_id, 'exp': now_ms + ttl_ms, 'timestamp': now_ms})}"
    signature = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def vector(text: str, dimensions: int) -> list[float]:
    """The fake's deterministic embedding: SHA-256 bytes mapped to multiples of 1/256 (exact in float32)."""
    out: list[float] = []
    for counter in itertools.count():
        out += [(b - 128) / 256 for b in hashlib.sha256(f"{counter}:{text}".encode()).digest()]
        if len(out) >= dimensions:
            return out[:dimensions]
    raise AssertionError("unreachable")


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes
    auth_kind: str = ""
    jwt_payload: dict[str, Any] | None = None

    def json(self) -> Any:
        return json.loads(self.body)


class FakeZhipu:
    stream_pieces = 3

    def __init__(self, keys: dict[str, str] | None = None, *, jwt_only: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.keys = keys if keys is not None else {"zhipu-id": "zhipu-secret"}
        self.jwt_only = jwt_only
        self.clock = clock
        self.requests: list[Recorded] = []
        self._failures: deque[ZhipuError] = deque()
        self._stream_errors: deque[ZhipuError] = deque()
        self._replies: deque[str] = deque()
        self.app = web.Application()
        self.app.router.add_post("/api/paas/v4/chat/completions", self._guard(self._chat))
        self.app.router.add_post("/api/paas/v4/embeddings", self._guard(self._embeddings))
        self.app.router.add_post("/api/paas/v3/model-api/{model}/{action}", self._guard(self._v3))

    # -- scripting
    def fail_next(self, status: int, code: str, message: str | None = None) -> None:
        self._failures.append(ZhipuError(status, code, message))

    def stream_error_next(self, code: str = "1301", message: str | None = None) -> None:
        self._stream_errors.append(ZhipuError(400, code, message))

    def reply_text(self, text: str) -> None:
        self._replies.append(text)

    # -- auth
    def authenticate(self, header: str, *, bare_allowed: bool) -> tuple[str, dict[str, Any] | None]:
        """(kind, JWT payload) for a valid Authorization header; raises ZhipuError(401) otherwise."""
        if not header.strip():
            raise ZhipuError(401, "1001")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            token, kind = token.strip(), ""
        elif bare_allowed and not token:
            token, kind = scheme, "bare"
        else:
            raise ZhipuError(401, "1002")
        parts = token.split(".")
        if len(parts) == 2:
            if self.jwt_only or kind == "bare":
                raise ZhipuError(401, "1002")
            if self.keys.get(parts[0]) != parts[1]:
                raise ZhipuError(401, "1000")
            return "api_key", None
        if len(parts) != 3:
            raise ZhipuError(401, "1002")
        return kind or "jwt", self._verify_jwt(parts)

    def _verify_jwt(self, parts: list[str]) -> dict[str, Any]:
        try:
            header = json.loads(_b64decode(parts[0]))
            payload = json.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except (ValueError, binascii.Error):
            raise ZhipuError(401, "1002") from None
        if not (isinstance(header, dict) and header.get("alg") == "HS256" and header.get("sign_type") == "SIGN"
                and isinstance(payload, dict)):
            raise ZhipuError(401, "1002")
        secret = self.keys.get(str(payload.get("api_key")))
        if secret is None:
            raise ZhipuError(401, "1000")
        expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            raise ZhipuError(401, "1004")
        exp, stamp = payload.get("exp"), payload.get("timestamp")
        if not isinstance(exp, int) or not isinstance(stamp, int):
            raise ZhipuError(401, "1002")
        if exp <= int(self.clock() * 1000):
            raise ZhipuError(401, "1003")
        return payload

    # -- plumbing
    def _guard(self, handler: Callable[[web.Request, Recorded], Awaitable[web.StreamResponse]]
               ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            record = Recorded(request.path, {k.lower(): v for k, v in request.headers.items()}, await request.read())
            self.requests.append(record)
            v3 = request.path.startswith("/api/paas/v3/")
            try:
                record.auth_kind, record.jwt_payload = self.authenticate(request.headers.get("Authorization", ""),
                                                                         bare_allowed=v3)
                if self._failures:
                    raise self._failures.popleft()
                return await handler(request, record)
            except ZhipuError as exc:
                if v3 and exc.status in (200, 400, 401):
                    return json_response({"code": int(exc.code), "msg": exc.message, "success": False})
                return json_response({"error": {"code": exc.code, "message": exc.message}}, status=exc.status)
        return guarded

    def _answer(self, messages: list[dict[str, Any]], max_tokens: Any) -> tuple[str, str]:
        last_user = next((content_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        text = self._replies.popleft() if self._replies else f"echo: {last_user}"
        words = text.split()
        if isinstance(max_tokens, int) and len(words) > max_tokens:
            return " ".join(words[:max_tokens]), "length"
        return text, "stop"

    # -- v4 chat
    def _check_chat(self, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, dict):
            raise ZhipuError(400, "1210")
        if body.get("model") not in V4_MODELS:
            raise ZhipuError(400, "1211")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and m.get("role") in ("system", "user", "assistant", "tool") for m in messages):
            raise ZhipuError(400, "1214", field="messages")
        for name in ("temperature", "top_p"):
            value = body.get(name)
            if value is not None and (not isinstance(value, int | float) or not 0 < value < 1):
                raise ZhipuError(400, "1214", field=name)
        if "do_sample" in body and not isinstance(body["do_sample"], bool):
            raise ZhipuError(400, "1214", field="do_sample")
        if body.get("tools") is not None and not isinstance(body["tools"], list):
            raise ZhipuError(400, "1214", field="tools")
        return messages

    async def _chat(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        body = _json(record.body)
        messages = self._check_chat(body)
        prompt = chat_prompt_tokens(messages)
        response_id = uuid.uuid4().hex
        created = int(self.clock())
        if body.get("tools") and messages[-1].get("role") == "user":
            call = self._tool_call(body["tools"], content_text(messages[-1].get("content")))
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
            usage = _usage(prompt, count_words(call["function"]["arguments"]))
            if body.get("stream"):
                return await self._stream(request, body, response_id, created, [], usage, "tool_calls", [call])
            return json_response({"id": response_id, "request_id": response_id, "created": created,
                                  "model": body["model"], "choices": [{"index": 0, "finish_reason": "tool_calls",
                                                                       "message": message}], "usage": usage})
        text, finish = self._answer(messages, body.get("max_tokens"))
        usage = _usage(prompt, count_words(text))
        if body.get("stream"):
            return await self._stream(request, body, response_id, created, split_text(text, self.stream_pieces),
                                      usage, finish, [])
        return json_response({"id": response_id, "request_id": response_id, "created": created,
                              "model": body["model"],
                              "choices": [{"index": 0, "finish_reason": finish,
                                           "message": {"role": "assistant", "content": text}}],
                              "usage": usage})

    @staticmethod
    def _tool_call(tools: list[Any], user_text: str) -> dict[str, Any]:
        function = tools[0].get("function", {}) if isinstance(tools[0], dict) else {}
        props = (function.get("parameters") or {}).get("properties") or {}
        args = {name: user_text for name, schema in props.items() if (schema or {}).get("type", "string") == "string"}
        return {"id": f"call_{uuid.uuid4().hex[:20]}", "index": 0, "type": "function",
                "function": {"name": function.get("name", ""), "arguments": json.dumps(args, ensure_ascii=False)}}

    async def _stream(self, request: web.Request, body: dict[str, Any], response_id: str, created: int,
                      pieces: list[str], usage: dict[str, int], finish: str,
                      calls: list[dict[str, Any]]) -> web.StreamResponse:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream;charset=UTF-8"})
        await out.prepare(request)
        base = {"id": response_id, "created": created, "model": body["model"]}
        broken = self._stream_errors.popleft() if self._stream_errors else None
        for i, piece in enumerate(pieces):
            delta = {"role": "assistant", "content": piece}
            await out.write(_event({**base, "choices": [{"index": 0, "delta": delta}]}))
            if broken is not None and i == 0:
                await out.write(_event({"error": {"code": broken.code, "message": broken.message}}))
                await out.write_eof()
                return out
        final: dict[str, Any] = {"role": "assistant", "content": ""}
        if calls:
            final = {"role": "assistant", "tool_calls": calls}
        await out.write(_event({**base, "choices": [{"index": 0, "finish_reason": finish, "delta": final}],
                                "usage": usage}))
        await out.write(b"data: [DONE]\n\n")
        await out.write_eof()
        return out

    # -- v4 embeddings
    async def _embeddings(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        body = _json(record.body)
        if not isinstance(body, dict) or body.get("model") not in EMBEDDING_MODELS:
            raise ZhipuError(400, "1211")
        value = body.get("input")
        texts = [value] if isinstance(value, str) else value
        if not isinstance(texts, list) or not 0 < len(texts) <= MAX_EMBEDDING_INPUTS or not all(
                isinstance(t, str) and t for t in texts):
            raise ZhipuError(400, "1214", field="input")
        dimensions = body.get("dimensions")
        if dimensions is not None and (body["model"] != "embedding-3" or dimensions not in EMBEDDING_DIMENSIONS):
            raise ZhipuError(400, "1214", field="dimensions")
        words = sum(count_words(t) for t in texts)
        return json_response({"model": body["model"], "object": "list",
                              "data": [{"index": i, "object": "embedding", "embedding": vector(t, dimensions or 8)}
                                       for i, t in enumerate(texts)],
                              "usage": {"prompt_tokens": words, "completion_tokens": 0, "total_tokens": words}})

    # -- v3
    async def _v3(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        model, action = request.match_info["model"], request.match_info["action"]
        if action not in ("invoke", "sse-invoke"):
            raise web.HTTPNotFound()
        if model not in V3_MODELS:
            raise ZhipuError(200, "1211")
        body = _json(record.body)
        prompt = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(prompt, list) or not prompt or not all(
                isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)
                for m in prompt):
            raise ZhipuError(200, "1214", field="prompt")
        for name in ("temperature", "top_p"):
            value = body.get(name)
            if value is not None and (not isinstance(value, int | float) or not 0 < value < 1):
                raise ZhipuError(200, "1214", field=name)
        text, _ = self._answer(prompt, None)
        usage = _usage(chat_prompt_tokens(prompt), count_words(text))
        task_id = str(next(_TASK_IDS))
        if action == "invoke":
            return json_response({"code": 200, "msg": "操作成功", "success": True, "data": {
                "request_id": task_id, "task_id": task_id, "task_status": "SUCCESS",
                "choices": [{"role": "assistant", "content": json.dumps(text, ensure_ascii=False)}],
                "usage": usage}})
        return await self._v3_stream(request, text, usage, task_id, body.get("incremental", True) is not False)

    async def _v3_stream(self, request: web.Request, text: str, usage: dict[str, int], task_id: str,
                         incremental: bool) -> web.StreamResponse:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream;charset=UTF-8"})
        await out.prepare(request)
        sent = ""
        for piece in split_text(text, self.stream_pieces):
            sent += piece
            shown = piece if incremental else sent
            lines = "".join(f"data:{line}\n" for line in shown.split("\n"))
            await out.write(f"event:add\nid:{task_id}\n{lines}\n".encode())
        meta = {"task_status": "SUCCESS", "usage": usage, "task_id": task_id, "request_id": task_id}
        await out.write(f"event:finish\nid:{task_id}\ndata:\nmeta:{json.dumps(meta)}\n\n".encode())
        await out.write_eof()
        return out


_TASK_IDS = itertools.count(8_000_000_000)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise ZhipuError(400, "1210") from None


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _event(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


async def start_fake(fake: FakeZhipu) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its base URL and the stop coroutine function."""
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner.cleanup
