"""Default billing ratios (SPEC 5.2) and the checks applied to the ModelRatio / CompletionRatio / GroupRatio
options. ``ratio 1`` = $0.002 per 1K tokens, i.e. ``USD`` = 500 per $1 / 1K tokens.

The full pricing logic (lookup order, completion-ratio rules) lives with billing; this module owns the
tables an operator edits.
"""

from __future__ import annotations

import json
import math
from types import MappingProxyType
from typing import Any

USD = 500.0
# One API writes RMB = USD / 7 with integer constants, which truncates to 71 (a quirk). We keep 71 so prices
# and existing ratio tables agree with One API's; the difference from 71.43 is 0.6%.
RMB = 71.0

DEFAULT_MODEL_RATIO: MappingProxyType[str, float] = MappingProxyType({
    "gpt-3.5-turbo": 0.25, "gpt-3.5-turbo-0125": 0.25, "gpt-3.5-turbo-1106": 0.5,
    "gpt-3.5-turbo-16k": 1.5, "gpt-3.5-turbo-instruct": 0.75,
    "gpt-4": 15, "gpt-4-0613": 15, "gpt-4-32k": 30, "gpt-4-turbo": 5, "gpt-4-turbo-2024-04-09": 5,
    "gpt-4-1106-preview": 5, "gpt-4-0125-preview": 5,
    "gpt-4o": 1.25, "gpt-4o-2024-05-13": 2.5, "gpt-4o-2024-08-06": 1.25, "gpt-4o-2024-11-20": 1.25,
    "chatgpt-4o-latest": 2.5, "gpt-4o-mini": 0.075, "gpt-4o-mini-2024-07-18": 0.075,
    "o1": 7.5, "o1-preview": 7.5, "o1-mini": 1.5, "o3-mini": 0.55,
    "text-embedding-ada-002": 0.05, "text-embedding-3-small": 0.01, "text-embedding-3-large": 0.065,
    "text-moderation-latest": 0.1, "text-moderation-stable": 0.1, "omni-moderation-latest": 0.1,
    "whisper-1": 15, "tts-1": 7.5, "tts-1-1106": 7.5, "tts-1-hd": 15, "tts-1-hd-1106": 15,
    "dall-e-2": 10, "dall-e-3": 20,
    "claude-instant-1.2": 0.8 / 1000 * USD, "claude-2.0": 8.0 / 1000 * USD, "claude-2.1": 8.0 / 1000 * USD,
    "claude-3-haiku-20240307": 0.25 / 1000 * USD, "claude-3-5-haiku-20241022": 0.8 / 1000 * USD,
    "claude-3-sonnet-20240229": 3.0 / 1000 * USD, "claude-3-5-sonnet-20240620": 3.0 / 1000 * USD,
    "claude-3-5-sonnet-20241022": 3.0 / 1000 * USD, "claude-3-7-sonnet-20250219": 3.0 / 1000 * USD,
    "claude-3-opus-20240229": 15.0 / 1000 * USD,
    "gemini-pro": 0.25 / 1000 * USD, "gemini-1.5-pro": 1.25 / 1000 * USD, "gemini-1.5-flash": 0.075 / 1000 * USD,
    "gemini-2.0-flash": 0.1 / 1000 * USD, "gemini-2.0-flash-lite": 0.075 / 1000 * USD,
    "text-embedding-004": 0.0, "PaLM-2": 1,
    "ERNIE-4.0-8K": 0.120 * RMB, "ERNIE-3.5-8K": 0.012 * RMB, "ERNIE-Speed-8K": 0.004 * RMB,
    "ERNIE-Lite-8K": 0.003 * RMB, "ERNIE-Tiny-8K": 0.001 * RMB, "Embedding-V1": 0.002 * RMB,
    "glm-4": 0.1 * RMB, "glm-4-plus": 0.05 * RMB, "glm-4-air": 0.001 * RMB, "glm-4-flash": 0,
    "glm-3-turbo": 0.001 * RMB, "embedding-2": 0.0005 * RMB, "embedding-3": 0.0005 * RMB,
    "chatglm_turbo": 0.3572, "chatglm_pro": 0.7143, "chatglm_std": 0.3572, "chatglm_lite": 0.1429,
    "qwen-turbo": 0.0003 * RMB, "qwen-plus": 0.0008 * RMB, "qwen-max": 0.0024 * RMB,
    "qwen-long": 0.0005 * RMB, "text-embedding-v1": 0.0007 * RMB, "text-embedding-v2": 0.0007 * RMB,
    "text-embedding-v3": 0.0007 * RMB,
    "SparkDesk": 1.2858, "SparkDesk-v1.1": 1.2858, "SparkDesk-v2.1": 1.2858, "SparkDesk-v3.1": 1.2858,
    "SparkDesk-v3.5": 1.2858, "SparkDesk-v4.0": 1.2858, "Spark-Lite": 0, "Spark-Pro": 0.001 * RMB,
    "Spark-Max": 0.002 * RMB, "Spark-4.0-Ultra": 0.007 * RMB,
    "360GPT_S2_V9": 0.8572, "embedding-bert-512-v1": 0.0715, "embedding_s1_v1": 0.0715,
    "semantic_similarity_s1_v1": 0.0715,
    "hunyuan-turbo": 0.015 * RMB, "hunyuan-pro": 0.03 * RMB, "hunyuan-standard": 0.0008 * RMB,
    "hunyuan-lite": 0, "hunyuan-embedding": 0.0007 * RMB,
    "deepseek-chat": 0.27 / 1000 * USD, "deepseek-reasoner": 0.55 / 1000 * USD,
    "moonshot-v1-8k": 0.012 * RMB, "moonshot-v1-32k": 0.024 * RMB, "moonshot-v1-128k": 0.06 * RMB,
})
"""Model ratio by model id. Differences from One API's HEAD table are current list prices (2025):
gpt-4o 2.5 → 1.25 ($2.50/1M input since 2024-08), o3-mini 1.5 → 0.55 ($1.10/1M), Spark and hunyuan models
that had no entry (and so cost the unknown-model ratio of 30) now carry their list prices."""

DEFAULT_COMPLETION_RATIO: MappingProxyType[str, float] = MappingProxyType({
    "gpt-4o": 4, "gpt-4o-mini": 4, "o1": 4, "o1-mini": 4, "o3-mini": 4,
    "deepseek-chat": 1.1 / 0.27, "deepseek-reasoner": 2.19 / 0.55,
    "claude-3-5-haiku-20241022": 5, "claude-3-7-sonnet-20250219": 5,
    "gemini-2.0-flash": 4, "gemini-2.0-flash-lite": 4,
})

DEFAULT_GROUP_RATIO: MappingProxyType[str, float] = MappingProxyType({"default": 1, "vip": 1, "svip": 1})

RATIO_OPTIONS = ("ModelRatio", "CompletionRatio", "GroupRatio")


def parse_ratio_map(name: str, text: str) -> dict[str, float]:
    """Parse and check one ratio option. Raises ValueError with a message naming the problem."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{name} must be a JSON object mapping names to numbers")
    out: dict[str, float] = {}
    for key, value in data.items():
        if not key.strip():
            raise ValueError(f"{name} has an empty name")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}[{key!r}] must be a number, got {json.dumps(value)}")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name}[{key!r}] must be a finite number >= 0, got {value}")
        out[key] = float(value)
    return out


def default_json(name: str) -> str:
    table = {"ModelRatio": DEFAULT_MODEL_RATIO, "CompletionRatio": DEFAULT_COMPLETION_RATIO,
             "GroupRatio": DEFAULT_GROUP_RATIO}[name]
    return json.dumps(dict(table), indent=2, ensure_ascii=False)
