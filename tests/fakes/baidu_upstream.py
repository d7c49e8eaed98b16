"""A fake Baidu Qianfan (ERNIE "wenxinworkshop" v1) upstream following Baidu's published wire format.

Endpoints:

* ``POST /oauth/2.0/token?grant_type=client_credentials&client_id=<ak>&client_secret=<sk>`` — checks the pair
  against ``clients`` (``{ak: sk}``) and issues an access token valid ``token_lifetime`` seconds
  (``{access_token, expires_in, ...}``). Refusals are Baidu's: 401 ``{"error": "invalid_client",
  "error_description": "unknown client id" | "Client authentication failed"}``; a wrong grant type is 400
  ``unsupported_grant_type``. ``token_delay`` stalls the answer (to make simultaneous exchanges overlap).
* ``POST /rpc/2.0/ai_custom/v1/wenxinworkshop/chat/<endpoint>?access_token=<token>`` and
  ``.../embeddings/<endpoint>`` — a missing or unknown token is answered, as Baidu does, with HTTP 200 and
  ``{"error_code": 110, "error_msg": "Access token invalid or no longer valid"}``; a token past its lifetime or
  invalidated by :meth:`FakeBaidu.expire_tokens` gets ``error_code`` 111 ``Access token expired``.

Requests are validated as Baidu documents them (and a little more strictly, to catch leaked OpenAI fields):
only known body fields (unknown ones get 336003), ``messages`` an odd-length list alternating user/assistant and
starting with user, non-empty string contents, ``temperature`` in (0, 1], ``top_p`` in [0, 1],
``penalty_score`` in [1, 2], ``max_output_tokens`` in [2, 2048], at most 4 ``stop`` strings. Errors are
``{"error_code", "error_msg", "id"}`` bodies with HTTP 200 (a stream request gets the same plain JSON body).

Deterministic answers ("words" = whitespace-separated words): the reply is ``reply_text`` or
``"echo: <last user text>"``; ``prompt_tokens`` = words of ``system`` + words of every message;
``completion_tokens`` = words of the reply (cut to ``max_output_tokens`` words, ``finish_reason: "length"``).
Streams are ``data: {..., sentence_id, is_end, result, usage}`` events whose usage grows chunk by chunk (the last
one carries the final count). Embeddings are :func:`tests.fakes.openai_upstream.embedding_vector` with
``prompt_tokens`` = words of the inputs. ``fail_next(code, msg)`` answers the next API calls with that error.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import Recorded, count_words, embedding_vector, json_response, split_text

AK, SK = "fake-baidu-api-key", "fake-baidu-secret-key"
PREFIX = "/rpc/2.0/ai_custom/v1/wenxinworkshop"
CHAT_ENDPOINTS = frozenset({
    "completions_pro", "completions", "eb-instant", "ernie_speed", "ernie-speed-128k", "ernie-3.5-8k-0205",
    "ernie-3.5-8k-1222", "ernie_bot_8k", "ernie-3.5-4k-0205", "ernie-lite-8k", "ernie-tiny-8k", "bloomz_7b1",
    "ernie-4.0-turbo-8k", "ernie-3.5-128k", "ernie-char-8k"})
EMBEDDING_ENDPOINTS = frozenset({"embedding-v1", "bge_large_zh", "bge_large_en", "tao_8k"})
CHAT_FIELDS = frozenset({
    "messages", "stream", "temperature", "top_p", "penalty_score", "functions", "system", "user_id", "user_setting",
    "stop", "disable_search", "enable_citation", "max_output_tokens", "response_format", "tool_choice",
    "enable_trace", "enable_system_memory", "system_memory_id", "extra_parameters"})  # the qianfan SDK adds the last
EMBEDDING_FIELDS = frozenset({"input", "user_id", "stream", "extra_parameters"})
TOKEN_INVALID = (110, "Access token invalid or no longer valid")
TOKEN_EXPIRED = (111, "Access token expired")


class BaiduError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _error_body(code: int, message: str) -> web.Response:
    return json_response({"error_code": code, "error_msg": message, "id": "as-" + secrets.token_hex(5)})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_range(body: dict[str, Any], name: str, low: float, high: float, *, open_low: bool = False) -> None:
    if name not in body:
        return
    value = body[name]
    if not _is_number(value) or value > high or value < low or (open_low and value == low):
        raise BaiduError(336003, f"{name} is out of range")


def validate_chat(body: Any) -> None:
    if not isinstance(body, dict):
        raise BaiduError(336002, "Invalid JSON")
    unknown = sorted(set(body) - CHAT_FIELDS)
    if unknown:
        raise BaiduError(336003, f"Invalid params: unknown field {unknown[0]}")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BaiduError(336003, "messages must not be empty")
    if len(messages) % 2 == 0:
        raise BaiduError(336006, "the length of messages must be an odd number")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) - {"role", "content", "name", "function_call"}:
            raise BaiduError(336003, "invalid message")
        expected = ("user", "function") if i % 2 == 0 else ("assistant",)
        if message.get("role") not in expected:
            parity = "odd" if i % 2 == 0 else "even"  # Baidu counts from 1
            raise BaiduError(336003, f"the role of message with {parity} index in the messages must be "
                                     f"{' or '.join(expected)}")
        if not isinstance(message.get("content"), str) or not message["content"].strip():
            raise BaiduError(336003, "message content can not be empty")
    if "system" in body and not isinstance(body["system"], str):
        raise BaiduError(336003, "system must be a string")
    _check_range(body, "temperature", 0, 1, open_low=True)
    _check_range(body, "top_p", 0, 1)
    _check_range(body, "penalty_score", 1, 2)
    _check_range(body, "max_output_tokens", 2, 2048)
    stop = body.get("stop")
    if stop is not None and (not isinstance(stop, list) or len(stop) > 4 or
                             not all(isinstance(s, str) for s in stop)):
        raise BaiduError(336003, "stop must be a list of at most 4 strings")
    for flag in ("stream", "disable_search", "enable_citation"):
        if flag in body and not isinstance(body[flag], bool):
            raise BaiduError(336003, f"{flag} must be a boolean")
    if "user_id" in body and not isinstance(body["user_id"], str):
        raise BaiduError(336003, "user_id must be a string")


def validate_embeddings(body: Any) -> list[str]:
    if not isinstance(body, dict):
        raise BaiduError(336002, "Invalid JSON")
    unknown = sorted(set(body) - EMBEDDING_FIELDS)
    if unknown:
        raise BaiduError(336003, f"Invalid params: unknown field {unknown[0]}")
    inputs = body.get("input")
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= 16 or \
            not all(isinstance(s, str) and s for s in inputs):
        raise BaiduError(336003, "input must be a list of 1 to 16 non-empty strings")
    return inputs


class FakeBaidu:
    stream_chunks: int = 3
    token_delay: float = 0.0

    def __init__(self, clients: dict[str, str] | None = None, token_lifetime: int = 2592000) -> None:
        self.clients = dict(clients) if clients is not None else {AK: SK}
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, float] = {}  # access token → expiry (time.time())
        self.token_requests: list[Recorded] = []
        self.requests: list[Recorded] = []  # chat and embeddings calls
        self.issued = 0
        self._failures: deque[tuple[int, str]] = deque()
        self._replies: deque[str] = deque()
        self.app = web.Application()
        self.app.router.add_post("/oauth/2.0/token", self._token)
        self.app.router.add_post(PREFIX + "/chat/{endpoint}", self._chat)
        self.app.router.add_post(PREFIX + "/embeddings/{endpoint}", self._embeddings)

    # -- scripting
    def fail_next(self, code: int, message: str, times: int = 1) -> None:
        self._failures.extend([(code, message)] * times)

    def reply_text(self, text: str) -> None:
        self._replies.append(text)

    def expire_tokens(self) -> None:
        """Every token issued so far is expired from now on (Baidu answers 111 to it)."""
        for token in self.tokens:
            self.tokens[token] = 0.0

    # -- handlers
    @staticmethod
    async def _recorded(request: web.Request) -> Recorded:
        return Recorded(request.method, request.path, dict(request.query),
                        {k.lower(): v for k, v in request.headers.items()}, await request.read())

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests.append(await self._recorded(request))
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        query = request.query
        if query.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type",
                                  "error_description": "The authorization grant type is not supported"}, 400)
        client_id = query.get("client_id", "")
        if client_id not in self.clients:
            return json_response({"error": "invalid_client", "error_description": "unknown client id"}, 401)
        if query.get("client_secret") != self.clients[client_id]:
            return json_response({"error": "invalid_client", "error_description": "Client authentication failed"},
                                 401)
        self.issued += 1
        now = int(time.time())
        token = f"24.{secrets.token_hex(16)}.{self.token_lifetime}.{now}.{self.issued}-{abs(hash(client_id)) % 10**8}"
        self.tokens[token] = time.time() + self.token_lifetime
        return json_response({"refresh_token": "25." + secrets.token_hex(16), "expires_in": self.token_lifetime,
                              "session_key": secrets.token_hex(16), "access_token": token,
                              "scope": "public brain_all_scope wenxinworkshop_mgr",
                              "session_secret": secrets.token_hex(16)})

    def _check_token(self, request: web.Request) -> None:
        token = request.query.get("access_token", "")
        if token not in self.tokens:
            raise BaiduError(*TOKEN_INVALID)
        if self.tokens[token] <= time.time():
            raise BaiduError(*TOKEN_EXPIRED)

    async def _api(self, request: web.Request,
                   answer: Callable[[web.Request, Any], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        recorded = await self._recorded(request)
        self.requests.append(recorded)
        try:
            self._check_token(request)
            if self._failures:
                raise BaiduError(*self._failures.popleft())
            try:
                body = json.loads(recorded.body)
            except ValueError:
                raise BaiduError(336002, "Invalid JSON") from None
            return await answer(request, body)
        except BaiduError as exc:
            return _error_body(exc.code, exc.message)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._api(request, self._answer_chat)

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        return await self._api(request, self._answer_embeddings)

    async def _answer_chat(self, request: web.Request, body: Any) -> web.StreamResponse:
        if request.match_info["endpoint"] not in CHAT_ENDPOINTS:
            raise BaiduError(3, "Unsupported openapi method")
        validate_chat(body)
        messages = body["messages"]
        prompt = count_words(body.get("system", "")) + sum(count_words(m["content"]) for m in messages)
        text = self._replies.popleft() if self._replies else "echo: " + messages[-1]["content"]
        finish = "normal"
        limit = body.get("max_output_tokens")
        if isinstance(limit, int) and count_words(text) > limit:
            text, finish = " ".join(text.split()[:limit]), "length"
        base = {"id": "as-" + uuid.uuid4().hex[:10], "object": "chat.completion", "created": int(time.time())}
        if not body.get("stream"):
            completion = count_words(text)
            return json_response({**base, "result": text, "is_truncated": finish == "length",
                                  "need_clear_history": False, "finish_reason": finish,
                                  "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                            "total_tokens": prompt + completion}})
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        pieces = split_text(text, self.stream_chunks) or [""]
        sent = ""
        for i, piece in enumerate(pieces):
            sent += piece
            last = i == len(pieces) - 1
            completion = count_words(sent)
            event = {**base, "sentence_id": i, "is_end": last, "is_truncated": last and finish == "length",
                     "result": piece, "need_clear_history": False, "finish_reason": finish if last else "",
                     "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                               "total_tokens": prompt + completion}}
            await out.write(b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\n\n")
        await out.write_eof()
        return out

    async def _answer_embeddings(self, request: web.Request, body: Any) -> web.StreamResponse:
        if request.match_info["endpoint"] not in EMBEDDING_ENDPOINTS:
            raise BaiduError(3, "Unsupported openapi method")
        inputs = validate_embeddings(body)
        tokens = sum(count_words(s) for s in inputs)
        return json_response({"id": "as-" + uuid.uuid4().hex[:10], "object": "embedding_list",
                              "created": int(time.time()),
                              "data": [{"object": "embedding", "embedding": embedding_vector(s), "index": i}
                                       for i, s in enumerate(inputs)],
                              "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


async def start_baidu(fake: FakeBaidu) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its base URL and the coroutine function that stops it."""
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner.cleanup
