"""Provider adaptors: one module per provider protocol; :func:`adaptor_for` picks one by channel type.

Each translating adaptor module exposes ``ADAPTOR`` (a ``TranslatingAdaptor``). The registry, ``TRANSLATING``,
maps a :class:`ChannelType` to a loader: the module is imported for the first channel of its type (a server that
relays to two providers does not load twenty), and each loader's return type is checked by mypy against the
interface the relay calls, so an adaptor that drifts from it fails ``make lint``. Channel types whose protocol
has no adaptor (Proxy, served by its own route; Unknown) are refused with :func:`unserved_reason` instead of being
sent OpenAI requests they would reject. A positive number this server does not know (a row written by a newer One
API) is served as an OpenAI-protocol type, as every type without an adaptor of its own is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from types import MappingProxyType
from typing import Final

from oneapi.channel_types import ChannelType, known_type
from oneapi.proxy.adaptors.base import Adaptor, TranslatingAdaptor
from oneapi.proxy.adaptors.openai import AZURE_OPENAI, OPENAI


def _palm() -> TranslatingAdaptor:
    from oneapi.proxy.adaptors import palm
    return palm.ADAPTOR


def _anthropic() -> TranslatingAdaptor:
    from oneapi.proxy.adaptors import anthropic
    return anthropic.ADAPTOR


def _baidu() -> TranslatingAdaptor:
    from oneapi.proxy.adaptors import baidu
    return baidu.ADAPTOR


def _zhipu() -> TranslatingAdaptor:
    from oneapi.proxy.adaptors import zhipu
    return zhipu.ADAPTOR


def _ali() -> TranslatingAdaptor:
    from oneapi.proxy.adaptors import ali
    return ali.ADAPTOR


def _xunfei() -> TranslatingAdaptor:
    from oneapi.proxy.adaptors import xunfei
    return xunfei.ADAPTOR


def _tencent() -> TranslatingAdaptor:
    from oneapi.proxy.adaptors import tencent
    return tencent.ADAPTOR


def _gemini() -> TranslatingAdaptor:
    from oneapi.proxy.adaptors import gemini
    return gemini.ADAPTOR


def _aws() -> TranslatingAdaptor:
    from oneapi.proxy.adaptors import aws
    return aws.ADAPTOR


def _coze() -> TranslatingAdaptor:
    from oneapi.proxy.adaptors import coze
    return coze.ADAPTOR


def _cohere() -> TranslatingAdaptor:
    from oneapi.proxy.adaptors import cohere
    return cohere.ADAPTOR


def _cloudflare() -> Adaptor:  # pass-through: OpenAI's protocol on URLs of its own
    from oneapi.proxy.adaptors import cloudflare
    return cloudflare.ADAPTOR


def _deepl() -> TranslatingAdaptor:
    from oneapi.proxy.adaptors import deepl
    return deepl.ADAPTOR


def _vertex() -> TranslatingAdaptor:
    from oneapi.proxy.adaptors import vertex
    return vertex.ADAPTOR


def _replicate() -> TranslatingAdaptor:
    from oneapi.proxy.adaptors import replicate
    return replicate.ADAPTOR


# Channel type → the loader of its adaptor (SPEC 6.0): translating ones, and pass-through ones whose URLs are
# their own (Cloudflare).
TRANSLATING: Final[Mapping[ChannelType, Callable[[], Adaptor | TranslatingAdaptor]]] = MappingProxyType({
    ChannelType.PALM: _palm,
    ChannelType.ANTHROPIC: _anthropic,
    ChannelType.BAIDU: _baidu,
    ChannelType.ZHIPU: _zhipu,
    ChannelType.ALI: _ali,
    ChannelType.XUNFEI: _xunfei,
    ChannelType.TENCENT: _tencent,
    ChannelType.GEMINI: _gemini,
    ChannelType.AWS_CLAUDE: _aws,
    ChannelType.COZE: _coze,
    ChannelType.COHERE: _cohere,
    ChannelType.CLOUDFLARE: _cloudflare,
    ChannelType.DEEPL: _deepl,
    ChannelType.VERTEXAI: _vertex,
    ChannelType.REPLICATE: _replicate,
})
# Types the chat/embeddings/... routes do not serve.
UNSUPPORTED_TYPES: Final = frozenset({
    ChannelType.UNKNOWN,
    ChannelType.PROXY,  # served by /v1/oneapi/proxy/{channel} only
})


def unserved_reason(channel_type: int) -> str:
    """Why the OpenAI routes cannot use a channel of this type (``adaptor_for`` gave None)."""
    if channel_type == ChannelType.PROXY:
        return "Proxy channels (type 43) serve /v1/oneapi/proxy/{channel}/... only, not the OpenAI routes"
    return f"channel type {channel_type} is not a type this server knows"


def adaptor_for(channel_type: int) -> Adaptor | TranslatingAdaptor | None:
    """The adaptor for a channel's ``type`` column, or None when the OpenAI routes do not serve the type."""
    kind = known_type(channel_type)
    if kind is None:
        return OPENAI if channel_type > 0 else None
    return _served(kind)


@cache  # one entry per member at most
def _served(kind: ChannelType) -> Adaptor | TranslatingAdaptor | None:
    if kind == ChannelType.AZURE:
        return AZURE_OPENAI
    if kind in TRANSLATING:
        return TRANSLATING[kind]()
    if kind in UNSUPPORTED_TYPES:
        return None
    return OPENAI
