"""Password hashing with bcrypt (One API's format, so existing users keep their passwords).

bcrypt is deliberately slow (~50-200 ms), so hashing and checking run in a worker thread, never on the
event loop. Checking an unknown user still spends the same time on a dummy hash, so response time does not
reveal which usernames exist; ``bcrypt.checkpw`` itself compares in constant time.
"""

from __future__ import annotations

import asyncio

import bcrypt

COST = 10  # One API uses Go's bcrypt.DefaultCost
MIN_LENGTH, MAX_LENGTH = 8, 20
_DUMMY = bcrypt.hashpw(b"oneapi-dummy-password", bcrypt.gensalt(COST))


def hash_sync(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(COST)).decode()


def check_sync(password: str, hashed: str | None) -> bool:
    encoded = password.encode()
    # bcrypt refuses more than 72 bytes; no stored password is longer (hash_password's callers refuse them)
    if not hashed or len(encoded) > 72:
        bcrypt.checkpw(encoded[:72], _DUMMY)
        return False
    try:
        return bcrypt.checkpw(encoded, hashed.encode())
    except ValueError:  # not a bcrypt hash (corrupt row); burn the same time and refuse
        bcrypt.checkpw(encoded, _DUMMY)
        return False


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hash_sync, password)


async def check_password(password: str, hashed: str | None) -> bool:
    return await asyncio.to_thread(check_sync, password, hashed)
