"""RS256 (oneapi/proxy/adaptors/rs256.py) against ``cryptography``: the same PKCS#1 v1.5 signature byte for byte
for keys in PKCS#8 and PKCS#1 PEM, a JWT google-auth's verifier accepts, and clear refusals of what is not a
key."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.auth import crypt
from google.auth import jwt as google_jwt

from oneapi.proxy.adaptors.rs256 import PrivateKeyError, jwt, load_pem, sign


def private_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@pytest.mark.parametrize("form", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL])
@pytest.mark.parametrize("bits", [1024, 2048, 3072])
def test_the_same_signature_as_cryptography(form: serialization.PrivateFormat, bits: int) -> None:
    key = private_key(bits)
    pem = key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption()).decode()
    message = "header.claims — é".encode()
    assert sign(load_pem(pem), message) == key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def test_a_jwt_google_auth_verifies() -> None:
    key = private_key()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    now = int(time.time())
    token = jwt(load_pem(pem), {"iss": "sa@p.iam.gserviceaccount.com", "aud": "https://oauth2.googleapis.com/token",
                                "iat": now, "exp": now + 3600}, key_id="k1")
    claims = google_jwt.decode(token, certs=public, audience="https://oauth2.googleapis.com/token")
    assert claims["iss"] == "sa@p.iam.gserviceaccount.com"
    assert google_jwt.decode_header(token) == {"alg": "RS256", "typ": "JWT", "kid": "k1"}
    assert crypt.RSAVerifier.from_string(public).verify(token.rsplit(".", 1)[0].encode(),
                                                        __import__("base64").urlsafe_b64decode(
                                                            token.rsplit(".", 1)[1] + "=="))


@pytest.mark.parametrize("text", ["", "not a key", "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----",
                                  "-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----"])
def test_what_is_not_a_key(text: str) -> None:
    with pytest.raises(PrivateKeyError):
        load_pem(text)
