"""Default billing ratios (SPEC 5.2) and the checks applied to the ModelRatio / CompletionRatio / GroupRatio
options. ``ratio 1`` = $0.002 per 1K tokens, i.e. ``USD`` = 500 per $1 / 1K tokens.

The pricing logic (lookup order, completion-ratio rules, the formulas) lives in
:mod:`oneapi.services.pricing`; this module owns the tables an operator edits.

Exact values
------------
One API writes prices as Go constant expressions (``0.8 / 1000 * USD``, ``2.19 / 0.55``), which the Go compiler
evaluates exactly and rounds once to float64. Python would round after every operation and can land one ulp
away (``2.19 / 0.55`` is ``3.9818181818181815`` in Python, ``3.981818181818182`` in Go), and one ulp is enough to
move a ``ceil`` by a whole quota unit. So every computed price below goes through :class:`fractions.Fraction`
(``_usd``, ``_rmb``, ``_per``...) and is rounded once, exactly as Go does.

Differences from One API's HEAD table (songquanpeng/one-api 8df4a26, 2025-02-21)
-------------------------------------------------------------------------------
Current list prices (mid 2025), where the provider changed them after HEAD's entry was written:

* ``gpt-4o`` 2.5 → 1.25: the alias points at gpt-4o-2024-08-06 ($2.50 / $10 per 1M) since 2024-10.
* ``o1-mini``, ``o3-mini`` (and their dated ids) 1.5 → 0.55: $1.10 / $4.40 per 1M. HEAD also had no
  completion ratio for ``o3-mini`` (the o1 rule does not match it), so its output cost 1×; it is 4 here.
* ``claude-3-5-haiku-*`` 0.5 → 0.4: $0.80 / $4 per 1M since 2024-12.
* ``gemini-2.0-flash``/``-001`` 0.075 → 0.05 ($0.10 / $0.40 per 1M); the ``gemini-1.5-pro``/``-flash`` and
  ``gemini-2.0-flash``/``-lite`` ids get completion 4 (their output costs 4× their input), not the 3 of the
  ``gemini-`` rule.
* ``deepseek-chat`` 0.07 → 0.135, completion 2 → 1.1/0.27 ($0.27 / $1.10 per 1M, cache miss, since the
  2025-02 end of the launch discount).
* ``mistral-large-latest`` 4 → 1 ($2 / $6 per 1M), ``mistral-small-latest`` 1 → 0.05 ($0.10 / $0.30 per 1M).

Unit fixes (HEAD divides a per-1K price by 1000 again, making these models 1000× too cheap):

* Groq (``llama3-70b-8192``, ``mixtral-8x7b-32768``...): HEAD writes ``0.59 / 1000000 * USD`` for $0.59 per 1M.
* StepFun (``step-*``): HEAD writes ``0.005 / 1000 * RMB`` for ¥5 per 1M (= ¥0.005 per 1K).

Models HEAD has no entry for (so they cost the unknown-model ratio 30, SPEC 5.2 note), priced here:
``Spark-Lite`` 0 (free) and ``Spark-Pro``/``-128K``, ``Spark-Max``/``-32K``, ``Spark-4.0-Ultra`` at the 1.2858 of
the ``SparkDesk-v3.1``/``v3.5``/``v4.0`` versions they rename; ``hunyuan-lite`` 0 (free) and ``hunyuan-pro``
(¥0.03/1K); the Claude 3.7 / 4, GPT-4.1, o3, o4-mini, Gemini 2.0-flash-lite / 2.5 and grok-2 families; Vertex
AI's ``claude-…@date`` ids and Gemini's ``-002`` / ``gemini-pro-vision`` ids at their family's price;
``text-embedding-004`` 0 (free); ``qwen-long``; ``omni-moderation-latest``; and the legacy ids still routed by the
adaptors (``ERNIE-Bot*``, ``ERNIE-4.0``, ``ERNIE-Speed``, ``chatglm_*``, ``PaLM-2``) at One API v0.6's prices or
their successor's (SPEC 5.2).

The 2025 update (``_CATALOGUE_2025``, issue 17): the models added to the catalogue and those of the channel types
served since (Cohere, Cloudflare, DeepL, Doubao, MiniMax, Groq's Whisper, Spark V2 ids, Ollama at 0), each with
its input and output list price, the price page and the date it was read; the completion ratio is output / input.

Left out: HEAD's ~230 OpenRouter ``vendor/model`` entries, whose numbers do not follow the ratio unit
(``openai/gpt-4o`` is 5.0 there against 1.25 for the same model here); configure them in ModelRatio.
Chinese vendors keep HEAD's prices and the completion ratio 1 of SPEC 5.1. ``RMB`` stays 71 as in One API.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from types import MappingProxyType
from typing import Any

USD = 500.0
# One API writes RMB = USD / 7 with integer constants, which truncates to 71 (a quirk). We keep 71 so prices
# and existing ratio tables agree with One API's; the difference from 71.43 is 0.6%.
RMB = 71.0

_USD = Fraction(500)
_RMB = Fraction(71)


def _usd(price: str) -> float:
    """$``price`` per 1K tokens (or per image / per unit), rounded once like a Go constant."""
    return float(Fraction(price) * _USD)


def _usd_1m(price: str) -> float:
    """$``price`` per 1M tokens."""
    return float(Fraction(price) / 1000 * _USD)


def _rmb(price: str) -> float:
    """¥``price`` per 1K tokens (at One API's 71)."""
    return float(Fraction(price) * _RMB)


def _rmb_1m(price: str) -> float:
    """¥``price`` per 1M tokens."""
    return float(Fraction(price) / 1000 * _RMB)


def _per(numerator: str, denominator: str) -> float:
    """An exact quotient such as an output/input price ratio."""
    return float(Fraction(numerator) / Fraction(denominator))


def _same(ratio: float, *models: str) -> dict[str, float]:
    return dict.fromkeys(models, ratio)


def _priced(table: dict[str, tuple[float, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """``{model: (input ratio, output ratio)}`` → (model ratios, completion ratios). A free model (input 0)
    gets completion ratio 1: the product is 0 either way, and an operator who sets a price keeps the rule."""
    ratios = {m: i for m, (i, _) in table.items()}
    completions = {m: (float(Fraction(o) / Fraction(i)) if i else 1.0) for m, (i, o) in table.items()}
    return ratios, completions


def _in_out_usd(input_price: str, output_price: str) -> tuple[float, float]:
    """$ per 1M tokens in and out → ratios."""
    return _usd_1m(input_price), _usd_1m(output_price)


def _in_out_rmb(input_price: str, output_price: str) -> tuple[float, float]:
    """¥ per 1M tokens in and out → ratios (at One API's 71)."""
    return _rmb_1m(input_price), _rmb_1m(output_price)


# -- The 2025 catalogue update (issue 17). List prices as the providers publish them, per 1M tokens unless
# -- stated; each block names its price page and the date it was read. Update a price here, with its date. --
_CATALOGUE_2025 = _priced({
    # Alibaba Model Studio, China (Beijing) region, the first (shortest-context) tier, non-thinking output
    # (https://help.aliyun.com/zh/model-studio/models, read 2026-05): ¥ per 1M tokens.
    "qwen3-max": _in_out_rmb("2.5", "10"), "qwen3-coder-plus": _in_out_rmb("4", "16"),
    "qwen3-coder-flash": _in_out_rmb("1", "4"), "qwen-flash": _in_out_rmb("0.15", "1.5"),
    "qwen3-235b-a22b": _in_out_rmb("2", "8"), "qwen3-32b": _in_out_rmb("2", "8"),
    "qwen3-30b-a3b": _in_out_rmb("0.75", "3"), "qwen3-14b": _in_out_rmb("1", "4"),
    "qwen3-8b": _in_out_rmb("0.5", "2"), "qwen3-4b": _in_out_rmb("0.3", "1.2"),
    "qwen3-1.7b": _in_out_rmb("0.3", "1.2"), "qwen3-0.6b": _in_out_rmb("0.3", "1.2"),
    "text-embedding-v4": _in_out_rmb("0.5", "0.5"),
    # Zhipu / Z.ai (https://docs.z.ai/guides/overview/pricing, read 2025-10): $ per 1M tokens.
    "glm-4.6": _in_out_usd("0.6", "2.2"), "glm-4.5": _in_out_usd("0.6", "2.2"),
    "glm-4.5-air": _in_out_usd("0.2", "1.1"), "glm-4.5-x": _in_out_usd("2.2", "8.9"),
    "glm-4.5-airx": _in_out_usd("1.1", "4.5"), "glm-4.5-flash": (0, 0), "glm-4.5v": _in_out_usd("0.6", "1.8"),
    # Baidu Qianfan (https://cloud.baidu.com/doc/qianfan-docs/s/Jm8r1826a, read 2025-06): ¥ per 1M tokens.
    "ernie-4.5-turbo-128k": _in_out_rmb("0.8", "3.2"), "ernie-4.5-turbo-32k": _in_out_rmb("0.8", "3.2"),
    "ernie-4.5-8k-preview": _in_out_rmb("4", "16"), "ernie-x1-turbo-32k": _in_out_rmb("1", "4"),
    "ernie-x1-32k-preview": _in_out_rmb("2", "8"),
    **dict.fromkeys(("ernie-4.0-8k-latest", "ernie-4.0-8k-preview", "ernie-4.0-8k"), _in_out_rmb("30", "90")),
    **dict.fromkeys(("ernie-4.0-turbo-8k-latest", "ernie-4.0-turbo-8k-preview", "ernie-4.0-turbo-8k",
                     "ernie-4.0-turbo-128k"), _in_out_rmb("20", "60")),
    **dict.fromkeys(("ernie-3.5-8k-preview", "ernie-3.5-8k", "ernie-3.5-128k"), _in_out_rmb("0.8", "2")),
    **dict.fromkeys(("ernie-speed-8k", "ernie-speed-128k", "ernie-lite-8k", "ernie-tiny-8k"), (0, 0)),
    "ernie-speed-pro-128k": _in_out_rmb("0.3", "0.6"), "ernie-lite-pro-128k": _in_out_rmb("0.2", "0.4"),
    "ernie-char-8k": _in_out_rmb("0.3", "0.6"), "ernie-char-fiction-8k": _in_out_rmb("0.3", "0.6"),
    "ernie-novel-8k": _in_out_rmb("40", "120"),
    # Vertex AI (https://cloud.google.com/vertex-ai/generative-ai/pricing, read 2025-09): $ per 1M tokens.
    "gemini-embedding-001": _in_out_usd("0.15", "0.15"),
    # Cohere (https://cohere.com/pricing, read 2025-09): $ per 1M tokens.
    "command-a-03-2025": _in_out_usd("2.5", "10"), "command-r-plus-08-2024": _in_out_usd("2.5", "10"),
    "command-r-08-2024": _in_out_usd("0.15", "0.6"), "command-r7b-12-2024": _in_out_usd("0.0375", "0.15"),
    "embed-v4.0": _in_out_usd("0.12", "0.12"),
    **dict.fromkeys(("embed-english-v3.0", "embed-multilingual-v3.0", "embed-english-light-v3.0",
                     "embed-multilingual-light-v3.0"), _in_out_usd("0.1", "0.1")),
    # AWS Bedrock embeddings, on demand, us-east-1 (https://aws.amazon.com/bedrock/pricing/, 2026-12: the stored
    # copy of the page read then shows no figures; these are the published per-1K prices, $0.00002 Titan v2,
    # $0.0001 Titan v1 and Cohere Embed v3, $0.00012 Cohere Embed 4 — check them on the next update).
    "amazon.titan-embed-text-v2:0": _in_out_usd("0.02", "0.02"),
    "amazon.titan-embed-text-v1": _in_out_usd("0.1", "0.1"),
    **dict.fromkeys(("cohere.embed-english-v3", "cohere.embed-multilingual-v3"), _in_out_usd("0.1", "0.1")),
    "cohere.embed-v4:0": _in_out_usd("0.12", "0.12"),
    # Cloudflare Workers AI (https://developers.cloudflare.com/workers-ai/platform/pricing/, read 2025-09):
    # $ per 1M tokens (Workers AI bills neurons; the page gives these per-token equivalents).
    "@cf/meta/llama-3.1-8b-instruct": _in_out_usd("0.282", "0.827"),
    "@cf/meta/llama-3.2-1b-instruct": _in_out_usd("0.027", "0.201"),
    "@cf/meta/llama-3.2-3b-instruct": _in_out_usd("0.051", "0.335"),
    "@cf/meta/llama-3.3-70b-instruct-fp8-fast": _in_out_usd("0.293", "2.253"),
    "@cf/meta/llama-4-scout-17b-16e-instruct": _in_out_usd("0.27", "0.85"),
    "@cf/mistral/mistral-7b-instruct-v0.1": _in_out_usd("0.11", "0.19"),
    "@cf/google/gemma-3-12b-it": _in_out_usd("0.345", "0.556"),
    "@cf/qwen/qwq-32b": _in_out_usd("0.66", "1"), "@cf/qwen/qwen2.5-coder-32b-instruct": _in_out_usd("0.66", "1"),
    "@cf/deepseek-ai/deepseek-r1-distill-qwen-32b": _in_out_usd("0.497", "4.881"),
    "@cf/baai/bge-base-en-v1.5": _in_out_usd("0.067", "0.067"),
    "@cf/baai/bge-large-en-v1.5": _in_out_usd("0.204", "0.204"),
    "@cf/baai/bge-small-en-v1.5": _in_out_usd("0.02", "0.02"), "@cf/baai/bge-m3": _in_out_usd("0.012", "0.012"),
    # DeepL API Pro (https://www.deepl.com/pro-api, read 2025-09): $25 per 1M characters, billed as prompt.
    **dict.fromkeys(("deepl-en-us", "deepl-en-gb", "deepl-de", "deepl-fr", "deepl-es", "deepl-ko"),
                    _in_out_usd("25", "25")),
    # Volcengine Ark Doubao (https://www.volcengine.com/docs/82379/1099320, read 2025-03): ¥ per 1M tokens.
    # Checked 2026-12: the price page (now .../docs/82379/1544106) could not be read from here; the dated copies
    # of it in github.com/syaoranwe/LLM-Price (2024-05 to 2024-12; doubao-1.5-pro-32k at 0.8 / 2 in 2025-06)
    # give the same pro-32k, pro-128k, lite-32k and lite-128k prices. The 4k ids were priced as the 32k ones.
    **dict.fromkeys(("Doubao-pro-4k", "Doubao-pro-32k"), _in_out_rmb("0.8", "2")),
    "Doubao-pro-128k": _in_out_rmb("5", "9"),
    **dict.fromkeys(("Doubao-lite-4k", "Doubao-lite-32k"), _in_out_rmb("0.3", "0.6")),
    "Doubao-lite-128k": _in_out_rmb("0.8", "1"), "Doubao-embedding": _in_out_rmb("0.5", "0.5"),
    # MiniMax (https://platform.minimaxi.com/document/price, read 2025-03): ¥ per 1M tokens. Checked 2026-12
    # against LLM-Price's copies of that page (2025-03 to 2025-06): Text-01 and VL-01 at 1 / 8, the same.
    # (Those copies also give abab6.5s at 1 / 1, where HEAD's abab6.5s-chat below is ¥10 per 1M: not changed,
    # as HEAD's Chinese prices are kept, but worth a look on the next update.)
    **dict.fromkeys(("MiniMax-Text-01", "MiniMax-VL-01"), _in_out_rmb("1", "8")),
    # Baichuan (https://platform.baichuan-ai.com/price, read 2025-03), StepFun images
    # (https://platform.stepfun.com/docs/pricing/details, read 2025-03: ¥0.1 per image). Checked 2026-12: neither
    # page could be read from here and no dated copy prices these two; HEAD's Baichuan2-Turbo (¥8), -192k (¥16)
    # and Baichuan2-53B (¥20 per 1M) match LLM-Price's copies of Baichuan's page (2024-05 to 2024-12).
    "Baichuan-Text-Embedding": _in_out_rmb("0.5", "0.5"), "step-1x-medium": (_rmb("0.1"), _rmb("0.1")),
    # together.ai (https://www.together.ai/pricing, read 2025-03): $ per 1M tokens, in = out. Not re-checked
    # 2026-12: the page could not be read from here. (They look like together's size tiers of 2024, 41-80B $0.90,
    # 21-41B $0.80, Mixtral 8x22B $1.20, Llama 3 70B $0.88 — unconfirmed.)
    "meta-llama/Llama-3-70b-chat-hf": _in_out_usd("0.88", "0.88"),
    "deepseek-ai/deepseek-coder-33b-instruct": _in_out_usd("0.8", "0.8"),
    "mistralai/Mixtral-8x22B-Instruct-v0.1": _in_out_usd("1.2", "1.2"),
    "Qwen/Qwen1.5-72B-Chat": _in_out_usd("0.9", "0.9"),
    # Groq (https://groq.com/pricing, read 2025-09): Whisper per hour of audio, priced per transcript token
    # as whisper-1 is ($0.006 / minute = ratio 15, so $1 / minute = 2500); R1 distill $0.75 / $0.99.
    "whisper-large-v3": (float(Fraction("0.111") / 60 * 2500), float(Fraction("0.111") / 60 * 2500)),
    "whisper-large-v3-turbo": (float(Fraction("0.04") / 60 * 2500), float(Fraction("0.04") / 60 * 2500)),
    "deepseek-r1-distill-llama-70b(29)": _in_out_usd("0.75", "0.99"),
    # iFlytek Spark V2 (type 48) ids: the Spark models they name, at HEAD's Spark price (¥0.018 / 1K).
    "lite": (0, 0), **dict.fromkeys(("generalv3", "pro-128k", "generalv3.5", "max-32k", "4.0Ultra"),
                                     (1.2858, 1.2858)),
    # Ollama runs on the operator's machine: no provider price (set ModelRatio to charge for it).
    **dict.fromkeys(("codellama:7b-instruct", "llama2:7b", "llama2:latest", "llama3:latest", "phi3:latest",
                     "qwen:0.5b-chat", "qwen:7b"), (0, 0)),
})

DEFAULT_MODEL_RATIO: MappingProxyType[str, float] = MappingProxyType({
    # -- OpenAI (https://openai.com/api/pricing) -----------------------------------------------------------
    **_same(15, "gpt-4", "gpt-4-0314", "gpt-4-0613"),
    **_same(30, "gpt-4-32k", "gpt-4-32k-0314", "gpt-4-32k-0613"),
    **_same(5, "gpt-4-1106-preview", "gpt-4-0125-preview", "gpt-4-turbo-preview", "gpt-4-turbo",
            "gpt-4-turbo-2024-04-09", "gpt-4-vision-preview"),
    **_same(_usd_1m("2.5"), "gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-2024-11-20"),
    **_same(_usd_1m("5"), "chatgpt-4o-latest", "gpt-4o-2024-05-13"),
    **_same(_usd_1m("0.15"), "gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
    **_same(_usd_1m("2"), "gpt-4.1", "gpt-4.1-2025-04-14"),
    **_same(_usd_1m("0.4"), "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"),
    **_same(_usd_1m("0.1"), "gpt-4.1-nano", "gpt-4.1-nano-2025-04-14"),
    "gpt-3.5-turbo": 0.25, "gpt-3.5-turbo-0301": 0.75, "gpt-3.5-turbo-0613": 0.75, "gpt-3.5-turbo-16k": 1.5,
    "gpt-3.5-turbo-16k-0613": 1.5, "gpt-3.5-turbo-instruct": 0.75, "gpt-3.5-turbo-1106": 0.5,
    "gpt-3.5-turbo-0125": 0.25,
    **_same(_usd_1m("15"), "o1", "o1-2024-12-17", "o1-preview", "o1-preview-2024-09-12"),
    **_same(_usd_1m("1.1"), "o1-mini", "o1-mini-2024-09-12", "o3-mini", "o3-mini-2025-01-31",
            "o4-mini", "o4-mini-2025-04-16"),
    **_same(_usd_1m("2"), "o3", "o3-2025-04-16"),
    "davinci-002": 1, "babbage-002": 0.2, "text-ada-001": 0.2, "text-babbage-001": 0.25, "text-curie-001": 1,
    **_same(10, "text-davinci-002", "text-davinci-003", "text-davinci-edit-001", "code-davinci-edit-001",
            "davinci", "curie", "babbage", "ada", "text-search-ada-doc-001"),
    # whisper: $0.006 / minute ≈ 200 tokens of transcript -> $0.03 / 1K tokens; tts: $15 / 1M characters
    "whisper-1": 15, "tts-1": 7.5, "tts-1-1106": 7.5, "tts-1-hd": 15, "tts-1-hd-1106": 15,
    "text-embedding-ada-002": 0.05, "text-embedding-3-small": 0.01, "text-embedding-3-large": 0.065,
    "text-moderation-stable": 0.1, "text-moderation-latest": 0.1, "omni-moderation-latest": 0.1,
    "dall-e-2": _usd("0.02"), "dall-e-3": _usd("0.04"),  # per image at the base size, see pricing.image_quota
    # -- Anthropic (https://docs.anthropic.com/en/docs/about-claude/pricing) ------------------------------
    "claude-instant-1.2": _usd_1m("0.8"), "claude-2.0": _usd_1m("8"), "claude-2.1": _usd_1m("8"),
    **_same(_usd_1m("0.25"), "claude-3-haiku-20240307", "claude-3-haiku@20240307"),
    **_same(_usd_1m("0.8"), "claude-3-5-haiku-20241022", "claude-3-5-haiku-latest", "claude-3-5-haiku@20241022"),
    **_same(_usd_1m("3"), "claude-3-sonnet-20240229", "claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20241022",
            "claude-3-5-sonnet-latest", "claude-3-7-sonnet-20250219", "claude-3-7-sonnet-latest",
            "claude-sonnet-4-20250514", "claude-3-sonnet@20240229", "claude-3-5-sonnet@20240620",
            "claude-3-5-sonnet-v2@20241022", "claude-3-7-sonnet@20250219", "claude-sonnet-4@20250514"),
    **_same(_usd_1m("15"), "claude-3-opus-20240229", "claude-opus-4-20250514", "claude-3-opus@20240229"),
    # -- Baidu ERNIE (https://cloud.baidu.com/doc/WENXINWORKSHOP/s/hlrk4akp7) -----------------------------
    **_same(_rmb("0.120"), "ERNIE-4.0-8K", "ERNIE-4.0", "ERNIE-Bot-4"),
    "ERNIE-3.5-8K": _rmb("0.012"), "ERNIE-3.5-8K-0205": _rmb("0.024"), "ERNIE-3.5-8K-1222": _rmb("0.012"),
    "ERNIE-Bot-8K": _rmb("0.024"), "ERNIE-3.5-4K-0205": _rmb("0.012"),
    **_same(_rmb("0.004"), "ERNIE-Speed-8K", "ERNIE-Speed-128K", "ERNIE-Speed"),
    "ERNIE-Lite-8K-0922": _rmb("0.008"), "ERNIE-Lite-8K-0308": _rmb("0.003"), "ERNIE-Lite-8K": _rmb("0.003"),
    "ERNIE-Tiny-8K": _rmb("0.001"), "BLOOMZ-7B": _rmb("0.004"),
    "ERNIE-Bot": 0.8572, "ERNIE-Bot-turbo": 0.5715,  # One API v0.6 prices of the retired names
    **_same(_rmb("0.002"), "Embedding-V1", "bge-large-zh", "bge-large-en", "tao-8k"),
    # -- Google (https://ai.google.dev/pricing) -------------------------------------------------------------
    **_same(_usd_1m("0.25"), "gemini-pro", "gemini-pro-vision"),
    "gemini-1.0-pro": _usd_1m("0.125"), "PaLM-2": 1, "aqa": 1, "text-embedding-004": 0,
    **_same(_usd_1m("1.25"), "gemini-1.5-pro", "gemini-1.5-pro-001", "gemini-1.5-pro-002",
            "gemini-1.5-pro-experimental", "gemini-2.0-pro-exp-02-05", "gemini-2.5-pro"),
    **_same(_usd_1m("0.075"), "gemini-1.5-flash", "gemini-1.5-flash-001", "gemini-1.5-flash-002",
            "gemini-2.0-flash-exp", "gemini-2.0-flash-lite", "gemini-2.0-flash-lite-preview-02-05",
            "gemini-2.0-flash-thinking-exp-01-21"),
    "gemini-1.5-flash-8b": _usd_1m("0.0375"),
    **_same(_usd_1m("0.1"), "gemini-2.0-flash", "gemini-2.0-flash-001"),
    "gemini-2.5-flash": _usd_1m("0.3"),
    # -- Zhipu (https://open.bigmodel.cn/pricing) -----------------------------------------------------------
    "glm-zero-preview": _rmb("0.01"), "glm-4-plus": _rmb("0.05"), "glm-4-0520": _rmb("0.1"),
    "glm-4-airx": _rmb("0.01"), "glm-4-air": _rmb("0.0005"), "glm-4-long": _rmb("0.001"),
    "glm-4-flashx": _rmb("0.0001"), "glm-4-flash": 0, "glm-4": _rmb("0.1"), "glm-3-turbo": _rmb("0.001"),
    "glm-4v-plus": _rmb("0.004"), "glm-4v": _rmb("0.05"), "glm-4v-flash": 0,
    "cogview-3-plus": _rmb("0.06"), "cogview-3": _rmb("0.1"), "cogview-3-flash": 0, "cogviewx": _rmb("0.5"),
    "cogviewx-flash": 0, "charglm-4": _rmb("0.001"), "emohaa": _rmb("0.015"), "codegeex-4": _rmb("0.0001"),
    "embedding-2": _rmb("0.0005"), "embedding-3": _rmb("0.0005"),
    "chatglm_turbo": 0.3572, "chatglm_pro": 0.7143, "chatglm_std": 0.3572, "chatglm_lite": 0.1429,  # v0.6
    # -- Alibaba DashScope (https://help.aliyun.com/zh/model-studio/billing-for-model-studio) ---------------
    **_same(_rmb("0.0003"), "qwen-turbo", "qwen-turbo-latest"),
    **_same(_rmb("0.0008"), "qwen-plus", "qwen-plus-latest"),
    **_same(_rmb("0.0024"), "qwen-max", "qwen-max-latest"),
    "qwen-max-longcontext": _rmb("0.0005"), "qwen-long": _rmb("0.0005"),
    **_same(_rmb("0.003"), "qwen-vl-max", "qwen-vl-max-latest"),
    **_same(_rmb("0.0015"), "qwen-vl-plus", "qwen-vl-plus-latest"),
    **_same(_rmb("0.005"), "qwen-vl-ocr", "qwen-vl-ocr-latest"),
    "qwen-audio-turbo": 1.4286,
    **_same(_rmb("0.004"), "qwen-math-plus", "qwen-math-plus-latest"),
    **_same(_rmb("0.002"), "qwen-math-turbo", "qwen-math-turbo-latest"),
    **_same(_rmb("0.0035"), "qwen-coder-plus", "qwen-coder-plus-latest"),
    **_same(_rmb("0.002"), "qwen-coder-turbo", "qwen-coder-turbo-latest"),
    "qwen-mt-plus": _rmb("0.015"), "qwen-mt-turbo": _rmb("0.001"), "qwq-32b-preview": _rmb("0.002"),
    "qwen2.5-72b-instruct": _rmb("0.004"), "qwen2.5-32b-instruct": _rmb("0.03"),
    "qwen2.5-14b-instruct": _rmb("0.001"), "qwen2.5-7b-instruct": _rmb("0.0005"),
    "qwen2.5-3b-instruct": _rmb("0.006"), "qwen2.5-1.5b-instruct": _rmb("0.0003"),
    "qwen2.5-0.5b-instruct": _rmb("0.0003"), "qwen2-72b-instruct": _rmb("0.004"),
    "qwen2-57b-a14b-instruct": _rmb("0.0035"),
    **_same(_rmb("0.001"), "qwen2-7b-instruct", "qwen2-1.5b-instruct", "qwen2-0.5b-instruct",
            "qwen1.5-7b-chat", "qwen1.5-1.8b-chat", "qwen1.5-0.5b-chat"),
    "qwen1.5-110b-chat": _rmb("0.007"), "qwen1.5-72b-chat": _rmb("0.005"), "qwen1.5-32b-chat": _rmb("0.0035"),
    "qwen1.5-14b-chat": _rmb("0.002"), "qwen-72b-chat": _rmb("0.02"), "qwen-14b-chat": _rmb("0.008"),
    **_same(_rmb("0.006"), "qwen-7b-chat", "qwen-1.8b-chat", "qwen-1.8b-longcontext-chat"),
    "qvq-72b-preview": _rmb("0.012"), "qwen2.5-vl-72b-instruct": _rmb("0.016"),
    "qwen2.5-vl-7b-instruct": _rmb("0.002"), "qwen2.5-vl-3b-instruct": _rmb("0.0012"),
    "qwen2-vl-7b-instruct": _rmb("0.016"), "qwen2-vl-2b-instruct": _rmb("0.002"),
    **_same(_rmb("0.002"), "qwen-vl-v1", "qwen-vl-chat-v1", "qwen2-audio-instruct", "qwen-audio-chat"),
    **_same(_rmb("0.004"), "qwen2.5-math-72b-instruct", "qwen2-math-72b-instruct"),
    **_same(_rmb("0.001"), "qwen2.5-math-7b-instruct", "qwen2.5-math-1.5b-instruct", "qwen2-math-7b-instruct",
            "qwen2-math-1.5b-instruct"),
    **_same(_rmb("0.002"), "qwen2.5-coder-32b-instruct", "qwen2.5-coder-14b-instruct"),
    **_same(_rmb("0.001"), "qwen2.5-coder-7b-instruct", "qwen2.5-coder-3b-instruct",
            "qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-0.5b-instruct"),
    **_same(_rmb("0.0007"), "text-embedding-v1", "text-embedding-v2", "text-embedding-v3",
            "text-embedding-async-v1", "text-embedding-async-v2"),
    **_same(8, "ali-stable-diffusion-xl", "ali-stable-diffusion-v1.5", "wanx-v1"),
    "deepseek-r1": _rmb("0.002"), "deepseek-v3": _rmb("0.001"),
    "deepseek-r1-distill-qwen-1.5b": _rmb("0.001"), "deepseek-r1-distill-qwen-7b": _rmb("0.0005"),
    "deepseek-r1-distill-qwen-14b": _rmb("0.001"), "deepseek-r1-distill-qwen-32b": _rmb("0.002"),
    "deepseek-r1-distill-llama-8b": _rmb("0.0005"), "deepseek-r1-distill-llama-70b": _rmb("0.004"),
    # -- iFlytek Spark (¥0.018 / 1K), 360, Tencent ----------------------------------------------------------
    **_same(1.2858, "SparkDesk", "SparkDesk-v1.1", "SparkDesk-v2.1", "SparkDesk-v3.1", "SparkDesk-v3.1-128K",
            "SparkDesk-v3.5", "SparkDesk-v3.5-32K", "SparkDesk-v4.0",
            "Spark-Pro", "Spark-Pro-128K", "Spark-Max", "Spark-Max-32K", "Spark-4.0-Ultra"),
    "Spark-Lite": 0,
    "360GPT_S2_V9": 0.8572,
    **_same(0.0715, "embedding-bert-512-v1", "embedding_s1_v1", "semantic_similarity_s1_v1"),
    "hunyuan-turbo": _rmb("0.015"), "hunyuan-pro": _rmb("0.03"), "hunyuan-large": _rmb("0.004"),
    "hunyuan-large-longcontext": _rmb("0.006"), "hunyuan-standard": _rmb("0.0008"),
    "hunyuan-standard-256K": _rmb("0.0005"), "hunyuan-lite": 0, "hunyuan-translation-lite": _rmb("0.005"),
    **_same(_rmb("0.004"), "hunyuan-role", "hunyuan-functioncall", "hunyuan-code"),
    "hunyuan-turbo-vision": _rmb("0.08"), "hunyuan-vision": _rmb("0.018"), "hunyuan-embedding": _rmb("0.0007"),
    # -- Moonshot, Baichuan, MiniMax, 01.AI, StepFun ----------------------------------------------------------
    "moonshot-v1-8k": _rmb("0.012"), "moonshot-v1-32k": _rmb("0.024"), "moonshot-v1-128k": _rmb("0.06"),
    "Baichuan2-Turbo": _rmb("0.008"), "Baichuan2-Turbo-192k": _rmb("0.016"), "Baichuan2-53B": _rmb("0.02"),
    "abab6.5-chat": _rmb("0.03"), "abab6.5s-chat": _rmb("0.01"), "abab6-chat": _rmb("0.1"),
    "abab5.5-chat": _rmb("0.015"), "abab5.5s-chat": _rmb("0.005"),
    "yi-34b-chat-0205": _rmb_1m("2.5"), "yi-34b-chat-200k": _rmb_1m("12"), "yi-vl-plus": _rmb_1m("6"),
    "step-1-8k": _rmb_1m("5"), "step-1-32k": _rmb_1m("15"), "step-1-128k": _rmb_1m("40"),
    "step-1-256k": _rmb_1m("95"), "step-1-flash": _rmb_1m("1"), "step-2-16k": _rmb_1m("38"),
    "step-1v-8k": _rmb_1m("5"), "step-1v-32k": _rmb_1m("15"),
    # -- Mistral (https://mistral.ai/pricing), Groq (https://groq.com/pricing) --------------------------------
    "open-mistral-7b": _usd_1m("0.25"), "open-mixtral-8x7b": _usd_1m("0.7"), "mistral-small-latest": _usd_1m("0.1"),
    "mistral-medium-latest": _usd_1m("2.7"), "mistral-large-latest": _usd_1m("2"), "mistral-embed": _usd_1m("0.1"),
    "gemma-7b-it": _usd_1m("0.07"), "gemma2-9b-it": _usd_1m("0.2"),
    **_same(_usd_1m("0.59"), "llama-3.1-70b-versatile", "llama-3.2-90b-text-preview", "llama3-70b-8192"),
    **_same(_usd_1m("0.05"), "llama-3.1-8b-instant", "llama-3.2-11b-text-preview", "llama-3.2-11b-vision-preview",
            "llama-3.2-1b-preview", "llama-3.2-3b-preview", "llama-guard-3-8b", "llama3-8b-8192"),
    "llama3-groq-70b-8192-tool-use-preview": _usd_1m("0.89"),
    "llama3-groq-8b-8192-tool-use-preview": _usd_1m("0.19"), "mixtral-8x7b-32768": _usd_1m("0.24"),
    # -- AWS Bedrock llama3 (type 33), Cohere, DeepSeek, DeepL, xAI ------------------------------------------
    "llama3-8b-8192(33)": _per("0.0003", "0.002"), "llama3-70b-8192(33)": _per("0.00265", "0.002"),
    **_same(0.5, "command", "command-nightly", "command-light", "command-light-nightly"),
    "command-r": _usd_1m("0.5"), "command-r-plus": _usd_1m("3"),
    "deepseek-chat": _usd_1m("0.27"), "deepseek-reasoner": _usd_1m("0.55"),
    **_same(_usd_1m("25"), "deepl-zh", "deepl-en", "deepl-ja"),
    "grok-beta": _usd_1m("5"), "grok-vision-beta": _usd_1m("5"),
    **_same(_usd_1m("2"), "grok-2", "grok-2-1212", "grok-2-latest", "grok-2-vision", "grok-2-vision-1212",
            "grok-2-vision-latest"),
    # -- Replicate: images are priced per image, chat models per 1K tokens ------------------------------------
    "black-forest-labs/flux-1.1-pro": _usd("0.04"), "black-forest-labs/flux-1.1-pro-ultra": _usd("0.06"),
    "black-forest-labs/flux-canny-dev": _usd("0.025"), "black-forest-labs/flux-canny-pro": _usd("0.05"),
    "black-forest-labs/flux-depth-dev": _usd("0.025"), "black-forest-labs/flux-depth-pro": _usd("0.05"),
    "black-forest-labs/flux-dev": _usd("0.025"), "black-forest-labs/flux-dev-lora": _usd("0.032"),
    "black-forest-labs/flux-fill-dev": _usd("0.04"), "black-forest-labs/flux-fill-pro": _usd("0.05"),
    "black-forest-labs/flux-pro": _usd("0.055"), "black-forest-labs/flux-redux-dev": _usd("0.025"),
    "black-forest-labs/flux-redux-schnell": _usd("0.003"), "black-forest-labs/flux-schnell": _usd("0.003"),
    "black-forest-labs/flux-schnell-lora": _usd("0.02"), "ideogram-ai/ideogram-v2": _usd("0.08"),
    "ideogram-ai/ideogram-v2-turbo": _usd("0.05"), "recraft-ai/recraft-v3": _usd("0.04"),
    "recraft-ai/recraft-v3-svg": _usd("0.08"), "stability-ai/stable-diffusion-3": _usd("0.035"),
    "stability-ai/stable-diffusion-3.5-large": _usd("0.065"),
    "stability-ai/stable-diffusion-3.5-large-turbo": _usd("0.04"),
    "stability-ai/stable-diffusion-3.5-medium": _usd("0.035"),
    "ibm-granite/granite-20b-code-instruct-8k": _usd("0.1"), "ibm-granite/granite-3.0-2b-instruct": _usd("0.03"),
    "ibm-granite/granite-3.0-8b-instruct": _usd("0.05"),
    "ibm-granite/granite-8b-code-instruct-128k": _usd("0.05"),
    **_same(_usd("0.1"), "meta/llama-2-13b", "meta/llama-2-13b-chat"),
    **_same(_usd("0.65"), "meta/llama-2-70b", "meta/llama-2-70b-chat", "meta/meta-llama-3-70b",
            "meta/meta-llama-3-70b-instruct"),
    **_same(_usd("0.05"), "meta/llama-2-7b", "meta/llama-2-7b-chat", "meta/meta-llama-3-8b",
            "meta/meta-llama-3-8b-instruct", "mistralai/mistral-7b-instruct-v0.2", "mistralai/mistral-7b-v0.1"),
    "meta/meta-llama-3.1-405b-instruct": _usd("9.5"), "mistralai/mixtral-8x7b-instruct-v0.1": _usd("0.3"),
    **_CATALOGUE_2025[0],
})
"""Model ratio by model id (``"<model>(<channel type>)"`` keys price one channel type only)."""

DEFAULT_COMPLETION_RATIO: MappingProxyType[str, float] = MappingProxyType({
    # HEAD's entries
    "llama3-8b-8192(33)": _per("0.0006", "0.0003"), "llama3-70b-8192(33)": _per("0.0035", "0.00265"),
    "whisper-1": 0,  # only the transcript is counted, as input
    "deepseek-chat": _per("1.1", "0.27"), "deepseek-reasoner": _per("2.19", "0.55"),
    # where the rules of pricing.completion_ratio give the wrong multiple
    **_same(4, "o3-mini", "o3-mini-2025-01-31", "o3", "o3-2025-04-16", "o4-mini", "o4-mini-2025-04-16",
            "gpt-4.1", "gpt-4.1-2025-04-14", "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "gpt-4.1-nano",
            "gpt-4.1-nano-2025-04-14"),
    "grok-vision-beta": 3,
    **_same(5, "claude-sonnet-4-20250514", "claude-opus-4-20250514", "grok-2", "grok-2-1212", "grok-2-latest",
            "grok-2-vision", "grok-2-vision-1212", "grok-2-vision-latest"),
    **_same(4, "gemini-1.5-pro", "gemini-1.5-pro-001", "gemini-1.5-pro-002", "gemini-1.5-flash",
            "gemini-1.5-flash-001", "gemini-1.5-flash-002", "gemini-1.5-flash-8b", "gemini-2.0-flash",
            "gemini-2.0-flash-001", "gemini-2.0-flash-lite", "gemini-2.0-flash-lite-preview-02-05"),
    "gemini-2.5-pro": 8, "gemini-2.5-flash": _per("2.5", "0.3"),
    **_CATALOGUE_2025[1],
})
"""Completion (output) ratio by model id; names not here fall to the rules of ``pricing.completion_ratio``."""

DEFAULT_GROUP_RATIO: MappingProxyType[str, float] = MappingProxyType({"default": 1, "vip": 1, "svip": 1})

RATIO_OPTIONS = ("ModelRatio", "CompletionRatio", "GroupRatio")


MAX_RATIO = 1e9  # $2,000 per token at the most: far beyond any price, far below what overflows a charge


def parse_ratio_map(name: str, text: str) -> dict[str, float]:
    """Parse and check one ratio option. Raises ValueError with a message naming the problem."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ValueError(f"{name} is nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError(f"{name} must be a JSON object mapping names to numbers")
    out: dict[str, float] = {}
    for key, value in data.items():
        if not key.strip():
            raise ValueError(f"{name} has an empty name")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}[{key!r}] must be a number, got {json.dumps(value)}")
        if isinstance(value, int) and not -MAX_RATIO <= value <= MAX_RATIO:  # float() of 10**400 overflows
            raise ValueError(f"{name}[{key!r}] must be at most {MAX_RATIO:g}")
        if not math.isfinite(value) or not 0 <= value <= MAX_RATIO:
            raise ValueError(f"{name}[{key!r}] must be a finite number >= 0 and at most {MAX_RATIO:g}, got {value}")
        out[key] = float(value)
    return out


def default_json(name: str) -> str:
    table = {"ModelRatio": DEFAULT_MODEL_RATIO, "CompletionRatio": DEFAULT_COMPLETION_RATIO,
             "GroupRatio": DEFAULT_GROUP_RATIO}[name]
    return json.dumps(dict(table), indent=2, ensure_ascii=False)
