"""Google Gemini (channel type 24): OpenAI chat and embeddings ↔ the Gemini API (SPEC 6.5 and 11). Pure.

Requests
  * URL ``{base}/{version}/models/{model}:{action}`` with ``x-goog-api-key``; action ``generateContent``,
    ``streamGenerateContent?alt=sse`` or ``batchEmbedContents``. The version is the channel's ``api_version``
    config; else ``v1beta`` when the model needs it (gemini ≥ 1.5, gemini-exp, gemini-embedding, learnlm, gemma)
    or the request uses what ``v1`` lacks (``systemInstruction``, tools, JSON mode); else GEMINI_VERSION.
  * ``contents`` take roles ``user`` and ``model`` only: ``assistant`` → ``model``; ``tool`` / ``function``
    results → ``functionResponse`` parts (``response`` is always an object: JSON objects as they are, anything
    else wrapped as ``{"content": ...}``; the name comes from the assistant tool call with the same id) in a
    user turn; assistant ``tool_calls`` → ``functionCall`` parts (arguments parsed to an object). Consecutive
    same-role turns are merged and empty parts / turns dropped, because Gemini rejects both.
  * System and developer messages are merged into ``systemInstruction``; the channel's system prompt replaces
    them. When a channel pins ``api_version: v1`` they become a user turn answered by a model "Okay" instead.
  * Images arrive as bytes in ``RelayRequest.images`` (the relay fetched them) and become ``inlineData``.
  * ``generationConfig``: temperature, topP, topK, seed, maxOutputTokens, ``stopSequences`` from ``stop``,
    ``candidateCount`` from ``n``, ``responseMimeType`` / ``responseSchema`` from ``response_format``.
  * Tools → ``functionDeclarations`` whose JSON schemas are cut down to the OpenAPI subset Gemini accepts
    (:mod:`.gemini_schema`: ``additionalProperties``, ``$schema``, ``strict``, ``title`` ... dropped; local
    ``$ref`` inlined; type lists and ``null`` variants become ``nullable``; non-string enums moved to the
    description). ``tool_choice`` → ``toolConfig.functionCallingConfig`` (AUTO / NONE / ANY +
    ``allowedFunctionNames``).
  * ``safetySettings``: the five harm categories at the configured threshold (GEMINI_SAFETY_SETTING).
  * Gemini 3 refuses replayed ``functionCall`` parts without a ``thoughtSignature``; OpenAI clients cannot
    carry one, so those parts get Google's documented ``skip_thought_signature_validator`` sentinel.

Answers
  * Candidates → choices (text parts joined, ``thought`` parts → ``reasoning_content``, ``functionCall`` parts →
    ``tool_calls`` with fresh ``call_`` ids and JSON arguments). finishReason STOP → stop, MAX_TOKENS → length,
    SAFETY / RECITATION / BLOCKLIST / ... → content_filter; any function call → tool_calls.
  * Usage from ``usageMetadata``: prompt = promptTokenCount (+ toolUsePromptTokenCount), completion =
    candidatesTokenCount + thoughtsTokenCount. No candidates → an error carrying ``promptFeedback.blockReason``.
  * Streams: SSE ``data:`` events (LF or CRLF, split anywhere) → chunks sharing one id; usage from the last
    ``usageMetadata``; the finish reason arrives in its own chunk.
  * Embeddings: one ``batchEmbedContents`` request per input; the OpenAI list has indices 0..n-1 in the requested
    ``encoding_format``; usage only when Gemini reports it (else None: the relay counts).
  * Errors ``{"error": {"code", "message", "status"}}`` → ``{"message", "type": <status>, "code": "<code>",
    "param": ""}`` with the HTTP status kept (429 retries elsewhere; "API key not valid" disables the channel).

One API quirks fixed here: ``stop`` is mapped; embedding indices are 0..n-1 (not all 0); usage comes from
``usageMetadata`` (not tiktoken of the first part); every part and every candidate is read (not parts[0]);
stream chunks share one id and carry finish reasons and tool calls; system prompts use ``systemInstruction``
on every model that has it (not a hard-coded list of three).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from oneapi.proxy.adaptors.base import (
    EVERY_FORMAT,
    AdaptorBase,
    InlineImage,
    RelayRequest,
    TranslatingAdaptor,
    UpstreamCall,
    Usage,
)
from oneapi.proxy.adaptors.client_request import (
    embedding_texts,
    is_number,
    merged_turns,
    message_text,
    requested_encoding,
)
from oneapi.proxy.adaptors.common import (
    chunk,
    compact_json,
    completion_body,
    completion_id,
    embedding_list,
    openai_error,
    tool_call_id,
    usage_object,
)
from oneapi.proxy.adaptors.gemini_schema import clean_schema, is_usable
from oneapi.proxy.adaptors.openai import base_url
from oneapi.proxy.sse import LineSplitter, data_payload, parse_json
from oneapi.wire.channel import RouteChannel
from oneapi.wire.errors import UpstreamError, upstream_error

V1BETA: Final = "v1beta"
SAFETY_CATEGORIES: Final = ("HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH",
                            "HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_DANGEROUS_CONTENT",
                            "HARM_CATEGORY_CIVIC_INTEGRITY")
FINISH_REASONS: Final = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter",
                         "RECITATION": "content_filter", "BLOCKLIST": "content_filter",
                         "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
                         "IMAGE_SAFETY": "content_filter"}
SKIP_SIGNATURE: Final = "skip_thought_signature_validator"
_MODEL_VERSION = re.compile(r"^gemini-(\d+)(?:\.(\d+))?")
_V1BETA_PREFIXES = ("gemini-exp", "gemini-embedding", "learnlm", "gemma")
_MAX_RAW = 16 * 1024 * 1024


def model_needs_v1beta(model: str) -> bool:
    """Models only served under v1beta: gemini 1.5 and later, experimental, embedding and open models."""
    found = _MODEL_VERSION.match(model)
    if found:
        return (int(found.group(1)), int(found.group(2) or 0)) >= (1, 5)
    return model.startswith(_V1BETA_PREFIXES)


def needs_thought_signature(model: str) -> bool:
    found = _MODEL_VERSION.match(model)
    return found is not None and int(found.group(1)) >= 3


# -- errors ------------------------------------------------------------------------------------------

def google_error(status: int, body: bytes | Any) -> UpstreamError:
    """Google's ``{"error": {"code", "message", "status"}}`` (also inside a JSON array) → UpstreamError."""
    data = parse_json(bytes(body)) if isinstance(body, bytes | bytearray) else body
    if isinstance(data, list) and data:
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict) and (err.get("message") or err.get("status")):
        code = err.get("code")
        return openai_error(status, str(err.get("message") or err.get("status")),
                            str(err.get("status") or "upstream_error"), str(code if code is not None else status))
    return upstream_error(status, bytes(body) if isinstance(body, bytes | bytearray) else json.dumps(body).encode())


def _status_of(err: Any) -> int:
    code = err.get("code") if isinstance(err, dict) else None
    return code if isinstance(code, int) and 400 <= code <= 599 else 500


def _no_candidates(data: dict[str, Any]) -> UpstreamError:
    feedback = data.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if reason:
        return openai_error(400, f"Gemini blocked the prompt (blockReason {reason})", "prompt_blocked", str(reason))
    return openai_error(500, "No candidates returned", "server_error", "500")


# -- request: messages -------------------------------------------------------------------------------

def _inline(url: str, images: Mapping[str, InlineImage]) -> dict[str, Any]:
    image = images.get(url)
    if image is None and url.startswith("data:"):
        header, _, data = url.partition(",")
        if ";base64" in header and data:
            image = InlineImage(header[5:].split(";")[0] or "image/png", data)
    if image is None:
        raise ValueError(f"the image {url[:80]} was not fetched")
    return {"inlineData": {"mimeType": image.mime_type, "data": image.data_base64}}


def _parts(content: Any, images: Mapping[str, InlineImage]) -> list[dict[str, Any]]:
    """A message content → Gemini parts: text (never empty) and inline data."""
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str) and part["text"].strip():
            parts.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str) and url:
                parts.append(_inline(url, images))
        elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            audio = part["input_audio"]
            parts.append({"inlineData": {"mimeType": f"audio/{audio.get('format') or 'wav'}",
                                         "data": str(audio.get("data") or "")}})
    return parts


def _arguments(arguments: Any) -> dict[str, Any]:
    """OpenAI's JSON-string arguments → the object Gemini's ``functionCall.args`` must be."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    parsed = parse_json(arguments.encode())
    return parsed if isinstance(parsed, dict) else {"arguments": arguments}


def _response_object(content: Any) -> dict[str, Any]:
    """A tool result → ``functionResponse.response``, which must be a JSON object."""
    text = message_text(content, "strings")
    parsed = parse_json(text.encode()) if text.strip() else None
    if isinstance(parsed, dict):
        return parsed
    return {"content": parsed if parsed is not None else text}


def _function_call(name: Any, arguments: Any, signed: bool) -> dict[str, Any]:
    part: dict[str, Any] = {"functionCall": {"name": str(name or ""), "args": _arguments(arguments)}}
    if signed:
        part["thoughtSignature"] = SKIP_SIGNATURE
    return part


def _merge(turns: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """``contents`` without empty turns or consecutive turns of one role (Gemini wants neither)."""
    return [{"role": role, "parts": parts} for role, parts in merged_turns(turns)]


def convert_messages(messages: Any, images: Mapping[str, InlineImage],
                     model: str) -> tuple[list[str], list[dict[str, Any]]]:
    """OpenAI messages → (system texts, Gemini ``contents``)."""
    system: list[str] = []
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    call_names: dict[str, str] = {}
    signed = needs_thought_signature(model)
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            text = message_text(content, "strings")
            if text.strip():
                system.append(text)
        elif role == "assistant":
            parts = _parts(content, images)
            for call in message.get("tool_calls") or []:
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict):
                    call_names[str(call.get("id") or "")] = str(fn.get("name") or "")
                    parts.append(_function_call(fn.get("name"), fn.get("arguments"), signed))
            legacy = message.get("function_call")
            if isinstance(legacy, dict):
                parts.append(_function_call(legacy.get("name"), legacy.get("arguments"), signed))
            turns.append(("model", parts))
        elif role in ("tool", "function"):
            name = call_names.get(str(message.get("tool_call_id") or "")) or message.get("name") or ""
            turns.append(("user", [{"functionResponse": {"name": str(name),
                                                         "response": _response_object(content)}}]))
        else:
            turns.append(("user", _parts(content, images)))
    return system, _merge(turns)


# -- request: tools and schemas ----------------------------------------------------------------------

def _declaration(fn: dict[str, Any]) -> dict[str, Any]:
    decl: dict[str, Any] = {"name": str(fn.get("name") or "")}
    if fn.get("description"):
        decl["description"] = str(fn["description"])
    params = clean_schema(fn.get("parameters"))
    if is_usable(params):
        decl["parameters"] = params
    return decl


def _tools(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    decls = [_declaration(t["function"]) for t in data.get("tools") or []
             if isinstance(t, dict) and t.get("type", "function") == "function" and isinstance(t.get("function"),
                                                                                              dict)]
    decls += [_declaration(f) for f in data.get("functions") or [] if isinstance(f, dict)]
    return [{"functionDeclarations": decls}] if decls else None


def _tool_config(choice: Any) -> dict[str, Any] | None:
    modes = {"none": "NONE", "auto": "AUTO", "required": "ANY", "any": "ANY"}
    if isinstance(choice, str) and choice in modes:
        return {"functionCallingConfig": {"mode": modes[choice]}}
    if isinstance(choice, dict):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else choice.get("name")
        if isinstance(name, str) and name:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    return None


# -- request: generation config ----------------------------------------------------------------------

def generation_config(data: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for source, target in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"), ("seed", "seed")):
        if is_number(data.get(source)):
            config[target] = data[source]
    limit = data.get("max_completion_tokens") or data.get("max_tokens")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        config["maxOutputTokens"] = limit
    stop = data.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    stops = [s for s in stops if isinstance(s, str) and s]
    if stops:
        config["stopSequences"] = stops
    n = data.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 0:
        config["candidateCount"] = n
    fmt = data.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
        schema = clean_schema(spec.get("schema")) if kind == "json_schema" and isinstance(spec, dict) else {}
        if is_usable(schema):
            config["responseSchema"] = schema
    return config


# -- answers -----------------------------------------------------------------------------------------

def usage_of(meta: Any) -> Usage | None:
    if not isinstance(meta, dict) or not isinstance(meta.get("promptTokenCount"), int):
        return None
    prompt = meta["promptTokenCount"] + int(meta.get("toolUsePromptTokenCount") or 0)
    return Usage(prompt, int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0))


def _usage_body(meta: dict[str, Any], usage: Usage) -> dict[str, Any]:
    body: dict[str, Any] = usage_object(usage)
    if meta.get("cachedContentTokenCount"):
        body["prompt_tokens_details"] = {"cached_tokens": int(meta["cachedContentTokenCount"])}
    if meta.get("thoughtsTokenCount"):
        body["completion_tokens_details"] = {"reasoning_tokens": int(meta["thoughtsTokenCount"])}
    return body


@dataclass
class _Parts:
    text: str
    thoughts: str
    calls: list[dict[str, Any]]


def split_parts(candidate: dict[str, Any]) -> _Parts:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            (thoughts if part.get("thought") is True else text).append(part["text"])
        call = part.get("functionCall")
        if isinstance(call, dict):
            calls.append({"id": tool_call_id(), "type": "function",
                          "function": {"name": str(call.get("name") or ""),
                                       "arguments": json.dumps(call.get("args") or {}, ensure_ascii=False)}})
    return _Parts("".join(text), "".join(thoughts), calls)


def finish_reason(candidate: dict[str, Any], has_calls: bool) -> str:
    if has_calls:
        return "tool_calls"
    return FINISH_REASONS.get(str(candidate.get("finishReason")), "stop")


def _choice(index: int, candidate: dict[str, Any]) -> dict[str, Any]:
    parts = split_parts(candidate)
    message: dict[str, Any] = {"role": "assistant", "content": parts.text if parts.text or not parts.calls else None}
    if parts.thoughts:
        message["reasoning_content"] = parts.thoughts
    if parts.calls:
        message["tool_calls"] = parts.calls
    return {"index": index, "message": message, "finish_reason": finish_reason(candidate, bool(parts.calls)),
            "logprobs": None}


@dataclass
class _ChoiceState:
    started: bool = False
    tools: int = 0
    finished: bool = False


class GeminiStream:
    """``streamGenerateContent?alt=sse`` bytes → ``chat.completion.chunk`` dicts (incremental, pure)."""

    def __init__(self, model: str) -> None:
        self.usage: Usage | None = None
        self._id, self._created, self._model = completion_id(), int(time.time()), model
        self._lines = LineSplitter()
        self._data: list[bytes] = []
        self._raw = bytearray()  # a body that is not SSE (a JSON array, or an error object)
        self._events = 0
        self._choices: dict[int, _ChoiceState] = {}
        self._prompt_only: Usage | None = None

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for line in self._lines.feed(data):
            out += self._line(line)
        return out

    def finish(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for line in self._lines.flush():
            out += self._line(line)
        out += self._dispatch()
        if not self._events and self._raw.strip():
            raw = parse_json(bytes(self._raw))
            for event in raw if isinstance(raw, list) else [raw]:
                if isinstance(event, dict):
                    out += self._event(event)
        self.usage = self.usage or self._prompt_only
        for index, state in sorted(self._choices.items()):
            if not state.finished:
                state.finished = True
                out.append(chunk(self._id, self._model, {}, "tool_calls" if state.tools else "stop", self._created,
                                 index))
        return out

    def _line(self, line: bytes) -> list[dict[str, Any]]:
        if not line.strip():
            return self._dispatch()
        payload = data_payload(line)
        if payload is not None:
            self._data.append(payload)
        elif not line.startswith((b":", b"event:", b"id:", b"retry:")) and len(self._raw) < _MAX_RAW:
            self._raw += line + b"\n"
        return []

    def _dispatch(self) -> list[dict[str, Any]]:
        if not self._data:
            return []
        payload, self._data = b"\n".join(self._data), []
        event = parse_json(payload)
        if not isinstance(event, dict):
            return []
        self._events += 1
        return self._event(event)

    def _event(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if isinstance(event.get("error"), dict):
            raise google_error(_status_of(event["error"]), event)
        meta = event.get("usageMetadata")
        usage = usage_of(meta)
        if isinstance(meta, dict) and usage is not None and ("candidatesTokenCount" in meta
                                                             or "thoughtsTokenCount" in meta):
            self.usage = usage
        elif usage is not None:  # prompt only: final only if the stream ends cleanly (see finish)
            self._prompt_only = usage
        candidates = event.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            feedback = event.get("promptFeedback")
            if isinstance(feedback, dict) and feedback.get("blockReason"):
                raise _no_candidates(event)
            return []
        out: list[dict[str, Any]] = []
        for position, candidate in enumerate(candidates):
            if not isinstance(candidate, dict):
                continue
            index = candidate["index"] if isinstance(candidate.get("index"), int) else position
            out += self._candidate(index, candidate)
        return out

    def _candidate(self, index: int, candidate: dict[str, Any]) -> list[dict[str, Any]]:
        state = self._choices.setdefault(index, _ChoiceState())
        parts = split_parts(candidate)
        delta: dict[str, Any] = {}
        if not state.started:
            delta["role"] = "assistant"
            state.started = True
        if parts.text:
            delta["content"] = parts.text
        if parts.thoughts:
            delta["reasoning_content"] = parts.thoughts
        if parts.calls:
            delta["tool_calls"] = [{"index": state.tools + i, **call} for i, call in enumerate(parts.calls)]
            state.tools += len(parts.calls)
        out = [chunk(self._id, self._model, delta, None, self._created, index)] if delta else []
        if candidate.get("finishReason") and not state.finished:
            state.finished = True
            out.append(chunk(self._id, self._model, {}, finish_reason(candidate, state.tools > 0), self._created,
                             index))
        return out


# -- embeddings --------------------------------------------------------------------------------------

def embedding_body(data: dict[str, Any], model: str) -> dict[str, Any]:
    texts = embedding_texts(data)
    if texts is None:
        raise ValueError("Gemini embeddings take a string or a list of strings (not token arrays)")
    extra: dict[str, Any] = {}
    dimensions = data.get("dimensions")
    if isinstance(dimensions, int) and not isinstance(dimensions, bool) and dimensions > 0:
        extra["outputDimensionality"] = dimensions
    return {"requests": [{"model": f"models/{model}", "content": {"parts": [{"text": t}]}, **extra}
                         for t in texts]}


def parse_embeddings(request: RelayRequest, data: dict[str, Any]) -> tuple[dict[str, Any], Usage | None]:
    embeddings = data.get("embeddings")
    if not isinstance(embeddings, list):
        raise ValueError("the answer has no embeddings")
    vectors = [[float(v) for v in e.get("values") or []] for e in embeddings if isinstance(e, dict)]
    meta = data.get("usageMetadata")
    prompt = meta.get("promptTokenCount") if isinstance(meta, dict) else None
    usage = Usage(prompt, 0) if isinstance(prompt, int) and prompt > 0 else None
    return embedding_list(vectors, request.upstream_model, usage, requested_encoding(request)), usage


# -- the adaptor -------------------------------------------------------------------------------------

class GeminiAdaptor(AdaptorBase):
    serves_n = True
    response_formats = EVERY_FORMAT
    serves_tools = True
    serves_images = True
    """Built by :func:`make_adaptor` with GEMINI_VERSION and GEMINI_SAFETY_SETTING."""

    name = "gemini"
    passthrough = False
    inline_images = True

    def __init__(self, version: str = "v1", safety: str = "BLOCK_NONE") -> None:
        self.version = version
        self.safety = safety

    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        model = request.upstream_model.removeprefix("models/")
        pinned = str(channel.config.get("api_version") or "").strip()
        data = request.json or {}
        if request.mode == "embeddings":
            body = embedding_body(data, model)
            version = pinned or (V1BETA if model_needs_v1beta(model) else self.version)
            action = "batchEmbedContents"
        elif request.mode == "chat":
            body = self.chat_body(request, model, system_instruction=pinned != "v1")
            uses_beta = any(k in body for k in ("systemInstruction", "tools", "toolConfig")) or \
                "responseMimeType" in body.get("generationConfig", {})
            version = pinned or (V1BETA if model_needs_v1beta(model) or uses_beta else self.version)
            action = "streamGenerateContent?alt=sse" if request.stream else "generateContent"
        else:
            raise ValueError(f"Gemini channels serve chat and embeddings, not {request.mode}")
        headers = {"Content-Type": "application/json", "x-goog-api-key": channel.key,
                   "Accept": "text/event-stream" if request.stream else "application/json"}
        return UpstreamCall("POST", f"{base_url(channel).rstrip('/')}/{version}/models/{model}:{action}", headers,
                            compact_json(body))

    def chat_body(self, request: RelayRequest, model: str, *, system_instruction: bool) -> dict[str, Any]:
        data = request.json or {}
        system, contents = convert_messages(data.get("messages"), request.images, model)
        if request.system_prompt:
            system = [request.system_prompt]
        body: dict[str, Any] = {}
        if system and system_instruction and contents:
            body["systemInstruction"] = {"parts": [{"text": "\n".join(system)}]}
        elif system:  # v1 (or nothing but system messages): a user turn the model acknowledges
            prefix = [("user", [{"text": "\n".join(system)}])] + ([("model", [{"text": "Okay"}])] if contents else [])
            contents = _merge(prefix + [(c["role"], c["parts"]) for c in contents])
        body["contents"] = contents
        tools = _tools(data)
        if tools:
            body["tools"] = tools
            config = _tool_config(data.get("tool_choice", data.get("function_call")))
            if config:
                body["toolConfig"] = config
        generation = generation_config(data)
        if generation:
            body["generationConfig"] = generation
        body["safetySettings"] = [{"category": c, "threshold": self.safety} for c in SAFETY_CATEGORIES]
        return body

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        data = parse_json(body)
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict):
            raise ValueError("the answer is not a JSON object")
        if isinstance(data.get("error"), dict):
            raise google_error(_status_of(data["error"]), data)
        if request.mode == "embeddings":
            return parse_embeddings(request, data)
        candidates = [c for c in data.get("candidates") or [] if isinstance(c, dict)]
        if not candidates:
            raise _no_candidates(data)
        meta = data.get("usageMetadata")
        usage = usage_of(meta)
        answer = completion_body(completion_id(), request.upstream_model,
                                 [_choice(i, c) for i, c in enumerate(candidates)], None, int(time.time()))
        if usage is not None and isinstance(meta, dict):
            answer["usage"] = _usage_body(meta, usage)
        return answer, usage

    def stream_translator(self, request: RelayRequest) -> GeminiStream:
        return GeminiStream(request.upstream_model)

    def error(self, status: int, body: bytes) -> Exception:
        return google_error(status, body)


def make_adaptor(gemini_version: str = "v1", safety: str = "BLOCK_NONE") -> GeminiAdaptor:
    """The adaptor for a server's configuration (GEMINI_VERSION, GEMINI_SAFETY_SETTING)."""
    return GeminiAdaptor(gemini_version or "v1", safety or "BLOCK_NONE")


ADAPTOR = make_adaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets the protocol the relay relies on
    _CHECKED: TranslatingAdaptor = ADAPTOR
