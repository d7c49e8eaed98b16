"""How many tokens a model takes in and can write out: what billing trusts an upstream's usage numbers up to.

Two uses:

* **Absurd usage** (``usage_check.py``): an upstream that reports more completion tokens than the model can
  write in one answer, or more prompt tokens than it can read, is wrong (a bug, a hostile proxy); billing
  falls back to counted tokens instead of charging — or, past a column's range, wedging — the number.
* **PreConsumeMaxOutput** (``relay.py``): a request without ``max_tokens`` reserves the model's maximum
  output, so concurrency cannot overdraw an account.

Figures are the providers' published limits (context window; maximum output tokens per answer, reasoning
tokens included), from their model pages as of 2026-11: platform.openai.com/docs/models,
docs.anthropic.com/en/docs/about-claude/models, ai.google.dev/gemini-api/docs/models,
api-docs.deepseek.com/quick_start/pricing. Where a beta header raises a limit (Claude 3.7's 128k output,
Sonnet 4's 1M context) the raised figure is used, so a legitimate answer is never taken for an anomaly; a
third figure then gives the output limit of a plain request (what an adaptor may send as ``max_tokens``).
A name matches the longest prefix in the table, after any ``vendor/`` prefix (OpenRouter's ids).

A model the table does not know gets generous bounds (``UNKNOWN``): far beyond any model of today, yet
within the logs table's 32-bit token columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True)
class ModelLimits:
    context: int  # tokens the model reads (prompt) at most
    max_output: int  # tokens one answer holds at most
    known: bool = True
    # The largest max_tokens the provider accepts without an opt-in (beta) header, when lower than max_output:
    # what an adaptor sends for a request that sets none (Anthropic requires max_tokens). 0: max_output.
    plain_output: int = 0

    @property
    def default_max_tokens(self) -> int:
        """max_tokens for a request that sets none, on a provider that requires one: the whole answer the
        model can write on a plain request, so that nothing is cut short by a limit the client did not set."""
        return self.plain_output or self.max_output

    @property
    def reservable_output(self) -> int:
        """What PreConsumeMaxOutput reserves for a request without max_tokens: the maximum output, or for a
        model the table does not know a typical long answer (streams are cut there; see relay.py)."""
        return self.max_output if self.known else UNKNOWN_RESERVED_OUTPUT


UNKNOWN: Final = ModelLimits(context=16_777_216, max_output=1_048_576, known=False)
UNKNOWN_RESERVED_OUTPUT: Final = 32_768

_K = 1024
_TABLE: Final = MappingProxyType({
    # OpenAI
    "gpt-5": (400_000, 128_000),
    "gpt-4.1": (1_047_576, 32_768),
    "gpt-4.5": (128_000, 16_384),
    "gpt-4o": (128_000, 16_384),
    "gpt-4o-2024-05-13": (128_000, 4_096),
    "chatgpt-4o": (128_000, 16_384),
    "gpt-4-turbo": (128_000, 4_096),
    "gpt-4-1106": (128_000, 4_096),
    "gpt-4-0125": (128_000, 4_096),
    "gpt-4-vision": (128_000, 4_096),
    "gpt-4-32k": (32 * _K, 32 * _K),
    "gpt-4": (8 * _K, 8 * _K),
    "gpt-3.5-turbo": (16_385, 4_096),
    "gpt-3.5-turbo-16k": (16_385, 16_385),
    "gpt-3.5-turbo-instruct": (4_096, 4_096),
    "o1": (200_000, 100_000),
    "o1-preview": (128_000, 32_768),
    "o1-mini": (128_000, 65_536),
    "o3": (200_000, 100_000),
    "o4-mini": (200_000, 100_000),
    "text-embedding-": (8_192, 0),
    "text-moderation": (32_768, 0),
    "omni-moderation": (32_768, 0),
    # Anthropic
    "claude-instant": (100_000, 4_096),
    "claude-2": (200_000, 4_096),
    "claude-3-": (200_000, 4_096),
    "claude-3-5-sonnet": (200_000, 8_192),
    "claude-3-5-haiku": (200_000, 8_192),
    "claude-3-7-sonnet": (200_000, 128_000, 64_000),  # 128k only with output-128k-2025-02-19
    "claude-sonnet-4": (1_000_000, 64_000),
    "claude-opus-4": (200_000, 32_000),
    "claude-opus-4-5": (200_000, 64_000),
    "claude-haiku-4": (200_000, 64_000),
    # Google
    "gemini-pro": (32_760, 8_192),
    "gemini-1.0-pro": (32_760, 8_192),
    "gemini-1.5-pro": (2_097_152, 8_192),
    "gemini-1.5-flash": (1_048_576, 8_192),
    "gemini-2.0": (1_048_576, 8_192),
    "gemini-2.5": (1_048_576, 65_536),
    "text-embedding-004": (2_048, 0),
    "gemini-embedding": (8_192, 0),
    # DeepSeek
    "deepseek-chat": (128_000, 8_192),
    "deepseek-coder": (128_000, 8_192),
    "deepseek-reasoner": (128_000, 65_536),
})
_PREFIXES: Final = tuple(sorted(_TABLE, key=len, reverse=True))


@lru_cache(maxsize=4096)  # every settle asks; the names are the few models channels serve
def limits_for(model: str) -> ModelLimits:
    """The model's limits by the longest matching prefix, else :data:`UNKNOWN`."""
    name = model.rsplit("/", 1)[-1]
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            context, output, *plain = _TABLE[prefix]
            return ModelLimits(context, output, plain_output=plain[0] if plain else 0)
    return UNKNOWN
