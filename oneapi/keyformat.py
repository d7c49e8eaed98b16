"""The grammar of credentials that clients present: relay token keys and system access tokens.

A credential is one exact string. Anything that is not well formed is refused before any lookup, so no
spelling of a key can reach the database, a cache or the ledger except the key itself: no junk suffix (which
peewee's ``FixedCharField`` used to cut off at the column's length), no padding, no other case.

- Relay keys: One API generates 48 letters and digits; its first versions generated 32 hex digits, and
  ``INITIAL_ROOT_TOKEN`` sets a key of the operator's choice. Accepted: 16 to 48 ASCII letters, digits or
  ``_``. Never ``-``: the relay reads ``KEY-CHANNELID``.
- Access tokens: One API generates 32 hex digits; ``INITIAL_ROOT_ACCESS_TOKEN`` sets one of the operator's
  choice. Accepted: 16 to 32 ASCII letters, digits, ``-`` or ``_``.

Stdlib only: the configuration checks use it too.
"""

from __future__ import annotations

import re

TOKEN_KEY_MIN, TOKEN_KEY_MAX = 16, 48
ACCESS_TOKEN_MIN, ACCESS_TOKEN_MAX = 16, 32

_TOKEN_KEY = re.compile(rf"[A-Za-z0-9_]{{{TOKEN_KEY_MIN},{TOKEN_KEY_MAX}}}")
_ACCESS_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{{ACCESS_TOKEN_MIN},{ACCESS_TOKEN_MAX}}}")

TOKEN_KEY_RULE = f"{TOKEN_KEY_MIN} to {TOKEN_KEY_MAX} ASCII letters, digits or '_'"
ACCESS_TOKEN_RULE = f"{ACCESS_TOKEN_MIN} to {ACCESS_TOKEN_MAX} ASCII letters, digits, '-' or '_'"


def is_token_key(text: str) -> bool:
    """A well-formed relay key (without ``sk-`` and without a ``-CHANNELID`` suffix)."""
    return _TOKEN_KEY.fullmatch(text) is not None


def is_access_token(text: str) -> bool:
    """A well-formed system access token."""
    return _ACCESS_TOKEN.fullmatch(text) is not None
