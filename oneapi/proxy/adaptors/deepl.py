"""DeepL (channel type 38): translation served as a chat model, as One API does. Pure, no I/O.

Protocol (https://developers.deepl.com/api-reference/translate)
----------------------------------------------------------------
* ``POST {base}/v2/translate`` with ``Authorization: DeepL-Auth-Key <key>`` and JSON ``{text: [...],
  target_lang, context?, show_billed_characters: true}`` → ``{translations: [{detected_source_language, text,
  billed_characters}]}``. Errors: the HTTP status with ``{"message"}`` (403 bad key, 456 character quota used
  up, 429 too many requests, 400/413 bad request).
* Free keys end in ``:fx`` and are served by ``api-free.deepl.com``, paid keys by ``api.deepl.com``: a channel
  without a base URL is sent to the host its key belongs to (One API always used the type's default, the free
  host, so paid keys failed with 403 "Wrong endpoint").

Translation as One API does it
------------------------------
* The target language is the model name after ``deepl-``, upper-cased: ``deepl-zh`` → ``ZH``, ``deepl-en-us`` →
  ``EN-US`` (One API kept only the part before a second ``-``); a model without ``-`` translates into ``ZH``.
* The text translated is the last user message; system (and developer) messages — or the channel's system
  prompt — go to DeepL's ``context`` (which influences the translation, is not translated and not billed).
* The answer is one choice, finish reason ``stop``. Usage: prompt = the characters DeepL billed
  (``billed_characters``; One API counted the UTF-8 bytes of the text), completion = 0: DeepL charges per
  source character. A stream is a pseudo-stream: DeepL answers at once, and the whole translation is sent as
  one chunk, then the finish reason.
* Refused with a 400 before any call (DeepL cannot serve them): ``n`` > 1, tools or functions, a
  ``response_format`` other than text, images in the text to translate, and an empty text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from oneapi.proxy.adaptors.base import AdaptorBase, RelayRequest, TranslatingAdaptor, UpstreamCall, Usage
from oneapi.proxy.adaptors.client_request import message_text
from oneapi.proxy.adaptors.common import chat_completion, chunk, compact_json, completion_id, json_object, openai_error
from oneapi.proxy.sse import parse_json
from oneapi.wire.channel import RouteChannel
from oneapi.wire.errors import RelayError, UpstreamError, upstream_error

TRANSLATE_PATH = "/v2/translate"
ERROR_TYPE = "deepl_error"
FREE_HOST = "https://api-free.deepl.com"
PRO_HOST = "https://api.deepl.com"
DEFAULT_TARGET = "ZH"
MAX_BODY: Final = 16 * 1024 * 1024  # a translation answer is small; a larger body is not DeepL's
QUOTA_EXCEEDED = 456  # DeepL's own status: the character quota of the billing period is used up


def refusal(message: str) -> RelayError:
    return RelayError(message, status=400, code="invalid_request")


def deepl_error(status: int, message: str) -> UpstreamError:
    """DeepL's failure in OpenAI's shape. A refused key (403) is reported as 401 and a used-up quota (456) as
    402 ``insufficient_quota`` (another channel is tried; automatic disabling knows both). Not 429: that is a
    passing overload, and a relay that ran out of channels on 429s answers "saturated" instead."""
    if status == 403:
        return openai_error(401, message or "DeepL refused the authentication key", ERROR_TYPE, "invalid_api_key")
    if status == QUOTA_EXCEEDED:
        return openai_error(402, message or "DeepL's character quota is used up", "insufficient_quota",
                            "quota_exceeded")
    return openai_error(status, message or f"bad response status code {status}", ERROR_TYPE, ERROR_TYPE)


def target_language(model: str) -> str:
    _, sep, lang = model.partition("-")
    return lang.upper() if sep and lang else DEFAULT_TARGET


def host_for(channel: RouteChannel) -> str:
    if channel.base_url:
        return channel.base_url.rstrip("/").removesuffix("/v2")
    return FREE_HOST if channel.key.strip().endswith(":fx") else PRO_HOST


# -- requests --------------------------------------------------------------------------------------------


def _refuse_what_deepl_cannot_do(data: Mapping[str, Any]) -> None:
    n = data.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
        raise refusal("DeepL channels give one translation per request: n must be 1")
    if data.get("tools") or data.get("functions"):
        raise refusal("DeepL channels translate text and cannot call tools")
    fmt = data.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") not in (None, "text"):
        raise refusal("DeepL channels answer with the translated text only: response_format must be text")


def translate_body(request: RelayRequest) -> tuple[dict[str, Any], str]:
    """The /v2/translate body and the text to translate."""
    data = request.json or {}
    _refuse_what_deepl_cannot_do(data)
    messages = [m for m in data.get("messages") or [] if isinstance(m, dict)]
    systems = [message_text(m.get("content"), "filled") for m in messages if m.get("role") in ("system", "developer")]
    users = [m for m in messages if m.get("role") == "user"]
    last = users[-1] if users else (messages[-1] if messages else {})
    content = last.get("content")
    if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") not in ("text", None)
                                         for p in content):
        raise refusal("DeepL channels translate text only: the message has images or other non-text parts")
    text = message_text(content, "filled")
    if not text.strip():
        raise refusal("there is no text to translate: the last user message is empty")
    body: dict[str, Any] = {"text": [text], "target_lang": target_language(request.upstream_model)}
    context = request.system_prompt or "\n".join(s for s in systems if s)
    if context:
        body["context"] = context
    body["show_billed_characters"] = True
    return body, text


# -- answers ---------------------------------------------------------------------------------------------


def translation(data: Any, source: str) -> tuple[str, Usage]:
    """The translated text and its usage (DeepL's billed characters, else the source's characters)."""
    if not isinstance(data, dict):
        raise ValueError("the answer is not a JSON object")
    items = [t for t in data.get("translations") or [] if isinstance(t, dict)]
    if not items:
        raise deepl_error(500, str(data.get("message") or "DeepL returned no translation"))
    text = "".join(str(t.get("text") or "") for t in items)
    billed = [t.get("billed_characters") for t in items]
    if all(isinstance(b, int) and not isinstance(b, bool) for b in billed):
        return text, Usage(sum(billed), 0)  # type: ignore[arg-type]  # checked just above
    return text, Usage(len(source), 0)


def _source_text(request: RelayRequest) -> str:
    try:
        return translate_body(request)[1]
    except RelayError:
        return ""


class DeepLStream:
    """The pseudo-stream: DeepL's JSON answer buffered, then sent as one content chunk and a finish chunk."""

    def __init__(self, request: RelayRequest) -> None:
        self.usage: Usage | None = None
        self._request = request
        self._body = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        if len(self._body) + len(data) > MAX_BODY:
            raise deepl_error(500, "the DeepL answer is too large")
        self._body += data
        return []

    def finish(self) -> list[dict[str, Any]]:
        data = parse_json(bytes(self._body))
        if data is None:
            raise ValueError("DeepL answered with a body that is not JSON")
        text, self.usage = translation(data, _source_text(self._request))
        response_id, created, model = completion_id(), int(self._request.now), self._request.upstream_model
        return [chunk(response_id, model, {"role": "assistant", "content": text}, None, created),
                chunk(response_id, model, {}, "stop", created)]


# -- the adaptor -----------------------------------------------------------------------------------------


class DeepLAdaptor(AdaptorBase):
    name = "deepl"
    passthrough = False
    # Translation only: the base's cautious defaults (one answer, text, no tools, no images).
    inline_images = False

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        if request.mode != "chat":
            raise RelayError(f"DeepL channels serve chat completions (as translations) only, not {request.mode}",
                             status=501, code="mode_not_supported")
        body, _ = translate_body(request)
        headers = {"Authorization": f"DeepL-Auth-Key {channel.key.strip()}", "Content-Type": "application/json",
                   "Accept": "application/json"}
        return UpstreamCall("POST", host_for(channel) + TRANSLATE_PATH, headers, compact_json(body))

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        text, usage = translation(json_object(body), _source_text(request))
        return chat_completion(completion_id(), request.upstream_model, {"role": "assistant", "content": text},
                               "stop", usage, int(request.now)), usage

    def stream_translator(self, request: RelayRequest) -> DeepLStream:
        return DeepLStream(request)

    def error(self, status: int, body: bytes) -> Exception:
        data = parse_json(body)
        message = data.get("message") if isinstance(data, dict) else None
        if (isinstance(message, str) and message) or status in (403, QUOTA_EXCEEDED):
            detail = data.get("detail") if isinstance(data, dict) else None
            text = str(message or "") + (f" ({detail})" if isinstance(detail, str) and detail else "")
            return deepl_error(status, text)
        return upstream_error(status, body)


ADAPTOR = DeepLAdaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets the protocol the relay relies on
    _CHECKED: TranslatingAdaptor = ADAPTOR
