"""A fake Cohere upstream (``api.cohere.com``) following Cohere's published API v2 formats
(https://docs.cohere.com/v2/reference/chat, .../chat-stream, .../embed, .../errors).

Auth: ``Authorization: Bearer <key>`` with a key in ``keys``; otherwise 401 ``{"id", "message": "invalid api
token"}``. Every error has this ``{id, message}`` shape and Cohere's status (400 bad request, 422 unprocessable,
429 too many requests...).

Endpoints:

* ``POST /v2/chat`` — ``{model, messages, tools?, tool_choice?, stream?, max_tokens?, stop_sequences?,
  temperature?, seed?, frequency_penalty?, presence_penalty?, k?, p?, response_format?}``. Checked as Cohere
  documents: roles system/user/assistant/tool; a user content is a string or a list of ``text``/``image_url``
  parts; an assistant turn has ``content`` or ``tool_calls``; a ``tool`` message has a ``tool_call_id`` that an
  earlier assistant call made; ``p`` in [0.01, 0.99], ``k`` in [0, 500], penalties in [0, 1], at most 5 stop
  sequences, ``tool_choice`` REQUIRED/NONE and only with tools; fields outside the documented set are refused
  (422). The answer is ``{id, finish_reason, message: {role, content: [{type: text, text}], tool_plan?,
  tool_calls?}, usage: {billed_units, tokens}}``; a stream is SSE ``event: <type>`` + ``data: {"type", ...}``
  blocks: message-start, content-start, content-delta × n, content-end, message-end (or, for tools,
  tool-plan-delta, tool-call-start, tool-call-delta, tool-call-end, message-end).
* ``POST /v2/embed`` — ``{model, texts (1..96), input_type (required), embedding_types?, output_dimension?}`` →
  ``{id, embeddings: {float: [...]}, texts, meta: {api_version, billed_units: {input_tokens}}, response_type:
  "embeddings_by_type"}``.

Deterministic usage ("words" = whitespace-separated words): billed input_tokens = words of every message (the
template adds 3 per message to ``tokens`` only: Cohere bills less than it processes); output_tokens = words of the
answer; embeddings bill the words of the texts. The answer is ``reply_text``'s or ``"echo: <last user text>"``;
after a tool result it is ``"tool said: <result>"``; with ``tools`` and a last user turn (and no NONE) it is one
call of the first tool with every string property set to the user's text. ``max_tokens`` cuts the answer
(MAX_TOKENS). ``fail_next(status, message)`` answers the next call with an error; ``end_with_error`` ends the
next stream with ``finish_reason: ERROR``. Requests are recorded in ``requests`` before any check.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import count_words, json_response, split_text
from tests.fakes.zhipu_upstream import vector

CHAT_PATH = "/v2/chat"
EMBED_PATH = "/v2/embed"
CHAT_FIELDS = {"model", "messages", "tools", "strict_tools", "documents", "citation_options", "response_format",
               "safety_mode", "max_tokens", "stop_sequences", "temperature", "seed", "frequency_penalty",
               "presence_penalty", "k", "p", "logprobs", "tool_choice", "thinking", "priority", "stream"}
EMBED_FIELDS = {"model", "input_type", "texts", "images", "inputs", "max_tokens", "output_dimension",
                "embedding_types", "truncate", "priority"}
INPUT_TYPES = {"search_document", "search_query", "classification", "clustering", "image"}
EMBED_MODELS = {"embed-v4.0": (256, 512, 1024, 1536), "embed-english-v3.0": (), "embed-multilingual-v3.0": (),
                "embed-english-light-v3.0": (), "embed-multilingual-light-v3.0": ()}
DEFAULT_DIMENSION = 8  # the fake's vectors are short unless output_dimension asks otherwise


class CohereError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _bad(message: str) -> CohereError:
    return CohereError(400, message)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


class FakeCohere:
    stream_pieces = 3

    def __init__(self, keys: set[str] | None = None) -> None:
        self.keys = keys if keys is not None else {"co-key"}
        self.requests: list[Recorded] = []
        self.end_with_error = False
        self._failures: deque[CohereError] = deque()
        self._replies: deque[str] = deque()
        self.app = web.Application()
        self.app.router.add_post(CHAT_PATH, self._guard(self._chat))
        self.app.router.add_post(EMBED_PATH, self._guard(self._embed))

    def fail_next(self, status: int, message: str) -> None:
        self._failures.append(CohereError(status, message))

    def reply_text(self, text: str) -> None:
        self._replies.append(text)

    def _guard(self, handler: Callable[[web.Request, Any], Awaitable[web.StreamResponse]]
               ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            record = Recorded(request.path, {k.lower(): v for k, v in request.headers.items()}, await request.read())
            self.requests.append(record)
            try:
                scheme, _, key = request.headers.get("Authorization", "").partition(" ")
                if scheme.lower() != "bearer" or key not in self.keys:
                    raise CohereError(401, "invalid api token")
                if self._failures:
                    raise self._failures.popleft()
                try:
                    body = json.loads(record.body)
                except ValueError:
                    raise _bad("invalid request: the body is not valid JSON") from None
                if not isinstance(body, dict):
                    raise _bad("invalid request: the body must be a JSON object")
                return await handler(request, body)
            except CohereError as exc:
                return json_response({"id": str(uuid.uuid4()), "message": exc.message}, status=exc.status)
        return guarded

    # -- chat
    def _check_chat(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        unknown = sorted(set(body) - CHAT_FIELDS)
        if unknown:
            raise CohereError(422, f"invalid request: unknown field: parameter {unknown[0]} is not a valid field")
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise _bad("invalid request: model must be a non-empty string")
        if not body["model"].startswith(("command", "c4ai-aya")):
            raise CohereError(404, f"model '{body['model']}' not found, make sure the correct model ID was used "
                                   "and that you have access to the model.")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _bad("invalid request: messages must be a non-empty list")
        call_ids: set[str] = set()
        for message in messages:
            self._check_message(message, call_ids)
        self._check_numbers(body)
        tools, choice = body.get("tools"), body.get("tool_choice")
        if tools is not None and (not isinstance(tools, list) or not all(
                isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("function"), dict)
                and isinstance(t["function"].get("name"), str) for t in tools)):
            raise _bad("invalid request: tools must be a list of function tools")
        if choice is not None and (choice not in ("REQUIRED", "NONE") or not tools):
            raise _bad("invalid request: tool_choice must be REQUIRED or NONE and needs tools")
        fmt = body.get("response_format")
        if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object")):
            raise _bad("invalid request: response_format.type must be text or json_object")
        return messages

    @staticmethod
    def _check_message(message: Any, call_ids: set[str]) -> None:
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("system", "user", "assistant", "tool"):
            raise _bad("invalid request: message role must be one of system, user, assistant, tool")
        content = message.get("content")
        if role == "user":
            if not isinstance(content, str | list):
                raise _bad("invalid request: user message content must be a string or a list")
            for part in content if isinstance(content, list) else []:
                if not isinstance(part, dict) or part.get("type") not in ("text", "image_url"):
                    raise _bad("invalid request: user content items must be text or image_url")
                if part["type"] == "image_url" and not isinstance((part.get("image_url") or {}).get("url"), str):
                    raise _bad("invalid request: image_url.url is required")
        elif role == "system":
            if not isinstance(content, str | list):
                raise _bad("invalid request: system message content must be a string or a list")
        elif role == "assistant":
            calls = message.get("tool_calls")
            if not content and not calls:
                raise _bad("invalid request: assistant message must have content or tool_calls")
            for call in calls or []:
                call_ids.add(str(call.get("id")))
        elif message.get("tool_call_id") not in call_ids:
            raise _bad("invalid request: tool message tool_call_id does not match any tool call")

    @staticmethod
    def _check_numbers(body: dict[str, Any]) -> None:
        ranges = {"p": (0.01, 0.99), "k": (0, 500), "frequency_penalty": (0, 1), "presence_penalty": (0, 1),
                  "temperature": (0, 5)}
        for name, (low, high) in ranges.items():
            value = body.get(name)
            if value is not None and (not isinstance(value, int | float) or not low <= value <= high):
                raise _bad(f"invalid request: {name} must be between {low} and {high}")
        stops = body.get("stop_sequences")
        if stops is not None and (not isinstance(stops, list) or len(stops) > 5):
            raise _bad("invalid request: stop_sequences can have at most 5 items")
        limit = body.get("max_tokens")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise _bad("invalid request: max_tokens must be a positive integer")

    def _answer(self, body: dict[str, Any], messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]], str]:
        last = messages[-1]
        tools = body.get("tools") or []
        if tools and last["role"] == "user" and body.get("tool_choice") != "NONE":
            fn = tools[0]["function"]
            props = (fn.get("parameters") or {}).get("properties") or {}
            text = content_text(last["content"])
            args = {k: text for k, v in props.items() if (v or {}).get("type", "string") == "string"}
            call = {"id": f"{fn['name']}_{uuid.uuid4().hex[:12]}", "type": "function",
                    "function": {"name": fn["name"], "arguments": json.dumps(args, ensure_ascii=False)}}
            return "", [call], "TOOL_CALL"
        if self._replies:
            text = self._replies.popleft()
        elif last["role"] == "tool":
            text = f"tool said: {content_text(last.get('content'))}"
        else:
            user = next((m for m in reversed(messages) if m["role"] == "user"), {"content": ""})
            text = f"echo: {content_text(user['content'])}"
        limit = body.get("max_tokens")
        words = text.split()
        if isinstance(limit, int) and len(words) > limit:
            return " ".join(words[:limit]), [], "MAX_TOKENS"
        return text, [], "COMPLETE"

    async def _chat(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        messages = self._check_chat(body)
        text, calls, finish = self._answer(body, messages)
        prompt = sum(count_words(content_text(m.get("content"))) for m in messages)
        completion = count_words(text) + sum(count_words(c["function"]["arguments"]) for c in calls)
        usage = {"billed_units": {"input_tokens": prompt, "output_tokens": completion},
                 "tokens": {"input_tokens": prompt + 3 * len(messages), "output_tokens": completion + 1}}
        answer_id = str(uuid.uuid4())
        if body.get("stream"):
            return await self._stream(request, answer_id, text, calls, finish, usage)
        message: dict[str, Any] = {"role": "assistant"}
        if calls:
            message["tool_plan"] = f"I will call {calls[0]['function']['name']}."
            message["tool_calls"] = calls
        else:
            message["content"] = [{"type": "text", "text": text}]
        return json_response({"id": answer_id, "finish_reason": finish, "message": message, "usage": usage})

    async def _stream(self, request: web.Request, answer_id: str, text: str, calls: list[dict[str, Any]],
                      finish: str, usage: dict[str, Any]) -> web.StreamResponse:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)

        async def send(kind: str, **fields: Any) -> None:
            await out.write(f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode())

        await send("message-start", id=answer_id,
                   delta={"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [],
                                       "citations": []}})
        if calls:
            call = calls[0]
            await send("tool-plan-delta", delta={"message": {"tool_plan": f"I will call {call['function']['name']}."}})
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            await send("tool-call-start", index=0, delta={"message": {"tool_calls": {
                "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": arguments[:half]}}}})
            await send("tool-call-delta", index=0,
                       delta={"message": {"tool_calls": {"function": {"arguments": arguments[half:]}}}})
            await send("tool-call-end", index=0)
        else:
            await send("content-start", index=0, delta={"message": {"content": {"type": "text", "text": ""}}})
            for piece in split_text(text, self.stream_pieces):
                await send("content-delta", index=0, delta={"message": {"content": {"text": piece}}})
            await send("content-end", index=0)
        if self.end_with_error:
            self.end_with_error = False
            await send("message-end", delta={"finish_reason": "ERROR", "error": "internal error while generating",
                                             "usage": usage})
        else:
            await send("message-end", delta={"finish_reason": finish, "usage": usage})
        await out.write_eof()
        return out

    # -- embed
    async def _embed(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        unknown = sorted(set(body) - EMBED_FIELDS)
        if unknown:
            raise CohereError(422, f"invalid request: unknown field: parameter {unknown[0]} is not a valid field")
        model = body.get("model")
        if model not in EMBED_MODELS:
            raise CohereError(404, f"model '{model}' not found, make sure the correct model ID was used and that "
                                   "you have access to the model.")
        if body.get("input_type") not in INPUT_TYPES:
            raise _bad("invalid request: input_type must be specified and one of search_document, search_query, "
                       "classification, clustering, image")
        texts = body.get("texts")
        if not isinstance(texts, list) or not 1 <= len(texts) <= 96 or not all(isinstance(t, str) for t in texts):
            raise _bad("invalid request: texts must be a list of 1 to 96 strings")
        types = body.get("embedding_types", ["float"])
        if not isinstance(types, list) or not set(types) <= {"float", "int8", "uint8", "binary", "ubinary",
                                                               "base64"}:
            raise _bad("invalid request: unknown embedding type")
        dimension = body.get("output_dimension")
        if dimension is not None and dimension not in EMBED_MODELS[model]:
            raise _bad(f"invalid request: output_dimension {dimension} is not supported by {model}")
        size = dimension or DEFAULT_DIMENSION
        embeddings = {kind: [vector(t, size) if kind == "float" else [1] * size for t in texts] for kind in types}
        return json_response({"id": str(uuid.uuid4()), "embeddings": embeddings, "texts": texts,
                              "meta": {"api_version": {"version": "2"},
                                       "billed_units": {"input_tokens": sum(count_words(t) for t in texts)}},
                              "response_type": "embeddings_by_type"})


async def start_fake(fake: FakeCohere) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its base URL and the stop coroutine function."""
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner.cleanup
