"""What a request costs, in quota (SPEC 5): ratio lookups, the text formula, pre-consumption, images, audio.

Pure functions over immutable tables: no I/O, no awaits, no logging (an unknown model is reported through
``known=False`` so the caller can log it once). The relay builds one :class:`PriceTables` per options reload
(``PriceTables.from_options`` parses the ratio JSON, which is too slow for every request) and calls
:func:`price_for` per request; settlement then uses :func:`text_quota` and friends.

Arithmetic
----------
Quota is an ``int``, but One API computes it in float64 and rounds once at the end (``ceil`` for text,
truncation for pre-consumption, images and TTS). To charge the same integers, these functions do the same
IEEE-754 double operations in the same order as One API's Go code, not exact rational arithmetic:

* ``ceil((prompt + completion * completion_ratio) * ratio)`` with ``ratio = model_ratio * group_ratio``.
  100 prompt tokens at ratio 0.07 give ``ceil(7.000000000000001)`` = **8**, not 7, in One API and here.
* ``int(ratio * size_ratio * 1000) * n`` for images, ``int(tokens * ratio)`` for pre-consumption.

Exact arithmetic would disagree with One API by one quota unit in such cases. Go may fuse ``a + b * c`` into
one FMA instruction on arm64/ppc64/s390x; these results match One API built for amd64 (no fusion). The table
values themselves are rounded once, like Go constants (see :mod:`oneapi.services.ratios`).

Where we differ from One API HEAD (on purpose)
----------------------------------------------
* Whisper: One API charges the transcript's token count with no ratio at all (a quirk, SPEC 5.5 and 10);
  :func:`whisper_quota` applies the model and group ratio like text.
* Completion rules: ``o3*`` / ``o4*`` get 4 like ``o1*`` (One API gives o3-mini 1); ``command-*-internet`` is
  stripped for the completion ratio too (One API strips it only for the model ratio, so
  ``command-r-internet`` output was billed at 1 instead of command-r's 3).
* Image prompts are limited in characters, as OpenAI documents, not UTF-8 bytes (One API's ``len``), so a
  600-character Chinese prompt is accepted for dall-e-2. Models without a known limit accept n = 1..10.
* Negative token counts (an upstream bug) count as 0 instead of producing a negative charge (a refund).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal

from oneapi.errors import InvalidInputError
from oneapi.services import ratios

if TYPE_CHECKING:
    from oneapi.services.options import Options

__all__ = [
    "UNKNOWN_MODEL_RATIO",
    "ImageRequestError",
    "Price",
    "PriceTables",
    "check_image_request",
    "completion_ratio",
    "consume_log_content",
    "group_ratio",
    "image_quota",
    "model_ratio",
    "pre_consume_quota",
    "price_for",
    "pricing_model",
    "quota_to_usd",
    "text_quota",
    "tts_quota",
    "whisper_quota",
]

UNKNOWN_MODEL_RATIO: Final = 30.0
"""One API's model ratio for a model no table knows ($60 / 1M tokens: expensive on purpose)."""

UNKNOWN_GROUP_RATIO: Final = 1.0


# -- tables --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PriceTables:
    """The three ratio maps as configured. Model and completion lookups fall back to the built-in defaults
    (:mod:`oneapi.services.ratios`) for keys the configured maps lack; the group map has no fallback."""

    model_ratio: Mapping[str, float]
    completion_ratio: Mapping[str, float]
    group_ratio: Mapping[str, float]

    @classmethod
    def from_options(cls, options: Options) -> PriceTables:
        """Parse the ModelRatio / CompletionRatio / GroupRatio options (invalid JSON falls back to defaults
        inside ``Options.ratio_map``). Build once per options reload, not per request."""
        return cls(MappingProxyType(options.ratio_map("ModelRatio")),
                   MappingProxyType(options.ratio_map("CompletionRatio")),
                   MappingProxyType(options.ratio_map("GroupRatio")))

    @classmethod
    def defaults(cls) -> PriceTables:
        return cls(ratios.DEFAULT_MODEL_RATIO, ratios.DEFAULT_COMPLETION_RATIO, ratios.DEFAULT_GROUP_RATIO)


def pricing_model(model: str) -> str:
    """The name a model is priced under: ``qwen-*-internet`` and ``command-*-internet`` cost what the model
    without ``-internet`` costs (SPEC 5.1)."""
    if model.startswith(("qwen-", "command-")) and model.endswith("-internet"):
        return model.removesuffix("-internet")
    return model


def _lookup(configured: Mapping[str, float], defaults: Mapping[str, float], model: str,
            channel_type: int) -> float | None:
    # SPEC 5.1 order: "<model>(<type>)" configured, then default; "<model>" configured, then default.
    typed = f"{model}({channel_type})"
    for table, key in ((configured, typed), (defaults, typed), (configured, model), (defaults, model)):
        ratio = table.get(key)
        if ratio is not None:
            return float(ratio)
    return None


def model_ratio(t: PriceTables, model: str, channel_type: int) -> tuple[float, bool]:
    """``(ratio, known)``; a model in no table costs :data:`UNKNOWN_MODEL_RATIO` and is not known."""
    ratio = _lookup(t.model_ratio, ratios.DEFAULT_MODEL_RATIO, pricing_model(model), channel_type)
    return (UNKNOWN_MODEL_RATIO, False) if ratio is None else (ratio, True)


# Exact-name rules of One API's GetCompletionRatio (Groq, Cohere, xAI, Replicate). Quotients are rounded once
# from the exact fraction, as Go does with constant expressions.
_COMPLETION_BY_NAME: Final[Mapping[str, float]] = MappingProxyType({
    "llama2-70b-4096": float(Fraction("0.8") / Fraction("0.64")),
    "llama3-8b-8192": 2.0,
    "llama3-70b-8192": float(Fraction("0.79") / Fraction("0.59")),
    **dict.fromkeys(("command", "command-light", "command-nightly", "command-light-nightly"), 2.0),
    "command-r": 3.0,
    "command-r-plus": 5.0,
    "grok-beta": 3.0,
    "ibm-granite/granite-20b-code-instruct-8k": 5.0,
    "ibm-granite/granite-3.0-2b-instruct": 8.333333333333334,
    "ibm-granite/granite-3.0-8b-instruct": 5.0,
    "ibm-granite/granite-8b-code-instruct-128k": 5.0,
    **dict.fromkeys(("meta/llama-2-13b", "meta/llama-2-13b-chat", "meta/llama-2-7b", "meta/llama-2-7b-chat",
                     "meta/meta-llama-3-8b", "meta/meta-llama-3-8b-instruct"), 5.0),
    **dict.fromkeys(("meta/llama-2-70b", "meta/llama-2-70b-chat", "meta/meta-llama-3-70b",
                     "meta/meta-llama-3-70b-instruct"), float(Fraction("2.75") / Fraction("0.65"))),
    "meta/meta-llama-3.1-405b-instruct": 1.0,
    "mistralai/mistral-7b-instruct-v0.2": 5.0,
    "mistralai/mistral-7b-v0.1": 5.0,
    "mistralai/mixtral-8x7b-instruct-v0.1": float(Fraction(10, 3)),
})


def _completion_rule(name: str) -> float:
    """One API's hard-coded completion ratios for names in no map (SPEC 5.1), plus o3/o4."""
    if name.startswith("gpt-3.5"):
        if name == "gpt-3.5-turbo" or name.endswith("0125"):
            return 3.0
        return 2.0 if name.endswith("1106") else 4.0 / 3.0
    if name.startswith("gpt-4"):
        if name.startswith("gpt-4o"):
            return 3.0 if name == "gpt-4o-2024-05-13" else 4.0
        return 3.0 if name.startswith("gpt-4-turbo") or name.endswith("preview") else 2.0
    if name.startswith(("o1", "o3", "o4")):
        return 4.0
    if name == "chatgpt-4o-latest":
        return 3.0
    if name.startswith("claude-3"):
        return 5.0
    if name.startswith(("claude-", "mistral-", "gemini-")):
        return 3.0
    if name.startswith("deepseek-"):
        return 2.0
    return _COMPLETION_BY_NAME.get(name, 1.0)


def completion_ratio(t: PriceTables, model: str, channel_type: int) -> float:
    """Output-token multiple: the maps in :func:`model_ratio`'s order, then One API's rules, else 1."""
    name = pricing_model(model)
    ratio = _lookup(t.completion_ratio, ratios.DEFAULT_COMPLETION_RATIO, name, channel_type)
    return _completion_rule(name) if ratio is None else ratio


def group_ratio(t: PriceTables, group: str) -> float:
    """The user group's multiplier; an unknown group pays 1 (One API logs it)."""
    ratio = t.group_ratio.get(group)
    return UNKNOWN_GROUP_RATIO if ratio is None else float(ratio)


# -- text --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Price:
    """Everything a request needs to bill: resolved once when the channel is chosen."""

    model_ratio: float
    completion_ratio: float
    group_ratio: float
    known: bool

    @property
    def ratio(self) -> float:
        """One API's ``ratio = modelRatio * groupRatio`` (a float64 product, kept as such)."""
        return self.model_ratio * self.group_ratio


def price_for(t: PriceTables, model: str, channel_type: int, group: str) -> Price:
    ratio, known = model_ratio(t, model, channel_type)
    return Price(ratio, completion_ratio(t, model, channel_type), group_ratio(t, group), known)


def text_quota(price: Price, prompt_tokens: int, completion_tokens: int) -> int:
    """SPEC 5.1: ``ceil((prompt + completion × completionRatio) × ratio)``; at least 1 when the ratio is not 0;
    0 when no token was used at all (a failed request, refunded in full)."""
    prompt, completion = max(prompt_tokens, 0), max(completion_tokens, 0)
    if prompt + completion == 0:
        return 0
    ratio = price.ratio
    quota = math.ceil((float(prompt) + float(completion) * price.completion_ratio) * ratio)
    if ratio != 0 and quota <= 0:
        return 1
    return quota


def pre_consume_quota(price: Price, base: int, prompt_tokens: int, max_tokens: int) -> int:
    """SPEC 5.3: ``int((PreConsumedQuota + prompt + max_tokens) × ratio)``, truncated like Go's ``int64()``.
    ``base`` is the PreConsumedQuota option; a missing ``max_tokens`` is 0. Never negative."""
    tokens = max(base, 0) + max(prompt_tokens, 0) + max(max_tokens, 0)
    return max(int(float(tokens) * price.ratio), 0)


# -- images ------------------------------------------------------------------------------------------------

ImageErrorCode = Literal["size_not_supported", "prompt_too_long", "n_not_within_range", "prompt_missing"]


class ImageRequestError(InvalidInputError, ValueError):
    """An image request One API refuses before calling upstream (HTTP 400, One API's error ``code``)."""

    def __init__(self, code: ImageErrorCode, message: str) -> None:
        super().__init__(message, code=code)


_ANY_SIZE: Final[Mapping[str, float]] = MappingProxyType({})

# One API's relay/billing/ratio/image.go. A model with no size table accepts any size at ratio 1.
_IMAGE_SIZE_RATIOS: Final[Mapping[str, Mapping[str, float]]] = MappingProxyType({
    "dall-e-2": MappingProxyType({"256x256": 1.0, "512x512": 1.125, "1024x1024": 1.25}),
    "dall-e-3": MappingProxyType({"1024x1024": 1.0, "1024x1792": 2.0, "1792x1024": 2.0}),
    **dict.fromkeys(("ali-stable-diffusion-xl", "ali-stable-diffusion-v1.5"), MappingProxyType(dict.fromkeys(
        ("512x1024", "1024x768", "1024x1024", "576x1024", "1024x576"), 1.0))),
    "wanx-v1": MappingProxyType(dict.fromkeys(("1024x1024", "720x1280", "1280x720"), 1.0)),
    "step-1x-medium": MappingProxyType(dict.fromkeys(
        ("256x256", "512x512", "768x768", "1024x1024", "1280x800", "800x1280"), 1.0)),
})
_IMAGE_N_RANGE: Final[Mapping[str, tuple[int, int]]] = MappingProxyType({
    "dall-e-2": (1, 10), "dall-e-3": (1, 1), "ali-stable-diffusion-xl": (1, 4), "ali-stable-diffusion-v1.5": (1, 4),
    "wanx-v1": (1, 4), "cogview-3": (1, 1), "step-1x-medium": (1, 1),
})
_DEFAULT_N_RANGE: Final = (1, 10)
_IMAGE_PROMPT_LIMIT: Final[Mapping[str, int]] = MappingProxyType({
    "dall-e-2": 1000, "dall-e-3": 4000, "ali-stable-diffusion-xl": 4000, "ali-stable-diffusion-v1.5": 4000,
    "wanx-v1": 4000, "cogview-3": 833, "step-1x-medium": 4000,
})


def _check_size(model: str, size: str) -> None:
    sizes = _IMAGE_SIZE_RATIOS.get(model, _ANY_SIZE)
    if sizes and size not in sizes:
        raise ImageRequestError("size_not_supported", f"size not supported for this image model: {model} "
                                f"accepts {', '.join(sizes)}, not {size!r}")


def _check_n(model: str, n: int) -> None:
    low, high = _IMAGE_N_RANGE.get(model, _DEFAULT_N_RANGE)
    if not low <= n <= high:
        raise ImageRequestError("n_not_within_range", f"invalid value of n: {model} makes {low} to {high} "
                                f"images per request, got {n}")


def check_image_request(model: str, prompt: str, size: str, n: int) -> None:
    """SPEC 5.5 limits, checked in One API's order (prompt, size, prompt length, n). The caller applies the
    defaults first (model dall-e-2, size 1024x1024, n 1). Raises :class:`ImageRequestError`."""
    if not prompt:
        raise ImageRequestError("prompt_missing", "prompt is required")
    _check_size(model, size)
    limit = _IMAGE_PROMPT_LIMIT.get(model)
    if limit is not None and len(prompt) > limit:
        raise ImageRequestError("prompt_too_long", f"prompt is too long: {model} accepts {limit} characters, "
                                f"got {len(prompt)}")
    _check_n(model, n)


def image_quota(price: Price, model: str, size: str, quality: str, n: int) -> int:
    """SPEC 5.5: ``int(ratio × sizeRatio × 1000) × n``; dall-e-3 ``hd`` costs ×2 at 1024x1024, ×1.5 otherwise.
    dall-e-3 standard 1024x1024 at ratio 20 is 20 000 ($0.04). Replicate returns one image: pass ``n=1``.
    Raises :class:`ImageRequestError` for a size or n the model does not accept."""
    _check_size(model, size)
    _check_n(model, n)
    cost = _IMAGE_SIZE_RATIOS.get(model, _ANY_SIZE).get(size, 1.0)
    if quality == "hd" and model == "dall-e-3":
        cost *= 2.0 if size == "1024x1024" else 1.5
    return int(price.ratio * cost * 1000) * n


# -- audio -------------------------------------------------------------------------------------------------

def tts_quota(price: Price, text: str) -> int:
    """SPEC 5.5: ``int(len(input) × ratio)`` where ``len`` is Go's, the UTF-8 byte length (so "你好" counts 6).
    A lone surrogate (JSON ``"\\ud800"``) counts 3 bytes, as the U+FFFD Go's decoder puts in its place."""
    return int(float(len(text.encode("utf-8", "surrogatepass"))) * price.ratio)


def whisper_quota(price: Price, transcript_tokens: int) -> int:
    """Transcription / translation charge: ``ceil(tokens × ratio)``, at least 1 for a non-empty transcript
    when the ratio is not 0.

    One API HEAD charges the bare token count (ratio not applied — SPEC 5.5 quirk), which makes whisper-1
    15× cheaper than its own table says (ratio 15 = $0.03 / 1K transcript tokens ≈ $0.006 / minute) and
    ignores the group ratio. We bill it like text with no completion part, so the table and the group
    multiplier mean what they say; the pre-consumption stays ``pre_consume_quota(price, base, 0, 0)``.
    """
    if transcript_tokens <= 0:
        return 0
    ratio = price.ratio
    quota = math.ceil(float(transcript_tokens) * ratio)
    if ratio != 0 and quota <= 0:
        return 1
    return quota


# -- reporting ---------------------------------------------------------------------------------------------

def consume_log_content(price: Price) -> str:
    """The consume log's ``content`` (SPEC 5.6), formatted like Go's ``%.2f`` (round half to even on the
    binary value, as Python's ``:.2f`` does)."""
    return f"倍率：{price.model_ratio:.2f} × {price.group_ratio:.2f} × {price.completion_ratio:.2f}"


def quota_to_usd(quota: int, quota_per_unit: float = 500000) -> float:
    """Dollars for a quota at the QuotaPerUnit option (500 000 quota = $1)."""
    return quota / quota_per_unit
