"""A fake Coze API (``api.coze.com``) following Coze's published v3 chat API
(https://www.coze.com/docs/developer_guides/chat_v3, .../retrieve_chat, .../list_chat_messages).

Auth: ``Authorization: Bearer <personal access token>`` with a token in ``tokens``; otherwise HTTP 401 with
``{"code": 4100, "msg": ...}``. Other refusals are ``{"code", "msg"}`` with HTTP 200, as Coze's business errors
are: 4000 bad parameters, 4200 an unknown bot. Every JSON answer has ``code``/``msg`` and the ``x-tt-logid``
header.

Endpoints:

* ``POST /v3/chat`` — ``{bot_id, user_id, stream?, auto_save_history?, additional_messages: [{role: user|assistant,
  type?, content, content_type: text|object_string}] (≤ 100)}``; the last message must be the user's. With
  ``stream: true``: SSE ``event:<name>`` / ``data:<json>`` pairs — conversation.chat.created, .in_progress,
  conversation.message.delta × n (type answer), conversation.message.completed (the answer, then a verbose
  message and a follow_up suggestion), conversation.chat.completed (with usage), and ``event:done`` /
  ``data:"[DONE]"``. Without streaming (``auto_save_history`` must then be true) the chat object comes back
  ``in_progress``; ``GET|POST /v3/chat/retrieve?conversation_id&chat_id`` then answers it ``completed`` with usage,
  and ``GET|POST /v3/chat/message/list?conversation_id&chat_id`` its messages.

Deterministic usage ("words" = whitespace-separated words; object_string content counts its text items):
input_count = words of every message, output_count = words of the answer, token_count = both. The answer is
``reply_text``'s or ``"echo: <last user text>"`` (``" (with N images)"`` added when the last message had images).
``fail_chat`` makes the next stream end with conversation.chat.failed; ``error_next(code, msg)`` answers the next
chat with that error (HTTP 200). Requests are recorded in ``requests`` before any check.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import count_words, split_text

BOT = "7428933434510770211"


class CozeError(Exception):
    def __init__(self, code: int, msg: str, status: int = 200) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def answer_json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data, ensure_ascii=False).encode(), status=status,
                        content_type="application/json", headers={"x-tt-logid": uuid.uuid4().hex})


def text_of(message: dict[str, Any]) -> tuple[str, int]:
    """A message's text and its number of images."""
    if message.get("content_type") != "object_string":
        return str(message.get("content") or ""), 0
    try:
        items = json.loads(message["content"])
    except ValueError:
        raise CozeError(4000, "invalid object_string content") from None
    if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("type") in ("text", "image", "file")
                                              for i in items):
        raise CozeError(4000, "invalid object_string content")
    for item in items:
        if item["type"] != "text" and not (item.get("file_id") or item.get("file_url")):
            raise CozeError(4000, "an object_string image needs file_id or file_url")
    return " ".join(str(i.get("text", "")) for i in items if i["type"] == "text"), sum(
        1 for i in items if i["type"] == "image")


class FakeCoze:
    stream_pieces = 3

    def __init__(self, tokens: set[str] | None = None, bots: set[str] | None = None) -> None:
        self.tokens = tokens if tokens is not None else {"pat_fake"}
        self.bots = bots if bots is not None else {BOT}
        self.requests: list[Recorded] = []
        self.fail_chat = False
        self._errors: deque[CozeError] = deque()
        self._replies: deque[str] = deque()
        self._chats: dict[str, dict[str, Any]] = {}  # chat id → (chat, messages) of non-stream chats
        self.app = web.Application()
        self.app.router.add_post("/v3/chat", self._guard(self._chat))
        for method in ("GET", "POST"):  # Coze documents GET; its SDK sends POST with the same query
            self.app.router.add_route(method, "/v3/chat/retrieve", self._guard(self._retrieve))
            self.app.router.add_route(method, "/v3/chat/message/list", self._guard(self._messages))

    def error_next(self, code: int, msg: str) -> None:
        self._errors.append(CozeError(code, msg))

    def reply_text(self, text: str) -> None:
        self._replies.append(text)

    def _guard(self, handler: Callable[[web.Request, Recorded], Awaitable[web.StreamResponse]]
               ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            record = Recorded(request.method, request.path, dict(request.query),
                              {k.lower(): v for k, v in request.headers.items()}, await request.read())
            self.requests.append(record)
            try:
                scheme, _, token = request.headers.get("Authorization", "").partition(" ")
                if scheme != "Bearer" or token not in self.tokens:
                    raise CozeError(4100, "authentication is invalid", status=401)
                return await handler(request, record)
            except CozeError as exc:
                return answer_json({"code": exc.code, "msg": exc.msg}, status=exc.status)
        return guarded

    # -- chat
    def _check(self, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, dict):
            raise CozeError(4000, "invalid request body")
        if not isinstance(body.get("bot_id"), str) or not isinstance(body.get("user_id"), str) or not body["user_id"]:
            raise CozeError(4000, "bot_id and user_id are required strings")
        if body["bot_id"] not in self.bots:
            raise CozeError(4200, f"Bot {body['bot_id']} does not exist or is not published to the API")
        messages = body.get("additional_messages") or []
        if not isinstance(messages, list) or len(messages) > 100:
            raise CozeError(4000, "additional_messages must be a list of at most 100 messages")
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant") or \
                    message.get("content_type") not in ("text", "object_string") or \
                    not isinstance(message.get("content"), str):
                raise CozeError(4000, "invalid message in additional_messages")
        if not messages or messages[-1]["role"] != "user":
            raise CozeError(4000, "the last message of additional_messages must be the user's query")
        if not body.get("stream") and body.get("auto_save_history") is False:
            raise CozeError(4000, "auto_save_history must be true when stream is false")
        return messages

    def _answer(self, messages: list[dict[str, Any]]) -> tuple[str, dict[str, int]]:
        texts = [text_of(m) for m in messages]
        last, images = texts[-1]
        text = self._replies.popleft() if self._replies else f"echo: {last}" + (
            f" (with {images} images)" if images else "")
        prompt = sum(count_words(t) for t, _ in texts)
        completion = count_words(text)
        return text, {"token_count": prompt + completion, "output_count": completion, "input_count": prompt}

    async def _chat(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        try:
            body = json.loads(record.body)
        except ValueError:
            raise CozeError(4000, "invalid JSON body") from None
        messages = self._check(body)
        if self._errors:
            raise self._errors.popleft()
        text, usage = self._answer(messages)
        chat_id, conversation_id = str(uuid.uuid4().int)[:19], request.query.get("conversation_id") or str(
            uuid.uuid4().int)[:19]
        chat = {"id": chat_id, "conversation_id": conversation_id, "bot_id": body["bot_id"], "created_at": 1717171717,
                "status": "in_progress", "last_error": {"code": 0, "msg": ""}}
        answer = {"id": f"m{chat_id}", "conversation_id": conversation_id, "bot_id": body["bot_id"], "chat_id": chat_id,
                  "role": "assistant", "type": "answer", "content": text, "content_type": "text"}
        follow_up = {**answer, "id": f"f{chat_id}", "type": "follow_up", "content": "Anything else?"}
        if body.get("stream"):
            return await self._stream(request, chat, answer, follow_up, usage)
        self._chats[chat_id] = {"chat": {**chat, "status": "completed", "completed_at": 1717171718, "usage": usage},
                                "messages": [answer, follow_up]}
        return answer_json({"code": 0, "msg": "", "data": chat})

    async def _stream(self, request: web.Request, chat: dict[str, Any], answer: dict[str, Any],
                      follow_up: dict[str, Any], usage: dict[str, int]) -> web.StreamResponse:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream", "x-tt-logid": uuid.uuid4().hex})
        await out.prepare(request)

        async def send(event: str, data: Any) -> None:
            await out.write(f"event:{event}\ndata:{json.dumps(data, ensure_ascii=False)}\n\n".encode())

        await send("conversation.chat.created", {**chat, "status": "created"})
        await send("conversation.chat.in_progress", chat)
        for piece in split_text(answer["content"], self.stream_pieces):
            await send("conversation.message.delta", {**answer, "content": piece})
        await send("conversation.message.completed", answer)
        if self.fail_chat:
            self.fail_chat = False
            await send("conversation.chat.failed", {**chat, "status": "failed",
                                                    "last_error": {"code": 5000, "msg": "the model failed"}})
        else:
            finished = json.dumps({"msg_type": "generate_answer_finish"})
            await send("conversation.message.completed", {**answer, "id": f"v{chat['id']}", "type": "verbose",
                                                          "content": finished})
            await send("conversation.message.completed", follow_up)
            await send("conversation.chat.completed", {**chat, "status": "completed", "usage": usage})
        await send("done", "[DONE]")
        await out.write_eof()
        return out

    def _stored(self, request: web.Request) -> dict[str, Any]:
        found = self._chats.get(request.query.get("chat_id", ""))
        if found is None or found["chat"]["conversation_id"] != request.query.get("conversation_id"):
            raise CozeError(4000, "chat not found")
        return found

    async def _retrieve(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        return answer_json({"code": 0, "msg": "", "data": self._stored(request)["chat"]})

    async def _messages(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        return answer_json({"code": 0, "msg": "", "data": self._stored(request)["messages"]})


async def start_fake(fake: FakeCoze) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its base URL and the stop coroutine function."""
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner.cleanup
