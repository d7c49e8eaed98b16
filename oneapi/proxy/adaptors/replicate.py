"""Replicate (channel type 46): language models as chat completions and image models as image generations,
through Replicate's predictions API: a prediction is created, then polled or streamed. Pure, no I/O: the relay's
upstream client makes the calls this module names (``UpstreamCall.follow``).

Protocol (https://replicate.com/docs/reference/http, .../reference/streaming)
----------------------------------------------------------------------------
* ``POST {base}/v1/models/{owner}/{name}/predictions`` with ``Authorization: Bearer <r8_ token>`` and
  ``{input: {...}, stream?}`` creates a prediction: 201 with ``{id, model, status, input, output, error, logs,
  metrics: {input_token_count, output_token_count, predict_time}, urls: {get, cancel, stream?}}``. With
  ``Prefer: wait`` Replicate holds the answer until the prediction finishes, up to 60 s. ``status`` is
  ``succeeded`` / ``failed`` / ``canceled``, or still ``starting`` / ``processing``.
* ``GET {base}/v1/predictions/{id}`` reads the prediction again (polling).
* ``GET urls.stream`` with ``Accept: text/event-stream`` (language models that stream): server-sent events
  ``output`` (a piece of text as the raw data, several ``data:`` lines joined by newlines), ``error`` (``{detail}``)
  and ``done`` (``{}``, or ``{"reason": "canceled" | "error"}``).
* Language models answer ``output`` as a list of text pieces; image models a URL or a list of URLs.
* Errors are problem details: the HTTP status with ``{title, detail, status}`` (401 Unauthenticated, 404, 422
  "Input validation failed", 429 throttled, 402 out of credit).

Translation (One API's inputs)
------------------------------
* Chat: ``input: {prompt, max_tokens (default 500), temperature (1), top_p (1), presence_penalty (0),
  frequency_penalty (0)}``; the prompt is every message as ``"<role>: <text>\\n"`` (One API's), the channel's
  system prompt first. Usage is the prediction's ``input_token_count`` / ``output_token_count`` when Replicate
  reports them (its official language models do), else counted by the relay.
* Non-stream requests and images: created with ``Prefer: wait``; a prediction still running is then polled at
  ``{base}/v1/predictions/{id}`` (0.25 s, doubling up to 2 s between reads) until it finishes. The relay bounds
  the whole exchange by RELAY_TIMEOUT (or RELAY_FIRST_BYTE_TIMEOUT when that is 0); a prediction still running
  then is answered 504 ``prediction_not_finished`` (its id in the message) and refunded, and canceled
  (``POST {base}/v1/predictions/{id}/cancel``) so that Replicate stops running and billing it; so is one whose
  client leaves while it is polled.
* Streams: created with ``stream: true`` and no wait; when the prediction offers a stream URL, its events are
  relayed as chunks as they come, and once ``done`` the finished prediction is read once more for its token
  counts (the usage). A model without a stream URL is polled, and its finished answer sent as one chunk. The
  stream URL is followed only on the channel's own origin or over https on a replicate.com / replicate.net
  host (the key goes with it); any other is polled instead. (One API accepted only streams, polled itself.)
* Images: ``input: {prompt, aspect_ratio, output_format: "png"}`` with the aspect ratio of the requested
  ``size`` (``1024x1024`` → ``1:1``, ``1792x1024`` → ``16:9``...); the answer is OpenAI's ``{created, data: [{url}]}``.
  Replicate makes one image per prediction, and answers URLs only: ``n`` > 1 and ``response_format: b64_json``
  are refused with a 400, as are tools, JSON mode and ``n`` > 1 for chat.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlsplit

from oneapi.proxy.adaptors.base import AdaptorBase, FollowUp, RelayRequest, TranslatingAdaptor, UpstreamCall, Usage
from oneapi.proxy.adaptors.client_request import is_number, message_text
from oneapi.proxy.adaptors.common import chat_completion, chunk, compact_json, completion_id, json_object, openai_error
from oneapi.proxy.adaptors.openai import trimmed_base_url
from oneapi.proxy.sse import parse_json
from oneapi.wire.channel import RouteChannel
from oneapi.wire.errors import RelayError, UpstreamError, upstream_error

ERROR_TYPE = "replicate_error"
DEFAULT_MAX_TOKENS = 500
MAX_BODY: Final = 16 * 1024 * 1024
RUNNING = ("starting", "processing")
_ASPECT_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
_CODES = {401: "invalid_api_key", 402: "insufficient_quota", 404: "model_not_found", 422: "invalid_input",
          429: "rate_limit_exceeded"}


def refusal(message: str) -> RelayError:
    return RelayError(message, status=400, code="invalid_request")


def replicate_error(status: int, message: str, code: str | None = None) -> UpstreamError:
    kind = "insufficient_quota" if status == 402 else ERROR_TYPE
    return openai_error(status, message or f"bad response status code {status}", kind,
                        code or _CODES.get(status, ERROR_TYPE))


def model_path(model: str) -> str:
    owner, sep, name = model.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise refusal(f"a Replicate model is named owner/name, not {model!r}")
    return f"/v1/models/{quote(owner, safe='')}/{quote(name, safe='')}/predictions"


# -- requests --------------------------------------------------------------------------------------------


def _number(data: Mapping[str, Any], name: str, default: float) -> float:
    return float(data[name]) if is_number(data.get(name)) else default


def chat_input(request: RelayRequest) -> dict[str, Any]:
    data = request.json or {}
    n = data.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
        raise refusal("Replicate channels give one answer per request: n must be 1")
    if data.get("tools") or data.get("functions"):
        raise refusal("Replicate channels cannot call tools")
    fmt = data.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") not in (None, "text"):
        raise refusal("Replicate channels answer plain text: response_format must be text")
    lines = [f"system: {request.system_prompt}\n"] if request.system_prompt else []
    for message in data.get("messages") or []:
        if not isinstance(message, dict) or (request.system_prompt and message.get("role") == "system"):
            continue
        lines.append(f"{message.get('role')}: {message_text(message.get('content'), 'filled')}\n")
    limit = data.get("max_completion_tokens") or data.get("max_tokens")
    return {"prompt": "".join(lines),
            "max_tokens": limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
            else DEFAULT_MAX_TOKENS,
            "temperature": _number(data, "temperature", 1.0), "top_p": _number(data, "top_p", 1.0),
            "presence_penalty": _number(data, "presence_penalty", 0.0),
            "frequency_penalty": _number(data, "frequency_penalty", 0.0)}


def aspect_ratio(size: str) -> str:
    """The aspect ratio Replicate's image models accept that is nearest to ``WxH`` (1:1 when unreadable)."""
    width, _, height = size.partition("x")
    if not (width.isdigit() and height.isdigit()) or not int(width) or not int(height):
        return "1:1"
    wanted = math.log(int(width) / int(height))
    return min(_ASPECT_RATIOS, key=lambda r: abs(math.log(int(r.split(":")[0]) / int(r.split(":")[1])) - wanted))


def image_input(request: RelayRequest) -> dict[str, Any]:
    data = request.json or {}
    if data.get("n", 1) != 1:
        raise refusal("Replicate makes one image per request: n must be 1")
    if data.get("response_format", "url") not in ("url", None):
        raise refusal("Replicate answers image URLs only: response_format must be url")
    return {"prompt": str(data.get("prompt") or ""), "aspect_ratio": aspect_ratio(str(data.get("size") or "")),
            "output_format": "png"}


# -- answers ---------------------------------------------------------------------------------------------


def finished(data: Any) -> dict[str, Any]:
    """The finished prediction, or the UpstreamError its state stands for."""
    if not isinstance(data, dict):
        raise ValueError("the answer is not a JSON object")
    status = data.get("status")
    if status == "succeeded":
        return data
    if status in RUNNING:
        raise replicate_error(504, f"the Replicate prediction {data.get('id')} did not finish in the time the "
                                   f"relay waits (still {status})", "prediction_not_finished")
    if status in ("failed", "canceled"):
        raise replicate_error(500, f"the Replicate prediction {status}: {data.get('error') or 'no reason given'}",
                              f"prediction_{status}")
    raise ValueError(f"the prediction has an unknown status {status!r}")


def usage_of(data: dict[str, Any]) -> Usage | None:
    metrics = data.get("metrics")
    if not isinstance(metrics, dict):
        return None
    found = [metrics.get(k) for k in ("input_token_count", "output_token_count")]
    if not all(is_number(v) for v in found):
        return None
    return Usage(int(found[0]), int(found[1]))  # type: ignore[arg-type]  # numbers, checked above


def output_text(output: Any) -> str:
    if isinstance(output, list):
        return "".join(str(piece) for piece in output if piece is not None)
    return "" if output is None else str(output)


def image_answer(data: dict[str, Any], created: int) -> dict[str, Any]:
    output = data.get("output")
    urls = [output] if isinstance(output, str) else [u for u in output if isinstance(u, str)] \
        if isinstance(output, list) else []
    if not urls:
        raise replicate_error(500, "the Replicate prediction succeeded without an image", "empty_output")
    return {"created": created, "data": [{"url": url, "revised_prompt": ""} for url in urls]}


class ReplicateStream:
    """Replicate's answer to a stream request, as chunks. Two shapes come here: the server-sent events of the
    prediction's stream URL (each ``output`` event a chunk as it arrives; after ``done``, the finished
    prediction the relay read once more, for its usage), or the finished prediction of a model that does not
    stream, buffered and sent as one chunk. The first byte tells them apart (``{`` opens a prediction)."""

    def __init__(self, request: RelayRequest) -> None:
        self.usage: Usage | None = None
        self._request = request
        self._body = bytearray()      # the buffered prediction, or what follows the stream's done event
        self._shape: str | None = None  # "sse" or "json", once the first byte came
        self._pending = b""           # an incomplete SSE line
        self._event = ""
        self._data: list[str] = []
        self._done = False
        self._started = False
        self._id = completion_id()
        self._failure: UpstreamError | None = None  # an error event behind pieces still to deliver

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        if self._shape is None:
            head = data.lstrip()
            if not head:
                return []
            self._shape = "json" if head.startswith(b"{") else "sse"
        if self._shape == "json" or self._done:
            return self._buffer(data)
        if self._failure is not None:
            raise self._failure
        out: list[dict[str, Any]] = []
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        for number, raw in enumerate(lines):
            if self._done:  # the rest is the finished prediction read after the stream
                return out + self._buffer(b"\n".join(lines[number:]) + b"\n" + self._pending)
            try:
                out += self._line(raw.rstrip(b"\r").decode("utf-8", "replace"))
            except UpstreamError as exc:
                if not out:
                    raise
                # the pieces before the error in this read are delivered first; the error ends the stream next
                self._failure = exc
                return out
        if self._done:
            self._buffer(self._pending)
            self._pending = b""
        return out

    def _buffer(self, data: bytes) -> list[dict[str, Any]]:
        if len(self._body) + len(data) > MAX_BODY:
            raise replicate_error(500, "the Replicate answer is too large")
        self._body += data
        return []

    def _line(self, line: str) -> list[dict[str, Any]]:
        if line:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value  # one space after the colon is not data
            if field == "event":
                self._event = value
            elif field == "data":
                self._data.append(value)
            return []
        event, data = self._event or "message", "\n".join(self._data)
        self._event, self._data = "", []
        if event == "output":
            return [self._chunk({"content": data}, None)] if data else []
        if event == "error":
            detail = parse_json(data.encode())
            message = detail.get("detail") if isinstance(detail, dict) else None
            raise replicate_error(500, f"the Replicate prediction failed: {message or data or 'no reason given'}",
                                  "prediction_failed")
        if event == "done":
            self._done = True
            reason = parse_json(data.encode()) if data else {}
            reason = reason.get("reason") if isinstance(reason, dict) else None
            if reason in ("canceled", "error"):
                raise replicate_error(500, f"the Replicate prediction ended: {reason}", f"prediction_{reason}"
                                      if reason == "canceled" else "prediction_failed")
            return [self._chunk({}, "stop")]
        return []  # logs, comments and events of later API versions

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        if not self._started:
            self._started = True
            delta = {"role": "assistant", **delta}
        return chunk(self._id, self._request.upstream_model, delta, finish, int(self._request.now))

    def finish(self) -> list[dict[str, Any]]:
        if self._failure is not None:
            raise self._failure
        if self._shape == "sse":
            if self._pending:  # a last line without its newline, then the end of the event
                lines, self._pending = [self._pending.decode("utf-8", "replace"), ""], b""
                out = [c for line in lines for c in self._line(line)]
            else:
                out = []
            after = parse_json(bytes(self._body)) if self._body.strip() else None
            if isinstance(after, dict) and after.get("status") == "succeeded":
                self.usage = usage_of(after)
            return out
        data = finished(parse_json(bytes(self._body)))
        self.usage = usage_of(data)
        response_id, created, model = _answer_id(data), int(self._request.now), self._request.upstream_model
        return [chunk(response_id, model, {"role": "assistant", "content": output_text(data.get("output"))}, None,
                      created),
                chunk(response_id, model, {}, "stop", created)]


def _answer_id(data: Mapping[str, Any]) -> str:
    return f"chatcmpl-{data['id']}" if isinstance(data.get("id"), str) and data["id"] else completion_id()


# -- the exchange: create, then poll or stream ----------------------------------------------------------

POLL_FIRST: Final = 0.25  # seconds before the first read of a running prediction, doubled up to POLL_MOST
POLL_MOST: Final = 2.0
_PREDICTION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_STREAM_HOSTS = ("replicate.com", "replicate.net")


def next_step(base: str, key: str, streaming: bool, polls: int, status: int, body: bytes) -> FollowUp | None:
    """What follows Replicate's answer ``body``: None when it is the one to deliver (an error, a finished
    prediction, or something unreadable, for parse_response to report), else the stream or the next poll."""
    data = parse_json(body) if status in (200, 201) else None
    if not isinstance(data, dict) or data.get("status") not in RUNNING:
        return None
    prediction_id = data.get("id")
    if not isinstance(prediction_id, str) or not _PREDICTION_ID.fullmatch(prediction_id):
        return None  # reported by finished() as not finished, with what id there is
    auth = {"Authorization": f"Bearer {key}"}
    poll = UpstreamCall("GET", f"{base}/v1/predictions/{prediction_id}", {**auth, "Accept": "application/json"})
    urls = data.get("urls")
    stream_url = urls.get("stream") if isinstance(urls, dict) else None
    if streaming and isinstance(stream_url, str) and stream_url_allowed(stream_url, base):
        return FollowUp(UpstreamCall("GET", stream_url, {**auth, "Accept": "text/event-stream",
                                                         "Cache-Control": "no-store"}, epilogue=poll))
    delay = min(POLL_FIRST * 2 ** polls, POLL_MOST)
    cancel = UpstreamCall("POST", f"{base}/v1/predictions/{prediction_id}/cancel", auth)
    return FollowUp(UpstreamCall(poll.method, poll.url, poll.headers,
                                 follow=partial(next_step, base, key, False, polls + 1)), delay, abandon=cancel)


def stream_url_allowed(url: str, base: str) -> bool:
    """The channel's key goes with the request: only to the channel's own origin or to Replicate over https."""
    try:
        parts, home = urlsplit(url), urlsplit(base)
    except ValueError:
        return False
    if (parts.scheme, parts.netloc) == (home.scheme, home.netloc):
        return True
    host = parts.hostname or ""
    return parts.scheme == "https" and any(host == h or host.endswith("." + h) for h in _STREAM_HOSTS)


# -- the adaptor -----------------------------------------------------------------------------------------


class ReplicateAdaptor(AdaptorBase):
    name = "replicate"
    passthrough = False
    # Language models take a prompt: one answer, text, no tools, no images.
    inline_images = False

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        if request.mode == "chat":
            inputs = chat_input(request)
        elif request.mode == "images":
            inputs = image_input(request)
        else:
            raise RelayError(f"Replicate channels serve chat completions and image generations, not {request.mode}",
                             status=501, code="mode_not_supported")
        # One API's default base URL ends in /v1/models/: the paths are added here.
        base = trimmed_base_url(channel, ("/models", "/v1"))
        streaming = request.stream and request.mode == "chat"
        headers = {"Authorization": f"Bearer {channel.key}", "Content-Type": "application/json",
                   "Accept": "application/json"}
        body: dict[str, Any] = {"input": inputs}
        if streaming:
            body["stream"] = True  # no wait: the stream URL is wanted at once
        else:
            headers["Prefer"] = "wait"
        return UpstreamCall("POST", base + model_path(request.upstream_model), headers, compact_json(body),
                            follow=partial(next_step, base, channel.key, streaming, 0))

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        data = finished(json_object(body))
        if request.mode == "images":
            return image_answer(data, int(request.now)), None
        usage = usage_of(data)
        return chat_completion(_answer_id(data), request.upstream_model,
                               {"role": "assistant", "content": output_text(data.get("output"))}, "stop", usage,
                               int(request.now)), usage

    def stream_translator(self, request: RelayRequest) -> ReplicateStream:
        return ReplicateStream(request)

    def error(self, status: int, body: bytes) -> Exception:
        data = parse_json(body)
        if isinstance(data, dict) and (data.get("detail") or data.get("title")):
            detail = data.get("detail")
            message = detail if isinstance(detail, str) and detail else str(data.get("title"))
            if isinstance(data.get("invalid_fields"), list):
                message += " " + json.dumps(data["invalid_fields"], ensure_ascii=False)
            return replicate_error(status, message)
        return upstream_error(status, body)


ADAPTOR = ReplicateAdaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets the protocol the relay relies on
    _CHECKED: TranslatingAdaptor = ADAPTOR
