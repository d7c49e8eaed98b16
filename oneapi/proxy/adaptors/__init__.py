"""Provider adaptors: one module per provider protocol; :func:`adaptor_for` picks one by channel type.

Each translating adaptor module exposes ``ADAPTOR`` (a ``TranslatingAdaptor``). Channel types whose protocol
has no adaptor (Proxy, served by its own route; unknown types) are refused with :func:`unserved_reason` instead
of being sent OpenAI requests they would reject.
"""

from __future__ import annotations

import importlib
from functools import cache

from oneapi.proxy.adaptors.base import Adaptor, TranslatingAdaptor
from oneapi.proxy.adaptors.openai import AZURE, AZURE_OPENAI, OPENAI

# Channel type → the module of its adaptor (SPEC 6.0): translating ones, and pass-through ones whose URLs are
# their own (Cloudflare).
TRANSLATING = {
    11: "oneapi.proxy.adaptors.palm",
    14: "oneapi.proxy.adaptors.anthropic",
    15: "oneapi.proxy.adaptors.baidu",
    16: "oneapi.proxy.adaptors.zhipu",
    17: "oneapi.proxy.adaptors.ali",
    18: "oneapi.proxy.adaptors.xunfei",
    23: "oneapi.proxy.adaptors.tencent",
    24: "oneapi.proxy.adaptors.gemini",
    33: "oneapi.proxy.adaptors.aws",
    34: "oneapi.proxy.adaptors.coze",
    35: "oneapi.proxy.adaptors.cohere",
    37: "oneapi.proxy.adaptors.cloudflare",
    38: "oneapi.proxy.adaptors.deepl",
    42: "oneapi.proxy.adaptors.vertex",
    46: "oneapi.proxy.adaptors.replicate",
}
# Types the chat/embeddings/... routes do not serve.
UNSUPPORTED_TYPES = frozenset({43})  # Proxy: served by /v1/oneapi/proxy/{channel} only


@cache
def _translating(module: str) -> Adaptor | TranslatingAdaptor | None:
    try:
        adaptor: Adaptor | TranslatingAdaptor = importlib.import_module(module).ADAPTOR
        return adaptor
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


def unserved_reason(channel_type: int) -> str:
    """Why the OpenAI routes cannot use a channel of this type (``adaptor_for`` gave None)."""
    if channel_type == 43:
        return "Proxy channels (type 43) serve /v1/oneapi/proxy/{channel}/... only, not the OpenAI routes"
    return f"channel type {channel_type} is not a type this server knows"


def adaptor_for(channel_type: int) -> Adaptor | TranslatingAdaptor | None:
    if channel_type == AZURE:
        return AZURE_OPENAI
    if channel_type in TRANSLATING:
        return _translating(TRANSLATING[channel_type])
    if channel_type in UNSUPPORTED_TYPES or channel_type <= 0:
        return None
    return OPENAI
