"""Pages anyone may see: home and about (the operator's texts), the language switch, the notice's dismissal,
and the static files."""

from __future__ import annotations

from aiohttp import web

from oneapi.api.common import is_https, services
from oneapi.web import content, i18n
from oneapi.web.forms import read_form
from oneapi.web.render import NOTICE_COOKIE, STATIC_FILES, redirect, render, safe_next, static_bytes, static_version

STATIC_TYPES = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8", "svg": "image/svg+xml"}
YEAR = 365 * 24 * 3600


async def option_page(request: web.Request, option: str, template: str) -> web.Response:
    page = content.render(services(request).options.get(option))
    return await render(request, template, page=page, frame_origin=page.frame_origin,
                        inline_style=page.inline_style)


async def home(request: web.Request) -> web.Response:
    return await option_page(request, "HomePageContent", "home.html")


async def about(request: web.Request) -> web.Response:
    return await option_page(request, "About", "about.html")


async def switch_language(request: web.Request) -> web.Response:
    """``/lang/{en|zh}?next=/path``: remember the choice for a year and go back."""
    lang = request.match_info["lang"]
    if lang not in i18n.LANGUAGES:
        raise web.HTTPNotFound()
    response = redirect(request, safe_next(request.query.get("next"), "/"))
    response.set_cookie(i18n.COOKIE, lang, max_age=YEAR, path="/", samesite="Lax", httponly=True,
                        secure=is_https(request))
    return response


async def dismiss_notice(request: web.Request) -> web.Response:
    """Hide the current notice for this browser; a changed notice shows again (its id is its hash)."""
    form = await read_form(request)
    notice_id = form.text("notice")
    response = redirect(request, safe_next(form.text("next"), "/"))
    if notice_id.isalnum() and len(notice_id) <= 64:
        response.set_cookie(NOTICE_COOKIE, notice_id, max_age=YEAR, path="/", samesite="Lax", httponly=True,
                            secure=is_https(request))
    return response


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    immutable = request.query.get("v") == static_version(name)
    return web.Response(body=static_bytes(name), headers={
        "Content-Type": STATIC_TYPES[name.rpartition(".")[2]], "X-Content-Type-Options": "nosniff",
        "Cache-Control": f"public, max-age={YEAR}, immutable" if immutable else "no-cache"})


async def favicon(request: web.Request) -> web.Response:
    return web.Response(body=static_bytes("icon.svg"), headers={
        "Content-Type": "image/svg+xml", "Cache-Control": "public, max-age=86400"})


async def not_found(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", home)
    router.add_get("/about", about)
    router.add_get("/lang/{lang}", switch_language)
    router.add_post("/notice/dismiss", dismiss_notice)
    router.add_get("/static/{name}", static)
    router.add_get("/favicon.ico", favicon)
