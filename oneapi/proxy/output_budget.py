"""The completion tokens a stream may deliver under the PreConsumeMaxOutput option.

With the option on, a request reserves the cost of its whole possible answer (its ``max_tokens``, else the
model's maximum output) before the upstream is called, and is never charged more than that. A stream whose
answer would grow past the reservation — a model the catalogue does not know, an upstream that ignores
``max_tokens`` — is cut there: the upstream is closed and the client's stream ends with
``finish_reason: "length"``, exactly as when a model reaches its limit.

Pure: the stream filters (``stream_filters.py``) feed it each chunk's text and ask whether it fits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class OutputBudget:
    def __init__(self, limit: int, count: Callable[[str], int]) -> None:
        self.limit = limit
        self.used = 0
        self._count = count

    def admit(self, text: str) -> bool:
        """Count ``text``; False once the answer would exceed the budget (the text must not be sent).

        Chunks are counted one by one, which counts a little more than the whole text would (tokens cannot
        merge across chunk boundaries): the cut comes early rather than late."""
        if not text:
            return True
        tokens = self._count(text)
        if self.used + tokens > self.limit:
            return False
        self.used += tokens
        return True


def length_chunk(last: dict[str, Any] | None, mode: str) -> dict[str, Any]:
    """The final chunk of a cut stream, shaped like the chunks before it."""
    last = last or {}
    choice: dict[str, Any] = {"index": 0, "finish_reason": "length"}
    if mode == "completions":
        choice["text"] = ""
        choice["logprobs"] = None  # required in a text_completion choice
        kind = "text_completion"
    else:
        choice["delta"] = {}
        kind = "chat.completion.chunk"
    return {"id": last.get("id", ""), "object": last.get("object", kind), "created": last.get("created", 0),
            "model": last.get("model", ""), "choices": [choice]}
