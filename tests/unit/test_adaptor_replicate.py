"""The Replicate adaptor's pure parts (oneapi/proxy/adaptors/replicate.py): golden JSON cases in
tests/unit/golden/replicate/ (predictions for chat and images, answers, the stream URL's events, the
pseudo-stream, problem details), run by the harness of test_adaptor_zhipu.py. Regenerate after an intended
change with ``ONEAPI_UPDATE_GOLDEN=1`` and review the diff. Then the steps of the exchange (next_step): polling,
the stream URL, when the answer is final.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oneapi.proxy.adaptors import adaptor_for, replicate
from oneapi.proxy.adaptors.replicate import ADAPTOR, aspect_ratio, next_step
from tests.unit.test_adaptor_zhipu import check_golden

GOLDEN = Path(__file__).parent / "golden" / "replicate"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stream URL's events carry no prediction id: the adaptor makes a random one, fixed here to compare.
    monkeypatch.setattr(replicate, "completion_id", lambda: "chatcmpl-golden")
    check_golden(ADAPTOR, 46, path)


def test_the_registry_serves_this_adaptor() -> None:
    assert adaptor_for(46) is ADAPTOR and ADAPTOR.passthrough is False


@pytest.mark.parametrize(("size", "ratio"), [
    ("1024x1024", "1:1"), ("1792x1024", "16:9"), ("1024x1792", "9:16"), ("1536x1024", "3:2"), ("512x640", "4:5"),
    ("2560x1080", "21:9"), ("auto", "1:1"), ("0x10", "1:1"), ("", "1:1"),
])
def test_aspect_ratio(size: str, ratio: str) -> None:
    assert aspect_ratio(size) == ratio


# -- the exchange: create, then poll or stream ----------------------------------------------------------

BASE = "https://api.replicate.com"


def prediction(status: str = "starting", **urls: str) -> bytes:
    return json.dumps({"id": "gm3qorzdhgbf", "status": status, "output": None,
                       "urls": {"get": "https://elsewhere.example/v1/predictions/gm3qorzdhgbf", **urls}}).encode()


def test_a_running_prediction_is_polled_at_the_channels_own_url_with_a_growing_delay() -> None:
    step = next_step(BASE, "r8_x", False, 0, 201, prediction())
    assert step is not None and step.delay == 0.25
    call = step.call
    # urls.get is not followed: the poll URL is built on the channel's base URL
    assert (call.method, call.url) == ("GET", f"{BASE}/v1/predictions/gm3qorzdhgbf")
    assert call.headers == {"Authorization": "Bearer r8_x", "Accept": "application/json"}
    # given up here (the time bound, or the client gone), the prediction is canceled
    assert step.abandon is not None and (step.abandon.method, step.abandon.url, step.abandon.headers) == (
        "POST", f"{BASE}/v1/predictions/gm3qorzdhgbf/cancel", {"Authorization": "Bearer r8_x"})
    delays = []
    for _ in range(6):
        assert call.follow is not None
        step = call.follow(200, prediction("processing"))
        assert step is not None
        delays.append(step.delay)
        call = step.call
    assert delays == [0.5, 1.0, 2.0, 2.0, 2.0, 2.0]
    assert call.follow is not None and call.follow(200, prediction("succeeded")) is None


@pytest.mark.parametrize(("status", "body"), [
    (201, prediction("succeeded")), (200, prediction("failed")), (200, prediction("canceled")),
    (422, b'{"title": "Input validation failed", "status": 422}'), (200, b"not json"), (200, b"[]"),
    (201, json.dumps({"id": "../../admin", "status": "starting"}).encode()),
    (201, json.dumps({"status": "starting"}).encode()),
])
def test_answers_that_are_delivered_as_they_are(status: int, body: bytes) -> None:
    assert next_step(BASE, "r8_x", True, 0, status, body) is None


@pytest.mark.parametrize("stream_url", [
    "https://streaming-api.svc.us.c.replicate.net/v1/streams/abc", "https://stream.replicate.com/v1/files/abc",
    f"{BASE}/v1/stream/abc",
])
def test_a_stream_request_follows_replicates_stream_url_then_reads_the_prediction(stream_url: str) -> None:
    step = next_step(BASE, "r8_x", True, 0, 201, prediction(stream=stream_url))
    assert step is not None and step.delay == 0
    call = step.call
    assert (call.method, call.url, call.follow) == ("GET", stream_url, None)
    assert call.headers == {"Authorization": "Bearer r8_x", "Accept": "text/event-stream",
                            "Cache-Control": "no-store"}
    assert call.epilogue is not None and call.epilogue.url == f"{BASE}/v1/predictions/gm3qorzdhgbf"


@pytest.mark.parametrize("stream_url", [
    "http://stream.replicate.com/v1/files/abc", "https://replicate.com.evil.example/x",
    "https://evilreplicate.com/x", "http://127.0.0.1:6379/", "not a url",
])
def test_a_stream_url_elsewhere_is_not_given_the_key_the_prediction_is_polled(stream_url: str) -> None:
    step = next_step(BASE, "r8_x", True, 0, 201, prediction(stream=stream_url))
    assert step is not None and step.call.url == f"{BASE}/v1/predictions/gm3qorzdhgbf" and step.delay == 0.25


def test_a_non_stream_request_ignores_the_stream_url() -> None:
    step = next_step(BASE, "r8_x", False, 0, 201, prediction(stream=f"{BASE}/v1/stream/abc"))
    assert step is not None and step.call.url.endswith("/v1/predictions/gm3qorzdhgbf")
