"""The web session: a signed cookie named ``session`` (as One API's cookie store), keyed by SESSION_SECRET.

The cookie carries the user id, the role and status at login, and an expiry; it is tamper-proof (HMAC-SHA256)
but not secret. The server re-reads the user on every request, so disabling a user or changing a role takes
effect at once, whatever the cookie says.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

COOKIE_NAME = "session"
MAX_AGE = 30 * 24 * 3600  # One API keeps sessions for 30 days


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"oneapi-session\0" + secret.encode()).digest()

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def encode(self, data: dict[str, Any], now: float | None = None) -> str:
        body = dict(data, exp=int((now or time.time()) + MAX_AGE))
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def decode(self, cookie: str, now: float | None = None) -> dict[str, Any] | None:
        """The session data, or None when the cookie is malformed, forged or expired."""
        payload, _, signature = cookie.partition(".")
        if not payload or not signature or len(cookie) > 4096 or not cookie.isascii():
            return None  # (compare_digest raises on non-ASCII text: a client could send it)
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("exp"), int):
            return None
        if data["exp"] < (now or time.time()):
            return None
        return data
