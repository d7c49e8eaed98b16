"""The SigV4 signer (oneapi/proxy/adaptors/sigv4.py) against botocore's: for the same request, credentials and
clock, the same headers and the same Authorization, byte for byte."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from oneapi.proxy.adaptors.sigv4 import Credentials, amz_date, sign

NOW = 1_717_171_717.0


def botocore_headers(method: str, url: str, headers: dict[str, str], body: bytes, creds: Credentials, region: str,
                     service: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    import botocore.auth

    moment = datetime.datetime.fromtimestamp(NOW, datetime.UTC).replace(tzinfo=None)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: moment)
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    SigV4Auth(BotoCredentials(creds.access_key, creds.secret_key, creds.session_token or None), service,
              region).add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize(("method", "url", "headers", "body", "creds", "region"), [
    ("POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
     {"Content-Type": "application/json", "Accept": "application/json"}, b'{"messages":[]}',
     Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), "us-east-1"),
    ("POST", "https://bedrock-runtime.eu-west-3.amazonaws.com/model/us.meta.llama3-2-1b-instruct-v1%3A0/converse-stream",
     {"Content-Type": "application/json", "Accept": "application/vnd.amazon.eventstream"}, "{\"x\":\"é\"}".encode(),
     Credentials("AKID2", "secret2", "session-token/with+chars="), "eu-west-3"),
    ("GET", "http://127.0.0.1:8123/model/a%2Fb/converse?b=2&a=1", {"X-Extra": "  two   spaces "}, b"",
     Credentials("AK", "SK"), "ap-south-1"),
    ("POST", "http://127.0.0.1:8123/model/anthropic.claude-3-5-sonnet-20241022-v2:0/converse",  # ':' as sent
     {"Content-Type": "application/json"}, b"{}", Credentials("AK", "SK"), "us-west-2"),
])
def test_the_same_signature_as_botocore(method: str, url: str, headers: dict[str, str], body: bytes,
                                        creds: Credentials, region: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = sign(method, url, headers, body, creds, region, "bedrock", NOW)
    theirs = botocore_headers(method, url, headers, body, creds, region, "bedrock", monkeypatch)
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"] == amz_date(NOW) == "20240531T160837Z"
    if creds.session_token:
        assert ours["X-Amz-Security-Token"] == theirs["X-Amz-Security-Token"]


def test_a_changed_body_or_key_changes_the_signature() -> None:
    base: dict[str, Any] = {"method": "POST", "url": "https://h.example/model/m/converse", "headers": {},
                            "credentials": Credentials("AK", "SK"), "region": "us-east-1", "service": "bedrock",
                            "now": NOW}
    first = sign(body=b"{}", **base)["Authorization"]
    assert sign(body=b"{ }", **base)["Authorization"] != first
    assert sign(body=b"{}", **{**base, "credentials": Credentials("AK", "SK2")})["Authorization"] != first
