"""The channel-type enum: One API's numbers (the database's and the wire's), and the adaptor registry keyed by it,
including the numbers this server does not know."""

from __future__ import annotations

import json

import pytest

from oneapi.channel_types import ChannelType, known_type
from oneapi.proxy.adaptors import TRANSLATING, UNSUPPORTED_TYPES, adaptor_for, unserved_reason
from oneapi.proxy.adaptors.base import AdaptorBase
from oneapi.proxy.adaptors.openai import AZURE_OPENAI, OPENAI
from oneapi.services.catalog import CHANNEL_TYPES


def test_the_members_are_one_apis_numbers_0_to_51() -> None:
    assert [int(kind) for kind in ChannelType] == list(range(52))
    pinned = {ChannelType.UNKNOWN: 0, ChannelType.OPENAI: 1, ChannelType.AZURE: 3, ChannelType.CUSTOM: 8,
              ChannelType.PALM: 11, ChannelType.ANTHROPIC: 14, ChannelType.ZHIPU: 16, ChannelType.XUNFEI: 18,
              ChannelType.OPENROUTER: 20, ChannelType.GEMINI: 24, ChannelType.AWS_CLAUDE: 33,
              ChannelType.CLOUDFLARE: 37, ChannelType.VERTEXAI: 42, ChannelType.PROXY: 43,
              ChannelType.OPENAI_COMPATIBLE: 50, ChannelType.GEMINI_OPENAI_COMPATIBLE: 51}
    assert {kind: int(kind) for kind in pinned} == pinned


def test_the_catalogue_describes_every_member_under_its_number() -> None:
    assert list(CHANNEL_TYPES) == list(ChannelType)
    assert all(info.id is kind for kind, info in CHANNEL_TYPES.items())


def test_a_member_is_written_as_its_number() -> None:
    """Stored, sent as JSON and formatted into ratio keys such as ``gpt-4(3)`` as the bare number."""
    assert json.dumps({"type": ChannelType.GEMINI}) == '{"type": 24}'
    assert f"gpt-4({ChannelType.AZURE})" == "gpt-4(3)" and str(ChannelType.PROXY) == "43"
    assert ChannelType.GEMINI == 24 and {24: "x"}[ChannelType.GEMINI] == "x"


@pytest.mark.parametrize(("number", "kind"), [(24, ChannelType.GEMINI), (0, ChannelType.UNKNOWN), (52, None),
                                              (99, None), (-1, None)])
def test_known_type(number: int, kind: ChannelType | None) -> None:
    assert known_type(number) is kind


def test_every_registered_type_loads_its_adaptor_once() -> None:
    for kind, load in TRANSLATING.items():
        adaptor = adaptor_for(kind)
        assert isinstance(adaptor, AdaptorBase), kind
        assert adaptor is load() and adaptor_for(int(kind)) is adaptor


@pytest.mark.parametrize("kind", [k for k in ChannelType if k not in TRANSLATING and k not in UNSUPPORTED_TYPES
                                  and k != ChannelType.AZURE])
def test_the_other_known_types_speak_openai(kind: ChannelType) -> None:
    assert adaptor_for(kind) is OPENAI


def test_azure_has_its_own_urls() -> None:
    assert adaptor_for(3) is AZURE_OPENAI


@pytest.mark.parametrize("number", [52, 99, 10_000])
def test_a_positive_number_this_server_does_not_know_is_served_as_openai(number: int) -> None:
    """A row written by a newer One API keeps being relayed with the OpenAI protocol."""
    assert adaptor_for(number) is OPENAI


@pytest.mark.parametrize("number", [0, -1])
def test_unknown_and_negative_numbers_are_not_served(number: int) -> None:
    assert adaptor_for(number) is None
    assert unserved_reason(number) == f"channel type {number} is not a type this server knows"


def test_proxy_channels_serve_their_own_route_only() -> None:
    assert adaptor_for(43) is None
    assert "/v1/oneapi/proxy/{channel}" in unserved_reason(43)
