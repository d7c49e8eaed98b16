"""Tencent Hunyuan (channel type 23, SPEC 6.10): Tencent Cloud API 3.0, version 2023-09-01, signed TC3-HMAC-SHA256.

Protocol:

* The channel key is ``AppId|SecretId|SecretKey`` (API 3.0 needs only the SecretId and SecretKey; a two-part
  ``SecretId|SecretKey`` key is accepted too).
* Every call is ``POST {base}/`` with ``Content-Type: application/json`` (exactly), ``X-TC-Action``
  (``ChatCompletions`` or ``GetEmbedding``), ``X-TC-Version: 2023-09-01``, ``X-TC-Timestamp`` and an
  ``Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<date>/hunyuan/tc3_request, SignedHeaders=...,
  Signature=...`` header (see :func:`authorization`).
* Chat body ``{Model, Messages: [{Role, Content | Contents}], Stream, Temperature, TopP, Stop, Seed}``; the answer
  is ``{Response: {Id, Created, Choices: [{Message, FinishReason}], Usage, RequestId}}``; a stream is SSE
  ``data: {Choices: [{Delta, FinishReason}], Usage, ...}`` events that are **not** wrapped in ``Response``.
* Embeddings body ``{InputList: [...]}`` (GetEmbedding takes no model) → ``{Response: {Data: [{Embedding, Index}],
  Usage}}``.
* Errors arrive in 200 bodies as ``{Response: {Error: {Code, Message}, RequestId}}``.

Quirks of One API fixed here (SPEC 11):

* The signed ``host`` is the host we send to, taken from the channel's base URL (One API signed
  ``hunyuan.tencentcloudapi.com`` whatever the base URL, so proxies and regional endpoints failed); the Host
  header is set explicitly to the same value.
* The API refuses unknown parameters (``UnknownParameter``): only documented fields are sent, never raw OpenAI keys
  such as ``max_tokens`` (which Hunyuan has no equivalent for).
* Turns must alternate user/assistant after an optional leading system message: system messages are merged into
  one (the channel's system prompt replaces them), consecutive same-role turns are merged, ``tool`` results become
  user turns, empty turns are dropped, and a conversation that opens with the assistant gets a placeholder user
  turn. Images in user content are sent as ``Contents`` parts (hunyuan-vision).
* Usage comes from Hunyuan's ``Usage`` (in a stream: the last chunk that carries it), not from tiktoken.
* Answers name the model that was called (One API answered ``hunyuan`` / ``tencent-hunyuan``) and map
  ``FinishReason`` (``length``, ``sensitive`` → ``content_filter``) instead of only ``stop``.
* Errors keep Tencent's code with a meaningful HTTP status (AuthFailure 401, limits 429, parameters 400, ...) so
  retries and automatic disabling work.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from oneapi.proxy.adaptors.base import AdaptorBase, RelayRequest, TranslatingAdaptor, UpstreamCall, Usage
from oneapi.proxy.adaptors.client_request import embedding_texts, merged_turns, requested_encoding
from oneapi.proxy.adaptors.common import (
    chat_completion,
    compact_json,
    completion_id,
    embedding_list,
    openai_error,
    usage_with_total,
)
from oneapi.proxy.adaptors.openai import base_url
from oneapi.proxy.adaptors.streaming import TextTranslator
from oneapi.proxy.sse import parse_json
from oneapi.wire.channel import RouteChannel
from oneapi.wire.errors import UpstreamError, upstream_error

ERROR_TYPE = "tencent_error"
SERVICE = "hunyuan"
VERSION = "2023-09-01"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json"
SIGNED_HEADERS = "content-type;host;x-tc-action"
CHAT_ACTION, EMBEDDING_ACTION = "ChatCompletions", "GetEmbedding"
PLACEHOLDER_USER_TURN = "."
_DEFAULT_PORTS = {"http": 80, "https": 443}
_FINISH = {"stop": "stop", "length": "length", "sensitive": "content_filter", "tool_calls": "tool_calls"}


# -- keys and signatures -------------------------------------------------------------------------------------


def split_key(key: str) -> tuple[str, str]:
    """(SecretId, SecretKey) from ``AppId|SecretId|SecretKey`` (or ``SecretId|SecretKey``)."""
    parts = [p.strip() for p in key.strip().split("|")]
    if len(parts) == 3 and parts[1] and parts[2]:
        return parts[1], parts[2]
    if len(parts) == 2 and parts[0] and parts[1]:
        return parts[0], parts[1]
    raise openai_error(401, "the Tencent channel key must be \"AppId|SecretId|SecretKey\"", ERROR_TYPE,
                       "invalid_tencent_config")


def host_of(url: str) -> str:
    """The Host header a client sends for ``url``: host, plus the port unless it is the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        host += f":{port}"
    return host


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def utc_date(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp))


def signature(secret_key: str, date: str, string_to_sign: str, service: str = SERVICE) -> str:
    k_date = _hmac(("TC3" + secret_key).encode(), date)
    k_service = _hmac(k_date, service)
    k_signing = _hmac(k_service, "tc3_request")
    return hmac.new(k_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()


def canonical_request(headers: list[tuple[str, str]], body: bytes, method: str = "POST", path: str = "/",
                      query: str = "") -> str:
    """TC3's canonical request; ``headers`` are the signed (name, value) pairs, in order."""
    canonical_headers = "".join(f"{name.lower()}:{value.strip().lower()}\n" for name, value in headers)
    signed = ";".join(name.lower() for name, _ in headers)
    return "\n".join((method, path, query, canonical_headers, signed, hashlib.sha256(body).hexdigest()))


def string_to_sign(timestamp: int, scope: str, canonical: str) -> str:
    return "\n".join((ALGORITHM, str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()))


def authorization(secret_id: str, secret_key: str, host: str, action: str, body: bytes, timestamp: int) -> str:
    """The ``Authorization`` header for one call (signed headers: content-type, host, x-tc-action)."""
    date = utc_date(timestamp)
    scope = f"{date}/{SERVICE}/tc3_request"
    canonical = canonical_request([("content-type", CONTENT_TYPE), ("host", host), ("x-tc-action", action)], body)
    sig = signature(secret_key, date, string_to_sign(timestamp, scope, canonical))
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={sig}"


# -- errors --------------------------------------------------------------------------------------------------


def status_for(code: str) -> int:
    """Tencent Cloud error code → the HTTP status we report."""
    head = code.split(".", 1)[0]
    if head in ("AuthFailure", "UnauthorizedOperation"):
        return 401
    if head in ("RequestLimitExceeded", "LimitExceeded") or code == "FailedOperation.EngineServerLimitExceeded":
        return 429
    if head in ("ResourceInsufficient", "ResourceUnavailable") or code in (
            "FailedOperation.ServiceNotActivated", "FailedOperation.ServiceStop", "FailedOperation.ServiceStopArrears",
            "FailedOperation.FreeResourcePackExhausted", "FailedOperation.ResourcePackExhausted",
            "FailedOperation.UserUnAuthError", "FailedOperation.PartnerAccountUnSupport"):
        return 403
    if head in ("InvalidParameter", "InvalidParameterValue", "MissingParameter", "UnknownParameter",
                "UnsupportedOperation", "OperationDenied", "InvalidAction", "InvalidRequest", "NoSuchVersion",
                "RequestSizeLimitExceeded", "UnsupportedProtocol", "UnsupportedRegion", "NoSuchProduct"):
        return 400
    if head == "ResourceNotFound":
        return 404
    if head == "ServiceUnavailable":
        return 503
    return 500


def _error_of(obj: Any) -> UpstreamError | None:
    """The error in a ``{Response: {Error}}`` body (or a stream chunk's ``ErrorMsg``), else None."""
    if not isinstance(obj, dict):
        return None
    response = obj.get("Response")
    inner = response if isinstance(response, dict) else obj
    error = inner.get("Error")
    request_id = str(inner.get("RequestId") or "")
    if isinstance(error, dict) and error.get("Code"):
        code = str(error["Code"])
        return openai_error(status_for(code), str(error.get("Message") or code), ERROR_TYPE, code, request_id)
    runtime = inner.get("ErrorMsg")
    if isinstance(runtime, dict) and runtime.get("Code"):
        # Runtime failures (4000 internal error, 4001 model timeout) reported in an otherwise normal answer.
        return openai_error(500, str(runtime.get("Msg") or "Hunyuan failed"), ERROR_TYPE, runtime["Code"],
                            request_id)
    return None


# -- requests ------------------------------------------------------------------------------------------------


def _parts(content: Any) -> list[dict[str, Any]]:
    """OpenAI content → Hunyuan ``Contents`` parts (text and image_url)."""
    if isinstance(content, str):
        return [{"Type": "text", "Text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text" and part.get("text"):
            parts.append({"Type": "text", "Text": str(part["text"])})
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str) and url:
                parts.append({"Type": "image_url", "ImageUrl": {"Url": url}})
    return parts


def _message(role: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    if all(p["Type"] == "text" for p in parts):
        return {"Role": role, "Content": "\n".join(p["Text"] for p in parts)}
    return {"Role": role, "Contents": parts}


def convert_messages(messages: list[dict[str, Any]], system_prompt: str) -> list[dict[str, Any]]:
    """OpenAI messages → Hunyuan's ``[system?] user assistant user ...`` — see the module docstring."""
    systems: list[str] = []
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for message in messages:
        role = message.get("role")
        parts = _parts(message.get("content"))
        if role in ("system", "developer"):
            systems.extend(p["Text"] for p in parts if p["Type"] == "text")
            continue
        role = "assistant" if role == "assistant" else "user"
        if role == "assistant":
            parts = [p for p in parts if p["Type"] == "text"]
        if any(p["Type"] != "text" or p["Text"].strip() for p in parts):
            turns.append((role, parts))
    turns = merged_turns(turns)
    if turns and turns[0][0] == "assistant":
        turns.insert(0, ("user", [{"Type": "text", "Text": PLACEHOLDER_USER_TURN}]))
    out = [_message(role, parts) for role, parts in turns]
    system = system_prompt or "\n".join(systems)
    return ([{"Role": "system", "Content": system}] if system else []) + out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def chat_body(request: RelayRequest) -> dict[str, Any]:
    data = request.json or {}
    messages = data.get("messages")
    body: dict[str, Any] = {"Model": request.upstream_model,
                            "Messages": convert_messages(messages if isinstance(messages, list) else [],
                                                         request.system_prompt),
                            "Stream": request.stream}
    temperature = _number(data.get("temperature"))
    if temperature is not None:
        body["Temperature"] = min(2.0, max(0.0, temperature))
    top_p = _number(data.get("top_p"))
    if top_p is not None:
        body["TopP"] = min(1.0, max(0.0, top_p))
    stop = data.get("stop")
    if isinstance(stop, str) and stop:
        body["Stop"] = [stop]
    elif isinstance(stop, list) and stop:
        body["Stop"] = [str(s) for s in stop]
    seed = data.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool) and 1 <= seed <= 10000:  # Hunyuan's range
        body["Seed"] = seed
    return body


def embeddings_body(request: RelayRequest) -> dict[str, Any]:
    inputs = embedding_texts(request.json or {})
    if inputs is None:
        raise ValueError("Hunyuan embeddings take a string or a list of strings as input")
    return {"InputList": inputs}


# -- answers -------------------------------------------------------------------------------------------------


def usage_of(obj: dict[str, Any]) -> Usage | None:
    return usage_with_total(obj.get("Usage"), "PromptTokens", "CompletionTokens", "TotalTokens")


def _finish(reason: Any) -> str | None:
    if not reason:
        return None
    return _FINISH.get(str(reason), "stop")


def _created(obj: dict[str, Any]) -> int | None:
    created = obj.get("Created")
    return created if isinstance(created, int) and not isinstance(created, bool) else None


def _first_choice(obj: dict[str, Any]) -> dict[str, Any]:
    choices = obj.get("Choices")
    return choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}


class HunyuanStream(TextTranslator):
    """Hunyuan's SSE events (no ``Response`` wrapper) → OpenAI chunks; wrapped errors raise UpstreamError."""

    def __init__(self, request: RelayRequest) -> None:
        super().__init__(request.upstream_model)

    def _error_in(self, obj: dict[str, Any]) -> UpstreamError | None:
        return _error_of(obj)

    def _chunks(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        self._id = self._id or str(obj.get("Id") or completion_id())
        usage = usage_of(obj)
        if usage is not None:
            self.usage = usage
        choice = _first_choice(obj)
        delta_in = choice.get("Delta")
        text = delta_in.get("Content") if isinstance(delta_in, dict) else None
        return self._text_chunks(text, _finish(choice.get("FinishReason")), _created(obj))


# -- the adaptor ---------------------------------------------------------------------------------------------


class TencentAdaptor(AdaptorBase):
    name = "tencent"
    passthrough = False
    inline_images = False
    serves_images = True

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        if request.mode == "chat":
            action, body = CHAT_ACTION, chat_body(request)
        elif request.mode == "embeddings":
            action, body = EMBEDDING_ACTION, embeddings_body(request)
        else:
            raise ValueError(f"Tencent Hunyuan channels do not serve {request.mode}")
        secret_id, secret_key = split_key(channel.key)
        base = base_url(channel)
        host = host_of(base)
        payload = compact_json(body)
        timestamp = int(request.now)
        headers = {"Content-Type": CONTENT_TYPE, "Host": host, "X-TC-Action": action, "X-TC-Version": VERSION,
                   "X-TC-Timestamp": str(timestamp),
                   "Authorization": authorization(secret_id, secret_key, host, action, payload, timestamp)}
        if request.stream:
            headers["Accept"] = "text/event-stream"
        # API 3.0 lives at "/" (the canonical URI signed above).
        return UpstreamCall("POST", base + "/", headers, payload)

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        data = json.loads(body)
        error = _error_of(data)
        if error is not None:
            raise error
        if not isinstance(data, dict) or not isinstance(data.get("Response"), dict):
            raise ValueError("Hunyuan answered without a Response object")
        response: dict[str, Any] = data["Response"]
        usage = usage_of(response)
        if request.mode == "embeddings":
            items = sorted((d for d in response.get("Data") or [] if isinstance(d, dict)),
                           key=lambda d: int(d.get("Index") or 0))
            vectors = [[float(x) for x in d.get("Embedding") or []] for d in items]
            return embedding_list(vectors, request.upstream_model, usage, requested_encoding(request)), usage
        choice = _first_choice(response)
        message_in = choice.get("Message")
        content = message_in.get("Content") if isinstance(message_in, dict) else None
        message = {"role": "assistant", "content": content if isinstance(content, str) else ""}
        response_id = str(response.get("Id") or response.get("RequestId") or completion_id())
        answer = chat_completion(response_id, request.upstream_model, message,
                                 _finish(choice.get("FinishReason")) or "stop", usage, _created(response))
        return answer, usage

    def stream_translator(self, request: RelayRequest) -> HunyuanStream:
        return HunyuanStream(request)

    def error(self, status: int, body: bytes) -> Exception:
        error = _error_of(parse_json(body))
        if error is None:
            return upstream_error(status, body)
        if status >= 400:  # keep the provider's HTTP status
            return UpstreamError(status, error.error)
        return error


ADAPTOR = TencentAdaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets the protocol the relay relies on
    _CHECKED: TranslatingAdaptor = ADAPTOR
