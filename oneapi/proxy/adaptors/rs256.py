"""RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signatures for Google's service-account JWTs. Pure Python: the
``cryptography`` wheel (one compiled module per Python version) would not fit the .pyz's size budget, and
signing one JWT an hour needs one modular exponentiation.

A service-account key is a PEM ``PRIVATE KEY`` (PKCS#8 wrapping PKCS#1's RSAPrivateKey, RFC 5208 / 8017); the
DER reader here reads just that structure. The signature is ``EM^d mod n`` with EM = ``00 01 FF.. 00 ||
DigestInfo(SHA-256)`` (RFC 8017 9.2), computed with the CRT. PKCS#1 v1.5 signatures are deterministic, so the
tests compare them byte for byte with ``cryptography``'s.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

# DER of DigestInfo's AlgorithmIdentifier for SHA-256 and the OCTET STRING header of the 32-byte digest.
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


class PrivateKeyError(ValueError):
    """The text is not an RSA private key in PEM (PKCS#8 or PKCS#1)."""


@dataclass(frozen=True)
class RsaKey:
    n: int
    e: int
    d: int
    p: int
    q: int
    dp: int
    dq: int
    qinv: int

    @property
    def size(self) -> int:
        return (self.n.bit_length() + 7) // 8


def _read(der: bytes, at: int) -> tuple[int, bytes, int]:
    """(tag, content, next position) of the DER element at ``at``."""
    if at + 2 > len(der):
        raise PrivateKeyError("the key ends too early")
    tag, length, at = der[at], der[at + 1], at + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or at + count > len(der):
            raise PrivateKeyError("the key has a bad DER length")
        length, at = int.from_bytes(der[at:at + count], "big"), at + count
    if at + length > len(der):
        raise PrivateKeyError("the key ends too early")
    return tag, der[at:at + length], at + length


def _sequence(der: bytes) -> list[tuple[int, bytes]]:
    tag, content, _ = _read(der, 0)
    if tag != 0x30:
        raise PrivateKeyError("the key is not a DER SEQUENCE")
    items, at = [], 0
    while at < len(content):
        item_tag, item, at = _read(content, at)
        items.append((item_tag, item))
    return items


def _pkcs1(der: bytes) -> RsaKey:
    items = _sequence(der)
    if len(items) < 9 or any(tag != 0x02 for tag, _ in items[:9]):
        raise PrivateKeyError("the key is not an RSAPrivateKey")
    n, e, d, p, q, dp, dq, qinv = (int.from_bytes(value, "big") for _, value in items[1:9])
    return RsaKey(n, e, d, p, q, dp, dq, qinv)


def load_pem(text: str) -> RsaKey:
    """An RSA private key from PEM: ``BEGIN PRIVATE KEY`` (PKCS#8) or ``BEGIN RSA PRIVATE KEY`` (PKCS#1)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) < 3 or not lines[0].startswith("-----BEGIN") or not lines[-1].startswith("-----END"):
        raise PrivateKeyError("the private key is not PEM text")
    try:
        der = base64.b64decode("".join(lines[1:-1]), validate=True)
    except ValueError:
        raise PrivateKeyError("the private key's PEM body is not base64") from None
    if "RSA PRIVATE KEY" in lines[0]:
        return _pkcs1(der)
    items = _sequence(der)
    if len(items) < 3 or items[2][0] != 0x04:
        raise PrivateKeyError("the key is not a PKCS#8 PrivateKeyInfo")
    return _pkcs1(items[2][1])


def sign(key: RsaKey, message: bytes) -> bytes:
    digest_info = SHA256_PREFIX + hashlib.sha256(message).digest()
    padding = key.size - len(digest_info) - 3
    if padding < 8:
        raise PrivateKeyError("the RSA key is too short for SHA-256 signatures")
    m = int.from_bytes(b"\x00\x01" + b"\xff" * padding + b"\x00" + digest_info, "big")
    m1, m2 = pow(m, key.dp, key.p), pow(m, key.dq, key.q)  # the CRT: two half-size exponentiations
    s = m2 + key.q * ((key.qinv * (m1 - m2)) % key.p)
    return s.to_bytes(key.size, "big")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(key: RsaKey, claims: dict[str, Any], key_id: str = "") -> str:
    header: dict[str, str] = {"alg": "RS256", "typ": "JWT"}
    if key_id:
        header["kid"] = key_id
    signing_input = ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
    return signing_input + "." + _b64url(sign(key, signing_input.encode()))
