"""Settling one answer: the upstream's usage read and checked, the charge computed and capped, the ledger
settled, the token's TPM window and the channel's health told, the consume log queued. Every delivery path
(JSON, audio, streams, native forwards) ends here, exactly once per answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from oneapi.proxy.job import Attempt, Job
from oneapi.services import pricing
from oneapi.services.logs import TYPE_CONSUME
from oneapi.services.usage_check import CheckedUsage, check_usage
from oneapi.store.queries.accounting import LogRow
from oneapi.wire.model_limits import limits_for

log = logging.getLogger("oneapi.relay")

GENERATIVE_MODES = ("chat", "completions", "edits")


def usage_numbers(usage: Any, counted_prompt: int) -> tuple[int, int] | None:
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens") or usage.get("input_tokens") or 0
    completion = usage.get("completion_tokens") or usage.get("output_tokens") or 0
    total = usage.get("total_tokens") or 0
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (prompt, completion, total)):
        return None
    if total and not prompt:  # SPEC 5.4: a total without a prompt count
        prompt = counted_prompt
        completion = max(0, total - prompt)
    if not prompt and not completion and not total:
        return None
    return int(prompt), int(completion)


def choice_text(choices: Any, key: str) -> str:
    parts: list[str] = []
    if isinstance(choices, list):
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            if isinstance(choice.get("text"), str):
                parts.append(choice["text"])
            inner = choice.get(key)
            if isinstance(inner, dict):
                if isinstance(inner.get("content"), str):
                    parts.append(inner["content"])
                calls = inner.get("tool_calls")
                for call in calls if isinstance(calls, list) else ():
                    if isinstance(call, dict) and isinstance(call.get("function"), dict):
                        fn = call["function"]
                        parts.append(str(fn.get("name") or "") + str(fn.get("arguments") or ""))
    return "".join(parts)


MAX_CHARGE = (1 << 53) - 1  # one request never costs more (an absurd ratio option cannot overflow a column)


def settle(job: Job, state: Attempt, prompt: int, completion: int, *, delivered: Callable[[], str] | None = None,
           quota: int | None = None) -> int:
    """Charge the final amount, bump counters and queue the consume log; returns the quota charged.

    Text: the upstream's token counts are checked first (``usage_check``): a negative or impossible number
    is replaced by what oneapi counts (``delivered`` gives the answer's text) and reported once. Images and
    audio pass their ``quota``, priced before the call."""
    relay = job.relay
    if quota is None:
        model = state.upstream_model
        limits = limits_for(model)
        if not (0 <= prompt <= limits.context and 0 <= completion <= limits.max_output):  # else plainly fine
            checked = check_usage(prompt, completion, limits, job.prompt_tokens(model),
                                  lambda: relay.tokenizer.count_text(delivered(), model) if delivered else 0,
                                  choices=answers_requested(job.data), generative=job.mode in GENERATIVE_MODES)
            if checked.anomaly is not None:
                report_anomaly(job, state, checked)
            prompt, completion = checked.prompt_tokens, checked.completion_tokens
        if state.budget is not None and completion > state.budget.limit:
            # PreConsumeMaxOutput: the answer is paid for up to what was reserved (the prompt in full).
            log.info("request %s on channel #%d: %d completion tokens, %d reserved: billed the reservation's "
                     "(PreConsumeMaxOutput)", job.request_id, state.channel.id, completion, state.budget.limit)
            completion = state.budget.limit
        quota = pricing.text_quota(state.price, prompt, completion)
    quota = min(quota, MAX_CHARGE)
    log_row = None
    if relay.options.get_bool("LogConsumeEnabled"):
        user, token = job.caller.user, job.caller.token
        log_row = LogRow(user_id=user.id, type=TYPE_CONSUME, content=pricing.consume_log_content(state.price),
                         username=user.username, token_name=token.name, model_name=state.upstream_model,
                         quota=quota, prompt_tokens=prompt, completion_tokens=completion,
                         channel_id=state.channel.id, request_id=job.request_id,
                         elapsed_time=int((time.monotonic() - job.started) * 1000), is_stream=job.stream,
                         system_prompt_reset=state.system_prompt_reset)
    relay.ledger.settle(state.reservation, quota, state.channel.id, log_row)
    relay.services.token_limits.spent(job.caller.token, prompt + completion)  # the token's TPM window
    relay.channel_succeeded(state.channel.id)
    return quota


def answers_requested(data: dict[str, Any]) -> int:
    """How many answers one request may produce: ``n`` choices (``best_of`` for completions, which the
    upstream generates and bills even when it returns fewer)."""
    counts = [v for v in (data.get("n"), data.get("best_of")) if isinstance(v, int) and not isinstance(v, bool)]
    return max([1, *counts])


def report_anomaly(job: Job, state: Attempt, checked: CheckedUsage) -> None:
    """One line for the operator (server log and the TUI's events) when an upstream's usage was refused; at
    most one a minute per channel, with the count of the others (a lying upstream answers thousands)."""
    suppressed = job.relay.anomalies.admit(state.channel.id)
    if suppressed is None:
        return
    others = f" ({suppressed} more on this channel since the last report)" if suppressed else ""
    message = (f"upstream anomaly on channel #{state.channel.id} (model {state.upstream_model}, request "
               f"{job.request_id}): {checked.anomaly}; billed {checked.prompt_tokens} prompt and "
               f"{checked.completion_tokens} completion tokens as counted by oneapi{others}")
    log.warning(message)
    job.relay.services.events.publish("alert", {"message": message, "channel": state.channel.id})
