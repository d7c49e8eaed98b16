"""iFlytek Spark (channel type 18): OpenAI chat completions over Spark's websocket API (SPEC 6.8, 11). Pure.

The dialogue (driven by the relay, ``proxy/upstream.py``): open a websocket to a signed URL, send one request
frame, receive answer frames until Spark closes the connection. :meth:`XunfeiAdaptor.build` returns that as an
``UpstreamCall(method="WS", url=<signed URL>, body=<request frame>)``; every frame Spark sends reaches
:meth:`~XunfeiAdaptor.parse_response` (non-stream: all frames, one per line) or the stream translator (one line
per frame) as ``frame + b"\\n"``.

* **Key** ``APPID|APISecret|APIKey``.
* **Version and domain.** The version comes from the (mapped) model name — ``Spark-Lite`` v1.1, ``Spark-Pro``
  v3.1, ``Spark-Pro-128K`` v3.1-128K, ``Spark-Max`` v3.5, ``Spark-Max-32K`` v3.5-32K, ``Spark-4.0-Ultra`` v4.0,
  ``SparkDesk-vX.Y[-suffix]`` vX.Y[-suffix] — else the channel's ``api_version`` config (legacy: ``other``), else
  v1.1. Each version has a domain (v1.1 ``lite``, v2.1 ``generalv2``, v3.1 ``generalv3``, v3.1-128K
  ``pro-128k``, v3.5 ``generalv3.5``, v3.5-32K ``max-32k``, v4.0 ``4.0Ultra``, else ``general<version>``) and a
  path (``/<version>/chat``; v3.1-128K ``/chat/pro-128k``, v3.5-32K ``/chat/max-32k``).
* **Host** from the channel's base_url (``ws://`` / ``wss://``; ``http(s)://`` maps to ``ws(s)://``; a path in
  base_url is kept as a prefix), default ``wss://spark-api.xf-yun.com``.
* **Signed URL.** ``date`` = RFC 1123 GMT of ``request.now``; signature = base64(HMAC-SHA256(APISecret,
  ``host: <host>\\ndate: <date>\\nGET <path> HTTP/1.1``)) where host is the one we connect to;
  authorization = base64(``api_key="<APIKey>", algorithm="hmac-sha256", headers="host date request-line",
  signature="<sig>"``); the URL carries ``authorization``, ``date`` and ``host`` as its query. Spark refuses a
  bad signature (401) or a date more than 5 minutes off (403) at the handshake: those reach :meth:`error`.
* **Request frame** ``{header: {app_id, uid}, parameter: {chat: {domain, temperature, max_tokens, top_k}},
  payload: {message: {text: [{role, content}]}, functions: {text: [function definitions]}}}``.
* **Answer frames** ``{header: {code, message, sid, status}, payload: {choices: {status, seq, text: [{content,
  role, index, function_call}]}, usage: {text: {question_tokens, prompt_tokens, completion_tokens,
  total_tokens}}}}``; ``choices.status`` 2 marks the last frame, which carries the usage.

Quirks of One API fixed here:

* ``header.code`` errors were never checked (a refused request ended as ``xunfei_empty_response_detected``).
  They are surfaced as ``UpstreamError`` with type ``xunfei_error``, Spark's code and message (``param`` = the
  session id), and an HTTP status by meaning — content audit and bad requests 400, a missing licence 401, a
  blacklisted appid 403, flow control 429, anything else 500 — so retries and auto-disable work.
* ``top_k`` was filled from ``n``; it now comes from the client's ``top_k``.
* System messages were forwarded to every version; v1.1/v2.1 domains get them folded into the first user
  message, v3+ domains get one leading ``system`` message (Spark wants it first).
* Tools were sent as OpenAI's ``{type, function}`` wrappers; Spark wants the bare function definitions.
  Functions go only to the domains that take them (``generalv3``, ``generalv3.5``, ``4.0Ultra``); iFlytek now
  steers function calling to its HTTP API (type 48), so other domains answer in text.
* Usage is the final frame's, not a sum over frames; a function call finishes with ``tool_calls``; the model
  in answers is the one the client asked for (not ``SparkDesk``); the websocket host comes from base_url.
* The authorization origin uses ``api_key=`` as iFlytek documents (One API sent ``hmac username=``) and the date
  is in GMT as RFC 1123 requires (One API wrote ``UTC``).
* A model-name suffix becomes the version only when it looks like one (``v3.5``, ``v3.1-128K``), so a model
  such as ``SparkDesk`` or a custom name falls back to the channel's ``api_version``.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from oneapi.proxy.adaptors.base import (
    AdaptorBase,
    RelayRequest,
    StreamTranslator,
    TranslatingAdaptor,
    UpstreamCall,
    Usage,
)
from oneapi.proxy.adaptors.client_request import is_number, merged_turns, message_text
from oneapi.proxy.adaptors.common import (
    arguments_json,
    chat_completion,
    chunk,
    compact_json,
    completion_id,
    openai_error,
    tool_call_id,
)
from oneapi.proxy.adaptors.openai import base_url
from oneapi.proxy.sse import LineSplitter
from oneapi.wire.channel import RouteChannel
from oneapi.wire.errors import RelayError, UpstreamError

ERROR_TYPE = "xunfei_error"
DEFAULT_BASE_URL = "wss://spark-api.xf-yun.com"
DEFAULT_VERSION = "v1.1"
MODEL_VERSIONS = {"Spark-Lite": "v1.1", "Spark-Pro": "v3.1", "Spark-Pro-128K": "v3.1-128K", "Spark-Max": "v3.5",
                  "Spark-Max-32K": "v3.5-32K", "Spark-4.0-Ultra": "v4.0"}
DOMAINS = {"v1.1": "lite", "v2.1": "generalv2", "v3.1": "generalv3", "v3.1-128K": "pro-128k",
           "v3.5": "generalv3.5", "v3.5-32K": "max-32k", "v4.0": "4.0Ultra"}
PATHS = {"v3.1-128K": "/chat/pro-128k", "v3.5-32K": "/chat/max-32k"}
FUNCTION_DOMAINS = frozenset({"generalv3", "generalv3.5", "4.0Ultra"})
UID_MAX = 32  # Spark's limit on header.uid

# header.code → HTTP status (Spark's error table). Codes not listed are 500.
BAD_REQUEST_CODES = frozenset({10003, 10004, 10005, 10013, 10014, 10019, 10021, 10907})
AUTH_CODES = frozenset({10016, 11200})     # the appid lacks the licence for this (or has no tokens left)
FORBIDDEN_CODES = frozenset({10015})       # the appid is blacklisted
RATE_LIMIT_CODES = frozenset({10006, 10007, 11201, 11202, 11203})  # concurrency / daily / per-second limits

_VERSION = re.compile(r"^v\d+(\.\d+)*(-[0-9A-Za-z]+)?$")
_MAJOR = re.compile(r"^v(\d+)")
_DEFAULT_PORTS = {"ws": 80, "wss": 443}


@dataclass(frozen=True)
class SparkKey:
    app_id: str
    api_secret: str
    api_key: str


def parse_key(key: str) -> SparkKey:
    parts = [p.strip() for p in key.split("|")]
    if len(parts) != 3 or not all(parts):
        raise ValueError("an iFlytek Spark channel key must be APPID|APISecret|APIKey")
    return SparkKey(*parts)


# -- version, domain, endpoint -------------------------------------------------------------------------


def spark_version(model: str, channel: RouteChannel) -> str:
    """The API version for ``model`` on ``channel`` (see the module docstring)."""
    if model in MODEL_VERSIONS:
        return MODEL_VERSIONS[model]
    _, dash, suffix = model.partition("-")
    if dash and _VERSION.match(suffix):
        return suffix
    configured = channel.config.get("api_version") or channel.other
    return str(configured).strip() if configured and str(configured).strip() else DEFAULT_VERSION


def spark_domain(version: str) -> str:
    return DOMAINS.get(version, "general" + version)


def spark_path(version: str) -> str:
    return PATHS.get(version, f"/{version}/chat")


def takes_system_role(version: str) -> bool:
    """v3 and later take a ``system`` message; v1.1 and v2.1 get it folded into the first user message."""
    found = _MAJOR.match(version)
    return bool(found and int(found.group(1)) >= 3)


def websocket_base(channel: RouteChannel) -> tuple[str, str, str]:
    """(scheme, host, path prefix) of the channel's websocket endpoint; ``host`` is the Host header value."""
    raw = (base_url(channel) or DEFAULT_BASE_URL).strip()
    if "://" not in raw:
        raw = "wss://" + raw
    parts = urlsplit(raw)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"an iFlytek Spark base_url must be a ws(s):// or http(s):// URL, not {raw!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if parts.port is not None and parts.port != _DEFAULT_PORTS[scheme]:
        host += f":{parts.port}"
    return scheme, host, parts.path.rstrip("/")


def rfc1123_date(now: float) -> str:
    return email.utils.formatdate(now, usegmt=True)


def signature(api_secret: str, host: str, date: str, path: str) -> str:
    origin = f"host: {host}\ndate: {date}\nGET {path} HTTP/1.1"
    return base64.b64encode(hmac.new(api_secret.encode(), origin.encode(), hashlib.sha256).digest()).decode()


def signed_url(scheme: str, host: str, path: str, key: SparkKey, now: float) -> str:
    date = rfc1123_date(now)
    origin = (f'api_key="{key.api_key}", algorithm="hmac-sha256", headers="host date request-line", '
              f'signature="{signature(key.api_secret, host, date, path)}"')
    query = urlencode({"authorization": base64.b64encode(origin.encode()).decode(), "date": date, "host": host})
    return f"{scheme}://{host}{path}?{query}"


# -- the request frame ---------------------------------------------------------------------------------


def _with_system_prompt(messages: list[dict[str, Any]], system_prompt: str) -> list[dict[str, Any]]:
    """The channel's system prompt replaces a leading system message, else is prepended (SPEC 1.4)."""
    if not system_prompt:
        return messages
    if messages and messages[0].get("role") == "system":
        return [{**messages[0], "content": system_prompt}, *messages[1:]]
    return [{"role": "system", "content": system_prompt}, *messages]


def _assistant_text(message: dict[str, Any]) -> str:
    text = message_text(message.get("content"), "filled")
    if text:
        return text
    calls = [c.get("function") for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    legacy = message.get("function_call")
    functions = [f for f in [*calls, legacy] if isinstance(f, dict)]
    # Spark's websocket history has no tool-call turns: the call is written out so the model sees it.
    return "\n".join(json.dumps({"name": f.get("name"), "arguments": f.get("arguments")}, ensure_ascii=False)
                     for f in functions)


def spark_messages(messages: Iterable[dict[str, Any]], system_role: bool) -> list[dict[str, str]]:
    """OpenAI messages → Spark's ``payload.message.text``: system text gathered up front (or folded into the
    first user turn), tool results as user turns, consecutive same-role turns merged, empty turns dropped.
    Only text is read: Spark's chat domains take no images."""
    system: list[str] = []
    texts: list[tuple[str, list[str]]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            text = message_text(message.get("content"), "filled")
            if text:
                system.append(text)
            continue
        if role == "assistant":
            spark_role, text = "assistant", _assistant_text(message)
        else:  # user, and tool/function results (Spark's websocket API has no tool role)
            spark_role, text = "user", message_text(message.get("content"), "filled")
        if text:
            texts.append((spark_role, [text]))
    turns = [{"role": role, "content": "\n".join(parts)} for role, parts in merged_turns(texts)]
    if system:
        joined = "\n".join(system)
        if system_role:
            turns.insert(0, {"role": "system", "content": joined})
        else:
            first_user = next((t for t in turns if t["role"] == "user"), None)
            if first_user is None:
                turns.insert(0, {"role": "user", "content": joined})
            else:
                first_user["content"] = joined + "\n\n" + first_user["content"]
    return turns


def spark_functions(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The function definitions of ``tools`` (or legacy ``functions``), bare as Spark wants them."""
    if body.get("tool_choice") == "none" or body.get("function_call") == "none":
        return []
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type", "function") == "function"]
    functions = [t["function"] for t in tools if isinstance(t.get("function"), dict)]
    functions += [f for f in body.get("functions") or [] if isinstance(f, dict)]
    return [{k: f[k] for k in ("name", "description", "parameters") if k in f} for f in functions if f.get("name")]


def request_frame(request: RelayRequest, key: SparkKey, version: str) -> dict[str, Any]:
    body = request.json or {}
    domain = spark_domain(version)
    header: dict[str, Any] = {"app_id": key.app_id}
    if isinstance(body.get("user"), str) and body["user"]:
        header["uid"] = body["user"][:UID_MAX]
    chat: dict[str, Any] = {"domain": domain}
    if is_number(body.get("temperature")):
        chat["temperature"] = body["temperature"]
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0:
        chat["max_tokens"] = max_tokens
    if isinstance(body.get("top_k"), int) and not isinstance(body["top_k"], bool):
        chat["top_k"] = body["top_k"]  # One API sent n here (SPEC 6.8 quirk)
    messages = _with_system_prompt(list(body.get("messages") or []), request.system_prompt)
    payload: dict[str, Any] = {"message": {"text": spark_messages(messages, takes_system_role(version))}}
    functions = spark_functions(body) if domain in FUNCTION_DOMAINS else []
    if functions:
        payload["functions"] = {"text": functions}
    return {"header": header, "parameter": {"chat": chat}, "payload": payload}


# -- answers -------------------------------------------------------------------------------------------


def frame_error(header: dict[str, Any]) -> UpstreamError:
    code = header.get("code")
    number = code if isinstance(code, int) else -1
    if number in BAD_REQUEST_CODES:
        status = 400
    elif number in AUTH_CODES:
        status = 401
    elif number in FORBIDDEN_CODES:
        status = 403
    elif number in RATE_LIMIT_CODES:
        status = 429
    else:
        status = 500
    return openai_error(status, str(header.get("message") or f"iFlytek Spark error {code}"), ERROR_TYPE, code,
                        str(header.get("sid") or ""))


def parse_frame(line: bytes) -> dict[str, Any] | None:
    """One received frame; raises the frame's ``header.code`` error. None for a blank line."""
    if not line.strip():
        return None
    frame = json.loads(line)
    if not isinstance(frame, dict):
        raise ValueError("an iFlytek Spark frame must be a JSON object")
    header = frame.get("header")
    if isinstance(header, dict) and header.get("code") not in (0, None):
        raise frame_error(header)
    return frame


def _choices(frame: dict[str, Any]) -> dict[str, Any]:
    payload = frame.get("payload")
    choices = payload.get("choices") if isinstance(payload, dict) else None
    return choices if isinstance(choices, dict) else {}


def _texts(frame: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in _choices(frame).get("text") or [] if isinstance(t, dict)]


def is_last(frame: dict[str, Any]) -> bool:
    header = frame.get("header")
    return _choices(frame).get("status") == 2 or (isinstance(header, dict) and header.get("status") == 2)


def frame_usage(frame: dict[str, Any]) -> Usage | None:
    payload = frame.get("payload")
    usage = payload.get("usage") if isinstance(payload, dict) else None
    text = usage.get("text") if isinstance(usage, dict) else None
    if not isinstance(text, dict):
        return None
    prompt, completion = text.get("prompt_tokens"), text.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(prompt, completion)


def tool_call(function_call: Any) -> dict[str, Any] | None:
    if not isinstance(function_call, dict) or not function_call.get("name"):
        return None
    return {"id": tool_call_id(), "type": "function", "function": {
        "name": str(function_call["name"]), "arguments": arguments_json(function_call.get("arguments"))}}


class SparkStreamTranslator:
    """Spark frames (one per line) → OpenAI chunks: content and tool calls as they come, the finish reason
    with the last frame, whose usage becomes :attr:`usage`."""

    def __init__(self, request: RelayRequest) -> None:
        self.usage: Usage | None = None
        self._model = request.model
        self._id = completion_id()
        self._created = int(request.now)
        self._lines = LineSplitter()
        self._started = False
        self._finished = False
        self._calls = 0

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        if not self._started:
            delta = {"role": "assistant", **delta}
            self._started = True
        return chunk(self._id, self._model, delta, finish, created=self._created)

    def _frame(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for text in _texts(frame):
            content = text.get("content")
            if isinstance(content, str) and content:
                out.append(self._chunk({"content": content}))
            call = tool_call(text.get("function_call"))
            if call is not None:
                out.append(self._chunk({"tool_calls": [{"index": self._calls, **call}]}))
                self._calls += 1
        if is_last(frame):
            self.usage = frame_usage(frame) or self.usage
            out.append(self._chunk({}, "tool_calls" if self._calls else "stop"))
            self._finished = True
        return out

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for line in self._lines.feed(data):
            if self._finished:
                break
            frame = parse_frame(line)
            if frame is not None:
                out += self._frame(frame)
        return out

    def finish(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for line in self._lines.flush():
            frame = None if self._finished else parse_frame(line)
            if frame is not None:
                out += self._frame(frame)
        if not self._finished:
            raise incomplete_answer()
        return out


def incomplete_answer() -> UpstreamError:
    return openai_error(500, "iFlytek Spark closed the connection before its last frame", ERROR_TYPE,
                        "xunfei_incomplete_response")


def _handshake_hint(status: int) -> str:
    if status == 401:
        return "the signature was refused: check the channel key APPID|APISecret|APIKey"
    if status == 403:
        return "refused, usually for the signed date: check this server's clock (Spark allows 5 minutes of skew)"
    return "the websocket handshake was refused"


class XunfeiAdaptor(AdaptorBase):
    name = "xunfei"
    passthrough = False
    inline_images = False
    serves_tools = True

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        if request.mode != "chat":
            raise RelayError(f"iFlytek Spark channels serve chat completions only, not {request.mode}", status=400,
                             code="invalid_text_request")
        key = parse_key(channel.key)
        version = spark_version(request.upstream_model, channel)
        scheme, host, prefix = websocket_base(channel)
        url = signed_url(scheme, host, prefix + spark_path(version), key, request.now)
        frame = request_frame(request, key, version)
        return UpstreamCall("WS", url, body=compact_json(frame))

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        content: list[str] = []
        calls: list[dict[str, Any]] = []
        usage: Usage | None = None
        finished = False
        for line in body.split(b"\n"):
            frame = parse_frame(line)
            if frame is None or finished:
                continue
            for text in _texts(frame):
                if isinstance(text.get("content"), str):
                    content.append(text["content"])
                call = tool_call(text.get("function_call"))
                if call is not None:
                    calls.append(call)
            usage = frame_usage(frame) or usage
            finished = is_last(frame)
        if not finished:
            raise incomplete_answer()
        answer_text = "".join(content)
        message: dict[str, Any] = {"role": "assistant", "content": answer_text if answer_text or not calls else None}
        if calls:
            message["tool_calls"] = calls
        answer = chat_completion(completion_id(), request.model, message, "tool_calls" if calls else "stop", usage,
                                 created=int(request.now))
        return answer, usage

    def stream_translator(self, request: RelayRequest) -> StreamTranslator:
        return SparkStreamTranslator(request)

    def error(self, status: int, body: bytes) -> Exception:
        """A refused handshake (401 bad signature, 403 date skew) or another non-101 answer."""
        detail = body.decode("utf-8", "replace").strip()
        try:
            data = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict):
            header = data.get("header")
            if isinstance(header, dict) and header.get("code") not in (0, None):
                return frame_error(header)
            found = data.get("message") or data.get("msg")
            if isinstance(found, str) and found:
                detail = found
        message = f"iFlytek Spark answered HTTP {status}" + (f" ({detail})" if detail else "")
        return openai_error(status, f"{message}: {_handshake_hint(status)}", ERROR_TYPE, "xunfei_handshake_refused",
                            str(status))


ADAPTOR = XunfeiAdaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets the protocol the relay relies on
    _CHECKED: TranslatingAdaptor = ADAPTOR
