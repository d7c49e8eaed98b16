"""Masking of secrets in text, log records and SQL parameters (oneapi.redaction), and the failure words the
relay gives clients instead of an exception's text (oneapi.proxy.failures)."""

from __future__ import annotations

import logging
import socket
import ssl

import aiohttp
import pytest

from oneapi.proxy.errors import UpstreamError
from oneapi.proxy.failures import category, conceal_address, network_failure
from oneapi.redaction import MASK, RedactingFilter, Redactor, Secret
from oneapi.services.routing import route_channel


@pytest.fixture
def registry() -> Redactor:
    return Redactor()


def test_registered_values_and_the_parts_of_a_key_are_masked(registry: Redactor) -> None:
    registry.register_key("bceAK0123456|bceSK0123456789")
    text = "GET https://host/oauth/2.0/token?id=bceAK0123456&sec=bceSK0123456789 and bceAK0123456|bceSK0123456789"
    masked = registry.mask(text)
    assert "bceAK" not in masked and "bceSK" not in masked and masked.count(MASK) == 3


def test_short_values_are_not_registered(registry: Redactor) -> None:
    registry.register("1234567", "", None, "  ")
    assert registry.mask("app 1234567 ok") == "app 1234567 ok"


def test_the_registry_is_bounded(registry: Redactor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("oneapi.redaction.MAX_KNOWN", 3)
    registry.register("first-secret-1", "second-secret", "third-secret", "fourth-secret")
    assert registry.mask("first-secret-1") == "first-secret-1"
    assert registry.mask("fourth-secret") == MASK


@pytest.mark.parametrize(("text", "expected"), [
    ("hash $2a$10$" + "N" * 53 + " done", f"hash {MASK} done"),
    ("Authorization: Bearer abc.def=ghi", f"Authorization: Bearer {MASK}"),
    ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: Basic {MASK}"),
    ("key sk-ant-api03-abcdefgh end", f"key {MASK} end"),
    ("key " + "aB3" * 16 + ".", f"key {MASK}."),
    ("jwt eyJhbGciOi.eyJhcGlfa2V5.c2lnbmF0dXJl0", f"jwt {MASK}"),
    ("https://g/v1beta/models/x:generate?key=AIzaSy&alt=sse", f"https://g/v1beta/models/x:generate?key={MASK}&alt=sse"),
    ("client_secret=abc&client_id=def", f"client_secret={MASK}&client_id={MASK}"),
    ("Credential=AKID/2024, Signature=9f86d081884c7d65", f"Credential=AKID/2024, Signature={MASK}"),
    # what must stay readable: request ids (digits), journal ids (32 hex), model names, ordinary words
    ("request 20261206140505123456789012345678", "request 20261206140505123456789012345678"),
    ("journal 0123456789abcdef0123456789abcdef", "journal 0123456789abcdef0123456789abcdef"),
    ("model gpt-4o-mini-2024-07-18 monkey=1", "model gpt-4o-mini-2024-07-18 monkey=1"),
])
def test_credential_shapes_are_masked_without_registration(registry: Redactor, text: str, expected: str) -> None:
    assert registry.mask(text) == expected


def test_error_objects_are_masked_throughout(registry: Redactor) -> None:
    registry.register("upstream-key-123")
    error = {"message": "bad key upstream-key-123", "details": [{"why": "upstream-key-123"}], "code": 401}
    assert registry.mask_value(error) == {"message": f"bad key {MASK}", "details": [{"why": MASK}], "code": 401}


def record(msg: object, args: object = None, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("x", logging.WARNING, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]


def test_the_log_filter_masks_message_arguments_and_exceptions(registry: Redactor) -> None:
    registry.register("channel-key-secret")
    try:
        raise RuntimeError("refused with channel-key-secret")
    except RuntimeError as exc:
        item = record("calling %s with %r", ("https://u?key=zzz", "channel-key-secret"), exc)
    assert RedactingFilter(registry).filter(item) is True
    handler_text = logging.Formatter("%(message)s").format(item)
    assert "channel-key-secret" not in handler_text and "zzz" not in handler_text
    assert handler_text.startswith(f"calling https://u?key={MASK} with '{MASK}'")
    assert "RuntimeError: refused with " + MASK in handler_text


def test_sql_parameters_of_secret_columns_are_masked(registry: Redactor) -> None:
    # peewee logs (sql, params); values bound for credential columns travel as Secret
    item = record(('SELECT * FROM "tokens" WHERE "key" = ? AND "name" = ?', [Secret("tokenvalue"), "mine"]))
    RedactingFilter(registry).filter(item)
    assert item.getMessage() == f"""('SELECT * FROM "tokens" WHERE "key" = ? AND "name" = ?', ['{MASK}', 'mine'])"""
    assert repr(Secret("x")) == repr(MASK) and Secret("x") == "x"  # drivers still send the value


def test_a_record_through_two_handlers_is_rendered_once(registry: Redactor) -> None:
    item = record("%s%%", ("50",))
    first, second = RedactingFilter(registry), RedactingFilter(registry)
    first.filter(item)
    second.filter(item)
    assert item.getMessage() == "50%"


@pytest.mark.parametrize(("exc", "word"), [
    (aiohttp.ClientConnectorError(aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None),
                                  ConnectionRefusedError(111, "Connection refused")), "connection_refused"),
    (aiohttp.ClientConnectorDNSError(aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None),
                                     socket.gaierror(-2, "Name or service not known")), "name_not_resolved"),
    (aiohttp.ServerDisconnectedError(), "disconnected"),
    (aiohttp.ServerTimeoutError("read"), "timeout"),
    (TimeoutError(), "timeout"),
    (aiohttp.ClientPayloadError("cut"), "broken_answer"),
    (ssl.SSLError(1, "bad handshake"), "tls_failed"),
    (ConnectionResetError(104, "reset"), "connection_reset"),
    (OSError(99, "whatever"), "network_error"),
])
def test_failure_categories(exc: BaseException, word: str) -> None:
    assert category(exc) == word


def test_a_network_failure_tells_the_client_the_channel_and_the_operator_the_rest() -> None:
    exc = aiohttp.ClientConnectorError(aiohttp.client_reqrep.ConnectionKey("10.1.2.3", 8443, True, True, None, None,
                                                                           None),
                                       ConnectionRefusedError(111, "Connection refused"))
    error = network_failure(7, "upstream request", exc)
    assert error.message == "upstream request failed on channel #7: connection_refused"
    assert error.code == "do_request_failed" and error.http_status == 500
    assert "10.1.2.3:8443" in error.detail and "10.1.2.3" not in str(error.to_openai())


def test_an_upstream_naming_its_own_address_is_concealed() -> None:
    channel = route_channel({"id": 4, "type": 1, "key": "k", "status": 1, "name": "c",
                                     "base_url": "http://10.0.0.5:8080", "models": "m", "group": "default"})
    error = UpstreamError(502, {"message": "proxy http://10.0.0.5:8080/v1 failed (10.0.0.5)", "type": "proxy"})
    conceal_address(error, channel)
    assert error.to_openai()["error"]["message"] == \
        "proxy http://[channel #4 upstream]/v1 failed ([channel #4 upstream])"
    assert "10.0.0.5" not in error.message
