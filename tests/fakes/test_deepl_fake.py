"""Proof that the fake DeepL API speaks DeepL's published format: the official ``deepl`` SDK (``deepl.Translator``
pointed at the fake with ``server_url``) is satisfied — translate_text with one and several texts, context and
billed characters, get_usage, and errors raised as the SDK's typed exceptions.

The SDK is synchronous (requests), so it runs in a thread while the fake serves on this loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import deepl
import pytest

from tests.fakes.deepl_upstream import FakeDeepL, start_fake

KEY = "0123-fake:fx"


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeDeepL, str]]:
    upstream = FakeDeepL({KEY})
    url, stop = await start_fake(upstream)
    yield upstream, url
    await stop()


async def call(url: str, method: str, /, *args: Any, key: str = KEY, **kw: Any) -> Any:
    def run() -> Any:
        translator = deepl.Translator(key, server_url=url, send_platform_info=False)
        return getattr(translator, method)(*args, **kw)
    return await asyncio.to_thread(run)


async def test_translate_text(fake: tuple[FakeDeepL, str]) -> None:
    upstream, url = fake
    result = await call(url, "translate_text", "Hello, world", target_lang="DE", context="a greeting")
    assert result.text == "[DE] Hello, world" and result.detected_source_lang == "EN"
    assert result.billed_characters == len("Hello, world")
    seen = upstream.requests[-1]
    assert seen.path == "/v2/translate" and seen.headers["authorization"] == f"DeepL-Auth-Key {KEY}"
    sent = seen.json()
    assert sent["text"] == ["Hello, world"] and sent["target_lang"] == "DE" and sent["context"] == "a greeting"
    assert sent["show_billed_characters"] is True


async def test_several_texts_and_a_regional_target(fake: tuple[FakeDeepL, str]) -> None:
    _, url = fake
    results = await call(url, "translate_text", ["one", "two three"], target_lang="EN-US")
    assert [r.text for r in results] == ["[EN-US] one", "[EN-US] two three"]
    assert [r.billed_characters for r in results] == [3, 9]


async def test_usage(fake: tuple[FakeDeepL, str]) -> None:
    _, url = fake
    await call(url, "translate_text", "abcd", target_lang="FR")
    usage = await call(url, "get_usage")
    assert usage.character.count == 4 and usage.character.limit > 4


async def test_wrong_key(fake: tuple[FakeDeepL, str]) -> None:
    _, url = fake
    with pytest.raises(deepl.AuthorizationException):
        await call(url, "translate_text", "Hello", target_lang="DE", key="wrong:fx")


async def test_unsupported_target(fake: tuple[FakeDeepL, str]) -> None:
    _, url = fake
    with pytest.raises(deepl.DeepLException, match="target_lang"):
        await call(url, "translate_text", "Hello", target_lang="XX")


async def test_quota_exceeded(fake: tuple[FakeDeepL, str]) -> None:
    upstream, url = fake
    upstream.fail_next(456, "Quota Exceeded")
    with pytest.raises(deepl.QuotaExceededException, match="Quota Exceeded"):
        await call(url, "translate_text", "Hello", target_lang="DE")
