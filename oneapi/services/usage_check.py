"""Usage numbers from an upstream, checked where they enter billing.

An upstream's ``usage`` decides what a client pays, so it is input like any other: a negative count served
the request for free, and a count of 2³¹ (or 2⁶³) overflowed the logs table's columns and wedged every later
write. A number is refused when it is negative or beyond what the request could have produced: more completion
tokens than ``choices`` answers of the model's maximum output (``model_limits``), more prompt tokens than the
model reads (generative requests only: an embedding request carries many inputs, each within the limit), or
more than the logs table's 32-bit columns hold. Billing then uses the tokens oneapi counts itself (the prompt
it sent, the text it delivered) — never capped at the catalogue's limits, which describe the model, not what
oneapi counted — and the caller reports the anomaly once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from oneapi.wire.model_limits import ModelLimits

INT32_MAX = (1 << 31) - 1  # the logs table's prompt_tokens and completion_tokens columns


class CheckedUsage(NamedTuple):  # a tuple: built for every request, and a frozen dataclass costs 1 µs to make
    prompt_tokens: int
    completion_tokens: int
    anomaly: str | None = None  # what was wrong with the upstream's numbers, for the operator's log


def check_usage(prompt: int, completion: int, limits: ModelLimits, counted_prompt: int,
                count_completion: Callable[[], int], *, choices: int = 1, generative: bool = True) -> CheckedUsage:
    """The numbers to bill. ``count_completion`` is called only when the upstream's count is refused;
    ``choices`` is how many answers the request asked for (``n``, ``best_of``)."""
    prompt_cap = min(limits.context, INT32_MAX) if generative else INT32_MAX
    completion_cap = min(limits.max_output * max(choices, 1), INT32_MAX)
    if 0 <= prompt <= prompt_cap and 0 <= completion <= completion_cap:
        return CheckedUsage(prompt, completion)
    problems = []
    if not 0 <= prompt <= prompt_cap:
        problems.append(f"prompt_tokens {prompt} (at most {prompt_cap} possible)")
        prompt = _column(counted_prompt)
    if not 0 <= completion <= completion_cap:
        problems.append(f"completion_tokens {completion} (at most {completion_cap} possible)")
        completion = _column(count_completion())
    return CheckedUsage(prompt, completion, "; ".join(problems))


def _column(count: int) -> int:
    return min(max(count, 0), INT32_MAX)
