"""Provider adaptors: one module per provider protocol; :func:`adaptor_for` picks one by channel type.

Channel types whose protocol is not implemented in this build have no adaptor; the relay reports that
clearly instead of sending them OpenAI requests they would reject.
"""

from __future__ import annotations

from oneapi.proxy.adaptors.base import Adaptor
from oneapi.proxy.adaptors.openai import AZURE, AZURE_OPENAI, OPENAI

# Types with a protocol of their own (SPEC 6.0): served by dedicated adaptors, not the OpenAI one.
NATIVE_PROTOCOL_TYPES = frozenset({11, 14, 15, 16, 17, 18, 23, 24, 33, 34, 35, 37, 38, 42, 43, 46})


def adaptor_for(channel_type: int) -> Adaptor | None:
    if channel_type == AZURE:
        return AZURE_OPENAI
    if channel_type in NATIVE_PROTOCOL_TYPES or channel_type <= 0:
        return None
    return OPENAI
