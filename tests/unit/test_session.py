"""SessionCodec: the signed ``session`` cookie (SPEC 2.1) — round trip, forgery, expiry, garbage."""

from __future__ import annotations

import base64
import json

import pytest

from oneapi.api.session import MAX_AGE, SessionCodec

NOW = 1_700_000_000.0
DATA = {"id": 7, "username": "alice", "display_name": "Alice", "role": 1, "status": 1}


def _payload(cookie: str) -> dict[str, object]:
    payload = cookie.partition(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_round_trip_keeps_data_and_adds_expiry() -> None:
    codec = SessionCodec("secret")
    cookie = codec.encode(DATA, now=NOW)
    decoded = codec.decode(cookie, now=NOW + 1)
    assert decoded == {**DATA, "exp": int(NOW + MAX_AGE)}


def test_cookie_is_cookie_safe_text() -> None:
    cookie = SessionCodec("secret").encode({**DATA, "username": "名字 ; = ,"}, now=NOW)
    assert all(c.isalnum() or c in "-_." for c in cookie)
    assert SessionCodec("secret").decode(cookie, now=NOW)["username"] == "名字 ; = ,"  # type: ignore[index]


def test_does_not_mutate_the_input() -> None:
    data = dict(DATA)
    SessionCodec("secret").encode(data, now=NOW)
    assert data == DATA


def test_other_secret_cannot_read_or_forge() -> None:
    cookie = SessionCodec("secret").encode(DATA, now=NOW)
    assert SessionCodec("other").decode(cookie, now=NOW) is None
    assert SessionCodec("secret").decode(SessionCodec("other").encode(DATA, now=NOW), now=NOW) is None


def test_tampered_payload_is_rejected() -> None:
    codec = SessionCodec("secret")
    cookie = codec.encode(DATA, now=NOW)
    signature = cookie.partition(".")[2]
    body = _payload(cookie)
    body["role"] = 100
    forged = _b64(json.dumps(body, separators=(",", ":")).encode())
    assert codec.decode(f"{forged}.{signature}", now=NOW) is None
    longer_exp = _b64(json.dumps({**body, "role": 1, "exp": int(NOW) + 10 * MAX_AGE}).encode())
    assert codec.decode(f"{longer_exp}.{signature}", now=NOW) is None


@pytest.mark.parametrize("position", [0, 5, -1, -5])
def test_any_flipped_character_is_rejected(position: int) -> None:
    codec = SessionCodec("secret")
    cookie = codec.encode(DATA, now=NOW)
    chars = list(cookie)
    chars[position] = "A" if chars[position] != "A" else "B"
    assert codec.decode("".join(chars), now=NOW) is None


def test_expiry() -> None:
    codec = SessionCodec("secret")
    cookie = codec.encode(DATA, now=NOW)
    assert codec.decode(cookie, now=NOW + MAX_AGE - 1) is not None
    assert codec.decode(cookie, now=NOW + MAX_AGE + 1) is None
    assert MAX_AGE == 30 * 24 * 3600


def test_expiry_follows_the_real_clock_by_default() -> None:
    codec = SessionCodec("secret")
    assert codec.decode(codec.encode(DATA)) is not None
    assert codec.decode(codec.encode(DATA, now=NOW - MAX_AGE - 10)) is None  # expired long ago


@pytest.mark.parametrize("garbage", [
    "", ".", "abc", "abc.", ".abc", "a.b", "a.b.c", "%%%.%%%", "é.é", "\x00.\x00", "x" * 5000,
    "x" * 5000 + "." + "y" * 100,
])
def test_garbage_is_rejected_not_raised(garbage: str) -> None:
    assert SessionCodec("secret").decode(garbage, now=NOW) is None


class _Signer(SessionCodec):
    """Signs arbitrary payloads, to check what decode does with well-signed nonsense."""

    def sign(self, payload: str) -> str:
        return f"{payload}.{self._sign(payload)}"


@pytest.mark.parametrize("payload", [
    _b64(b"not json"), _b64(b"[1, 2]"), _b64(b'"text"'), _b64(b'{"id": 1}'), _b64(b'{"id": 1, "exp": "9999999999"}'),
    _b64(b'{"id": 1, "exp": 1.5e12}'), _b64(b"\xff\xfe"), "!!!",
])
def test_signed_but_malformed_payload_is_rejected(payload: str) -> None:
    signer = _Signer("secret")
    assert SessionCodec("secret").decode(signer.sign(payload), now=NOW) is None


def test_signed_valid_payload_is_accepted() -> None:
    signer = _Signer("secret")
    payload = _b64(json.dumps({"id": 3, "exp": int(NOW) + 60}).encode())
    assert SessionCodec("secret").decode(signer.sign(payload), now=NOW) == {"id": 3, "exp": int(NOW) + 60}
