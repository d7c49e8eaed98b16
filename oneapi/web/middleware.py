"""Failures on web pages become pages: a login redirect, a refused form, a translated error, never a traceback."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from oneapi.api.common import DROP_SESSION, check_url_text, drop_session_cookie
from oneapi.errors import OneAPIError
from oneapi.web.forms import CsrfRefused, FormError, failure_status
from oneapi.web.render import TEMPLATES, LoginRequired, login_url, redirect, render, translator

log = logging.getLogger("oneapi.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NOT_PAGES = re.compile(r"^/(api|v1|v1beta)(/|$)|^/dashboard/|^/admin/")  # v1beta: Gemini's API, on the relay


def is_page(path: str) -> bool:
    return NOT_PAGES.match(path) is None


async def error_page(request: web.Request, status: int, title_key: str, message: str) -> web.Response:
    if TEMPLATES not in request.app:  # One API's console is the theme (THEME): it has no page of ours to wear
        return web.Response(status=status, text=message)
    try:
        return await render(request, "error.html", status=status, title_key=title_key, message=message)
    except Exception:  # the page around the error failed too (the database is down): say it plainly
        log.exception("rendering the error page for %s failed", request.path)
        return web.Response(status=status, text=message)


@web.middleware
async def page_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_page(request.path):
        return await handler(request)
    t = translator(request)
    response: web.StreamResponse
    try:
        check_url_text(request)
        response = await handler(request)
    except LoginRequired as exc:
        response = redirect(request, login_url(request), exc.flash)
    except CsrfRefused:
        response = await error_page(request, 403, "error.csrf_title", t("error.csrf"))
    except FormError as exc:
        response = await error_page(request, 400, "error.input_title", t(exc.key, **exc.params))
    except OneAPIError as exc:
        status = failure_status(exc)
        if status == 500:
            log.error("page %s %s failed: %s", request.method, request.path, exc.message)
        title = {404: "error.not_found_title", 403: "error.forbidden_title"}.get(status, "error.input_title")
        response = await error_page(request, status, title if status < 500 else "error.server_title",
                                    t.error(exc.message))
    except web.HTTPNotFound:
        response = await error_page(request, 404, "error.not_found_title", t("error.not_found"))
    except web.HTTPMethodNotAllowed:
        response = await error_page(request, 405, "error.input_title", t("error.method"))
    except web.HTTPRequestEntityTooLarge:
        response = await error_page(request, 413, "error.input_title", t("error.too_large"))
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error on page %s %s", request.method, request.path)
        response = await error_page(request, 500, "error.server_title", t("error.server"))
    if request.get(DROP_SESSION):
        drop_session_cookie(response)
    return response
