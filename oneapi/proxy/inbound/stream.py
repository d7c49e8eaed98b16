"""The client's stream when the answer is translated: the relay writes OpenAI's events, the client reads its own."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from oneapi.proxy.job import SSE_HEADERS


class EventTranslator(Protocol):
    """OpenAI's SSE bytes in, cut anywhere; the format's event bytes out (pure)."""

    def feed(self, data: bytes) -> bytes:
        ...

    def finish(self) -> bytes:
        """What is still owed once OpenAI's stream is over (its last line, the end of the message)."""
        ...


class TranslatedStream(web.StreamResponse):
    """An SSE answer whose writes (OpenAI's events: bytes cut anywhere, ``data: [DONE]``, ``{"error": ...}``)
    reach the client through ``events``."""

    def __init__(self, events: EventTranslator, headers: dict[str, str] | None = None) -> None:
        super().__init__(status=200, headers={**SSE_HEADERS, **(headers or {})})
        self._events = events

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        translated = self._events.feed(bytes(data))
        if translated:
            await super().write(translated)

    async def write_eof(self, data: bytes = b"") -> None:
        translated = (self._events.feed(data) if data else b"") + self._events.finish()
        if translated:
            await super().write(translated)
        await super().write_eof()
