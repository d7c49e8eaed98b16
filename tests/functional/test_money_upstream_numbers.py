"""No upstream number can wedge billing (issue: money that cannot leak, part 3), on every backend.

Measured before the fix: one answer with completion_tokens 2³¹ on MariaDB (32-bit columns), or 2⁶³ on SQLite,
made every later flush fail and retry forever while clients kept getting 200s; negative counts were free.
"""

from __future__ import annotations

import logging

import pytest

from tests.functional.relay_env import RelayEnv

ABSURD = [
    {"completion_tokens": 2**31},
    {"completion_tokens": 2**63},
    {"completion_tokens": 2**70},
    {"prompt_tokens": 2**31, "total_tokens": 2**31 + 5},
    {"completion_tokens": -1_000_000},
    {"prompt_tokens": -50},
]


@pytest.mark.parametrize("usage", ABSURD, ids=[",".join(f"{k}={v}" for k, v in u.items()) for u in ABSURD])
async def test_absurd_usage_is_billed_as_counted_and_never_blocks_later_writes(
        relay_any: RelayEnv, usage: dict[str, int], caplog: pytest.LogCaptureFixture) -> None:
    env = relay_any
    fake, url = await env.fake()
    channel_id = await env.add_channel(url)
    other = await env.new_token(name="other", remain_quota=1_000_000)
    client = env.client()
    fake.report_usage(**usage)
    with caplog.at_level(logging.WARNING, logger="oneapi.relay"):
        answer = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "say something please"}])
    assert answer.choices[0].message.content == "echo: say something please"
    anomalies = [r.getMessage() for r in caplog.records if "upstream anomaly" in r.getMessage()]
    assert len(anomalies) == 1 and f"channel #{channel_id}" in anomalies[0]

    # another user's requests after it are written: the flush is not wedged
    for _ in range(20):
        await env.client(other).chat.completions.create(model="gpt-4o-mini",
                                                        messages=[{"role": "user", "content": "hi"}])
    logs = await env.consume_logs()
    assert len(logs) == 21
    first = min(logs, key=lambda row: row["id"])
    # billed what oneapi counted, within the model's limits: small, positive, never the upstream's number
    assert 0 < first["prompt_tokens"] < 100 and 0 <= first["completion_tokens"] < 100
    assert first["quota"] > 0
    row = await env.token_row(other)
    assert row["used_quota"] == sum(log["quota"] for log in logs if log["token_name"] == "other")
    user = await env.user_row()
    assert user["used_quota"] == sum(log["quota"] for log in logs)


async def test_usage_within_the_model_limits_is_billed_as_reported(relay_any: RelayEnv) -> None:
    """The check is not a clamp on honest numbers: a long answer is billed in full."""
    env = relay_any
    fake, url = await env.fake()
    await env.add_channel(url)
    fake.report_usage(prompt_tokens=120_000, completion_tokens=16_000, total_tokens=136_000)
    await env.client().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    (log,) = await env.consume_logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (120_000, 16_000)


async def test_an_absurd_stream_usage_is_checked_too(relay_any: RelayEnv) -> None:
    env = relay_any
    fake, url = await env.fake()
    await env.add_channel(url)
    fake.report_usage(completion_tokens=2**40)
    stream = await env.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "count to three"}], stream=True,
        stream_options={"include_usage": True})
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: count to three"
    (log,) = await env.consume_logs()
    assert 0 < log["completion_tokens"] < 100


async def test_n_answers_are_billed_in_full_without_an_anomaly(relay_env: RelayEnv,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """n choices legitimately report n times one answer's tokens: beyond one answer's limit, not beyond n."""
    env = relay_env
    fake, url = await env.fake()
    await env.add_channel(url)
    fake.report_usage(completion_tokens=20 * 16_000, total_tokens=20 * 16_000 + 10)
    with caplog.at_level(logging.WARNING, logger="oneapi.relay"):
        await env.client().chat.completions.create(model="gpt-4o-mini", n=20,
                                                   messages=[{"role": "user", "content": "many"}])
    assert not [r for r in caplog.records if "upstream anomaly" in r.getMessage()]
    (log,) = await env.consume_logs()
    assert log["completion_tokens"] == 320_000


async def test_an_embedding_batch_is_billed_for_every_input(relay_env: RelayEnv,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """The model's context bounds one input, not a batch of them."""
    env = relay_env
    _, url = await env.fake()
    await env.add_channel(url)
    inputs = [" ".join(["word"] * 1_000)] * 50
    with caplog.at_level(logging.WARNING, logger="oneapi.relay"):
        answer = await env.client().embeddings.create(model="text-embedding-3-small", input=inputs)
    assert answer.usage.prompt_tokens == 50_000
    assert not [r for r in caplog.records if "upstream anomaly" in r.getMessage()]
    (log,) = await env.consume_logs()
    assert log["prompt_tokens"] == 50_000


async def test_anomalies_are_reported_at_most_once_a_minute_per_channel(relay_env: RelayEnv,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    env = relay_env
    fake, url = await env.fake()
    channel_id = await env.add_channel(url)
    with caplog.at_level(logging.WARNING, logger="oneapi.relay"):
        for _ in range(5):
            fake.report_usage(completion_tokens=-1)
            await env.client().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    reports = [r.getMessage() for r in caplog.records if "upstream anomaly" in r.getMessage()]
    assert len(reports) == 1 and f"channel #{channel_id}" in reports[0]
    assert len(await env.consume_logs()) == 5  # every request still billed as counted
