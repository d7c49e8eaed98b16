"""Baidu Wenxin / ERNIE (channel type 15, SPEC 6.7): the Qianfan "wenxinworkshop" v1 API.

Protocol:

* The channel key is ``<API Key>|<Secret Key>``. It is exchanged for an access token at
  ``POST {base}/oauth/2.0/token?grant_type=client_credentials&client_id=<ak>&client_secret=<sk>`` →
  ``{access_token, expires_in}`` (or ``{error, error_description}``). The relay runs that exchange
  (:class:`~oneapi.proxy.adaptors.base.CredentialExchange`): cached per key, refreshed before expiry, one exchange
  shared by simultaneous requests, exchanged again once when Baidu answers 110/111 (token invalid/expired).
* Chat: ``POST {base}/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/<endpoint>?access_token=<token>`` with
  ``{messages, system, temperature, top_p, penalty_score, stop, max_output_tokens, user_id, stream,
  response_format}``; the answer is ``{id, created, result, finish_reason, usage}``; a stream is SSE
  ``data: {..., result, is_end, usage}`` lines.
* Embeddings: ``POST .../wenxinworkshop/embeddings/<endpoint>`` with ``{input: [...]}`` →
  ``{data: [{embedding, index}], usage}``.
* Errors arrive **inside 200 bodies** as ``{error_code, error_msg}`` (a stream request gets a plain JSON body).

Quirks of One API fixed here:

* The token endpoint derives from the channel's base URL (One API hard-coded ``aip.baidubce.com``; SPEC 11).
* Every system message is kept: they are merged into ``system`` (One API kept only the last); the channel's
  system prompt replaces them.
* Baidu requires strictly alternating turns starting with ``user`` (an odd count): consecutive same-role turns are
  merged, ``tool``/``function`` results become user turns, empty turns are dropped, and a conversation that opens
  with the assistant gets a placeholder user turn (One API forwarded such histories and got 336006 errors).
* ``penalty_score`` lives in [1, 2] while OpenAI's ``frequency_penalty`` lives in [-2, 2] with 0 = off; One API
  copied the value (0 is refused). Here [0, 2] maps linearly to [1, 2] and negatives to 1.
* ``temperature`` must be in (0, 1]: it is clamped (One API sent 0 and values above 1, both refused).
* Errors keep Baidu's code with a meaningful HTTP status (401 auth, 429 rate limits, 400 bad requests, 5xx
  otherwise): an error inside a 200 body would otherwise look like success to retries and automatic disabling.
* Stream usage is read from Baidu's chunks (the last one carries the final count) instead of being counted.
* Answers name the model that was called (One API answered ``ernie-bot`` / ``baidu-embedding`` for every model)
  and keep Baidu's ``finish_reason`` (``length``, ``content_filter``) instead of always ``stop``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from oneapi.proxy.adaptors.base import (
    AdaptorBase,
    CredentialExchange,
    RelayRequest,
    TranslatingAdaptor,
    UpstreamCall,
    Usage,
)
from oneapi.proxy.adaptors.client_request import embedding_texts, merged_turns, message_text, requested_encoding
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

ERROR_TYPE = "baidu_error"
API_PREFIX = "/rpc/2.0/ai_custom/v1/wenxinworkshop"
DEFAULT_TOKEN_LIFETIME = 86400.0  # Baidu always sends expires_in (30 days); this is only a fallback
PLACEHOLDER_USER_TURN = "."

# Model → endpoint (SPEC 6.7, completed from the qianfan SDK's model table); other models use their lower-cased
# name, which is also what custom deployments are called.
ENDPOINTS = {
    "ERNIE-4.0-8K": "completions_pro", "ERNIE-4.0": "completions_pro", "ERNIE-Bot-4": "completions_pro",
    "ERNIE-4.0-8K-Preview-0518": "completions_adv_pro",
    "ERNIE-3.5-8K": "completions", "ERNIE-Bot": "completions", "ERNIE 3.5": "completions",
    "ERNIE-Bot-turbo": "eb-instant", "ERNIE-Lite-8K-0922": "eb-instant",
    "ERNIE-Speed": "ernie_speed", "ERNIE-Speed-8K": "ernie_speed",
    "ERNIE-Lite-8K": "ernie-lite-8k", "ERNIE-Lite-8K-0308": "ernie-lite-8k",
    "ERNIE-Bot-8K": "ernie_bot_8k",
    "ERNIE-Character-8K": "ernie-char-8k", "ERNIE-Character-Fiction-8K": "ernie-char-fiction-8k",
    "ERNIE-Function-8K": "ernie-func-8k", "ERNIE-Functions-8K": "ernie-func-8k",
    "ERNIE-Speed-AppBuilder": "ai_apaas", "ERNIE Speed-AppBuilder": "ai_apaas",
    "ERNIE-Lite-AppBuilder-8K-0614": "ai_apaas_lite",
    "BLOOMZ-7B": "bloomz_7b1",
    "Embedding-V1": "embedding-v1", "bge-large-zh": "bge_large_zh", "bge-large-en": "bge_large_en",
    "tao-8k": "tao_8k",
}

# Baidu error codes (https://cloud.baidu.com/doc/WENXINWORKSHOP/s/tlmyncueh) → the HTTP status we report.
TOKEN_REJECTED = frozenset({110, 111})  # access token invalid / expired: exchange again
_STATUS = {
    **dict.fromkeys((6, 13, 14, 15, 110, 111), 401),  # no permission, IAM failure, app missing, token
    **dict.fromkeys((336004,), 403),  # no permission for this model
    **dict.fromkeys((17, 19), 403),  # daily / total request limit (or payment not enabled)
    **dict.fromkeys((4, 18, 336501, 336502, 336503), 429),  # cluster / QPS / RPM / TPM limits
    **dict.fromkeys((3, 100, 336001, 336002, 336003, 336006, 336007, 336008, 336101, 336102, 336103, 336104,
                     336105, 336106), 400),
    **dict.fromkeys((336005,), 404),  # no such API (endpoint)
    **dict.fromkeys((2, 336100), 503),  # temporarily unavailable / overloaded
}
_FINISH = {"normal": "stop", "stop": "stop", "length": "length", "content_filter": "content_filter",
           "function_call": "function_call"}


def split_key(key: str) -> tuple[str, str]:
    ak, sep, sk = key.strip().partition("|")
    if not sep or not ak.strip() or not sk.strip():
        raise openai_error(401, "the Baidu channel key must be \"API Key|Secret Key\"", ERROR_TYPE,
                           "invalid_baidu_config")
    return ak.strip(), sk.strip()


def endpoint(model: str) -> str:
    return ENDPOINTS.get(model) or model.lower()


def status_for(code: int) -> int:
    if code in _STATUS:
        return _STATUS[code]
    if 336000 < code < 336100:  # 3360xx: request problems
        return 400
    return 500


def api_error(body: dict[str, Any], fallback_status: int = 200) -> UpstreamError:
    """An ``{error_code, error_msg}`` body as an OpenAI-shaped error with Baidu's code."""
    raw = body.get("error_code")
    code = raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
    status = fallback_status if fallback_status >= 400 else status_for(code)
    return openai_error(status, str(body.get("error_msg") or f"Baidu error {raw}"), ERROR_TYPE, raw)


def _has_error(body: Any) -> bool:
    return isinstance(body, dict) and bool(body.get("error_code")) and body.get("error_code") != 0


# -- requests ------------------------------------------------------------------------------------------------


def convert_messages(messages: list[dict[str, Any]], system_prompt: str) -> tuple[str, list[dict[str, str]]]:
    """(system text, alternating user/assistant turns that start with user) — see the module docstring."""
    systems: list[str] = []
    texts: list[tuple[str, list[str]]] = []
    for message in messages:
        role = message.get("role")
        text = message_text(message.get("content"), "filled")  # ERNIE takes no images
        if role in ("system", "developer"):
            if text:
                systems.append(text)
            continue
        if text.strip():
            texts.append(("assistant" if role == "assistant" else "user", [text]))
    turns = [{"role": role, "content": "\n".join(parts)} for role, parts in merged_turns(texts)]
    if turns and turns[0]["role"] == "assistant":
        turns.insert(0, {"role": "user", "content": PLACEHOLDER_USER_TURN})
    return (system_prompt or "\n".join(systems)), turns


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def chat_body(request: RelayRequest) -> dict[str, Any]:
    data = request.json or {}
    messages = data.get("messages")
    system, turns = convert_messages(messages if isinstance(messages, list) else [], request.system_prompt)
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    temperature = _number(data.get("temperature"))
    if temperature is not None:
        body["temperature"] = min(1.0, max(0.01, temperature))  # Baidu: (0, 1]
    top_p = _number(data.get("top_p"))
    if top_p is not None:
        body["top_p"] = min(1.0, max(0.0, top_p))
    penalty = _number(data.get("frequency_penalty"))
    if penalty is not None:
        body["penalty_score"] = 1.0 + min(2.0, max(0.0, penalty)) / 2  # [0, 2] → Baidu's [1, 2]
    stop = data.get("stop")
    if isinstance(stop, str) and stop:
        body["stop"] = [stop]
    elif isinstance(stop, list) and stop:
        body["stop"] = [str(s) for s in stop][:4]
    max_tokens = data.get("max_tokens") or data.get("max_completion_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0:
        body["max_output_tokens"] = max(2, max_tokens)  # Baidu's minimum is 2
    if isinstance(data.get("user"), str) and data["user"]:
        body["user_id"] = data["user"]
    response_format = data.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "text"):
        body["response_format"] = response_format["type"]
    if request.stream:
        body["stream"] = True
    return body


def embeddings_body(request: RelayRequest) -> dict[str, Any]:
    data = request.json or {}
    inputs = embedding_texts(data)
    if inputs is None:
        raise ValueError("Baidu embeddings take a string or a list of strings as input")
    body: dict[str, Any] = {"input": inputs}
    if isinstance(data.get("user"), str) and data["user"]:
        body["user_id"] = data["user"]
    return body


# -- answers -------------------------------------------------------------------------------------------------


def usage_of(body: dict[str, Any]) -> Usage | None:
    return usage_with_total(body.get("usage"), "prompt_tokens", "completion_tokens", "total_tokens")


def finish_reason(body: dict[str, Any]) -> str:
    if body.get("need_clear_history"):
        return "content_filter"
    reason = _FINISH.get(str(body.get("finish_reason") or ""))
    if reason:
        return reason
    return "length" if body.get("is_truncated") else "stop"


def _created(body: dict[str, Any]) -> int | None:
    created = body.get("created")
    return created if isinstance(created, int) and not isinstance(created, bool) else None


class BaiduStream(TextTranslator):
    """Baidu's ``data: {result, is_end, usage}`` lines → OpenAI chunks. A plain JSON error body (what Baidu sends
    to a stream request it refuses) raises UpstreamError."""

    def __init__(self, request: RelayRequest) -> None:
        super().__init__(request.upstream_model)

    def _error_in(self, obj: dict[str, Any]) -> UpstreamError | None:
        return api_error(obj) if _has_error(obj) else None

    def _chunks(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        self._id = self._id or str(obj.get("id") or completion_id())
        usage = usage_of(obj)
        if usage is not None:
            self.usage = usage
        return self._text_chunks(obj.get("result"), finish_reason(obj) if obj.get("is_end") else None, _created(obj))


# -- the adaptor ---------------------------------------------------------------------------------------------


class BaiduAdaptor(AdaptorBase):
    name = "baidu"
    passthrough = False
    inline_images = False
    response_formats = frozenset({"text", "json_object"})

    # CredentialExchange
    def credential_request(self, channel: RouteChannel) -> UpstreamCall:
        ak, sk = split_key(channel.key)
        query = urlencode({"grant_type": "client_credentials", "client_id": ak, "client_secret": sk})
        return UpstreamCall("POST", f"{base_url(channel)}/oauth/2.0/token?{query}",
                            {"Content-Type": "application/json", "Accept": "application/json"})

    def parse_credential(self, status: int, body: bytes) -> tuple[str, float]:
        data = parse_json(body)
        if not isinstance(data, dict):
            data = {}
        token = data.get("access_token")
        if status == 200 and isinstance(token, str) and token:
            lifetime = _number(data.get("expires_in"))
            return token, lifetime if lifetime and lifetime > 0 else DEFAULT_TOKEN_LIFETIME
        if _has_error(data):
            raise api_error(data, status)
        if data.get("error"):
            # {"error": "invalid_client", "error_description": "unknown client id"}: the key is wrong.
            message = f"Baidu refused the API Key / Secret Key: {data.get('error_description') or data['error']}"
            code: str = str(data["error"])
            result = status if status == 429 or status >= 500 else 401
        else:
            message = f"Baidu's token endpoint answered {status} without an access token"
            code, result = "", status if status >= 400 else 500
        raise openai_error(result, message, ERROR_TYPE, code)

    def credential_rejected(self, error: Exception) -> bool:
        if not isinstance(error, UpstreamError) or error.type != ERROR_TYPE:
            return False
        return error.error.get("code") in TOKEN_REJECTED

    # TranslatingAdaptor
    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        if request.mode == "chat":
            kind, body = "chat", chat_body(request)
        elif request.mode == "embeddings":
            kind, body = "embeddings", embeddings_body(request)
        else:
            raise ValueError(f"Baidu ERNIE channels do not serve {request.mode}")
        url = (f"{base_url(channel)}{API_PREFIX}/{kind}/{quote(endpoint(request.upstream_model), safe='')}"
               f"?access_token={quote(request.credential, safe='')}")
        accept = "text/event-stream" if request.stream else "application/json"
        return UpstreamCall("POST", url, {"Content-Type": "application/json", "Accept": accept}, compact_json(body))

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("Baidu answered with something other than a JSON object")
        if _has_error(data):
            raise api_error(data)
        usage = usage_of(data)
        if request.mode == "embeddings":
            items = sorted((d for d in data.get("data") or [] if isinstance(d, dict)),
                           key=lambda d: int(d.get("index") or 0))
            vectors = [[float(x) for x in d.get("embedding") or []] for d in items]
            return embedding_list(vectors, request.upstream_model, usage, requested_encoding(request)), usage
        message = {"role": "assistant", "content": str(data.get("result") or "")}
        answer = chat_completion(str(data.get("id") or completion_id()), request.upstream_model, message,
                                 finish_reason(data), usage, _created(data))
        return answer, usage

    def stream_translator(self, request: RelayRequest) -> BaiduStream:
        return BaiduStream(request)

    def error(self, status: int, body: bytes) -> Exception:
        data = parse_json(body)
        if _has_error(data):
            return api_error(data, status)
        return upstream_error(status, body)


ADAPTOR = BaiduAdaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets both protocols the relay relies on
    _CHECKED: tuple[TranslatingAdaptor, CredentialExchange] = (ADAPTOR, ADAPTOR)
