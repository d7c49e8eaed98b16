"""Reading the client's OpenAI request the same way in every translating adaptor. Pure.

What lives here is what several providers need from a chat or embeddings request: the text of a message
content, numbers that are really numbers, the embeddings inputs and encoding, and the merging of turns for
providers that want user and assistant turns to alternate strictly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar

from oneapi.proxy.adaptors.base import RelayRequest

Part = TypeVar("Part")

# Which text parts of a content list count (see message_text).
TextParts = Literal["strings", "every", "filled"]


def message_text(content: Any, parts: TextParts) -> str:
    """An OpenAI message ``content`` as plain text: a string as it is; a list's ``text`` parts joined by newlines.

    Adaptors have always differed on odd parts, and each keeps its own reading so that no request changes:
    ``strings`` joins the parts whose text is a string (an empty one too); ``every`` joins every text part,
    a missing text as ""; ``filled`` joins only the parts with a non-empty text.
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
    if parts == "strings":
        return "\n".join(t for t in texts if isinstance(t, str))
    if parts == "every":
        return "\n".join(str(t or "") for t in texts)
    return "\n".join(str(t) for t in texts if t)


def is_number(value: Any) -> bool:
    """An int or a float, and not a bool (JSON ``true`` is no temperature)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def embedding_texts(data: Mapping[str, Any], *, non_empty: bool = False) -> list[str] | None:
    """The embeddings ``input`` as a list of strings (one string is a list of one); None for anything else:
    token arrays, an empty list and (with ``non_empty``) an empty string. Each adaptor words its own refusal."""
    value = data.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or \
            not all(isinstance(t, str) and (t or not non_empty) for t in texts):
        return None
    return texts


def requested_encoding(request: RelayRequest) -> str | None:
    """The ``encoding_format`` asked for embeddings (``base64`` or ``float``), None when absent or not a string."""
    value = (request.json or {}).get("encoding_format")
    return value if isinstance(value, str) else None


def merged_turns(turns: Iterable[tuple[str, list[Part]]]) -> list[tuple[str, list[Part]]]:
    """Empty turns dropped and consecutive turns of one role joined into one (their parts in order), for the
    providers that refuse two turns of one role side by side. The input lists are not changed."""
    merged: list[tuple[str, list[Part]]] = []
    for role, parts in turns:
        if not parts:
            continue
        if merged and merged[-1][0] == role:
            merged[-1][1].extend(parts)
        else:
            merged.append((role, list(parts)))
    return merged
