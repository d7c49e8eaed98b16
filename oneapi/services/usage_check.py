"""Usage numbers from an upstream, checked where they enter billing.

An upstream's ``usage`` decides what a client pays, so it is input like any other: a negative count served
the request for free, and a count of 2³¹ (or 2⁶³) overflowed the logs table's columns and wedged every later
write. A number is refused when it is negative or beyond what the model can read or write
(``model_limits``); billing then uses the tokens oneapi counts itself (the prompt it sent, the text it
delivered), capped at the model's limits, and the caller logs one line naming the channel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oneapi.services.model_limits import ModelLimits

INT32_MAX = (1 << 31) - 1  # the logs table's prompt_tokens and completion_tokens columns


@dataclass(frozen=True)
class CheckedUsage:
    prompt_tokens: int
    completion_tokens: int
    anomaly: str | None = None  # what was wrong with the upstream's numbers, for the operator's log


def check_usage(prompt: int, completion: int, limits: ModelLimits, counted_prompt: int,
                count_completion: Callable[[], int]) -> CheckedUsage:
    """The numbers to bill. ``count_completion`` is called only when the upstream's count is refused."""
    problems = []
    prompt_cap = min(limits.context, INT32_MAX)
    completion_cap = min(limits.max_output, INT32_MAX)
    if not 0 <= prompt <= prompt_cap:
        problems.append(f"prompt_tokens {prompt} (the model reads at most {prompt_cap})")
        prompt = min(max(counted_prompt, 0), prompt_cap)
    if not 0 <= completion <= completion_cap:
        problems.append(f"completion_tokens {completion} (the model writes at most {completion_cap})")
        completion = min(max(count_completion(), 0), completion_cap)
    return CheckedUsage(prompt, completion, "; ".join(problems) or None)
