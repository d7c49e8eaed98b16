"""Generated secrets and codes (SPEC 1.2 token keys, 3 access tokens / vouchers / invitation codes)."""

from __future__ import annotations

import re
import string
import uuid

from oneapi.services import keys

TOKEN_KEY = re.compile(r"^[0-9A-Za-z]{16}[0-9A-Fa-f]{32}$")


def test_token_key_format() -> None:
    for _ in range(1000):
        key = keys.token_key()
        assert len(key) == 48 and TOKEN_KEY.match(key) and "-" not in key, key
        tail = key[16:]
        for i, c in enumerate(tail):
            if c.isalpha():  # letters at even positions upper-cased, at odd positions left lower-case
                assert (c.isupper() if i % 2 == 0 else c.islower()), (key, i)
        # the tail is a UUIDv4: lower-casing it gives back a valid version-4 UUID
        assert uuid.UUID(tail.lower()).version == 4


def test_token_keys_unique_and_random() -> None:
    made = [keys.token_key() for _ in range(1000)]
    assert len(set(made)) == 1000
    assert len({k[:16] for k in made}) == 1000  # the random head alone is unique too
    head_chars = set("".join(k[:16] for k in made))
    assert head_chars == set(string.ascii_letters + string.digits)  # the whole alphabet is used


def test_token_key_tail_has_upper_and_lower_letters() -> None:
    """Over many keys both cases appear in the tail (even positions upper, odd lower)."""
    tails = "".join(keys.token_key()[16:] for _ in range(200))
    assert any(c in "ABCDEF" for c in tails) and any(c in "abcdef" for c in tails)


def test_uuid_hex() -> None:
    made = {keys.uuid_hex() for _ in range(1000)}
    assert len(made) == 1000
    for value in made:
        assert re.fullmatch(r"[0-9a-f]{32}", value) and uuid.UUID(value).version == 4


def test_aff_code() -> None:
    made = [keys.aff_code() for _ in range(1000)]
    assert all(re.fullmatch(r"[0-9A-Za-z]{4}", c) for c in made)
    assert len(set(made)) > 900  # 62**4 possibilities: collisions are rare, not absent


def test_random_string() -> None:
    assert keys.random_string(0) == ""
    value = keys.random_string(64, "ab")
    assert len(value) == 64 and set(value) <= {"a", "b"}
