"""AWS Signature Version 4 for the requests the Bedrock adaptor builds. Pure: the clock comes in as ``now``.

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html — the canonical
request is ``METHOD \\n path \\n query \\n headers \\n signed header names \\n sha256(body)``; for every service
but S3 the path is URI-encoded once more (a model id's ``%3A`` is signed as ``%253A``), as botocore does. The
signing key is HMAC-SHA256 chained over the date, region, service and ``aws4_request``. botocore's own
signatures are the reference in tests/unit/test_sigv4.py (a maintained signer would be botocore itself, about
25 MB: over the .pyz budget).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str = ""


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def amz_date(now: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def _canonical_query(query: str) -> str:
    pairs = [pair.partition("=") for pair in query.split("&") if pair]
    return "&".join(f"{key}={value}" for key, _, value in sorted(pairs))


def _host(url: str) -> str:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def sign(method: str, url: str, headers: Mapping[str, str], body: bytes, credentials: Credentials, region: str,
         service: str, now: float) -> dict[str, str]:
    """``headers`` plus ``Host``, ``X-Amz-Date`` (and ``X-Amz-Security-Token``) and the ``Authorization`` that
    signs them all with the body."""
    stamp = amz_date(now)
    signed = {**headers, "Host": _host(url), "X-Amz-Date": stamp}
    if credentials.session_token:
        signed["X-Amz-Security-Token"] = credentials.session_token
    lowered = {name.lower(): " ".join(value.split()) for name, value in signed.items()}
    names = sorted(lowered)
    parts = urlsplit(url)
    canonical = "\n".join([method.upper(), quote(parts.path or "/", safe="/~"), _canonical_query(parts.query),
                           "".join(f"{name}:{lowered[name]}\n" for name in names), ";".join(names),
                           hashlib.sha256(body).hexdigest()])
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(f"AWS4{credentials.secret_key}".encode(), stamp[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["Authorization"] = (f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
                               f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return signed
