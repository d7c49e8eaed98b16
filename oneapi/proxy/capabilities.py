"""Whether a channel's adaptor can honour what a request asks beyond plain text (``AdaptorBase``'s
declarations): several choices (``n``), a ``response_format``, tools, images.

A request asking for something the adaptor does not serve is not sent with the field dropped (the client would
get prose instead of JSON, or one choice instead of two): the relay tries another channel of the group, and when
none can serve it answers 400 with the code and a message naming what is missing (:func:`refusal`).
"""

from __future__ import annotations

from typing import Any

from oneapi.proxy.adaptors.base import Adaptor, Mode, TranslatingAdaptor
from oneapi.proxy.errors import RelayError

CODES = frozenset({"n_not_supported", "response_format_not_supported", "tools_not_supported",
                   "images_not_supported"})


def refusal(adaptor: Adaptor | TranslatingAdaptor, mode: Mode, data: dict[str, Any]) -> RelayError | None:
    """The 400 this request gets from a channel of this adaptor, or None when the adaptor serves all it asks."""
    if adaptor.passthrough or mode not in ("chat", "completions"):
        return None  # an OpenAI-protocol upstream judges the request itself
    name = adaptor.name
    n = data.get("n")
    if not adaptor.serves_n and isinstance(n, int) and n > 1:
        return _refused(f"{name} channels answer one choice per request: n={n} is not supported (send {n} "
                        "requests instead)", "n_not_supported", "n")
    fmt = data.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind is not None and (not isinstance(kind, str) or kind not in adaptor.response_formats):
        offered = ", ".join(sorted(adaptor.response_formats))
        return _refused(f"{name} channels have no native mechanism for response_format {kind!s:.40} "
                        f"(supported: {offered})", "response_format_not_supported", "response_format")
    if mode != "chat":
        return None
    if not adaptor.serves_tools and (data.get("tools") or data.get("functions")):
        return _refused(f"{name} channels do not support tools", "tools_not_supported", "tools")
    if not adaptor.serves_images and _has_images(data.get("messages")):
        return _refused(f"{name} channels do not accept images", "images_not_supported", "messages")
    return None


def _refused(message: str, code: str, param: str) -> RelayError:
    return RelayError(message, status=400, code=code, param=param, error_type="invalid_request_error")


def _has_images(messages: Any) -> bool:
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
            return True
    return False
