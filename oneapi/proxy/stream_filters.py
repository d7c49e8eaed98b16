"""What a stream's bytes become on their way to the client: one pure filter per kind of channel.

A filter is fed the upstream's bytes as they arrive (cut anywhere) and returns the bytes to write to the client
(OpenAI server-sent events, or an inbound format's own when a native channel is forwarded). On the side it keeps
what billing needs: the text delivered, the usage the upstream reported, the last chunk written, and whether
the output budget (PreConsumeMaxOutput) cut the answer; and it writes the end of the client's stream.

* :class:`PassThrough`: an OpenAI-protocol channel. Its bytes go out as they came, unless the adaptor asked for
  chunks to be dropped (the usage chunk oneapi requested for itself, empty chunks) or a budget may cut the
  answer; then only the kept lines go out.
* :class:`Translating`: a provider with its own protocol; its adaptor's ``StreamTranslator`` makes OpenAI
  chunks of the provider's events.
* :class:`Forwarding`: a provider's own stream to a client of the same API (an inbound format on a channel of
  its protocol); the bytes go out as they came and the adaptor's translator only reads them.

No I/O and no awaits: ``streaming.py`` owns the writing, the client leaving and billing, the same for all; it
asks the filter for the bytes that end the stream (OpenAI's: ``data: [DONE]`` after an error or usage event;
a forwarded provider's: none of oneapi's). A filter raises ``UpstreamError`` for an error the provider put in
its stream and one of ``failures.UNREADABLE`` for an event it could not read (``Forwarding`` passes both on
to the client as they are).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from oneapi.proxy.adaptors.base import StreamTranslator, UpstreamCall, Usage
from oneapi.proxy.adaptors.common import usage_chunk
from oneapi.proxy.errors import UpstreamError
from oneapi.proxy.failures import UNREADABLE
from oneapi.proxy.output_budget import OutputBudget, length_chunk
from oneapi.proxy.settlement import choice_text, usage_numbers
from oneapi.proxy.sse import DONE, DONE_EVENT, LineSplitter, data_payload, event, parse_json


def chunk_text(chunk: dict[str, Any]) -> str:
    """The text (content, tool-call names and arguments) of one OpenAI chunk: what a counted bill counts."""
    return choice_text(chunk.get("choices"), "delta")


class StreamFilter:
    """The state every filter keeps for the loop; subclasses implement ``feed`` and ``finish``."""

    # Open the client's stream before the first event (the upstream's headers and bytes go out as they come);
    # False: only with the first chunk, so that an error before it is raised for the retry loop instead.
    eager = True
    # The filter makes the chunks, so the ``include_usage`` chunk is the loop's to add (a pass-through forwards
    # the upstream's own).
    adds_usage_chunk = False

    def __init__(self, budget: OutputBudget | None = None) -> None:
        self.budget = budget
        self.delivered: list[str] = []
        self.last: dict[str, Any] | None = None  # the last chunk sent: the cut answer's final chunk copies it
        self.cut = False  # the answer reached what its reservation pays for: send nothing more
        self.saw_done = False  # the upstream's own ``data: [DONE]`` went out

    @property
    def answered(self) -> bool:
        """Whether the upstream answered at all (else nothing is charged and the reservation is refunded)."""
        return self.last is not None or self.cut

    @property
    def committed(self) -> bool:
        """Whether the client's stream has begun: from then on a failure ends it, before it is raised for the
        retry loop (which can still try another channel)."""
        return self.eager or self.answered

    def text(self) -> str:
        return "".join(self.delivered)

    def admit(self, chunk: dict[str, Any]) -> bool:
        """Count ``chunk`` as delivered; False (and ``cut``) when it does not fit the output budget."""
        text = chunk_text(chunk)
        if self.budget is not None and not self.budget.admit(text):
            self.cut = True
            return False
        self.delivered.append(text)
        self.last = chunk
        return True

    def reported_usage(self, counted_prompt: int) -> tuple[int, int] | None:
        """(prompt, completion) tokens as the upstream reported them, else None."""
        raise NotImplementedError

    def closing(self) -> bytes:
        """Bytes that end the upstream's last event before the loop adds its own."""
        return b""

    def ending(self, failure: dict[str, Any] | None, usage: Usage | None, mode: str) -> bytes:
        """The bytes that end the client's stream, OpenAI's way: the cut answer's final chunk, then the error
        event of ``failure`` or the ``include_usage`` chunk (``usage``: what was billed, when the client asked
        for it), then ``data: [DONE]`` unless the upstream's went out."""
        out = self.closing()
        if self.cut:
            out += event(length_chunk(self.last, mode))
        if failure is not None:
            out += event({"error": failure})
        elif usage is not None and self.adds_usage_chunk and self.last is not None:
            out += event(usage_chunk(str(self.last.get("id", "")), str(self.last.get("model", "")), usage))
        if not self.saw_done:
            out += DONE_EVENT
        return out

    def feed(self, data: bytes) -> bytes:
        raise NotImplementedError

    def finish(self) -> bytes:
        """What is still owed when the upstream's stream ended."""
        raise NotImplementedError


class PassThrough(StreamFilter):
    """An OpenAI-protocol stream: forwarded as it is, read on the side for the usage and the text."""

    def __init__(self, call: UpstreamCall, budget: OutputBudget | None = None) -> None:
        super().__init__(budget)
        self._drop_usage = call.stream_usage_requested  # oneapi asked for usage the client did not
        self._drop_empty = call.drop_empty_chunks
        self._filtering = self._drop_usage or self._drop_empty or budget is not None
        # Without a budget or empty chunks to drop, a chunk matters for billing only through its usage, or through
        # its text when no usage comes: such chunks are kept undecoded and read only if the text is needed.
        self._lazy = budget is None and not self._drop_empty
        self._unread: list[bytes] = []  # lazy: the JSON payloads of the answer's chunks, in order
        self._lines = LineSplitter()
        self._usage: Any = None
        self._seen_json = False  # at least one JSON event came: this is a stream, not an error page
        self._drop_blank = False  # the blank line that ended an event we dropped goes too
        self._tail = b""  # the last bytes sent, to end the stream on an event boundary

    @property
    def answered(self) -> bool:
        return self._seen_json

    def reported_usage(self, counted_prompt: int) -> tuple[int, int] | None:
        return usage_numbers(self._usage, counted_prompt)

    def text(self) -> str:
        if self._unread:
            for payload in self._unread:
                obj = parse_json(payload)
                if isinstance(obj, dict):
                    self.delivered.append(chunk_text(obj))
            self._unread.clear()
        return super().text()

    def feed(self, data: bytes) -> bytes:
        kept = self._process(self._lines.feed(data))
        return self._sent(data if not self._filtering else (b"\n".join(kept) + b"\n" if kept else b""))

    def finish(self) -> bytes:
        kept = self._process(self._lines.flush())  # a last line without its newline
        return self._sent(b"\n".join(kept) + b"\n" if self._filtering and kept else b"")

    def closing(self) -> bytes:
        if self._tail and not self._tail.endswith(b"\n\n"):
            return b"\n" if self._tail.endswith(b"\n") else b"\n\n"
        return b""

    def _sent(self, data: bytes) -> bytes:
        if data:
            self._tail = (self._tail + data)[-2:]
        return data

    def _process(self, lines: list[bytes]) -> list[bytes]:
        kept: list[bytes] = []
        for line in lines:
            if self.cut:
                break
            if self._drop_blank and not line.strip():
                self._drop_blank = False
                continue
            self._drop_blank = False
            payload = data_payload(line)
            if payload is None:
                kept.append(line)
                continue
            if payload.strip() == DONE:
                self.saw_done = True
                kept.append(line)
                continue
            if self._lazy and self._seen_json and not may_carry_usage(payload):
                self._unread.append(payload)  # decoded by text(), if the bill is ever counted
                kept.append(line)
                continue
            obj = parse_json(payload)
            if isinstance(obj, dict):
                self._seen_json = True
                usage = obj.get("usage")
                if usage:
                    self._usage = usage
                if self._filtering and not obj.get("choices") and (
                        (self._drop_usage and usage) or (self._drop_empty and not usage)):
                    self._drop_blank = True
                    continue
                if self._lazy:
                    self._unread.append(payload)
                elif not self.admit(obj):
                    break
            kept.append(line)
        return kept


# A ``usage`` key whose value is not null: an unescaped ``"usage"`` followed by a colon (inside a string the word's
# quotes are escaped; as a value it is followed by ``,`` ``}`` or ``]``). Possessive: no backtracking past spaces.
_USAGE_KEY = re.compile(rb'"usage"\s*+:\s*+(?!null)')


def may_carry_usage(payload: bytes) -> bool:
    """Whether a chunk's JSON may hold a ``usage`` that is not null, read from its bytes without decoding it.
    Upstreams asked for usage send ``"usage":null`` in every chunk but the last: those need no decoding. A nested
    ``usage`` key counts too; the chunk is then decoded and only its top-level ``usage`` read, as always."""
    start = payload.find(b'"usage"')  # most chunks have none: one scan in C, no regex
    while start != -1:
        if payload[start - 1:start] != b"\\" and _USAGE_KEY.match(payload, start):
            return True
        start = payload.find(b'"usage"', start + 7)
    return False


class Translating(StreamFilter):
    """A provider's own stream, made OpenAI chunks by its adaptor's translator."""

    eager = False
    adds_usage_chunk = True

    def __init__(self, translator: StreamTranslator, budget: OutputBudget | None = None) -> None:
        super().__init__(budget)
        self._translator = translator

    def reported_usage(self, counted_prompt: int) -> tuple[int, int] | None:
        usage = self._translator.usage
        return None if usage is None else (usage.prompt_tokens, usage.completion_tokens)

    def feed(self, data: bytes) -> bytes:
        return self._events(self._translator.feed(data))

    def finish(self) -> bytes:
        return self._events(self._translator.finish())

    def _events(self, chunks: list[dict[str, Any]]) -> bytes:
        out = b""
        for chunk in chunks:
            if not self.admit(chunk):
                break
            out += event(chunk)
        return out


class Forwarding(StreamFilter):
    """A native channel's stream forwarded to a client of its own API: the provider's bytes go out unchanged and
    end the provider's way; its adaptor's translator reads them on the side for the text and the usage.

    An error event from the provider goes to the client as it came and stops the reading (nothing said before
    it: nothing charged); so does an event the reader cannot read (billed from the text read before it). Never
    cut: the format's own ending of a cut answer is not written here, and settlement caps the charge at the
    reservation anyway. A failure of the loop's (the upstream broke) ends the stream with ``broken``: the
    format's error event for a message.
    """

    eager = False

    def __init__(self, reader: StreamTranslator, broken: Callable[[str], bytes]) -> None:
        super().__init__()
        self._reader: StreamTranslator | None = reader  # None once it stopped reading
        self._broken = broken
        self._forwarded = False  # a byte went out: the client's stream has begun
        self._failed = False  # the provider's error event went out: it ended the stream

    @property
    def answered(self) -> bool:
        return self._forwarded and not (self._failed and not self.text())

    @property
    def committed(self) -> bool:
        return self._forwarded

    def reported_usage(self, counted_prompt: int) -> tuple[int, int] | None:
        usage = self._reader.usage if self._reader is not None else None
        return None if usage is None else (usage.prompt_tokens, usage.completion_tokens)

    def feed(self, data: bytes) -> bytes:
        if data:
            self._forwarded = True
        if self._reader is not None:
            self._read(self._reader, data)
        return data

    def finish(self) -> bytes:
        if self._reader is not None:
            self._read(self._reader, None)
        return b""

    def ending(self, failure: dict[str, Any] | None, usage: Usage | None, mode: str) -> bytes:
        if failure is None or self._failed:
            return b""
        return self._broken(str(failure.get("message", "")))

    def _read(self, reader: StreamTranslator, data: bytes | None) -> None:
        """Read ``data`` (None: the end of the stream) for billing; the bytes go out whatever it says."""
        try:
            chunks = reader.feed(data) if data is not None else reader.finish()
        except UpstreamError:
            self._reader, self._failed = None, True
            return
        except UNREADABLE:
            self._reader = None
            return
        self.delivered.extend(chunk_text(chunk) for chunk in chunks)
