"""Proof that the fake Replicate API speaks Replicate's published HTTP API: the official ``replicate`` SDK
(``replicate.Client`` pointed at the fake with ``base_url``) is satisfied — run() in the synchronous ``Prefer:
wait`` mode for a language and an image model, create-then-poll when the prediction is not done, stream() over
the stream URL (pieces with newlines, error events), polling while the prediction is processing, and errors
raised as the SDK's ReplicateError / ModelError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import replicate
from replicate.exceptions import ModelError, ReplicateError

from tests.fakes.replicate_upstream import FakeReplicate, start_fake

TOKEN = "r8_fake_token"
LLAMA = "meta/meta-llama-3-8b-instruct"


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeReplicate, replicate.Client]]:
    upstream = FakeReplicate({TOKEN})
    url, stop = await start_fake(upstream)
    yield upstream, replicate.Client(api_token=TOKEN, base_url=url)
    await stop()


async def test_run_a_language_model_synchronously(fake: tuple[FakeReplicate, replicate.Client]) -> None:
    upstream, client = fake
    output = await client.async_run(LLAMA, input={"prompt": "user: Say hello please\n", "max_tokens": 50})
    assert "".join(output) == "echo: Say hello please"
    seen = upstream.requests[-1]
    assert seen.path == f"/v1/models/{LLAMA}/predictions" and seen.headers["prefer"] == "wait"
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"


async def test_run_an_image_model(fake: tuple[FakeReplicate, replicate.Client]) -> None:
    _, client = fake
    output = await client.async_run("black-forest-labs/flux-schnell", input={"prompt": "a cat", "aspect_ratio": "16:9"},
                                    use_file_output=False)
    assert len(output) == 1 and output[0].startswith("https://replicate.delivery/")


async def test_create_then_poll(fake: tuple[FakeReplicate, replicate.Client]) -> None:
    upstream, client = fake
    prediction = await client.predictions.async_create(model=LLAMA, input={"prompt": "user: hi\n"})
    assert prediction.status == "starting"
    await prediction.async_wait()
    assert prediction.status == "succeeded" and "".join(prediction.output) == "echo: hi"
    assert prediction.metrics is not None and prediction.metrics["output_token_count"] == 2
    assert upstream.requests[-1].path == f"/v1/predictions/{prediction.id}"


async def test_stream(fake: tuple[FakeReplicate, replicate.Client]) -> None:
    _, client = fake
    events = [e async for e in await client.async_stream(LLAMA, input={"prompt": "user: a b c\n"})]
    assert "".join(str(e) for e in events) == "echo: a b c"


async def test_failed_prediction(fake: tuple[FakeReplicate, replicate.Client]) -> None:
    upstream, client = fake
    upstream.slow = True
    upstream.fail_next_prediction = True
    with pytest.raises(ModelError, match="CUDA out of memory"):
        await client.async_run(LLAMA, input={"prompt": "user: hi\n"})


@pytest.mark.parametrize(("token", "model", "inputs", "status"), [
    ("wrong", LLAMA, {"prompt": "x"}, 401),
    (TOKEN, "nobody/nothing", {"prompt": "x"}, 404),
    (TOKEN, LLAMA, {"prompt": "x", "colour": "red"}, 422),
])
async def test_errors(fake: tuple[FakeReplicate, replicate.Client], token: str, model: str,
                      inputs: dict[str, str], status: int) -> None:
    _, client = fake
    client = replicate.Client(api_token=token, base_url=str(client._client.base_url))
    with pytest.raises(ReplicateError) as raised:
        await client.async_run(model, input=inputs)
    assert raised.value.status == status and raised.value.detail


async def test_polled_while_processing(fake: tuple[FakeReplicate, replicate.Client]) -> None:
    upstream, client = fake
    upstream.polls_before_done = 2
    client.poll_interval = 0.01
    prediction = await client.predictions.async_create(model=LLAMA, input={"prompt": "user: hi there\n"})
    await prediction.async_reload()
    assert prediction.status == "processing" and prediction.output is None
    await prediction.async_wait()
    assert prediction.status == "succeeded" and "".join(prediction.output) == "echo: hi there"
    assert [r.path for r in upstream.requests].count(f"/v1/predictions/{prediction.id}") == 3


async def test_stream_pieces_with_newlines_and_the_stream_url(fake: tuple[FakeReplicate, replicate.Client]) -> None:
    upstream, client = fake
    prediction = await client.predictions.async_create(model=LLAMA, input={"prompt": "user: a\n"}, stream=True)
    assert prediction.urls["stream"].endswith(f"/v1/stream/{prediction.id}")
    upstream.streams = False
    other = await client.predictions.async_create(model=LLAMA, input={"prompt": "user: a\n"}, stream=True)
    assert "stream" not in other.urls
    upstream.streams = True
    # the SDK's own SSE decoder joins a piece's data lines with a newline
    upstream._predictions[prediction.id]["output"] = ["line one\nline two", " end"]
    events = [e async for e in prediction.async_stream()]
    assert [str(e) for e in events if e.event.value == "output"] == ["line one\nline two", " end"]
    assert events[-1].event.value == "done"


async def test_stream_error_event(fake: tuple[FakeReplicate, replicate.Client]) -> None:
    upstream, client = fake
    upstream.stream_error = "CUDA out of memory"
    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        [e async for e in await client.async_stream(LLAMA, input={"prompt": "user: a b c\n"})]


async def test_cancel(fake: tuple[FakeReplicate, replicate.Client]) -> None:
    upstream, client = fake
    upstream.polls_before_done = 5
    prediction = await client.predictions.async_create(model=LLAMA, input={"prompt": "user: hi\n"})
    await prediction.async_cancel()
    await prediction.async_reload()
    assert prediction.status == "canceled" and prediction.output is None
    assert upstream.requests[-2].path == f"/v1/predictions/{prediction.id}/cancel"
