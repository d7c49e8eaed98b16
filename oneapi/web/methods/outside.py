"""The outside services behind the login methods: Turnstile, the WeChat Server, and OAuth 2 providers (GitHub,
Lark, any OpenID Connect provider).

One :class:`Outside` per application holds one ``ClientSession`` (created at start-up, closed at clean-up) with
``ONEAPI_OUTBOUND_TIMEOUT`` on every call. Every address is a setting (``ONEAPI_GITHUB_URL``, ...) or an option
(``WeChatServerAddress``, the ``Oidc*`` endpoints), so an operator can point them at GitHub Enterprise or Lark's
international site, and tests at fakes on loopback.

OAuth providers share one flow (:class:`Provider`): an authorize URL carrying a state bound to the browser, a
code exchanged for an access token, a profile read with that token, and the profile's id field naming the
account. GitHub, Lark and OIDC differ only in their addresses, how the token request is encoded, and the
profile's field names, so each is a few lines of data below.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp

from oneapi.config import Config
from oneapi.errors import InvalidInputError, OutsideServiceError, PermissionDeniedError
from oneapi.services.accounts import Identity
from oneapi.services.options import Options

log = logging.getLogger("oneapi.login")

ProviderName = Literal["github", "lark", "oidc"]
MAX_ANSWER = 1 << 20  # the longest outside answer read (whole, however many pieces it comes in); longer: refused
DISCOVERY_TTL = 600.0
TURNSTILE_FAILED = "Turnstile 校验失败，请刷新重试！ (the Turnstile check failed; reload and retry)"


@dataclass(frozen=True)
class Account:
    """Who the outside service says the person is. ``email`` only when the service vouches for it (see
    :attr:`Provider.email_from`): oneapi lets a person log in and reset the password by it."""

    id: str
    name: str = ""
    email: str = ""
    username: str = ""


@dataclass(frozen=True)
class Provider:
    name: ProviderName
    label: str
    column: Identity
    authorize_url: str
    token_url: str
    userinfo_url: str
    client_id: str
    client_secret: str
    token_encoding: Literal["json", "form"]
    scope: str
    id_field: str
    send_redirect_uri: bool
    email_from: Literal["profile", "verified_claim", "nowhere"]
    """Where a verified address comes from: the profile's ``email`` (GitHub shows only an address its owner has
    verified), the ``email`` claim when ``email_verified`` is true (OIDC), or nowhere (Lark says nothing of
    verification)."""


class AnswerTooLargeError(Exception):
    """An outside service's answer went past MAX_ANSWER bytes."""


async def _read_to_end(resp: aiohttp.ClientResponse) -> bytes:
    """The whole body, however many pieces it arrives in (``content.read(n)`` returns only what has arrived
    so far), and never more than MAX_ANSWER bytes kept: past that, AnswerTooLargeError."""
    if resp.content_length is not None and resp.content_length > MAX_ANSWER:
        raise AnswerTooLargeError()
    body = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_ANSWER:
            raise AnswerTooLargeError()
    return bytes(body)


class Outside:
    def __init__(self, config: Config, options: Options) -> None:
        self.config = config
        self.options = options
        self._session: aiohttp.ClientSession | None = None
        self._discovery: tuple[str, float, dict[str, str]] | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:  # created on first use, inside the running loop
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.outbound_timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _json(self, what: str, method: str, url: str, **kw: Any) -> dict[str, Any]:
        """Call an outside service; its JSON object, or an OutsideServiceError naming ``what`` (logged)."""
        try:
            async with self.session.request(method, url, **kw) as resp:
                raw = await _read_to_end(resp)
                status = resp.status
        except AnswerTooLargeError:
            log.error("%s: %s %s answered more than %d bytes", what, method, url.split("?")[0], MAX_ANSWER)
            raise OutsideServiceError(f"{what} 返回值非法 ({what} gave an answer oneapi cannot read)") from None
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            log.error("%s: %s %s failed: %s", what, method, url.split("?")[0], str(exc) or type(exc).__name__)
            raise OutsideServiceError(f"无法连接至 {what}，请稍后重试 (cannot reach {what}; try again later)") from None
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            log.error("%s: %s %s answered %d with no JSON object: %r", what, method, url.split("?")[0], status,
                      raw[:200])
            raise OutsideServiceError(f"{what} 返回值非法 ({what} gave an answer oneapi cannot read)")
        return data

    # -- Turnstile ------------------------------------------------------------------------------

    async def turnstile_ok(self, response: str, ip: str) -> None:
        """Cloudflare's siteverify (POST secret, response, remoteip); raises One API's messages on failure."""
        if not response:
            raise PermissionDeniedError("Turnstile token 为空 (complete the Turnstile check first)")
        if len(response) > 4096:
            raise PermissionDeniedError(TURNSTILE_FAILED)
        data = await self._json("Turnstile", "POST", self.config.turnstile_siteverify_url, data={
            "secret": self.options.get("TurnstileSecretKey"), "response": response, "remoteip": ip})
        if data.get("success") is not True:
            log.info("Turnstile refused a check from %s: %s", ip, data.get("error-codes"))
            raise PermissionDeniedError(TURNSTILE_FAILED)

    # -- WeChat Server --------------------------------------------------------------------------

    async def wechat_id(self, code: str) -> str:
        """The WeChat id behind a verification code, from the WeChat Server (``/api/wechat/user?code=``)."""
        if not self.options.get_bool("WeChatAuthEnabled"):
            raise PermissionDeniedError("管理员未开启通过微信登录以及注册 "
                                        "(the administrator has not enabled WeChat login)")
        if not code or len(code) > 64:
            raise InvalidInputError("无效的参数 (enter the verification code WeChat sent you)")
        base = self.options.get("WeChatServerAddress").strip().rstrip("/")
        data = await self._json("WeChat Server", "GET", f"{base}/api/wechat/user?{urlencode({'code': code})}",
                                headers={"Authorization": self.options.get("WeChatServerToken")})
        if data.get("success") is not True:
            message = str(data.get("message") or "")[:200]
            raise InvalidInputError(message or "验证码错误或已过期 (the verification code is wrong or has expired)")
        wechat_id = data.get("data")
        if not isinstance(wechat_id, str) or not wechat_id:
            raise InvalidInputError("验证码错误或已过期 (the verification code is wrong or has expired)")
        return wechat_id

    # -- OAuth 2 / OIDC ---------------------------------------------------------------------------

    async def provider(self, name: ProviderName) -> Provider:
        """The provider's settings now (options change at run time); refused when it is switched off."""
        opts, cfg = self.options, self.config
        if name == "github":
            if not opts.get_bool("GitHubOAuthEnabled"):
                raise PermissionDeniedError("管理员未开启通过 GitHub 登录以及注册 (the administrator has not enabled "
                                            "GitHub login)")
            web, api = cfg.github_url.rstrip("/"), cfg.github_api_url.rstrip("/")
            return Provider("github", "GitHub", "github_id", f"{web}/login/oauth/authorize",
                            f"{web}/login/oauth/access_token", f"{api}/user", opts.get("GitHubClientId").strip(),
                            opts.get("GitHubClientSecret").strip(), "json", "user:email", "login", False, "profile")
        if name == "lark":
            if not opts.get("LarkClientId").strip():
                raise PermissionDeniedError("管理员未开启通过飞书登录以及注册 "
                                            "(the administrator has not enabled Lark login)")
            base = cfg.lark_url.rstrip("/")
            return Provider("lark", "Lark", "lark_id", f"{base}/open-apis/authen/v1/authorize",
                            f"{base}/open-apis/authen/v2/oauth/token", f"{base}/open-apis/authen/v1/user_info",
                            opts.get("LarkClientId").strip(), opts.get("LarkClientSecret").strip(), "json", "",
                            "open_id", True, "nowhere")
        if not opts.get_bool("OidcEnabled"):
            raise PermissionDeniedError("管理员未开启通过 OIDC 登录以及注册 "
                                        "(the administrator has not enabled OIDC login)")
        endpoints = await self._oidc_endpoints()
        return Provider("oidc", "OIDC", "oidc_id", endpoints["authorization_endpoint"], endpoints["token_endpoint"],
                        endpoints["userinfo_endpoint"], opts.get("OidcClientId").strip(),
                        opts.get("OidcClientSecret").strip(), "form", "openid profile email", "sub", True,
                        "verified_claim")

    async def _oidc_endpoints(self) -> dict[str, str]:
        """The Oidc*Endpoint options; those left empty come from OidcWellKnown's discovery document."""
        opts = self.options
        found = {"authorization_endpoint": opts.get("OidcAuthorizationEndpoint").strip(),
                 "token_endpoint": opts.get("OidcTokenEndpoint").strip(),
                 "userinfo_endpoint": opts.get("OidcUserinfoEndpoint").strip()}
        well_known = opts.get("OidcWellKnown").strip()
        if not all(found.values()) and well_known:
            cached = self._discovery
            if cached is None or cached[0] != well_known or time.monotonic() - cached[1] > DISCOVERY_TTL:
                data = await self._json("OIDC discovery", "GET", well_known)
                cached = (well_known, time.monotonic(),
                          {k: v for k, v in data.items() if isinstance(v, str) and k.endswith("_endpoint")})
                self._discovery = cached
            found = {k: v or cached[2].get(k, "") for k, v in found.items()}
        missing = [k for k, v in found.items() if not v.startswith(("http://", "https://"))]
        if missing:
            raise PermissionDeniedError(f"OIDC is not fully configured: no {', '.join(missing)} (set the Oidc*Endpoint "
                                        "options or OidcWellKnown)")
        return found

    @staticmethod
    def authorize_url(provider: Provider, state: str, redirect_uri: str) -> str:
        params = {"client_id": provider.client_id, "state": state}
        if provider.scope:
            params["scope"] = provider.scope
        if provider.send_redirect_uri:
            params.update(response_type="code", redirect_uri=redirect_uri)
        return f"{provider.authorize_url}?{urlencode(params)}"

    async def account(self, provider: Provider, code: str, redirect_uri: str) -> Account:
        """Exchange ``code`` for a token, read the profile; the account it names."""
        if not code or len(code) > 1024:
            raise InvalidInputError("无效的参数 (the login provider sent no code)")
        body = {"client_id": provider.client_id, "client_secret": provider.client_secret, "code": code,
                "grant_type": "authorization_code"}
        if provider.send_redirect_uri:
            body["redirect_uri"] = redirect_uri
        encoded: dict[str, Any] = {"json": body} if provider.token_encoding == "json" else {"data": body}
        token = await self._json(provider.label, "POST", provider.token_url, headers={"Accept": "application/json"},
                                 **encoded)
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            log.info("%s refused a code: %s", provider.label, token.get("error_description") or token.get("error"))
            raise InvalidInputError(f"{provider.label} 登录失败，请重试 ({provider.label} did not accept the login; "
                                    "try again)")
        profile = await self._json(provider.label, "GET", provider.userinfo_url,
                                   headers={"Authorization": f"Bearer {access}", "Accept": "application/json"})
        if isinstance(profile.get("data"), dict):  # Lark wraps the profile: {"code": 0, "data": {...}}
            profile = profile["data"]
        ident = profile.get(provider.id_field)
        if isinstance(ident, int) and not isinstance(ident, bool):
            ident = str(ident)
        if not isinstance(ident, str) or not ident:
            raise OutsideServiceError("返回值非法，用户字段为空，请稍后重试！ "
                                      "(the login provider's answer names no user)")

        def text(key: str) -> str:
            value = profile.get(key)
            return value.strip() if isinstance(value, str) else ""

        verified = provider.email_from == "profile" or (
            provider.email_from == "verified_claim" and profile.get("email_verified") in (True, "true"))
        return Account(ident, text("name"), text("email") if verified else "", text("preferred_username"))
