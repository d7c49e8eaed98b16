"""Fakes of the outside services behind the login methods, each on loopback, each speaking the real protocol:

- :class:`FakeSmtp`: a real SMTP server (aiosmtpd) with STARTTLS (or implicit TLS) on a certificate from a test
  CA (trustme), and AUTH; it keeps the messages it receives.
- :class:`FakeOAuth`: GitHub's OAuth web flow (authorize page, ``access_token``, ``/user``), Lark's
  (``/open-apis/authen/...``) and an OpenID Connect provider's (discovery, authorize, token, userinfo), on one
  server. Its authorize page shows an "Authorize" button that sends the browser back with a code, as GitHub's does.
- :class:`FakeWeChat`: One API's WeChat Server (``/api/wechat/user?code=`` with the token).
- :class:`FakeTurnstile`: Cloudflare's siteverify and a stub widget script that puts a one-time token in the form.

They start on the running loop (``await fake.start()``) and stop with ``await fake.stop()``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import json
import secrets
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import trustme
from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

# -- SMTP ---------------------------------------------------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.arrived.set()
        return "250 OK"


class FakeSmtp:
    """``mode``: "starttls" (the server offers STARTTLS and requires it before AUTH) or "tls" (TLS from the first
    byte, as port 465). ``ca_file`` is the PEM oneapi must trust (ONEAPI_SMTP_CA_FILE)."""

    def __init__(self, workdir: Path, mode: str = "starttls", account: str = "mailer@example.com",
                 password: str = "smtp-secret", fail: bool = False, host: str = "127.0.0.1") -> None:
        self.mode, self.account, self.password, self.fail, self.host = mode, account, password, fail, host
        ca = trustme.CA()
        cert = ca.issue_cert(host, "localhost")
        self.ca_file = workdir / "smtp-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self._context)
        self.inbox = _Inbox()
        self.logins: list[str] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login.decode() == self.account \
            and data.password.decode() == self.password
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)

    def _protocol(self) -> SMTP:
        handler: Any = self.inbox
        if self.fail:
            handler = _Refuser()
        return SMTP(handler, hostname="fake-smtp.test", authenticator=self._authenticate,
                    auth_required=True, auth_require_tls=self.mode == "starttls",  # "tls": TLS from byte one
                    tls_context=self._context if self.mode == "starttls" else None,
                    require_starttls=self.mode == "starttls")

    async def start(self, port: int = 0) -> FakeSmtp:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, port,
                                                ssl=self._context if self.mode == "tls" else None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def options(self) -> dict[str, str]:
        """The One API options that point oneapi at this server."""
        return {"SMTPServer": self.host, "SMTPPort": str(self.port), "SMTPAccount": self.account,
                "SMTPFrom": "no-reply@example.com", "SMTPToken": self.password}

    async def next_message(self, timeout: float = 10) -> EmailMessage:
        await asyncio.wait_for(self.inbox.arrived.wait(), timeout)
        self.inbox.arrived.clear()
        return self.inbox.messages[-1]


class _Refuser:
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:
        return "550 5.1.1 mailbox unavailable"


def text_body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


# A 2x2 PNG standing in for the official account's QR code.
QR_PNG = bytes.fromhex("89504e470d0a1a0a0000000d494844520000000200000002080600000072b60d240000001049444154789c"
                       "63606060f80fc51006001df403fdc8e1f6a80000000049454e44ae426082")

# -- HTTP fakes ---------------------------------------------------------------------------------------


class _Site:
    """``pieces_apart``: seconds between the two halves of every JSON answer (0: one piece), as a slow network
    or a proxy delivers them; ``padding``: bytes of spaces appended to every JSON answer (a huge answer)."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.url = ""
        self.pieces_apart = 0.0
        self.padding = 0
        self._runner: web.AppRunner | None = None

    async def answer(self, request: web.Request, data: Any) -> web.StreamResponse:
        """``data`` as JSON, in one piece, or (``pieces_apart``, ``padding``) streamed in two writes, chunked."""
        if not self.pieces_apart and not self.padding:
            return web.json_response(data)
        body = json.dumps(data).encode() + b" " * self.padding
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(body[:len(body) // 2])
        await asyncio.sleep(self.pieces_apart)
        await resp.write(body[len(body) // 2:])
        await resp.write_eof()
        return resp

    async def start(self) -> Any:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class Profile:
    """The person who signs in at the fake provider."""

    login: str = "octocat"
    name: str = "The Octocat"
    email: str = "octocat@example.com"
    sub: str = "subject-0001"
    preferred_username: str = ""
    email_verified: bool | str | None = None  # OIDC's claim (None: not sent)


@dataclass
class _Grant:
    provider: str
    client_id: str
    redirect_uri: str
    profile: Profile


@dataclass
class FakeOAuth(_Site):
    """GitHub (``/login/oauth/...``, ``/api/user``), Lark (``/open-apis/authen/...``) and OIDC (``/oidc/...``)."""

    client_id: str = "client-123"
    client_secret: str = "client-secret-456"
    github_callback: str = ""  # GitHub sends people to the OAuth app's registered callback URL
    profile: Profile = field(default_factory=Profile)
    token_requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        _Site.__init__(self)
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, _Grant] = {}
        r = self.app.router
        r.add_get("/login/oauth/authorize", self._authorize("github"))
        r.add_post("/login/oauth/access_token", self._token)
        r.add_get("/api/user", self._github_user)
        r.add_get("/open-apis/authen/v1/authorize", self._authorize("lark"))
        r.add_post("/open-apis/authen/v2/oauth/token", self._token)
        r.add_get("/open-apis/authen/v1/user_info", self._lark_user)
        r.add_get("/.well-known/openid-configuration", self._discovery)
        r.add_get("/oidc/authorize", self._authorize("oidc"))
        r.add_post("/oidc/token", self._token)
        r.add_get("/oidc/userinfo", self._oidc_user)
        r.add_get("/approve", self._approve)

    def _authorize(self, provider: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            q = request.query
            if q.get("client_id") != self.client_id:
                return web.Response(status=400, text="unknown client_id")
            redirect = self.github_callback if provider == "github" else q.get("redirect_uri", "")
            if not redirect or (provider == "oidc" and q.get("response_type") != "code"):
                return web.Response(status=400, text="redirect_uri / response_type missing")
            code = secrets.token_hex(10)
            self._codes[code] = _Grant(provider, self.client_id, redirect, self.profile)
            target = f"{redirect}?{urlencode({'code': code, 'state': q.get('state', '')})}"
            page = (f"<!doctype html><title>Authorize</title><h1>Authorize {html.escape(provider)} test app</h1>"
                    f"<p>Signed in as {html.escape(self.profile.login)}</p>"
                    f'<a id="approve" href="/approve?{urlencode({"to": target})}">Authorize</a>')
            return web.Response(text=page, content_type="text/html")

        return handler

    async def _approve(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def _token(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            body = await request.json()
        else:
            body = dict(await request.post())
        self.token_requests.append({"path": request.path, "content_type": request.content_type, **body})
        grant = self._codes.pop(str(body.get("code")), None)
        if grant is None or body.get("client_id") != self.client_id or body.get("client_secret") != self.client_secret:
            return await self.answer(request, {"error": "bad_verification_code", "error_description": "code is wrong"})
        if grant.provider != "github" and body.get("redirect_uri") != grant.redirect_uri:
            return await self.answer(request, {"error": "invalid_grant", "error_description": "redirect_uri differs"})
        token = secrets.token_hex(16)
        self._tokens[token] = grant
        return await self.answer(request, {"access_token": token, "token_type": "bearer", "scope": "user:email"})

    def _grant(self, request: web.Request) -> _Grant:
        header = request.headers.get("Authorization", "")
        grant = self._tokens.get(header.removeprefix("Bearer "))
        if grant is None:
            raise web.HTTPUnauthorized(text='{"message": "Bad credentials"}', content_type="application/json")
        return grant

    async def _github_user(self, request: web.Request) -> web.Response:
        p = self._grant(request).profile
        return await self.answer(request, {"login": p.login, "id": 1, "name": p.name or None, "email": p.email or None})

    async def _lark_user(self, request: web.Request) -> web.Response:
        p = self._grant(request).profile
        return await self.answer(request, {"code": 0, "msg": "success", "data": {"open_id": p.sub, "name": p.name,
                                                                       "email": p.email}})

    async def _oidc_user(self, request: web.Request) -> web.Response:
        p = self._grant(request).profile
        body = {"sub": p.sub, "name": p.name, "email": p.email}
        if p.preferred_username:
            body["preferred_username"] = p.preferred_username
        if p.email_verified is not None:
            body["email_verified"] = p.email_verified
        return await self.answer(request, body)

    async def _discovery(self, request: web.Request) -> web.Response:
        return await self.answer(request, {"issuer": self.url, "authorization_endpoint": f"{self.url}/oidc/authorize",
                                  "token_endpoint": f"{self.url}/oidc/token",
                                  "userinfo_endpoint": f"{self.url}/oidc/userinfo"})

    def settings(self) -> dict[str, str]:
        """oneapi's settings (env) pointing GitHub and Lark here."""
        return {"ONEAPI_GITHUB_URL": self.url, "ONEAPI_GITHUB_API_URL": self.url + "/api", "ONEAPI_LARK_URL": self.url}


@dataclass
class FakeWeChat(_Site):
    """One API's WeChat Server: a code the official account sent maps to a WeChat id, once."""

    token: str = "wechat-server-token"
    codes: dict[str, str] = field(default_factory=dict)
    calls: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        _Site.__init__(self)
        self.app.router.add_get("/api/wechat/user", self._user)
        self.app.router.add_get("/qrcode.png", self._qrcode)

    async def _qrcode(self, request: web.Request) -> web.Response:
        return web.Response(body=QR_PNG, content_type="image/png")

    async def _user(self, request: web.Request) -> web.Response:
        self.calls.append({"code": request.query.get("code", ""), "auth": request.headers.get("Authorization", "")})
        if request.headers.get("Authorization") != self.token:
            return await self.answer(request, {"success": False, "message": "无权进行此操作，token 无效"})
        wechat_id = self.codes.pop(request.query.get("code", ""), None)
        if wechat_id is None:
            return await self.answer(request, {"success": False, "message": "验证码错误或已过期"})
        return await self.answer(request, {"success": True, "message": "", "data": wechat_id})

    def options(self, qrcode: str = "") -> dict[str, str]:
        return {"WeChatServerAddress": self.url, "WeChatServerToken": self.token,
                "WeChatAccountQRCodeImageURL": qrcode or f"{self.url}/qrcode.png"}


@dataclass
class FakeTurnstile(_Site):
    """siteverify (form: secret, response, remoteip) and a stub of the widget script: each ``.cf-turnstile``
    element gets a hidden ``cf-turnstile-response`` input holding a fresh one-time token, as the real widget
    puts one in its form."""

    secret: str = "turnstile-secret"
    site_key: str = "turnstile-site-key"
    verified: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        _Site.__init__(self)
        self._live: set[str] = set()
        self.app.router.add_post("/turnstile/v0/siteverify", self._verify)
        self.app.router.add_get("/turnstile/v0/api.js", self._script)

    def issue(self) -> str:
        token = "ts-" + secrets.token_hex(8)
        self._live.add(token)
        return token

    async def _verify(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.verified.append({k: str(v) for k, v in form.items()})
        if form.get("secret") != self.secret:
            return await self.answer(request, {"success": False, "error-codes": ["invalid-input-secret"]})
        token = str(form.get("response", ""))
        if token not in self._live:
            return await self.answer(request, {"success": False, "error-codes": ["timeout-or-duplicate"]})
        self._live.discard(token)
        return await self.answer(request, {"success": True, "error-codes": [], "hostname": "localhost"})

    async def _script(self, request: web.Request) -> web.Response:
        tokens = [self.issue() for _ in range(4)]
        script = ("(() => { const tokens = " + json.dumps(tokens) + ";\n"
                  "document.querySelectorAll('.cf-turnstile').forEach((el, i) => {\n"
                  "  if (el.dataset.sitekey !== " + json.dumps(self.site_key) + ") return;\n"
                  "  const input = document.createElement('input'); input.type = 'hidden';\n"
                  "  input.name = 'cf-turnstile-response'; input.value = tokens[i % tokens.length];\n"
                  "  el.appendChild(input); el.setAttribute('data-state', 'solved');\n"
                  "  el.append('Verified by the test widget'); }); })();\n")
        return web.Response(text=script, content_type="text/javascript")

    def settings(self) -> dict[str, str]:
        return {"ONEAPI_TURNSTILE_SITEVERIFY_URL": f"{self.url}/turnstile/v0/siteverify",
                "ONEAPI_TURNSTILE_SCRIPT_URL": f"{self.url}/turnstile/v0/api.js"}

    def options(self) -> dict[str, str]:
        return {"TurnstileSiteKey": self.site_key, "TurnstileSecretKey": self.secret}
