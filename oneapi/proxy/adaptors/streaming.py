"""The skeleton of the line-based stream translators (a :class:`~oneapi.proxy.adaptors.base.StreamTranslator`
each). Pure: bytes in, chunk dicts out.

Provider bytes arrive cut anywhere; :class:`LineTranslator` splits them into lines (LF or CRLF) and hands each
complete line to the provider's ``_line``, then, at the end of the stream, the unterminated tail and the
provider's ``_end``. A provider error (an :class:`UpstreamError` raised by ``_line`` or ``_end``) met after some
chunks of the same read is held back and raised by the next call, so what was already answered reaches the
client before the error; an error before any chunk of a read is raised at once, so a stream that fails first
thing fails as a whole (and the relay may still retry it on another channel).
"""

from __future__ import annotations

from typing import Any

from oneapi.proxy.adaptors.base import Usage
from oneapi.proxy.adaptors.common import delta_chunks
from oneapi.proxy.sse import LineSplitter, data_payload, parse_json
from oneapi.wire.errors import UpstreamError


class LineTranslator:
    """Lines in, ``chat.completion.chunk`` dicts out; subclasses implement ``_line`` (and ``_end`` if a stream
    can end with something still to say). ``_model`` and ``_created`` are the chunks' model and time (None: each
    chunk's own); ``_id`` starts empty for the provider's id to fill."""

    def __init__(self, model: str, created: int | None = None) -> None:
        self.usage: Usage | None = None  # what the provider reported, once known
        self._lines = LineSplitter()
        self._model = model
        self._created = created
        self._id = ""
        self._role_sent = False
        self._pending: UpstreamError | None = None  # raised by the next feed/finish

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        return self._run(self._lines.feed(data))

    def finish(self) -> list[dict[str, Any]]:
        return self._run(self._lines.flush(), end=True)

    def _run(self, lines: list[bytes], *, end: bool = False) -> list[dict[str, Any]]:
        if self._pending is not None:
            raise self._pending
        out: list[dict[str, Any]] = []
        try:
            for line in lines:
                out += self._line(line)
            if end:
                out += self._end()
        except UpstreamError as exc:
            if not out:
                raise
            self._pending = exc
        return out

    def _line(self, line: bytes) -> list[dict[str, Any]]:
        """The chunks of one line (without its line break); raises UpstreamError for a provider error."""
        raise NotImplementedError

    def _end(self) -> list[dict[str, Any]]:
        """The chunks still owed once the last line is in (an event the stream did not close)."""
        return []

    def _with_role(self, delta: dict[str, Any]) -> dict[str, Any]:
        """``delta``, with ``role: assistant`` put first when it is the answer's first delta."""
        if self._role_sent:
            return delta
        self._role_sent = True
        return {"role": "assistant", **delta}


class TextTranslator(LineTranslator):
    """``data: {json}`` lines carrying one choice of plain text that a finish reason ends (Baidu, Tencent).

    Every line is read as JSON (a ``data:`` payload, or a bare line: the JSON error body a provider sends on a
    200 answer); the provider's ``_error_in`` names the error a line carries, and its ``_chunks`` translates a
    ``data:`` object, usually through :meth:`_text_chunks`. Nothing after the finish reason is translated.
    """

    def __init__(self, model: str, created: int | None = None) -> None:
        super().__init__(model, created)
        self._ended = False

    def _line(self, line: bytes) -> list[dict[str, Any]]:
        payload = data_payload(line)
        obj = parse_json(payload if payload is not None else line)
        if not isinstance(obj, dict):
            return []
        error = self._error_in(obj)
        if error is not None:
            raise error
        if payload is None or self._ended:
            return []
        return self._chunks(obj)

    def _error_in(self, obj: dict[str, Any]) -> UpstreamError | None:
        """The provider error ``obj`` carries, if any."""
        raise NotImplementedError

    def _chunks(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        """The chunks of one ``data:`` object."""
        raise NotImplementedError

    def _text_chunks(self, text: Any, finish_reason: str | None, created: int | None) -> list[dict[str, Any]]:
        """The chunks of one piece of the answer: its text (anything but a non-empty string is no text) and the
        finish reason when the piece ends the answer, in separate chunks as OpenAI sends them."""
        delta = self._with_role({"content": text} if isinstance(text, str) and text else {})
        if not delta and finish_reason is None:
            return []
        self._ended = finish_reason is not None
        return delta_chunks(self._id, self._model, delta, finish_reason, created)
