"""Codes sent by e-mail: registration and binding codes, and password-reset tokens.

One API keeps them in process memory, valid for 10 minutes; so does oneapi (a multi-node caveat: a code is
known only to the node that sent it, so put a sticky session in front of several nodes, as with One API).
Unlike One API, a code is single use, guessing is bounded (a code dies after ``MAX_ATTEMPTS`` wrong tries),
memory is bounded, and sending is rate limited per address and per client IP, so the server cannot be used
to flood a mailbox.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Literal

from oneapi.errors import PermissionDeniedError

Purpose = Literal["verify", "reset"]

VALID_SECONDS = 10 * 60  # One API's VerificationValidMinutes
MAX_ATTEMPTS = 5  # wrong guesses before a code is void
MAX_CODES = 10_000  # codes kept at once; the oldest go first
RESEND_SECONDS = 60  # one e-mail of each kind per address per minute
PER_ADDRESS_HOUR = 5  # ... and five per hour
PER_IP_HOUR = 10  # e-mails one client IP may cause per hour (under the route's own 20 per 20 minutes)
CODE_LENGTH = 6  # registration and binding codes (One API: 6 characters of a UUID)


@dataclass
class _Code:
    code: str
    expires: float
    attempts: int = 0


class _Window:
    """Bounded sliding-window counters: at most ``limit`` events per ``window`` seconds per key."""

    def __init__(self, limit: int, window: float, max_keys: int = 50_000) -> None:
        self.limit, self.window, self._max = limit, window, max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` may act again (0: now)."""
        hits = self._hits.get(key)
        if hits is None or len(hits) < self.limit:
            return 0.0
        return max(0.0, hits[0] + self.window - now)

    def record(self, key: str, now: float) -> None:
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque(maxlen=self.limit)
            if len(self._hits) > self._max:
                self._hits.popitem(last=False)
        self._hits.move_to_end(key)
        hits.append(now)


class Verifications:
    """The codes in flight. Keys are (purpose, lower-cased address)."""

    def __init__(self) -> None:
        self._codes: OrderedDict[tuple[str, str], _Code] = OrderedDict()
        self._resend = _Window(1, RESEND_SECONDS)
        self._address = _Window(PER_ADDRESS_HOUR, 3600)
        self._ip = _Window(PER_IP_HOUR, 3600)
        self._now = time.monotonic

    def allow_send(self, purpose: Purpose, address: str, ip: str) -> None:
        """Raise when another e-mail of ``purpose`` to ``address`` (asked from ``ip``) would be too many; else
        count it."""
        now, address = self._now(), address.lower()
        wait = max(self._resend.wait(f"{purpose}:{address}", now), self._address.wait(address, now),
                   self._ip.wait(ip, now))
        if wait > 0:
            raise PermissionDeniedError(f"too many e-mails requested; try again in {int(wait) + 1} seconds")
        self._resend.record(f"{purpose}:{address}", now)
        self._address.record(address, now)
        self._ip.record(ip, now)

    def issue(self, purpose: Purpose, address: str) -> str:
        """A new code for ``address`` (replacing an earlier one of the same purpose)."""
        code = secrets.token_hex(3) if purpose == "verify" else secrets.token_hex(16)
        key = (purpose, address.lower())
        self._codes.pop(key, None)
        self._codes[key] = _Code(code, self._now() + VALID_SECONDS)
        while len(self._codes) > MAX_CODES:
            self._codes.popitem(last=False)
        return code

    def check(self, purpose: Purpose, address: str, code: str) -> bool:
        """Whether ``code`` is the live code for ``address``; a wrong guess counts against it."""
        key = (purpose, address.lower())
        entry = self._codes.get(key)
        if entry is None or entry.expires <= self._now():
            self._codes.pop(key, None)
            return False
        if code.isascii() and hmac.compare_digest(entry.code, code.strip().lower()):
            return True
        entry.attempts += 1
        if entry.attempts >= MAX_ATTEMPTS:
            del self._codes[key]
        return False

    def take(self, purpose: Purpose, address: str, code: str) -> bool:
        """:meth:`check` and, when right, use the code up."""
        if not self.check(purpose, address, code):
            return False
        self._codes.pop((purpose, address.lower()), None)
        return True

    def restore(self, purpose: Purpose, address: str, code: str) -> None:
        """Give back a code taken by an operation that then failed (it stays single use)."""
        self._codes[(purpose, address.lower())] = _Code(code, self._now() + VALID_SECONDS)
