"""Secrets and codes, generated as One API does (SPEC 1.2, 3) with the ``secrets`` module."""

from __future__ import annotations

import secrets
import string
import uuid

_ALNUM = string.ascii_letters + string.digits


def random_string(length: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def uuid_hex() -> str:
    """32 lowercase hex characters of a fresh UUIDv4: access tokens and voucher keys."""
    return uuid.uuid4().hex


def token_key() -> str:
    """A 48-character relay key: 16 random alphanumerics + a UUIDv4's hex with even-position letters upper-cased.

    Keys never contain '-', which the relay uses to separate a pinned channel id.
    """
    tail = "".join(c.upper() if i % 2 == 0 else c for i, c in enumerate(uuid.uuid4().hex))
    return random_string(16) + tail


def aff_code() -> str:
    """The 4-character invitation code of a user."""
    return random_string(4)
