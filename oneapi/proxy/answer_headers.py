"""The headers of an answer beyond its body: which of the upstream's reach the client, and gzip.

Only an allowlist of upstream headers is passed on, never the rest: an upstream's headers may name the account
behind the channel (``openai-organization``, ``openai-project``), which is the operator's business, not the
client's. What is passed is what clients act on: the API version and time spent (OpenAI-protocol answers), and
the rate-limit state and when to retry (answers and errors alike), so an SDK's backoff waits as the provider
asked.
"""

from __future__ import annotations

from collections.abc import Mapping

RETRY = frozenset({"retry-after", "retry-after-ms"})
ANSWER = frozenset({"openai-processing-ms", "openai-version"})
RATE_LIMIT_PREFIX = "x-ratelimit-"
# JSON answers smaller than this are sent as they are: gzip would save a few bytes and cost a compressor.
GZIP_MIN_SIZE = 1024


def _pick(headers: Mapping[str, str], names: frozenset[str]) -> dict[str, str]:
    picked: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in names or lower.startswith(RATE_LIMIT_PREFIX):
            picked[lower] = value
    return picked


def passed_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """What an OpenAI-protocol upstream's answer passes to the client: openai-processing-ms, openai-version,
    x-ratelimit-*."""
    return _pick(headers, ANSWER)


def rate_limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """What an upstream's error passes to the client: retry-after, retry-after-ms, x-ratelimit-*."""
    return _pick(headers, RETRY)


def accepts_gzip(accept_encoding: str) -> bool:
    """The client's Accept-Encoding names gzip (or ``*``) without refusing it with ``q=0``."""
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.partition(";")
        if coding.strip() in ("gzip", "x-gzip", "*"):
            q = params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
            try:
                return float(q) > 0
            except ValueError:
                return False
    return False
