"""Public status and content, the model catalogue, groups and the admin top-up."""

from __future__ import annotations

import time

from aiohttp import web

from oneapi import __version__
from oneapi.api.common import ROLE_ADMIN, caller, ok, read_json, services
from oneapi.api.routes import Handler, add
from oneapi.services import catalog

START_TIME = web.AppKey("start_time", int)


async def status(request: web.Request) -> web.Response:
    opts = services(request).options
    return ok({
        "version": __version__, "start_time": request.app.get(START_TIME, 0),
        "email_verification": opts.get_bool("EmailVerificationEnabled"),
        "github_oauth": opts.get_bool("GitHubOAuthEnabled"), "github_client_id": opts.get("GitHubClientId"),
        "lark_client_id": opts.get("LarkClientId"), "system_name": opts.get("SystemName"),
        "logo": opts.get("Logo"), "footer_html": opts.get("Footer"),
        "wechat_qrcode": opts.get("WeChatAccountQRCodeImageURL"), "wechat_login": opts.get_bool("WeChatAuthEnabled"),
        "server_address": opts.get("ServerAddress"), "turnstile_check": opts.get_bool("TurnstileCheckEnabled"),
        "turnstile_site_key": opts.get("TurnstileSiteKey"), "top_up_link": opts.get("TopUpLink"),
        "chat_link": opts.get("ChatLink"), "quota_per_unit": opts.get_float("QuotaPerUnit"),
        "display_in_currency": opts.get_bool("DisplayInCurrencyEnabled"),
        "oidc": opts.get_bool("OidcEnabled"), "oidc_client_id": opts.get("OidcClientId"),
        "oidc_well_known": opts.get("OidcWellKnown"),
        "oidc_authorization_endpoint": opts.get("OidcAuthorizationEndpoint"),
        "oidc_token_endpoint": opts.get("OidcTokenEndpoint"),
        "oidc_userinfo_endpoint": opts.get("OidcUserinfoEndpoint"),
    })


def _option_page(key: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return ok(services(request).options.get(key))

    return handler


async def models(request: web.Request) -> web.Response:
    await caller(request)
    return ok({str(k): v for k, v in catalog.models_by_type().items()})


async def groups(request: web.Request) -> web.Response:
    await caller(request, ROLE_ADMIN)
    return ok(sorted(services(request).options.ratio_map("GroupRatio")))


async def topup(request: web.Request) -> web.Response:
    actor = await caller(request, ROLE_ADMIN)
    await services(request).accounts.topup(actor, await read_json(request))
    return ok()


def add_routes(router: web.UrlDispatcher) -> None:
    add(router, "GET", "/api/status", status)
    add(router, "GET", "/api/notice", _option_page("Notice"))
    add(router, "GET", "/api/about", _option_page("About"))
    add(router, "GET", "/api/home_page_content", _option_page("HomePageContent"))
    add(router, "GET", "/api/models", models)
    add(router, "GET", "/api/group/", groups)
    add(router, "POST", "/api/topup", topup)


def mark_start(app: web.Application) -> None:
    app[START_TIME] = int(time.time())
