"""oneapi.proxy.health: SPEC 4.3's auto-disable rules, SPEC 4.2's retry table, the ENABLE_METRIC window."""

from __future__ import annotations

import pytest

from oneapi.proxy.errors import RelayError, UpstreamError, upstream_error
from oneapi.proxy.health import SuccessWindow, is_retryable, should_disable


def upstream(status: int, message: str = "something went wrong", type_: str = "server_error",
             code: str | None = None) -> UpstreamError:
    return UpstreamError(status, {"message": message, "type": type_, "param": None, "code": code})


# -- should_disable -------------------------------------------------------------------------------------


def test_http_401_disables_whatever_the_body() -> None:
    assert should_disable(401, upstream(401, "nothing special", "invalid_request_error")) is not None
    assert should_disable(401, upstream_error(401, b"not json")) is not None


@pytest.mark.parametrize("type_", ["insufficient_quota", "authentication_error", "permission_error", "forbidden"])
def test_error_types_that_disable(type_: str) -> None:
    reason = should_disable(429 if type_ == "insufficient_quota" else 403, upstream(403, "nope", type_))
    assert reason is not None and type_ in reason


@pytest.mark.parametrize("code", ["invalid_api_key", "account_deactivated"])
def test_error_codes_that_disable(code: str) -> None:
    reason = should_disable(403, upstream(403, "nope", "invalid_request_error", code))
    assert reason is not None and code in reason


@pytest.mark.parametrize("message", [
    "Your access was terminated due to violation of our policies",
    "This request was flagged as a VIOLATION OF OUR POLICIES",
    "Your credit balance is too low to access the Anthropic API",
    "The organization has been disabled.",
    "not enough credit",
    "Insufficient Balance",
    "Permission denied: project is suspended",
    "This organization has been restricted",
    "API key not valid. Please pass a valid API key.",
    "API Key Expired. Please renew the API key.",
    "账户已欠费，请充值",
])
def test_messages_that_disable_case_insensitively(message: str) -> None:
    reason = should_disable(500, upstream(500, message))
    assert reason is not None and message[:50] in reason


@pytest.mark.parametrize(("status", "error"), [
    (500, upstream(500, "The server had an error while processing your request.")),
    (429, upstream(429, "Rate limit reached for gpt-4o-mini", "requests", "rate_limit_exceeded")),
    (400, upstream(400, "Invalid value for 'temperature'", "invalid_request_error", "invalid_value")),
    (403, upstream(403, "Country, region, or territory not supported", "request_forbidden",
                   "unsupported_country_region_territory")),
    (404, upstream(404, "The model `gpt-9` does not exist", "invalid_request_error", "model_not_found")),
    (500, upstream_error(500, b"<html>bad gateway</html>")),
    (500, RelayError("upstream request failed: ClientConnectionError", status=500, code="do_request_failed")),
])
def test_ordinary_errors_do_not_disable(status: int, error: RelayError) -> None:
    assert should_disable(status, error) is None


def test_an_upstream_error_body_is_judged_by_its_fields() -> None:
    body = b'{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", ' \
           b'"code": "invalid_api_key"}}'
    assert should_disable(403, upstream_error(403, body)) is not None
    assert should_disable(402, upstream_error(402, b'{"msg": "balance not enough"}')) is not None


# -- is_retryable ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "retry"), [
    (429, True), (500, True), (502, True), (503, True), (504, True), (599, True),
    (401, True), (403, True), (404, True), (408, True), (409, True), (402, True),
    (400, False), (200, False), (201, False), (204, False), (299, False),
])
def test_retry_table(status: int, retry: bool) -> None:
    assert is_retryable(status) is retry


# -- SuccessWindow --------------------------------------------------------------------------------------


def test_no_verdict_until_the_window_is_full() -> None:
    window = SuccessWindow(4, 0.8)
    assert [window.record(1, False) for _ in range(3)] == [None, None, None]
    assert window.record(1, False) == 0.0


def test_rate_below_the_threshold_is_reported_and_the_window_restarts() -> None:
    window = SuccessWindow(4, 0.8)
    for outcome in (True, True, True):
        assert window.record(1, outcome) is None
    assert window.record(1, False) == pytest.approx(0.75)
    # cleared: three more outcomes are not a full window again
    assert [window.record(1, False) for _ in range(3)] == [None, None, None]
    assert window.record(1, True) == pytest.approx(0.25)


def test_rate_at_or_above_the_threshold_is_fine_and_the_window_slides() -> None:
    window = SuccessWindow(5, 0.8)
    for outcome in (True, True, True, True, False):  # 4/5 = 0.8, not below
        assert window.record(1, outcome) is None
    assert window.record(1, True) is None  # slides: T T T F T
    assert window.record(1, False) == pytest.approx(0.6)  # T T F T F


def test_channels_have_separate_windows_and_forget_drops_one() -> None:
    window = SuccessWindow(2, 0.8)
    assert window.record(1, False) is None
    assert window.record(2, False) is None
    window.forget(1)
    assert window.record(1, False) is None  # channel 1 starts over
    assert window.record(2, False) == 0.0
    window.forget(99)  # unknown: no error
