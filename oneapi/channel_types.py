"""One API's channel types as an enum: the numbers of the ``channels.type`` column and of ``"type"`` over ``/api``.

The numbers are One API's (``relay/channeltype``, SPEC 6.0) and are the wire and database values: a member is an
``int``, so it is stored, sent as JSON and formatted as its number. The names follow One API's constants in upper
case (``AwsClaude`` is ``AWS_CLAUDE``, ``VertextAI`` is ``VERTEXAI``).

This module sits at the floor with :mod:`oneapi.errors` and :mod:`oneapi.config`: the adaptors, the services, the
relay, the TUI and the CLI all name types through it, and it imports nothing of theirs.

A database may hold a number that is not a member (a row written by a newer One API): the column stays an ``int``
everywhere it is read, and :func:`known_type` says whether this server knows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Final

__all__ = ["ChannelType", "known_type"]


class ChannelType(IntEnum):
    UNKNOWN = 0
    OPENAI = 1
    API2D = 2
    AZURE = 3
    CLOSEAI = 4
    OPENAI_SB = 5
    OPENAI_MAX = 6
    OHMYGPT = 7
    CUSTOM = 8
    AILS = 9
    AIPROXY = 10
    PALM = 11
    API2GPT = 12
    AIGC2D = 13
    ANTHROPIC = 14
    BAIDU = 15
    ZHIPU = 16
    ALI = 17
    XUNFEI = 18
    AI360 = 19
    OPENROUTER = 20
    AIPROXY_LIBRARY = 21
    FASTGPT = 22
    TENCENT = 23
    GEMINI = 24
    MOONSHOT = 25
    BAICHUAN = 26
    MINIMAX = 27
    MISTRAL = 28
    GROQ = 29
    OLLAMA = 30
    LINGYIWANWU = 31
    STEPFUN = 32
    AWS_CLAUDE = 33
    COZE = 34
    COHERE = 35
    DEEPSEEK = 36
    CLOUDFLARE = 37
    DEEPL = 38
    TOGETHERAI = 39
    DOUBAO = 40
    NOVITA = 41
    VERTEXAI = 42
    PROXY = 43
    SILICONFLOW = 44
    XAI = 45
    REPLICATE = 46
    BAIDU_V2 = 47
    XUNFEI_V2 = 48
    ALI_BAILIAN = 49
    OPENAI_COMPATIBLE = 50
    GEMINI_OPENAI_COMPATIBLE = 51


# A plain dict lookup: the relay asks for every attempt, and ChannelType(n) costs several times more.
_MEMBERS: Final[Mapping[int, ChannelType]] = {kind.value: kind for kind in ChannelType}


def known_type(type_id: int) -> ChannelType | None:
    """The member for a channel type number, or ``None`` for a number this server does not know."""
    return _MEMBERS.get(type_id)
