"""Billing arithmetic (oneapi/services/pricing.py) and the default tables (oneapi/services/ratios.py), SPEC 5.

Expected values are exact integers worked out by hand from One API's Go code; where float64 rounding moves a
``ceil`` (100 tokens × 0.07 = 7.000000000000001 → 8), the expected value is One API's, not the exact one.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from types import MappingProxyType

import pytest

from oneapi.channel_types import ChannelType
from oneapi.errors import InvalidInputError
from oneapi.services import ratios
from oneapi.services.options import Options
from oneapi.services.pricing import (
    UNKNOWN_MODEL_RATIO,
    ImageRequestError,
    Price,
    PriceTables,
    check_image_request,
    completion_ratio,
    consume_log_content,
    group_ratio,
    image_quota,
    model_ratio,
    pre_consume_quota,
    price_for,
    pricing_model,
    quota_to_usd,
    text_quota,
    tts_quota,
    whisper_quota,
)
from oneapi.store.facade import Store

DEFAULTS = PriceTables.defaults()
OPENAI, AZURE, ANTHROPIC, ALI = ChannelType.OPENAI, ChannelType.AZURE, ChannelType.ANTHROPIC, ChannelType.ALI
AWS, COHERE, GROQ = ChannelType.AWS_CLAUDE, ChannelType.COHERE, ChannelType.GROQ


def tables(model: dict[str, float] | None = None, completion: dict[str, float] | None = None,
           group: dict[str, float] | None = None) -> PriceTables:
    """Configured maps as an operator would store them (may lack keys; defaults fill in)."""
    return PriceTables(MappingProxyType(model or {}), MappingProxyType(completion or {}),
                       MappingProxyType(group if group is not None else dict(ratios.DEFAULT_GROUP_RATIO)))


def price(model_r: float, completion_r: float = 1.0, group_r: float = 1.0) -> Price:
    return Price(model_r, completion_r, group_r, True)


# -- names and ratio lookups ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "priced_as"), [
    ("qwen-turbo-internet", "qwen-turbo"), ("qwen-max-internet", "qwen-max"),
    ("command-r-internet", "command-r"), ("command-light-nightly-internet", "command-light-nightly"),
    ("gpt-4-internet", "gpt-4-internet"),  # only qwen-* and command-*
    ("qwen-turbo", "qwen-turbo"), ("internet", "internet"),
])
def test_pricing_model(model: str, priced_as: str) -> None:
    assert pricing_model(model) == priced_as


@pytest.mark.parametrize(("t", "model", "channel_type", "expected"), [
    (DEFAULTS, "gpt-4", OPENAI, (15.0, True)),
    (DEFAULTS, "gpt-3.5-turbo", AZURE, (0.25, True)),
    (DEFAULTS, "claude-3-opus-20240229", ANTHROPIC, (7.5, True)),
    (DEFAULTS, "ERNIE-4.0-8K", 15, (8.52, True)),
    (DEFAULTS, "qwen-turbo-internet", ALI, (0.0213, True)),
    (DEFAULTS, "glm-4-flash", 16, (0.0, True)),  # free is known, not unknown
    (DEFAULTS, "no-such-model", OPENAI, (30.0, False)),
    # AWS prices llama3 per channel type: "<model>(33)" beats the Groq price of the bare name
    (DEFAULTS, "llama3-8b-8192", AWS, (0.15, True)),
    (DEFAULTS, "llama3-8b-8192", GROQ, (0.025, True)),
    (DEFAULTS, "llama3-70b-8192", AWS, (1.325, True)),
    # configured beats default for the same key
    (tables({"gpt-4": 20}), "gpt-4", OPENAI, (20.0, True)),
    (tables({"my-model": 2}), "my-model", OPENAI, (2.0, True)),
    # "(type)" override applies to that channel type only
    (tables({"gpt-4(3)": 12, "gpt-4": 20}), "gpt-4", AZURE, (12.0, True)),
    (tables({"gpt-4(3)": 12, "gpt-4": 20}), "gpt-4", OPENAI, (20.0, True)),
    (tables({"gpt-4(3)": 12}), "gpt-4", OPENAI, (15.0, True)),
    # SPEC order: configured typed, default typed, configured plain, default plain
    (tables({"llama3-8b-8192(33)": 0.2}), "llama3-8b-8192", AWS, (0.2, True)),
    (tables({"llama3-8b-8192": 9}), "llama3-8b-8192", AWS, (0.15, True)),
    (tables({"llama3-8b-8192": 9}), "llama3-8b-8192", GROQ, (9.0, True)),
    (tables({"qwen-plus": 1}), "qwen-plus-internet", ALI, (1.0, True)),
    (tables({"x(1)": 3}), "x", AZURE, (UNKNOWN_MODEL_RATIO, False)),
])
def test_model_ratio(t: PriceTables, model: str, channel_type: int, expected: tuple[float, bool]) -> None:
    assert model_ratio(t, model, channel_type) == expected


@pytest.mark.parametrize(("model", "expected"), [
    ("gpt-3.5-turbo", 3), ("gpt-3.5-turbo-0125", 3), ("gpt-3.5-turbo-1106", 2), ("gpt-3.5-turbo-16k", 4 / 3),
    ("gpt-3.5-turbo-0613", 4 / 3), ("gpt-3.5-turbo-instruct", 4 / 3),
    ("gpt-4", 2), ("gpt-4-32k", 2), ("gpt-4-0613", 2), ("gpt-4-turbo", 3), ("gpt-4-turbo-2024-04-09", 3),
    ("gpt-4-1106-preview", 3), ("gpt-4-vision-preview", 3),
    ("gpt-4o", 4), ("gpt-4o-mini", 4), ("gpt-4o-2024-08-06", 4), ("gpt-4o-2024-05-13", 3),
    ("chatgpt-4o-latest", 3), ("gpt-4.1", 4), ("gpt-4.1-nano", 4),
    ("o1", 4), ("o1-preview", 4), ("o1-mini", 4), ("o3-mini", 4), ("o3", 4), ("o4-mini", 4),
    ("claude-3-haiku-20240307", 5), ("claude-3-5-sonnet-20241022", 5), ("claude-3-7-sonnet-20250219", 5),
    ("claude-sonnet-4-20250514", 5), ("claude-2.1", 3), ("claude-instant-1.2", 3),
    ("gemini-pro", 3), ("gemini-1.0-pro", 3), ("gemini-1.5-pro", 4), ("gemini-2.0-flash", 4),
    ("gemini-2.0-flash-exp", 3), ("gemini-2.5-pro", 8), ("gemini-2.5-flash", float(Fraction(25, 3))),
    ("mistral-large-latest", 3),
    ("deepseek-chat", float(Fraction(110, 27))), ("deepseek-reasoner", float(Fraction(219, 55))),
    ("deepseek-coder", 2),
    ("whisper-1", 0), ("tts-1", 1), ("text-embedding-3-small", 1),
    ("command", 2), ("command-light", 2), ("command-r", 3), ("command-r-plus", 5), ("command-r-internet", 3),
    ("grok-beta", 3), ("grok-2", 5),
    ("llama3-70b-8192", float(Fraction("0.79") / Fraction("0.59"))), ("llama3-8b-8192", 2),
    ("meta/meta-llama-3-70b", float(Fraction("2.75") / Fraction("0.65"))),
    ("ERNIE-4.0-8K", 1), ("qwen-max", 1), ("qwen-max-internet", 1), ("glm-4", 1), ("SparkDesk-v3.5", 1),
    ("hunyuan-turbo", 1), ("moonshot-v1-8k", 1), ("some-new-model", 1),
])
def test_completion_ratio_defaults_and_rules(model: str, expected: float) -> None:
    assert completion_ratio(DEFAULTS, model, OPENAI) == expected


def test_completion_ratio_per_channel_type_and_configured() -> None:
    assert completion_ratio(DEFAULTS, "llama3-8b-8192", AWS) == 2.0
    assert completion_ratio(DEFAULTS, "llama3-70b-8192", AWS) == float(Fraction("0.0035") / Fraction("0.00265"))
    t = tables(completion={"gpt-4": 2.5, "qwen-max": 4, "gpt-4o(3)": 5})
    assert completion_ratio(t, "gpt-4", OPENAI) == 2.5
    assert completion_ratio(t, "qwen-max-internet", ALI) == 4.0
    assert completion_ratio(t, "gpt-4o", AZURE) == 5.0
    assert completion_ratio(t, "gpt-4o", OPENAI) == 4.0  # the rule again
    assert completion_ratio(t, "deepseek-chat", 36) == float(Fraction(110, 27))  # default map still consulted


def test_go_constant_rounding() -> None:
    """Computed prices round once like Go constants: Python's 2.19 / 0.55 is one ulp away from Go's."""
    assert 2.19 / 0.55 == 3.9818181818181815
    assert ratios.DEFAULT_COMPLETION_RATIO["deepseek-reasoner"] == 3.981818181818182
    assert completion_ratio(DEFAULTS, "llama3-70b-8192", GROQ) == 1.3389830508474576  # Python: ...578


@pytest.mark.parametrize(("t", "group", "expected"), [
    (DEFAULTS, "default", 1.0), (DEFAULTS, "vip", 1.0), (DEFAULTS, "nobody", 1.0),
    (tables(group={"default": 1, "vip": 0.8, "free": 0}), "vip", 0.8),
    (tables(group={"default": 1, "vip": 0.8, "free": 0}), "free", 0.0),
    (tables(group={"vip": 0.8}), "default", 1.0),  # a group missing from the configured map pays 1
])
def test_group_ratio(t: PriceTables, group: str, expected: float) -> None:
    assert group_ratio(t, group) == expected


def test_price_for() -> None:
    t = tables(group={"default": 1, "vip": 0.5})
    assert price_for(t, "gpt-4o", OPENAI, "vip") == Price(1.25, 4.0, 0.5, True)
    assert price_for(t, "gpt-4o", OPENAI, "vip").ratio == 0.625
    assert price_for(t, "mystery", OPENAI, "default") == Price(30.0, 1.0, 1.0, False)


# -- text ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("p", "prompt", "completion", "expected"), [
    # gpt-3.5-turbo-16k at ratio 0.25: (100 + 50 × 4/3) × 0.25 = 41.666… → 42
    (price(0.25, 4 / 3), 100, 50, 42),
    (price(0.25, 4 / 3), 0, 3, 1),  # 3 × 1.3333333333333333 is exactly 4.0 in float64: 1.0 → 1
    (price(15, 2), 1000, 500, 30000),  # gpt-4
    (price(1.25, 4), 1000, 1000, 6250),  # gpt-4o: $2.50 + $10 per 1M → 6250 quota = $0.0125
    (price(1.25, 4, 1.5), 1000, 1000, 9375),  # group ratio 1.5
    # float64 artefacts One API has too: 100 × 0.07 = 7.000000000000001 → 8 (exactly: 7)
    (price(0.07), 100, 0, 8),
    (price(0.07, 4 / 3), 0, 75, 8),
    (price(0.0213), 1000, 0, 22),  # qwen-turbo: 21.3 → 22
    (price(0.01), 1, 0, 1),  # 0.01 → ceil 1
    (price(15, 0), 0, 5, 1),  # completion ratio 0 gives 0, but a non-zero ratio charges at least 1
    (price(0), 1000, 1000, 0),  # free model
    (price(15, 2, 0), 1000, 1000, 0),  # free group
    (price(15, 2), 0, 0, 0),  # nothing used: failure, refund everything
    (price(15, 2), -5, 0, 0),  # a negative count is never a refund
    (price(15, 2), 10, -3, 150),
])
def test_text_quota(p: Price, prompt: int, completion: int, expected: int) -> None:
    assert text_quota(p, prompt, completion) == expected


def test_text_quota_follows_float64_not_exact_arithmetic() -> None:
    exact = math.ceil((100 + Fraction(0)) * Fraction("0.07"))
    assert exact == 7 and text_quota(price(0.07), 100, 0) == 8


@pytest.mark.parametrize(("p", "base", "prompt", "max_tokens", "expected"), [
    (price(0.25), 500, 100, 0, 150),
    (price(0.25), 500, 100, 1000, 400),
    (price(15), 500, 100, 1000, 24000),
    (price(15, group_r=0.5), 500, 100, 1000, 12000),
    (price(0.0213), 500, 10, 0, 10),  # 10.863 truncates
    (price(0.07), 0, 100, 0, 7),  # int(7.000000000000001): truncation, not ceil
    (price(0.25), 500, 100, -50, 150),  # negative max_tokens ignored
    (price(0), 500, 100, 1000, 0),
    (price(30.0), 0, 0, 0, 0),
])
def test_pre_consume_quota(p: Price, base: int, prompt: int, max_tokens: int, expected: int) -> None:
    assert pre_consume_quota(p, base, prompt, max_tokens) == expected


# -- images --------------------------------------------------------------------------------------------------

DALLE2, DALLE3 = price(10), price(20)


@pytest.mark.parametrize(("p", "model", "size", "quality", "n", "expected"), [
    (DALLE3, "dall-e-3", "1024x1024", "standard", 1, 20000),  # SPEC: $0.04
    (DALLE3, "dall-e-3", "1024x1024", "", 1, 20000),
    (DALLE3, "dall-e-3", "1792x1024", "standard", 1, 40000),
    (DALLE3, "dall-e-3", "1024x1792", "standard", 1, 40000),
    (DALLE3, "dall-e-3", "1024x1024", "hd", 1, 40000),  # hd ×2 at 1024²
    (DALLE3, "dall-e-3", "1792x1024", "hd", 1, 60000),  # hd ×1.5 otherwise
    (DALLE2, "dall-e-2", "256x256", "", 1, 10000),
    (DALLE2, "dall-e-2", "512x512", "", 1, 11250),
    (DALLE2, "dall-e-2", "1024x1024", "", 1, 12500),
    (DALLE2, "dall-e-2", "1024x1024", "hd", 3, 37500),  # hd means nothing for dall-e-2
    (DALLE2, "dall-e-2", "1024x1024", "", 10, 125000),
    (price(10, group_r=1.5), "dall-e-2", "512x512", "", 2, 33750),
    (price(8), "wanx-v1", "720x1280", "", 4, 32000),
    (price(20), "black-forest-labs/flux-1.1-pro", "1440x1440", "", 1, 20000),  # no size table: any size, ×1
    # float64 again: 10 × 0.47 × 1.25 × 1000 = 5874.999999999999 truncates to 5874 (exactly: 5875), × 2
    (price(10, group_r=0.47), "dall-e-2", "1024x1024", "", 2, 11748),
])
def test_image_quota(p: Price, model: str, size: str, quality: str, n: int, expected: int) -> None:
    assert image_quota(p, model, size, quality, n) == expected


@pytest.mark.parametrize(("model", "size", "n", "code"), [
    ("dall-e-3", "512x512", 1, "size_not_supported"),
    ("dall-e-2", "1024x1792", 1, "size_not_supported"),
    ("dall-e-3", "1024x1024", 2, "n_not_within_range"),
    ("dall-e-2", "256x256", 11, "n_not_within_range"),
    ("dall-e-2", "256x256", 0, "n_not_within_range"),
    ("ali-stable-diffusion-xl", "1024x1024", 5, "n_not_within_range"),
    ("other-model", "1x1", 11, "n_not_within_range"),
])
def test_image_quota_refuses(model: str, size: str, n: int, code: str) -> None:
    with pytest.raises(ImageRequestError) as caught:
        image_quota(DALLE3, model, size, "standard", n)
    assert caught.value.code == code


@pytest.mark.parametrize(("model", "prompt", "size", "n"), [
    ("dall-e-2", "a cat", "256x256", 1),
    ("dall-e-2", "x" * 1000, "1024x1024", 10),
    ("dall-e-2", "猫" * 600, "512x512", 1),  # 600 characters, 1800 UTF-8 bytes: characters count
    ("dall-e-3", "x" * 4000, "1792x1024", 1),
    ("cogview-3", "x" * 833, "333x777", 1),  # cogview-3: any size
    ("other-model", "x" * 10000, "1x1", 10),  # other models: any size, no prompt limit, n up to 10
])
def test_check_image_request_accepts(model: str, prompt: str, size: str, n: int) -> None:
    check_image_request(model, prompt, size, n)


@pytest.mark.parametrize(("model", "prompt", "size", "n", "code", "message"), [
    ("dall-e-3", "", "1024x1024", 1, "prompt_missing", "prompt is required"),
    ("dall-e-3", "", "1x1", 5, "prompt_missing", "prompt is required"),  # checked first, as One API
    ("dall-e-3", "a cat", "512x512", 1, "size_not_supported", "size not supported for this image model"),
    ("dall-e-2", "a cat", "2048x2048", 1, "size_not_supported", "256x256, 512x512, 1024x1024"),
    ("dall-e-2", "x" * 1001, "256x256", 1, "prompt_too_long", "prompt is too long"),
    ("dall-e-3", "x" * 4001, "1024x1024", 1, "prompt_too_long", "4000 characters"),
    ("cogview-3", "x" * 834, "1024x1024", 1, "prompt_too_long", "833"),
    ("dall-e-2", "x" * 1001, "9x9", 1, "size_not_supported", "size"),  # size before length
    ("dall-e-3", "a cat", "1024x1024", 2, "n_not_within_range", "invalid value of n"),
    ("dall-e-2", "a cat", "1024x1024", 11, "n_not_within_range", "1 to 10"),
    ("dall-e-2", "a cat", "1024x1024", 0, "n_not_within_range", "got 0"),
    ("wanx-v1", "a cat", "1024x1024", 5, "n_not_within_range", "1 to 4"),
    ("other-model", "a cat", "1x1", 11, "n_not_within_range", "1 to 10"),
])
def test_check_image_request_refuses(model: str, prompt: str, size: str, n: int, code: str, message: str) -> None:
    with pytest.raises(ImageRequestError, match=message) as caught:
        check_image_request(model, prompt, size, n)
    error = caught.value
    assert error.code == code
    assert isinstance(error, ValueError) and isinstance(error, InvalidInputError) and error.http_status == 400
    assert error.to_openai()["error"]["code"] == code


# -- audio ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("p", "text", "expected"), [
    (price(7.5), "hello", 37),  # 37.5 truncates
    (price(7.5), "你好", 45),  # 6 UTF-8 bytes, not 2 characters (Go's len)
    (price(15), "😀", 60),  # 4 bytes
    (price(15), "\ud800", 45),  # a lone surrogate: 3 bytes, like the U+FFFD Go decodes it to
    (price(7.5, group_r=2), "x" * 4096, 61440),
    (price(7.5), "", 0),
    (price(0), "hello", 0),
])
def test_tts_quota(p: Price, text: str, expected: int) -> None:
    assert tts_quota(p, text) == expected


@pytest.mark.parametrize(("p", "tokens", "expected"), [
    (price(15, 0), 200, 3000),  # whisper-1: $0.006 ≈ a minute ≈ 200 tokens; completion ratio plays no part
    (price(15, 0, 1.5), 200, 4500),  # the group ratio applies
    (price(15, 0), 1, 15),
    (price(0.001), 1, 1),  # ceil
    (price(15, 0), 0, 0),  # empty transcript
    (price(0), 200, 0),  # free
])
def test_whisper_quota(p: Price, tokens: int, expected: int) -> None:
    assert whisper_quota(p, tokens) == expected


# -- reporting -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("p", "content"), [
    (price(1.25, 4), "倍率：1.25 × 1.00 × 4.00"),
    (price(0.25, 4 / 3, 0.8), "倍率：0.25 × 0.80 × 1.33"),
    (price(0.125, 5), "倍率：0.12 × 1.00 × 5.00"),  # %.2f of 0.125 rounds half to even, as Go does
    (price(8.52, 1), "倍率：8.52 × 1.00 × 1.00"),
    (price(30, 1, 1), "倍率：30.00 × 1.00 × 1.00"),
    (price(0.0213, 1), "倍率：0.02 × 1.00 × 1.00"),
])
def test_consume_log_content(p: Price, content: str) -> None:
    assert consume_log_content(p) == content


def test_quota_to_usd() -> None:
    assert quota_to_usd(20000) == 0.04
    assert quota_to_usd(500000) == 1.0
    assert quota_to_usd(0) == 0.0
    assert quota_to_usd(1000, 1000) == 1.0


# -- the default tables --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "ratio", "completion"), [
    # SPEC 5.2 rows that still hold
    ("gpt-3.5-turbo", 0.25, 3), ("gpt-3.5-turbo-16k", 1.5, 4 / 3), ("gpt-4", 15, 2), ("gpt-4-32k", 30, 2),
    ("gpt-4-turbo", 5, 3), ("gpt-4-turbo-preview", 5, 3), ("gpt-4o-mini", 0.075, 4), ("o1", 7.5, 4),
    ("o1-preview", 7.5, 4), ("text-embedding-ada-002", 0.05, 1), ("text-embedding-3-large", 0.065, 1),
    ("whisper-1", 15, 0), ("tts-1", 7.5, 1), ("tts-1-hd", 15, 1), ("dall-e-2", 10, 1), ("dall-e-3", 20, 1),
    ("claude-3-opus-20240229", 7.5, 5), ("claude-3-5-sonnet-20241022", 1.5, 5),
    ("claude-3-haiku-20240307", 0.125, 5), ("claude-2.1", 4, 3), ("claude-2.0", 4, 3),
    ("gemini-pro", 0.125, 3), ("gemini-1.0-pro", 0.0625, 3), ("gemini-1.5-pro", 0.625, 4),
    ("gemini-1.5-flash", 0.0375, 4),
    ("ERNIE-4.0-8K", 8.52, 1), ("ERNIE-3.5-8K", 0.852, 1), ("ERNIE-Speed-8K", 0.284, 1),
    ("qwen-turbo", 0.0213, 1), ("qwen-plus", 0.0568, 1), ("qwen-max", 0.1704, 1),
    ("glm-4", 7.1, 1), ("glm-4-plus", 3.55, 1), ("glm-4-flash", 0, 1), ("glm-3-turbo", 0.071, 1),
    ("glm-4v", 3.55, 1), ("glm-4v-plus", 0.284, 1),
    ("SparkDesk", 1.2858, 1), ("SparkDesk-v4.0", 1.2858, 1), ("hunyuan-turbo", 1.065, 1),
    ("hunyuan-standard", 0.0568, 1), ("360GPT_S2_V9", 0.8572, 1), ("embedding-bert-512-v1", 0.0715, 1),
    ("deepseek-reasoner", 0.275, 3.981818181818182),
    # changed to current list prices (ratios.py docstring)
    ("gpt-4o", 1.25, 4), ("o3-mini", 0.55, 4), ("o1-mini", 0.55, 4), ("claude-3-5-haiku-20241022", 0.4, 5),
    ("gemini-2.0-flash", 0.05, 4), ("deepseek-chat", 0.135, float(Fraction(110, 27))),
    # unit fixes and models One API left at 30
    ("llama3-70b-8192", 0.295, 1.3389830508474576), ("step-1-8k", 0.355, 1),
    ("Spark-Lite", 0, 1), ("Spark-Max", 1.2858, 1), ("hunyuan-lite", 0, 1), ("hunyuan-pro", 2.13, 1),
    ("claude-3-7-sonnet-20250219", 1.5, 5),
])
def test_default_prices(model: str, ratio: float, completion: float) -> None:
    assert model_ratio(DEFAULTS, model, OPENAI) == (ratio, True)
    assert completion_ratio(DEFAULTS, model, OPENAI) == completion


def test_default_tables_are_valid_options() -> None:
    for name in ratios.RATIO_OPTIONS:
        parsed = ratios.parse_ratio_map(name, ratios.default_json(name))
        assert parsed and all(math.isfinite(v) and v >= 0 for v in parsed.values())
    assert json.loads(ratios.default_json("GroupRatio")) == {"default": 1, "vip": 1, "svip": 1}


# -- from the options ----------------------------------------------------------------------------------------

async def test_price_tables_from_options(store: Store) -> None:
    options = await Options.load(store)
    assert PriceTables.from_options(options).model_ratio == dict(ratios.DEFAULT_MODEL_RATIO)

    await options.update("ModelRatio", json.dumps({"gpt-4": 20, "gpt-4(3)": 25, "my-model": 2}))
    await options.update("CompletionRatio", json.dumps({"my-model": 3}))
    await options.update("GroupRatio", json.dumps({"default": 1, "vip": 0.5}))
    t = PriceTables.from_options(await Options.load(store))  # as the next reload sees it

    assert price_for(t, "gpt-4", OPENAI, "default") == Price(20.0, 2.0, 1.0, True)
    assert price_for(t, "gpt-4", AZURE, "vip") == Price(25.0, 2.0, 0.5, True)
    assert price_for(t, "my-model", 8, "vip") == Price(2.0, 3.0, 0.5, True)
    assert price_for(t, "gpt-4o", OPENAI, "svip") == Price(1.25, 4.0, 1.0, True)  # default price, group gone
    assert text_quota(price_for(t, "my-model", 8, "vip"), 100, 100) == 400  # (100 + 300) × 2 × 0.5
    with pytest.raises(TypeError):
        t.model_ratio["gpt-4"] = 1  # type: ignore[index]
