"""Coze (channel type 34): published Coze bots served as chat models through the v3 chat API. Pure, no I/O.

Protocol (https://www.coze.com/docs/developer_guides/chat_v3)
--------------------------------------------------------------
* ``POST {base}/v3/chat`` with ``Authorization: Bearer <personal access token>`` and ``{bot_id, user_id,
  stream, auto_save_history, additional_messages: [{role, type, content, content_type}]}``.
* With ``stream: true`` the answer is SSE: ``event:<name>`` then ``data:<json>`` — ``conversation.chat.created``
  / ``in_progress`` (the chat object), ``conversation.message.delta`` (a piece of a message: ``type`` answer,
  or function_call, tool_output, verbose, follow_up), ``conversation.message.completed`` (a whole message),
  ``conversation.chat.completed`` (``usage: {token_count, output_count, input_count}``),
  ``conversation.chat.failed`` (``last_error: {code, msg}``), ``conversation.chat.requires_action``, ``error``
  (``{code, msg}``) and ``done``.
* Errors are ``{code, msg}`` (code 0 = success), in a JSON body — with an error HTTP status, or with 200.

Translation
-----------
* The model names the bot: ``bot-<bot id>`` (One API's convention) or the bot id itself.
* Every request is sent with ``stream: true``: a non-stream answer is the same events read to the end. (Without
  streaming, Coze answers "in progress" and the answer has to be polled from two more endpoints.) History is not
  saved on Coze's side (``auto_save_history: false``): each request carries its conversation, as OpenAI's do.
* ``user_id``: the channel config's ``user_id`` (as One API), else the request's ``user``, else ``oneapi``.
* Messages: user turns are ``question``s, assistant turns ``answer``s; system and developer messages (or the
  channel's system prompt), which Coze's v3 API has no role for, go first as a user message (the bot keeps its
  own persona and prompt). Images are sent as Coze's ``object_string`` content with ``file_url`` items (http(s)
  URLs only). Coze takes at most 100 messages.
* The answer is the ``answer`` messages' text (their deltas; a message completed without deltas is sent whole;
  several answer messages are separated by a blank line);
  ``reasoning_content`` is kept; function calls, tool outputs, verbose and follow-up messages (the bot's own
  plugins and suggestions) are not the answer. Usage is ``input_count`` / ``output_count`` of the completed chat
  (One API counted the answer's tokens itself and billed the prompt it estimated).
* Refused with a 400 before any call: ``n`` > 1, tools or functions and tool results (a bot calls its own
  plugins), ``response_format`` other than text, data-URL images, more than 100 messages. Sampling parameters
  are the bot's own settings and are not sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oneapi.proxy.adaptors.base import AdaptorBase, RelayRequest, TranslatingAdaptor, UpstreamCall, Usage
from oneapi.proxy.adaptors.client_request import message_text
from oneapi.proxy.adaptors.common import chat_completion, chunk, compact_json, completion_id, openai_error
from oneapi.proxy.adaptors.openai import trimmed_base_url
from oneapi.proxy.adaptors.streaming import LineTranslator
from oneapi.proxy.sse import parse_json
from oneapi.wire.channel import RouteChannel
from oneapi.wire.errors import RelayError, UpstreamError, upstream_error

CHAT_PATH = "/v3/chat"
ERROR_TYPE = "coze_error"
DEFAULT_USER = "oneapi"
MAX_MESSAGES = 100
BOT_PREFIX = "bot-"
_STATUS = {4100: 401, 4101: 403, 4013: 429, 4200: 404}


def refusal(message: str) -> RelayError:
    return RelayError(message, status=400, code="invalid_request")


def status_for(code: int) -> int:
    if code in _STATUS:
        return _STATUS[code]
    return 400 if 4000 <= code < 5000 else 500


def coze_error(error: Mapping[str, Any], http_status: int = 200) -> UpstreamError:
    raw = error.get("code")
    code = raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
    status = http_status if http_status >= 400 else status_for(code)
    return openai_error(status, str(error.get("msg") or f"Coze error {raw}"), ERROR_TYPE, raw)


def _is_error(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("code"), int) and data["code"] != 0


def bot_id(model: str) -> str:
    return model.removeprefix(BOT_PREFIX)


# -- requests --------------------------------------------------------------------------------------------


def _refuse_what_a_bot_cannot_do(data: Mapping[str, Any], messages: list[dict[str, Any]]) -> None:
    n = data.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
        raise refusal("Coze bots give one answer per request: n must be 1")
    if data.get("tools") or data.get("functions") or any(m.get("role") in ("tool", "function") for m in messages):
        raise refusal("Coze bots call their own plugins: tools, functions and tool results cannot be sent")
    fmt = data.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") not in (None, "text"):
        raise refusal("Coze bots answer in their own format: response_format must be text")
    if len(messages) > MAX_MESSAGES:
        raise refusal(f"Coze takes at most {MAX_MESSAGES} messages per request, not {len(messages)}")


def _content(content: Any) -> tuple[str, str]:
    """(content, content_type): plain text, or Coze's object_string for text with images."""
    if not isinstance(content, list) or not any(isinstance(p, dict) and p.get("type") == "image_url"
                                                for p in content):
        return message_text(content, "filled"), "text"
    items: list[dict[str, str]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text" and isinstance(part.get("text"), str) and part["text"]:
            items.append({"type": "text", "text": part["text"]})
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise refusal("Coze takes images by http(s) URL only, not as data URLs")
            items.append({"type": "image", "file_url": url})
    return json.dumps(items, ensure_ascii=False), "object_string"


def chat_body(channel: RouteChannel, request: RelayRequest) -> dict[str, Any]:
    data = request.json or {}
    messages = [m for m in data.get("messages") or [] if isinstance(m, dict)]
    _refuse_what_a_bot_cannot_do(data, messages)
    systems = [message_text(m.get("content"), "filled") for m in messages if m.get("role") in ("system", "developer")]
    system = request.system_prompt or "\n".join(s for s in systems if s)
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "user", "type": "question", "content": system, "content_type": "text"})
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            continue
        content, content_type = _content(message.get("content"))
        if not content:
            continue
        answer = role == "assistant"
        out.append({"role": "assistant" if answer else "user", "type": "answer" if answer else "question",
                    "content": content, "content_type": content_type})
    if not out or out[-1]["role"] != "user":
        raise refusal("the last message for a Coze bot must be a user message with some content")
    user = channel.config.get("user_id") or data.get("user") or DEFAULT_USER
    return {"bot_id": bot_id(request.upstream_model), "user_id": str(user), "stream": True,
            "auto_save_history": False, "additional_messages": out}


# -- answers ---------------------------------------------------------------------------------------------


class CozeStream(LineTranslator):
    """Coze's v3 chat events → OpenAI chunks; ``usage`` from the completed chat. Raises UpstreamError for a
    failed chat, an ``error`` event, a bot that requires an action, or a plain ``{code, msg}`` error body."""

    def __init__(self, request: RelayRequest) -> None:
        super().__init__(request.upstream_model, int(request.now))
        self._id = completion_id()
        self._event = ""
        self._streamed: set[str] = set()  # answer messages whose deltas were sent
        self._answer_id = ""  # the answer message whose text was sent last

    def _line(self, line: bytes) -> list[dict[str, Any]]:
        name, _, value = line.partition(b":")
        if name == b"event":
            self._event = value.decode(errors="replace").strip()
            return []
        if name != b"data":
            if line.strip().startswith(b"{"):  # an error body given instead of a stream
                data = parse_json(line)
                if _is_error(data):
                    raise coze_error(data)
            return []
        data = parse_json(value.strip())
        event, self._event = self._event, ""
        return self._translate(event, data) if isinstance(data, dict) else []

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return chunk(self._id, self._model, self._with_role(delta), finish, self._created)

    def _translate(self, event: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        if event == "conversation.chat.created" and isinstance(data.get("id"), str) and data["id"]:
            self._id = f"chatcmpl-{data['id']}"
        elif event == "conversation.message.delta" and data.get("type") == "answer":
            self._streamed.add(str(data.get("id")))
            return self._message(data)
        elif event == "conversation.message.completed" and data.get("type") == "answer":
            return [] if str(data.get("id")) in self._streamed else self._message(data)
        elif event == "conversation.chat.completed":
            usage = data.get("usage")
            if isinstance(usage, dict):
                self.usage = Usage(_count(usage, "input_count"), _count(usage, "output_count"))
            return [self._chunk({}, "stop")]
        elif event == "conversation.chat.failed":
            error = data.get("last_error")
            raise coze_error(error if isinstance(error, dict) and error.get("code") else
                             {"code": 500, "msg": "the Coze chat failed"})
        elif event == "conversation.chat.requires_action":
            raise openai_error(500, "the Coze bot asked for the result of a plugin that runs on the caller's side "
                                    "(requires_action), which an OpenAI client cannot give", ERROR_TYPE,
                               "requires_action")
        elif event == "error" or _is_error(data):
            raise coze_error(data)
        return []

    def _message(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        if isinstance(data.get("reasoning_content"), str) and data["reasoning_content"]:
            out.append(self._chunk({"reasoning_content": data["reasoning_content"]}))
        if isinstance(data.get("content"), str) and data["content"]:
            message_id = str(data.get("id"))
            # A bot may answer in several messages (around its plugin calls): a blank line between them.
            separator = "\n\n" if self._answer_id not in ("", message_id) else ""
            self._answer_id = message_id
            out.append(self._chunk({"content": separator + data["content"]}))
        return out


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def collected(request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
    """A whole event stream read as one ``chat.completion``."""
    if body.lstrip().startswith(b"{"):
        data = parse_json(body)
        if _is_error(data):
            raise coze_error(data)
    translator = CozeStream(request)
    chunks = translator.feed(body) + translator.finish()
    if not any(c["choices"][0]["finish_reason"] for c in chunks):
        raise ValueError("the Coze stream ended before the chat completed")
    deltas = [c["choices"][0]["delta"] for c in chunks]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(d.get("content") or "" for d in deltas)}
    reasoning = "".join(d.get("reasoning_content") or "" for d in deltas)
    if reasoning:
        message["reasoning_content"] = reasoning
    return chat_completion(chunks[-1]["id"], request.upstream_model, message, "stop", translator.usage,
                           int(request.now)), translator.usage


# -- the adaptor -----------------------------------------------------------------------------------------


class CozeAdaptor(AdaptorBase):
    name = "coze"
    passthrough = False
    # A bot answers in its own way: one answer, text, its own plugins (no client tools); images by URL.
    serves_images = True
    inline_images = False

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        if request.mode != "chat":
            raise RelayError(f"Coze channels serve chat completions only, not {request.mode}", status=501,
                             code="mode_not_supported")
        headers = {"Authorization": f"Bearer {channel.key}", "Content-Type": "application/json",
                   "Accept": "text/event-stream"}
        url = trimmed_base_url(channel, ("/v3", "/open_api/v2")) + CHAT_PATH
        return UpstreamCall("POST", url, headers, compact_json(chat_body(channel, request)))

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        return collected(request, body)

    def stream_translator(self, request: RelayRequest) -> CozeStream:
        return CozeStream(request)

    def error(self, status: int, body: bytes) -> Exception:
        data = parse_json(body)
        if isinstance(data, dict) and (_is_error(data) or data.get("msg")):
            return coze_error(data, status)
        return upstream_error(status, body)


ADAPTOR = CozeAdaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets the protocol the relay relies on
    _CHECKED: TranslatingAdaptor = ADAPTOR
