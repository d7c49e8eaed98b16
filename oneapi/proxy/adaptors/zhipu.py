"""Zhipu ChatGLM / BigModel (channel type 16; SPEC 6.6, 11). Pure translation, no I/O.

Protocol
--------
* The channel key is ``<id>.<secret>``. Every call carries ``Authorization: Bearer <JWT>``: HS256 over
  header ``{"alg":"HS256","sign_type":"SIGN"}`` and payload ``{"api_key": <id>, "exp": <ms>, "timestamp":
  <ms>}`` — times in **milliseconds**, not RFC 7519 seconds — signed with the secret (built here with hmac).
* v4, every current model (``glm-*``, ``charglm-*``, ``emohaa``, ``codegeex-*``...): OpenAI's chat protocol at
  ``{base}/api/paas/v4/chat/completions``; answers and ``data:`` streams are OpenAI-shaped, the last stream
  chunk carrying ``usage``; an error inside a stream is ``data: {"error": {...}}``. Errors are
  ``{"error": {"code": "1002", "message": "..."}}`` with the HTTP status (1000-1004: 401 authentication).
* v3, the retired ``chatglm_*`` models: ``/api/paas/v3/model-api/{model}/invoke`` answers ``{code, msg,
  success, data: {task_id, choices: [{role, content}], usage}}`` (errors inside a 200 with
  ``success: false``); ``/sse-invoke`` streams events whose ``data:`` lines are raw text (several lines of one
  event joined by ``\\n``) and whose last ``meta:`` line is JSON with the usage.
* Embeddings: ``{base}/api/paas/v4/embeddings`` ``{model, input, dimensions?}`` answered OpenAI-style.

One API quirks fixed here
-------------------------
* Auth is ``Bearer <jwt>`` as the current reference documents (One API sent the bare token).
* One API minted a 24 h token and cached it for exactly 24 h, so a token could be sent at its last instant.
  Here a token belongs to a (key, hour) window: issued at the window start, valid for two hours, so every token
  sent has at least an hour left (clock skew, long streams). It is a pure function of (key, window), so a
  small ``lru_cache`` (bounded, 256 keys) makes it "cached per key, refreshed before expiry" without any state
  the relay has to manage, and golden tests stay deterministic (``RelayRequest.now`` is the clock).
* Only ``chatglm_*`` goes to v3; One API sent every model not starting ``glm-`` there, including v4-only
  models (``charglm-4``, ``emohaa``, ``codegeex-4``).
* temperature / top_p: One API clamped into [0, 1], but 0 and 1 are refused (both ranges are open). As the
  official SDK does: temperature <= 0 becomes ``do_sample: false`` (greedy, what temperature 0 means) with
  temperature 0.01; both are kept within [0.01, 0.99].
* v3 streams: One API sent ``incremental: false`` and so repeated the whole text in every chunk; we ask for
  increments. v3 content is a JSON string literal (quotes and ``\\n`` escapes): it is decoded, not trimmed.
  v3 knows only user/assistant turns: system text is folded into the next user turn.
* Embeddings: the current API takes a list (at most 64 inputs), not exactly one input.
* Answers report the model the client asked for (One API said ``chatglm``), and usage is always the
  provider's; ``data:`` image URLs lose their ``data:...;base64,`` prefix, as the official SDK strips it.
* Only documented fields are sent (no ``n``, ``stream_options``, ``logit_bias``...); ``tool_choice`` is ``auto``
  (the only value Zhipu knows; ``none`` withdraws the tools); ``finish_reason: sensitive`` becomes
  ``content_filter`` and ``network_error`` a retryable 500; ``max_tokens: 0`` is not sent.
* Errors inside a 200 (v3, streams) get an HTTP status from Zhipu's code table (1000-1004 → 401, rate limits
  → 429, parameters → 400). A provider error met after some chunks of one read is raised on the next read, so
  the text already answered is delivered first; an error before any chunk fails the stream as a whole.
* A base URL given with ``/api/paas/v4`` (common copy-paste) is trimmed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from oneapi.proxy.adaptors.base import AdaptorBase, RelayRequest, TranslatingAdaptor, UpstreamCall, Usage
from oneapi.proxy.adaptors.client_request import embedding_texts, message_text, requested_encoding
from oneapi.proxy.adaptors.common import (
    arguments_json,
    chunk,
    compact_json,
    completion_body,
    completion_id,
    counted_usage,
    embedding_list,
    json_object,
    openai_error,
    tool_call_id,
)
from oneapi.proxy.adaptors.openai import trimmed_base_url
from oneapi.proxy.adaptors.streaming import LineTranslator
from oneapi.proxy.sse import DONE, data_payload, parse_json
from oneapi.wire.channel import RouteChannel
from oneapi.wire.errors import RelayError, UpstreamError, upstream_error

V3_PREFIX = "chatglm_"
JWT_WINDOW_MS = 3_600_000             # one token per key per hour
JWT_LIFETIME_MS = 2 * JWT_WINDOW_MS   # ... valid for at least another hour whenever it is sent
MAX_EMBEDDING_INPUTS = 64
MIN_SAMPLING, MAX_SAMPLING = 0.01, 0.99
# Request fields the v4 API documents; anything else an OpenAI client sends (n, logit_bias, ...) is dropped.
V4_FIELDS = ("messages", "stream", "temperature", "top_p", "max_tokens", "stop", "tools", "tool_choice",
             "response_format", "do_sample", "seed", "request_id", "user_id", "thinking", "meta")
FINISH_REASONS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "sensitive": "content_filter"}
_BASE_SUFFIXES = ("/api/paas/v4", "/api/paas/v3", "/api/paas")


# -- auth ------------------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@lru_cache(maxsize=256)
def _signed_jwt(key_id: str, secret: str, window: int) -> str:
    issued = window * JWT_WINDOW_MS
    header = _b64url(compact_json({"alg": "HS256", "sign_type": "SIGN"}))
    payload = _b64url(compact_json({"api_key": key_id, "exp": issued + JWT_LIFETIME_MS, "timestamp": issued}))
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def jwt_token(key: str, now: float) -> str:
    """The JWT for ``key`` at ``now`` (seconds): the same token for a whole hour window."""
    key_id, _, secret = key.strip().partition(".")
    if not key_id or not secret:
        raise ValueError("a Zhipu channel key must look like <id>.<secret>")
    return _signed_jwt(key_id, secret, int(now * 1000) // JWT_WINDOW_MS)


# -- errors ----------------------------------------------------------------------------------------------


def zhipu_error(status: int, code: Any, message: str) -> UpstreamError:
    return openai_error(status, message, "zhipu_error", "" if code is None else str(code))


def status_for(code: Any) -> int:
    """An HTTP status for an error that arrived inside a 200 answer (Zhipu's published code table)."""
    try:
        number = int(code)
    except (TypeError, ValueError):
        return 500
    if 1000 <= number <= 1004 or number in (1110, 1111, 1112, 1121):
        return 401  # authentication failed / account inactive, missing or locked
    if number == 1113 or 1302 <= number <= 1309:
        return 429  # in arrears (Zhipu answers 429), concurrency / rate / daily limits
    if 1200 <= number < 1230 or 1260 <= number <= 1301:
        return 400  # bad parameters, unknown model, prompt too long, content blocked
    return 500


def _raise_if_error(data: dict[str, Any]) -> None:
    err = data.get("error")
    if isinstance(err, dict):
        raise zhipu_error(status_for(err.get("code")), err.get("code"), str(err.get("message") or "error"))


# -- requests --------------------------------------------------------------------------------------------


def is_v3(model: str) -> bool:
    return model.startswith(V3_PREFIX)


def with_system_prompt(messages: Any, prompt: str) -> list[dict[str, Any]]:
    """The client's messages with the channel's system prompt enforced (SPEC 1.4 step 3)."""
    out = [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
    if not prompt:
        return out
    if out and out[0].get("role") == "system":
        return [{**out[0], "content": prompt}, *out[1:]]
    return [{"role": "system", "content": prompt}, *out]


def clamp_sampling(body: dict[str, Any], *, greedy_flag: bool) -> None:
    """temperature and top_p into the open interval (0, 1) the API accepts (as the official SDK does)."""
    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        if temperature <= 0 and greedy_flag:
            body["do_sample"] = False
        body["temperature"] = min(max(float(temperature), MIN_SAMPLING), MAX_SAMPLING)
    top_p = body.get("top_p")
    if isinstance(top_p, int | float) and not isinstance(top_p, bool):
        body["top_p"] = min(max(float(top_p), MIN_SAMPLING), MAX_SAMPLING)


def _v4_part(part: Any) -> Any:
    if isinstance(part, dict) and part.get("type") == "image_url" and isinstance(part.get("image_url"), dict):
        url = part["image_url"].get("url")
        if isinstance(url, str) and url.startswith("data:image/") and "base64," in url:
            return {**part, "image_url": {**part["image_url"], "url": url.split("base64,", 1)[1]}}
    return part


def _v4_message(message: dict[str, Any]) -> dict[str, Any]:
    out = dict(message)
    if out.get("role") == "developer":
        out["role"] = "system"
    if isinstance(out.get("content"), list):
        out["content"] = [_v4_part(p) for p in out["content"]]
    return out


def v4_body(request: RelayRequest) -> dict[str, Any]:
    data = request.json or {}
    body: dict[str, Any] = {"model": request.upstream_model}
    body.update({k: data[k] for k in V4_FIELDS if data.get(k) is not None})
    body["messages"] = [_v4_message(m) for m in with_system_prompt(data.get("messages"), request.system_prompt)]
    if "max_tokens" not in body and isinstance(data.get("max_completion_tokens"), int):
        body["max_tokens"] = data["max_completion_tokens"]
    if body.get("max_tokens") == 0:
        body.pop("max_tokens")  # OpenAI's "no limit"; Zhipu wants a positive number
    user = data.get("user")
    if "user_id" not in body and isinstance(user, str) and 6 <= len(user) <= 128:
        body["user_id"] = user  # Zhipu's end-user id must be 6-128 characters
    choice = body.get("tool_choice")
    if choice == "none":  # Zhipu knows only "auto": not offering the tools is what "none" means
        body.pop("tools", None)
    if "tool_choice" in body:
        body["tool_choice"] = "auto"
    if not body.get("tools"):
        body.pop("tools", None)
        body.pop("tool_choice", None)
    clamp_sampling(body, greedy_flag=True)
    if request.stream:
        body["stream"] = True
    else:
        body.pop("stream", None)
    return body


def v3_prompt(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """v3 turns: user and assistant only; system text is folded into the next user turn."""
    prompt: list[dict[str, str]] = []
    pending: list[str] = []
    for message in messages:
        text = message_text(message.get("content"), "every")
        role = message.get("role")
        if role in ("system", "developer"):
            pending.append(text)
        elif role == "assistant":
            if pending:
                prompt.append({"role": "user", "content": "\n\n".join(pending)})
                pending = []
            prompt.append({"role": "assistant", "content": text})
        else:
            prompt.append({"role": "user", "content": "\n\n".join([*pending, text])})
            pending = []
    if pending:
        prompt.append({"role": "user", "content": "\n\n".join(pending)})
    return prompt


def v3_body(request: RelayRequest) -> dict[str, Any]:
    data = request.json or {}
    body: dict[str, Any] = {"prompt": v3_prompt(with_system_prompt(data.get("messages"), request.system_prompt))}
    for name in ("temperature", "top_p"):
        if data.get(name) is not None:
            body[name] = data[name]
    clamp_sampling(body, greedy_flag=False)
    if request.stream:
        body["incremental"] = True
    return body


def embedding_body(request: RelayRequest) -> dict[str, Any]:
    data = request.json or {}
    texts = embedding_texts(data, non_empty=True)
    if texts is None:
        raise RelayError("Zhipu embeddings take a non-empty string or list of strings (not token arrays)",
                         status=400, code="invalid_text_request")
    if len(texts) > MAX_EMBEDDING_INPUTS:
        raise RelayError(f"Zhipu embeddings take at most {MAX_EMBEDDING_INPUTS} inputs per request, not "
                         f"{len(texts)}", status=400, code="invalid_text_request")
    body: dict[str, Any] = {"model": request.upstream_model, "input": data.get("input")}
    if isinstance(data.get("dimensions"), int):
        body["dimensions"] = data["dimensions"]
    return body


# -- answers ---------------------------------------------------------------------------------------------


def usage_from(data: Any) -> Usage | None:
    return counted_usage(data, "prompt_tokens", "completion_tokens")


def tool_calls_from(calls: Any, *, with_index: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for position, call in enumerate(calls if isinstance(calls, list) else []):
        if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
            continue
        function = call["function"]
        item: dict[str, Any] = {"id": call.get("id") or tool_call_id(), "type": "function",
                                "function": {"name": function.get("name") or "",
                                             "arguments": arguments_json(function.get("arguments"))}}
        if with_index:
            item = {"index": call.get("index", position), **item}
        out.append(item)
    return out


def finish_reason(value: Any) -> str | None:
    if value in (None, "", "null"):
        return None
    if value == "network_error":
        raise zhipu_error(500, "network_error", "Zhipu's model failed while generating (network_error)")
    return FINISH_REASONS.get(str(value), str(value))


def _answer_message(message: Any) -> dict[str, Any]:
    message = message if isinstance(message, dict) else {}
    calls = tool_calls_from(message.get("tool_calls"), with_index=False)
    content = message.get("content")
    out: dict[str, Any] = {"role": "assistant",
                           "content": content if isinstance(content, str) else (None if calls else "")}
    if isinstance(message.get("reasoning_content"), str) and message["reasoning_content"]:
        out["reasoning_content"] = message["reasoning_content"]
    if calls:
        out["tool_calls"] = calls
    return out


def parse_v4(request: RelayRequest, data: dict[str, Any]) -> tuple[dict[str, Any], Usage | None]:
    _raise_if_error(data)
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise ValueError("the answer has no choices")
    usage = usage_from(data.get("usage"))
    answer = completion_body(str(data.get("id") or completion_id()), request.model,
                             [{"index": c.get("index", i), "message": _answer_message(c.get("message")),
                               "finish_reason": finish_reason(c.get("finish_reason"))}
                              for i, c in enumerate(choices) if isinstance(c, dict)],
                             usage, int(data.get("created") or request.now))
    return answer, usage


def v3_content(content: Any) -> str:
    """v3 content is a JSON string literal (``"\\" Hello\\\\n\\""``): decode it; trim quotes as a fallback."""
    if not isinstance(content, str):
        return ""
    if len(content) >= 2 and content[0] == content[-1] == '"':
        decoded = parse_json(content.encode())
        return decoded if isinstance(decoded, str) else content.strip('"')
    return content


def parse_v3(request: RelayRequest, data: dict[str, Any]) -> tuple[dict[str, Any], Usage | None]:
    if not data.get("success"):
        code = data.get("code")
        raise zhipu_error(status_for(code), code, str(data.get("msg") or "Zhipu refused the request"))
    inner: dict[str, Any] = data["data"] if isinstance(data.get("data"), dict) else {}
    choices = [c for c in inner.get("choices") or [] if isinstance(c, dict)]
    usage = usage_from(inner.get("usage"))
    answer = completion_body(str(inner.get("task_id") or completion_id()), request.model,
                             [{"index": i, "message": {"role": "assistant", "content": v3_content(c.get("content"))},
                               "finish_reason": "stop" if i == len(choices) - 1 else None}
                              for i, c in enumerate(choices)],
                             usage, int(request.now))
    return answer, usage


def parse_embeddings(request: RelayRequest, data: dict[str, Any]) -> tuple[dict[str, Any], Usage | None]:
    _raise_if_error(data)
    items = [d for d in data.get("data") or [] if isinstance(d, dict) and isinstance(d.get("embedding"), list)]
    items.sort(key=lambda d: d.get("index", 0))
    usage = usage_from(data.get("usage"))
    total = data["usage"].get("total_tokens") if isinstance(data.get("usage"), dict) else None
    if (usage is None or not usage.prompt_tokens) and isinstance(total, int):
        usage = Usage(total, 0)  # embeddings have no completion: the total is the input
    return embedding_list([d["embedding"] for d in items], request.model, usage, requested_encoding(request)), usage


# -- streams ---------------------------------------------------------------------------------------------


class V4StreamTranslator(LineTranslator):
    """OpenAI-shaped ``data:`` chunks → clean OpenAI chunks; usage from the chunk that carries it."""

    def __init__(self, request: RelayRequest) -> None:
        super().__init__(request.model, int(request.now))

    def _line(self, line: bytes) -> list[dict[str, Any]]:
        payload = data_payload(line)
        if payload is None and line.lstrip().startswith(b"{"):
            payload = line  # a JSON error body on a 200 answer
        if payload is None or not payload.strip() or payload.strip() == DONE:
            return []
        obj = parse_json(payload)
        if not isinstance(obj, dict):
            return []
        _raise_if_error(obj)
        self._id = self._id or str(obj.get("id") or completion_id())
        if isinstance(obj.get("created"), int):
            self._created = obj["created"]
        usage = usage_from(obj.get("usage"))
        if usage is not None:
            self.usage = usage
        out: list[dict[str, Any]] = []
        for i, choice in enumerate(obj.get("choices") or []):
            if not isinstance(choice, dict):
                continue
            delta = self._delta(choice.get("delta"))
            finish = finish_reason(choice.get("finish_reason"))
            if delta or finish:
                out.append(chunk(self._id, self._model, delta, finish, self._created, choice.get("index", i)))
        return out

    def _delta(self, delta: Any) -> dict[str, Any]:
        delta = delta if isinstance(delta, dict) else {}
        out: dict[str, Any] = self._with_role({})
        for key in ("content", "reasoning_content"):
            if isinstance(delta.get(key), str) and delta[key]:
                out[key] = delta[key]
        calls = tool_calls_from(delta.get("tool_calls"), with_index=True)
        if calls:
            out["tool_calls"] = calls
        return out


class V3StreamTranslator(LineTranslator):
    """v3 ``sse-invoke`` events (``event:``/``id:``/``data:`` raw text/``meta:`` JSON) → OpenAI chunks."""

    def __init__(self, request: RelayRequest) -> None:
        super().__init__(request.model, int(request.now))
        self._event = ""
        self._data: list[str] = []
        self._meta: bytes | None = None

    def _end(self) -> list[dict[str, Any]]:
        return self._dispatch()  # the last event may lack its blank line

    def _line(self, line: bytes) -> list[dict[str, Any]]:
        if not line:
            return self._dispatch()
        name, _, value = line.partition(b":")
        if name == b"data":
            self._data.append(value.decode(errors="replace"))  # raw text: no space is stripped
        elif name == b"meta":
            self._meta = value
        elif name == b"event":
            self._event = value.strip().decode(errors="replace")
        elif name == b"id":
            self._id = self._id or value.strip().decode(errors="replace")
        elif line.lstrip().startswith(b"{"):  # a JSON answer instead of a stream: an error
            data = parse_json(line)
            if isinstance(data, dict):
                _raise_if_error(data)
                if data.get("success") is False:
                    raise zhipu_error(status_for(data.get("code")), data.get("code"), str(data.get("msg")))
        return []

    def _dispatch(self) -> list[dict[str, Any]]:
        event, text, meta = self._event, "\n".join(self._data), self._meta
        self._event, self._data, self._meta = "", [], None
        if event in ("error", "interrupted"):
            raise zhipu_error(500, event, text or f"Zhipu stream {event}")
        out: list[dict[str, Any]] = []
        if text:
            out.append(self._chunk({"content": text}, None))
        if meta is not None:
            info = parse_json(meta)
            if isinstance(info, dict):
                self._id = self._id or str(info.get("task_id") or info.get("request_id") or "")
                self.usage = usage_from(info.get("usage")) or self.usage
            out.append(self._chunk({}, "stop"))
        elif event == "finish":
            out.append(self._chunk({}, "stop"))
        return out

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        self._id = self._id or completion_id()
        return chunk(self._id, self._model, self._with_role(delta), finish, self._created)


# -- the adaptor -----------------------------------------------------------------------------------------


class ZhipuAdaptor(AdaptorBase):
    name = "zhipu"
    passthrough = False
    inline_images = False
    response_formats = frozenset({"text", "json_object"})
    serves_tools = True
    serves_images = True

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        headers = {"Authorization": f"Bearer {jwt_token(channel.key, request.now)}",
                   "Content-Type": "application/json",
                   "Accept": "text/event-stream" if request.stream else "application/json"}
        base = trimmed_base_url(channel, _BASE_SUFFIXES)
        if request.mode == "embeddings":
            return UpstreamCall("POST", f"{base}/api/paas/v4/embeddings", headers,
                                compact_json(embedding_body(request)))
        if request.mode != "chat":
            raise RelayError(f"Zhipu channels serve chat completions and embeddings, not {request.mode}",
                             status=501, code="mode_not_supported")
        if is_v3(request.upstream_model):
            action = "sse-invoke" if request.stream else "invoke"
            url = f"{base}/api/paas/v3/model-api/{request.upstream_model}/{action}"
            return UpstreamCall("POST", url, headers, compact_json(v3_body(request)))
        return UpstreamCall("POST", f"{base}/api/paas/v4/chat/completions", headers, compact_json(v4_body(request)))

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        data = json_object(body)
        if request.mode == "embeddings":
            return parse_embeddings(request, data)
        if is_v3(request.upstream_model):
            return parse_v3(request, data)
        return parse_v4(request, data)

    def stream_translator(self, request: RelayRequest) -> V4StreamTranslator | V3StreamTranslator:
        if is_v3(request.upstream_model):
            return V3StreamTranslator(request)
        return V4StreamTranslator(request)

    def error(self, status: int, body: bytes) -> Exception:
        data = parse_json(body)
        if isinstance(data, dict):
            err = data["error"] if isinstance(data.get("error"), dict) else data  # v4 | v3 {code, msg}
            message = err.get("message") or err.get("msg")
            if isinstance(message, str) and message:
                return zhipu_error(status, err.get("code"), message)
        return upstream_error(status, body)


ADAPTOR = ZhipuAdaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets the protocol the relay relies on
    _CHECKED: TranslatingAdaptor = ADAPTOR
