"""A fake Tencent Hunyuan upstream: Tencent Cloud API 3.0 (``POST /``, version 2023-09-01) with TC3-HMAC-SHA256.

Every call is checked the way Tencent Cloud checks it, and refused with Tencent's codes in an HTTP 200
``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`` body (``Content-Type: application/json`` exactly,
which the official SDK requires to notice errors):

* ``Content-Type`` must be exactly ``application/json`` (``InvalidParameter`` otherwise); ``X-TC-Action`` one of
  ``ChatCompletions`` / ``GetEmbedding`` (``InvalidAction``); ``X-TC-Version`` ``2023-09-01`` (``NoSuchVersion``).
* ``Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<date>/hunyuan/tc3_request, SignedHeaders=...,
  Signature=...``: malformed → ``AuthFailure.InvalidAuthorization``; unknown SecretId →
  ``AuthFailure.SecretIdNotFound``; ``X-TC-Timestamp`` more than ``max_skew`` (300) seconds from the fake's
  ``clock`` → ``AuthFailure.SignatureExpire``; a scope date that is not the timestamp's UTC date, a service other
  than ``hunyuan``, signed headers without ``content-type`` and ``host``, or a signature that differs from the one
  recomputed over the received headers (values lower-cased, the Host header as received) and body →
  ``AuthFailure.SignatureFailure``.
* Bodies may carry only the fields the API documents (those of the official SDK's request models): anything else
  is ``UnknownParameter`` — as the real API answers raw OpenAI keys such as ``max_tokens``. ``Messages`` must be
  ``[system?] user assistant user ...`` (tool turns count as user turns) with non-empty content, ``Model`` one of
  :data:`MODELS` (``InvalidParameterValue.Model``), ``Temperature`` in [0, 2] and ``TopP`` in [0, 1].

Deterministic answers ("words" = whitespace-separated words): the reply is ``reply_text`` or
``"echo: <last user text>"``; ``PromptTokens`` = words of every message's text; ``CompletionTokens`` = words of the
reply. Streams are ``data: {Choices: [{Delta, FinishReason}], Usage, Id, Created, Note}`` events, not wrapped in
``Response``, with a growing Usage and ``FinishReason: "stop"`` on the last one. GetEmbedding takes ``Input`` or
``InputList`` and answers :func:`tests.fakes.openai_upstream.embedding_vector` vectors. ``fail_next(code, msg)``
answers the next authenticated call with that error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import Recorded, count_words, embedding_vector, split_text

APP_ID, SECRET_ID, SECRET_KEY = "1300000000", "AKIDfakeTencentSecretId0123456789", "fakeTencentSecretKey0123456789ab"
VERSION = "2023-09-01"
NOTE = "以上内容为AI生成，不代表开发者立场，请勿删除或修改本标记"
MODELS = frozenset({"hunyuan-lite", "hunyuan-standard", "hunyuan-standard-256K", "hunyuan-pro", "hunyuan-turbo",
                    "hunyuan-vision", "hunyuan-large", "hunyuan-role", "hunyuan-code", "hunyuan-functioncall"})
# The documented request fields (tencentcloud-sdk-python-hunyuan's ChatCompletionsRequest / Message / Content).
CHAT_FIELDS = frozenset({
    "Model", "Messages", "Stream", "StreamModeration", "TopP", "Temperature", "EnableEnhancement", "Tools",
    "ToolChoice", "CustomTool", "SearchInfo", "Citation", "EnableSpeedSearch", "EnableMultimedia",
    "EnableDeepSearch", "Seed", "ForceSearchEnhancement", "Stop", "EnableRecommendedQuestions", "EnableDeepRead",
    "WebSearchOptions", "TopicChoice", "EnableThinking"})
MESSAGE_FIELDS = frozenset({"Role", "Content", "Contents", "ToolCallId", "ToolCalls", "FileIDs", "ReasoningContent"})
CONTENT_FIELDS = frozenset({"Type", "Text", "ImageUrl", "VideoUrl", "VideoFrames"})
EMBEDDING_FIELDS = frozenset({"Input", "InputList"})
_AUTHORIZATION = re.compile(r"^TC3-HMAC-SHA256 Credential=([^/\s]+)/(\d{4}-\d{2}-\d{2})/([^/\s]+)/tc3_request, "
                            r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")
BAD_SIGNATURE = "The provided credentials could not be validated. Please check your signature is correct."


class TencentError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def json_answer(response: dict[str, Any]) -> web.Response:
    """``{"Response": ...}`` with ``Content-Type: application/json`` exactly (no charset)."""
    return web.Response(body=json.dumps({"Response": response}, ensure_ascii=False).encode(),
                        content_type="application/json")


def tc3_signature(secret_key: str, date: str, service: str, string_to_sign: str) -> str:
    def mac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    signing = mac(mac(mac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(signing, string_to_sign.encode(), hashlib.sha256).hexdigest()


def message_text(message: dict[str, Any]) -> str:
    if isinstance(message.get("Content"), str):
        return str(message["Content"])
    return " ".join(str(p.get("Text") or "") for p in message.get("Contents") or []
                    if isinstance(p, dict) and p.get("Type") == "text")


def _parameter_value(name: str) -> TencentError:
    return TencentError("InvalidParameterValue.ParameterValueError", f"The value of parameter `{name}` is invalid.")


def _check_content(message: dict[str, Any], index: int) -> None:
    contents = message.get("Contents")
    if contents is not None:
        if not isinstance(contents, list) or not contents:
            raise TencentError("InvalidParameter", f"Messages[{index}].Contents must be a non-empty list")
        for part in contents:
            if not isinstance(part, dict) or set(part) - CONTENT_FIELDS:
                extra = sorted(set(part) - CONTENT_FIELDS) if isinstance(part, dict) else ["?"]
                raise TencentError("UnknownParameter", f"The parameter `Contents.{extra[0]}` is not recognized.")
            if part.get("Type") not in ("text", "image_url") or \
                    (part["Type"] == "text" and not isinstance(part.get("Text"), str)) or \
                    (part["Type"] == "image_url" and not isinstance((part.get("ImageUrl") or {}).get("Url"), str)):
                raise TencentError("InvalidParameter", f"Messages[{index}].Contents has an invalid part")
    elif not isinstance(message.get("Content"), str) or not message["Content"].strip():
        raise TencentError("InvalidParameter", f"Messages[{index}].Content can not be empty")


def validate_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise TencentError("MissingParameter", "The request is missing a required parameter `Messages`.")
    expect_user = True
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise TencentError("InvalidParameter", f"Messages[{i}] must be an object")
        unknown = sorted(set(message) - MESSAGE_FIELDS)
        if unknown:
            raise TencentError("UnknownParameter", f"The parameter `Messages.{unknown[0]}` is not recognized.")
        role = message.get("Role")
        if role == "system" and i == 0:
            _check_content(message, i)
            continue
        if role == "tool" and not expect_user and messages[i - 1].get("Role") == "tool":
            continue  # several tool results in a row
        wanted = ("user", "tool") if expect_user else ("assistant",)
        if role not in wanted:
            rule = "system 角色必须位于列表的最开始，user（tool）和 assistant 需交替出现"
            raise TencentError("InvalidParameter", f"Messages[{i}].Role 应为 {' 或 '.join(wanted)}：{rule}")
        _check_content(message, i)
        expect_user = not expect_user
    if expect_user:
        raise TencentError("InvalidParameter", "Messages 必须以 user（tool）提问结束")


def validate_chat(body: dict[str, Any]) -> None:
    unknown = sorted(set(body) - CHAT_FIELDS)
    if unknown:
        raise TencentError("UnknownParameter", f"The parameter `{unknown[0]}` is not recognized.")
    if not isinstance(body.get("Model"), str):
        raise TencentError("MissingParameter", "The request is missing a required parameter `Model`.")
    if body["Model"] not in MODELS:
        raise TencentError("InvalidParameterValue.Model", f"模型不存在: {body['Model']}")
    validate_messages(body.get("Messages"))
    for name, high in (("Temperature", 2.0), ("TopP", 1.0)):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not 0 <= value <= high):
            raise _parameter_value(name)
    if "Stream" in body and not isinstance(body["Stream"], bool):
        raise _parameter_value("Stream")
    stop = body.get("Stop")
    if stop is not None and (not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)):
        raise _parameter_value("Stop")
    seed = body.get("Seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 1 <= seed <= 10000):
        raise _parameter_value("Seed")


class FakeTencent:
    stream_chunks: int = 3
    max_skew: int = 300

    def __init__(self, secrets: dict[str, str] | None = None) -> None:
        self.secrets = dict(secrets) if secrets is not None else {SECRET_ID: SECRET_KEY}
        self.clock: Callable[[], float] = time.time
        self.requests: list[Recorded] = []
        self._failures: deque[tuple[str, str]] = deque()
        self._replies: deque[str] = deque()
        self.app = web.Application()
        self.app.router.add_post("/", self._handle)

    # -- scripting
    def fail_next(self, code: str, message: str, times: int = 1) -> None:
        self._failures.extend([(code, message)] * times)

    def reply_text(self, text: str) -> None:
        self._replies.append(text)

    # -- checks
    def verify(self, request: web.Request, body: bytes) -> str:
        """Check the API 3.0 headers and the TC3 signature; return the action."""
        if request.headers.get("Content-Type") != "application/json":
            raise TencentError("InvalidParameter", "Content-Type must be application/json")
        action = request.headers.get("X-TC-Action", "")
        if action not in ("ChatCompletions", "GetEmbedding"):
            raise TencentError("InvalidAction", f"The requested action `{action}` is not found.")
        if request.headers.get("X-TC-Version") != VERSION:
            raise TencentError("NoSuchVersion", "The requested version is not supported.")
        found = _AUTHORIZATION.match(request.headers.get("Authorization", ""))
        if found is None:
            raise TencentError("AuthFailure.InvalidAuthorization", "The Authorization header is malformed.")
        secret_id, date, service, signed, sig = found.groups()
        if secret_id not in self.secrets:
            raise TencentError("AuthFailure.SecretIdNotFound",
                               "The SecretId is not found, please ensure that your SecretId is correct.")
        try:
            timestamp = int(request.headers.get("X-TC-Timestamp", ""))
        except ValueError:
            raise TencentError("AuthFailure.SignatureFailure", "X-TC-Timestamp is missing or invalid.") from None
        now = int(self.clock())
        if abs(now - timestamp) > self.max_skew:
            raise TencentError("AuthFailure.SignatureExpire", f"Signature expired. Timestamp: {timestamp}, "
                                                              f"current server time: {now}.")
        names = signed.split(";")
        if date != time.strftime("%Y-%m-%d", time.gmtime(timestamp)) or service != "hunyuan" or \
                not {"content-type", "host"} <= set(names) or any(n not in request.headers for n in names):
            raise TencentError("AuthFailure.SignatureFailure", BAD_SIGNATURE)
        headers = "".join(f"{n}:{request.headers[n].strip().lower()}\n" for n in names)
        canonical = "\n".join((request.method, request.path, request.query_string, headers, signed,
                               hashlib.sha256(body).hexdigest()))
        to_sign = "\n".join(("TC3-HMAC-SHA256", str(timestamp), f"{date}/{service}/tc3_request",
                             hashlib.sha256(canonical.encode()).hexdigest()))
        if not hmac.compare_digest(sig, tc3_signature(self.secrets[secret_id], date, service, to_sign)):
            raise TencentError("AuthFailure.SignatureFailure", BAD_SIGNATURE)
        return action

    # -- handlers
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      {k.lower(): v for k, v in request.headers.items()}, raw))
        request_id = str(uuid.uuid4())
        try:
            action = self.verify(request, raw)
            if self._failures:
                raise TencentError(*self._failures.popleft())
            try:
                body = json.loads(raw)
            except ValueError:
                raise TencentError("InvalidParameter", "The request body is not valid JSON.") from None
            if not isinstance(body, dict):
                raise TencentError("InvalidParameter", "The request body must be a JSON object.")
            if action == "GetEmbedding":
                return self._embeddings(body, request_id)
            return await self._chat(request, body, request_id)
        except TencentError as exc:
            return json_answer({"Error": {"Code": exc.code, "Message": exc.message}, "RequestId": request_id})

    async def _chat(self, request: web.Request, body: dict[str, Any], request_id: str) -> web.StreamResponse:
        validate_chat(body)
        messages = body["Messages"]
        prompt = sum(count_words(message_text(m)) for m in messages)
        text = self._replies.popleft() if self._replies else "echo: " + message_text(messages[-1])
        created = int(time.time())
        if not body.get("Stream"):
            completion = count_words(text)
            return json_answer({"RequestId": request_id, "Note": NOTE, "Id": request_id, "Created": created,
                                "Choices": [{"Index": 0, "FinishReason": "stop",
                                             "Message": {"Role": "assistant", "Content": text}}],
                                "Usage": {"PromptTokens": prompt, "CompletionTokens": completion,
                                          "TotalTokens": prompt + completion}})
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        pieces = split_text(text, self.stream_chunks) or [""]
        sent = ""
        for i, piece in enumerate(pieces):
            sent += piece
            completion = count_words(sent)
            last = i == len(pieces) - 1
            event = {"Note": NOTE, "Id": request_id, "Created": created,
                     "Choices": [{"Index": 0, "FinishReason": "stop" if last else "",
                                  "Delta": {"Role": "assistant", "Content": piece}}],
                     "Usage": {"PromptTokens": prompt, "CompletionTokens": completion,
                               "TotalTokens": prompt + completion}}
            await out.write(b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\n\n")
        await out.write_eof()
        return out

    def _embeddings(self, body: dict[str, Any], request_id: str) -> web.Response:
        unknown = sorted(set(body) - EMBEDDING_FIELDS)
        if unknown:
            raise TencentError("UnknownParameter", f"The parameter `{unknown[0]}` is not recognized.")
        inputs = body.get("InputList") if "InputList" in body else [body.get("Input")]
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= 200 or \
                not all(isinstance(s, str) and s for s in inputs):
            raise TencentError("InvalidParameter", "Input or InputList (1 to 200 non-empty strings) is required.")
        tokens = sum(count_words(s) for s in inputs)
        return json_answer({"RequestId": request_id,
                            "Data": [{"Embedding": embedding_vector(s), "Index": i, "Object": "embedding"}
                                     for i, s in enumerate(inputs)],
                            "Usage": {"PromptTokens": tokens, "TotalTokens": tokens}})


async def start_tencent(fake: FakeTencent) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its base URL and the coroutine function that stops it."""
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner.cleanup
