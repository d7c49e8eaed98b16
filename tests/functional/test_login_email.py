"""E-mail codes, registration with verification, the domain whitelist, password reset and e-mail binding, through
/api against a real SMTP server in-process (STARTTLS with AUTH on a test CA's certificate, or TLS from the first
byte as on port 465)."""

from __future__ import annotations

import logging
import random
import re
import socket
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakes.login_services import FakeSmtp, text_body
from tests.functional.conftest import csrf_header
from tests.functional.login_env import LINK, LoginEnv, login_env

CODE = re.compile(r"^([0-9a-f]{6})$", re.M)


def code_of(body: str) -> str:
    match = CODE.search(body)
    assert match, body
    return match.group(1)


async def users(env: LoginEnv) -> list[str]:
    rows = await env.api.ok("GET", "/api/user/?p=0")
    return sorted(r["username"] for r in rows)


async def test_switched_off_email_answers_success_false_never_404(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        for path in ("/api/verification?email=a@example.com", "/api/reset_password?email=a@example.com"):
            body = await env.session_get(path)
            assert body["_status"] == 200 and body["success"] is False
            assert "has not set up e-mail" in body["message"], body
        body = await env.api.call("POST", "/api/user/reset", json={"email": "a@example.com", "token": "x" * 32})
        assert body["success"] is False and "invalid or has expired" in body["message"]
        assert env.smtp.inbox.messages == []


async def test_registration_with_a_code_sent_over_starttls(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        await env.options(EmailVerificationEnabled="true")
        assert (await env.session_get("/api/verification?email=Alice@Example.com"))["success"] is True
        message = await env.smtp.next_message()
        assert message["To"] == "Alice@Example.com" and "no-reply@example.com" in message["From"]
        assert env.smtp.logins == ["mailer@example.com"]  # AUTH happened, after STARTTLS (the server insists)
        assert env.smtp.inbox.envelopes[-1] == ("no-reply@example.com", ["Alice@Example.com"])
        code = code_of(text_body(message))
        html_part = message.get_body(("html",))
        assert html_part is not None and code in html_part.get_content()

        reg = {"username": "alice", "password": "password123", "email": "alice@example.com"}
        refusals = [({**reg}, "enter your e-mail address and its code"),
                    ({**reg, "email": "", "verification_code": code}, "enter your e-mail address and its code"),
                    ({**reg, "verification_code": "000000" if code != "000000" else "111111"}, "wrong or has expired"),
                    ({**reg, "email": "bob@example.com", "verification_code": code}, "wrong or has expired"),
                    ({**reg, "verification_code": 123456}, "verification_code must be a string")]
        for body, message_part in refusals:
            await env.api.fail("POST", "/api/user/register", token="", json=body, contains=message_part)
        assert await users(env) == ["root"]  # nothing half-created

        # a taken username fails after the code is checked: the code stays usable
        await env.api.fail("POST", "/api/user/register", token="",
                           json={**reg, "username": "root", "verification_code": code}, contains="already taken")
        await env.api.ok("POST", "/api/user/register", token="", json={**reg, "verification_code": code.upper()})
        assert await users(env) == ["alice", "root"]
        row = (await env.api.ok("GET", "/api/user/search?keyword=alice"))[0]
        assert row["email"] == "alice@example.com"
        # the address is taken now; and the code was used up
        await env.api.fail("POST", "/api/user/register", token="",
                           json={**reg, "username": "alice2", "verification_code": code}, contains="already in use")
        assert env.api.services.accounts.codes.check("verify", "alice@example.com", code) is False
        # the address is now taken: no code for it
        env.api.services.accounts.codes = type(env.api.services.accounts.codes)()  # forget the send limits
        body = await env.session_get("/api/verification?email=ALICE@example.com")
        assert body["success"] is False and "already in use" in body["message"]


async def test_domain_whitelist_refuses_other_domains(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        await env.options(EmailDomainWhitelist="example.com,corp.test", EmailDomainRestrictionEnabled="true")
        body = await env.session_get("/api/verification?email=eve@gmail.com")
        assert body["success"] is False and "domains" in body["message"]
        await env.options(EmailVerificationEnabled="true")
        await env.api.fail("POST", "/api/user/register", token="", contains="domains",
                           json={"username": "eve", "password": "password123", "email": "eve@evil.example.com",
                                 "verification_code": "abcdef"})
        assert (await env.session_get("/api/verification?email=bob@corp.test"))["success"] is True
        code = code_of(text_body(await env.smtp.next_message()))
        await env.api.ok("POST", "/api/user/register", token="", json={
            "username": "bob", "password": "password123", "email": "bob@CORP.test", "verification_code": code})
        assert env.smtp.inbox.messages[0]["To"] == "bob@corp.test" and len(env.smtp.inbox.messages) == 1


async def test_sending_is_rate_limited_per_address_and_per_ip(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        assert (await env.session_get("/api/verification?email=a@example.com"))["success"] is True
        again = await env.session_get("/api/verification?email=A@example.com")
        assert again["success"] is False and "try again in" in again["message"]
        for i in range(9):  # 10 per IP per hour, whatever the addresses
            assert (await env.session_get(f"/api/verification?email=u{i}@example.com"))["success"] is True, i
        body = await env.session_get("/api/verification?email=other@example.com")
        assert body["success"] is False and "try again in" in body["message"]
        assert len(env.smtp.inbox.messages) == 10


async def test_bad_input_is_refused_clearly(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        for query, message in [("", "email is required"), ("email=", "email is required"),
                               ("email=not-an-address", "valid address"), ("email=a@b", "valid address"),
                               (f"email={'a' * 60}@example.com", "valid address"),
                               ("email=a%0d%0aBcc:%20x@example.com@example.com", "valid address"),
                               ("email=%E2%80%AEa@example.com", "valid address")]:
            for route in ("verification", "reset_password"):
                body = await env.session_get(f"/api/{route}?{query}")
                assert body["_status"] == 200 and body["success"] is False, (route, query, body)
                assert message in body["message"], (route, query, body)
        assert env.smtp.inbox.messages == []


async def test_bad_reset_input_is_refused_clearly(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        for raw, message in [(b"", "empty"), (b"{", "not valid JSON"), (b"[]", "JSON object")]:
            await env.api.fail("POST", "/api/user/reset", token="", data=raw, contains=message)
        for body, message in [({"email": "a@example.com"}, "email and token are required"),
                              ({"email": 5, "token": "x"}, "email must be a string"),
                              ({"email": "a@example.com", "token": "\ud800"}, "lone surrogate"),
                              ({"email": "a@example.com", "token": "t", "password": "short"}, "8 to 20")]:
            await env.api.fail("POST", "/api/user/reset", token="", json=body, contains=message)
        assert env.smtp.inbox.messages == []


async def test_password_reset_by_link(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        await env.options(ServerAddress="https://gateway.example.com/")
        uid, _ = await env.api.make_user("carol")
        await env.api.ok("PUT", "/api/user/", json={"id": uid, "email": "carol@example.com"})
        body = await env.session_get("/api/reset_password?email=nobody@example.com")
        assert body["success"] is False and "no account" in body["message"]
        assert (await env.session_get("/api/reset_password?email=carol@example.com"))["success"] is True
        link = LINK.search(text_body(await env.smtp.next_message()))
        assert link, "no reset link in the e-mail"
        parts = urlsplit(link.group(0))
        assert (parts.scheme, parts.netloc, parts.path) == ("https", "gateway.example.com", "/user/reset")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert query["email"] == "carol@example.com" and re.fullmatch(r"[0-9a-f]{32}", query["token"])

        await env.api.fail("POST", "/api/user/reset", token="", contains="invalid or has expired",
                           json={"email": "carol@example.com", "token": "0" * 32})
        new = await env.api.ok("POST", "/api/user/reset", token="", json=query)
        assert isinstance(new, str) and len(new) == 12
        await env.api.fail("POST", "/api/user/reset", token="", json=query, contains="invalid or has expired")
        resp = await env.api.client.post("/api/user/login", json={"username": "carol", "password": new})
        assert (await resp.json())["success"] is True


async def test_bind_email_to_the_logged_in_user(tmp_path: Path, aiohttp_client: Any) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        _, token = await env.api.make_user("dave")
        resp = await env.api.client.post("/api/user/login", json={"username": "dave", "password": "password123"})
        assert (await resp.json())["success"] is True
        assert (await env.session_get("/api/verification?email=dave@example.com"))["success"] is True
        code = code_of(text_body(await env.smtp.next_message()))
        # a cookie-authenticated bind is a state-changing GET: the CSRF token is needed
        refused = await env.session_get(f"/api/oauth/email/bind?email=dave@example.com&code={code}")
        assert refused["_status"] == 403 and "CSRF" in refused["message"]
        cross = await env.session_get(f"/api/oauth/email/bind?email=dave@example.com&code={code}",
                                      **{"Sec-Fetch-Site": "cross-site"})
        assert cross["_status"] == 403
        headers = await csrf_header(env.api.client)
        bad = await env.session_get("/api/oauth/email/bind?email=dave@example.com&code=zzzzzz", **headers)
        assert bad["success"] is False and "wrong or has expired" in bad["message"]
        ok = await env.session_get(f"/api/oauth/email/bind?email=dave@example.com&code={code}", **headers)
        assert ok["success"] is True, ok
        me = await env.api.ok("GET", "/api/user/self", token)
        assert me["email"] == "dave@example.com"
        # with an access token (a script), no CSRF token is needed; a used code does not work twice
        env.api.client.session.cookie_jar.clear()
        await env.api.fail("GET", f"/api/oauth/email/bind?email=dave@example.com&code={code}", token,
                           contains="wrong or has expired")
        await env.api.fail("GET", "/api/oauth/email/bind?email=x@example.com&code=abcdef", token="",
                           contains="not logged in", status=401)


async def test_smtp_failures_are_a_clear_error_and_a_log_line(tmp_path: Path, aiohttp_client: Any,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        await env.options(SMTPToken="wrong-password", EmailVerificationEnabled="true")
        with caplog.at_level(logging.ERROR, logger="oneapi.mail"):
            body = await env.session_get("/api/verification?email=a@example.com")
        assert body["_status"] == 200 and body["success"] is False
        assert "could not be sent" in body["message"]
        assert any(f"127.0.0.1:{env.smtp.port} failed" in r.getMessage() for r in caplog.records), caplog.text
        # nothing to register with: no account appears
        await env.api.fail("POST", "/api/user/register", token="", contains="wrong or has expired",
                           json={"username": "x", "password": "password123", "email": "a@example.com",
                                 "verification_code": "abcdef"})
        assert await users(env) == ["root"]

        await env.options(SMTPPort="1")  # nothing listens there
        body = await env.session_get("/api/verification?email=b@example.com")
        assert body["success"] is False and "could not be sent" in body["message"]

        refuser = await FakeSmtp(tmp_path, fail=True).start()
        try:
            await env.options(**refuser.options())
            body = await env.session_get("/api/reset_password?email=c@example.com")
            assert body["success"] is False and "no account" in body["message"]
            body = await env.session_get("/api/verification?email=c@example.com")
            assert body["success"] is False and "could not be sent" in body["message"]
        finally:
            await refuser.stop()


def _free_loopback_465() -> str | None:
    for _ in range(20):
        host = f"127.0.{random.randint(1, 250)}.{random.randint(2, 250)}"
        with socket.socket() as probe:
            try:
                probe.bind((host, 465))
            except OSError:
                continue
        return host
    return None


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # (the fake's socket is TLS already)
async def test_implicit_tls_on_port_465(tmp_path: Path, aiohttp_client: Any) -> None:
    host = _free_loopback_465()
    if host is None:
        pytest.skip("cannot listen on port 465 here (not root?)")
    async with login_env(tmp_path, aiohttp_client) as env:
        tls = FakeSmtp(tmp_path, mode="tls", host=host)
        await tls.start(port=465)
        try:
            await env.options(**tls.options())
            assert (await env.session_get("/api/verification?email=t@example.com"))["success"] is True
            assert code_of(text_body(await tls.next_message()))
            assert tls.logins == ["mailer@example.com"]
        finally:
            await tls.stop()


async def test_links_that_leave_the_server_never_follow_the_host_header(tmp_path: Path, aiohttp_client: Any) -> None:
    """``GET /api/reset_password?email=victim`` with ``Host: evil.example`` once mailed the victim a link to
    evil.example carrying the reset token. Links in e-mails and OAuth callbacks come from ServerAddress only."""
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        uid, _ = await env.api.make_user("victim")
        await env.api.ok("PUT", "/api/user/", json={"id": uid, "email": "victim@example.com"})
        forged = {"Host": "evil.example"}
        await env.options(ServerAddress="")
        body = await env.session_get("/api/reset_password?email=victim@example.com", **forged)
        assert body["_status"] == 200 and body["success"] is False
        assert "has not set ServerAddress" in body["message"], body
        body = await env.session_get("/api/reset_password?email=nobody@example.com", **forged)
        assert "has not set ServerAddress" in body["message"], body  # (before telling who has an account)
        # OIDC and Lark send a redirect_uri: refused too, before any call to the provider
        await env.options(OidcClientId=env.oauth.client_id, OidcClientSecret=env.oauth.client_secret,
                          OidcWellKnown=f"{env.oauth.url}/.well-known/openid-configuration", OidcEnabled="true")
        state = (await env.session_get("/api/oauth/state"))["data"]
        body = await env.session_get(f"/api/oauth/oidc?code=abc&state={state}", **forged)
        assert body["success"] is False and "has not set ServerAddress" in body["message"], body
        assert env.oauth.token_requests == []

        await env.options(ServerAddress="https://gateway.example.com")
        assert (await env.session_get("/api/reset_password?email=victim@example.com", **forged))["success"]
        link = LINK.search(text_body(await env.smtp.next_message()))
        assert link and link.group(0).startswith("https://gateway.example.com/user/reset?"), link
        assert "evil" not in text_body(env.smtp.inbox.messages[-1])


async def test_an_address_nothing_proved_can_neither_log_in_nor_reset(tmp_path: Path, aiohttp_client: Any) -> None:
    """Without EmailVerificationEnabled, sign-up keeps no address (One API's rule): else anyone could put a
    stranger's address (or a mistyped one) on an account, and its "forgot password" mail would go there."""
    async with login_env(tmp_path, aiohttp_client) as env:
        await env.use_smtp()
        await env.api.ok("POST", "/api/user/register", token="",
                         json={"username": "mallory", "password": "password123", "email": "boss@example.com"})
        await env.api.ok("POST", "/api/user/register", token="",
                         json={"username": "mal2", "password": "password123", "email": "boss@example.com"})
        rows = await env.api.ok("GET", "/api/user/search?keyword=mal")
        assert sorted(r["email"] for r in rows) == ["", ""]
        resp = await env.api.client.post("/api/user/login", json={"username": "boss@example.com",
                                                                   "password": "password123"})
        assert (await resp.json())["success"] is False
        body = await env.session_get("/api/reset_password?email=boss@example.com")
        assert body["success"] is False and "no account" in body["message"]
        # the address is free for its owner, who proves it with a code
        assert (await env.session_get("/api/verification?email=boss@example.com"))["success"] is True
        assert env.smtp.inbox.messages[-1]["To"] == "boss@example.com"
