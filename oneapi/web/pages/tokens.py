"""The console's tokens: list, search and pages; create and edit; enable, disable and delete.

Everything goes through ``services.tokens``, the same calls as ``/api/token``, always scoped to the logged-in
user: another user's token id is "not found" here as there. The form's own work is reading dollars (or units)
and local times into the body the service takes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from oneapi.api.common import path_id, services
from oneapi.errors import OneAPIError
from oneapi.services.inputs import parse_query_int
from oneapi.services.tokens import PAGE_SIZE, RATE_LIMITS
from oneapi.web.forms import Form, FormError, failure_status, read_form
from oneapi.web.render import Formatter, formatter, redirect, render, require_user, safe_next, translator

SEARCH_MAX = 100  # the service answers at most this many matches


def page_number(request: web.Request) -> int:
    """The 1-based ``page`` query parameter."""
    try:
        return parse_query_int("page", request.query.get("page"), default=1, low=1, high=100_000)
    except OneAPIError:
        raise FormError("error.page") from None


def token_id(request: web.Request) -> int:
    try:
        return path_id(request)
    except OneAPIError:
        raise web.HTTPNotFound() from None


def masked(key: str) -> str:
    return f"sk-{key[:4]}{'•' * 8}{key[-4:]}"


async def list_tokens(request: web.Request) -> web.Response:
    user = await require_user(request)
    keyword = request.query.get("q", "").strip()
    page = page_number(request)
    svc = services(request).tokens
    error = ""
    rows: list[dict[str, Any]] = []
    try:
        rows = await (svc.search(user["id"], keyword) if keyword else svc.list_page(user["id"], page - 1, ""))
    except OneAPIError as exc:
        error = translator(request).error(exc.message)
    return await render(request, "tokens.html", status=400 if error else 200, tokens=rows, keyword=keyword,
                        page=page, has_next=not keyword and len(rows) == PAGE_SIZE,
                        truncated=bool(keyword) and len(rows) >= SEARCH_MAX, error=error, masked=masked,
                        section="token")


def _values(token: dict[str, Any] | None, fmt: Formatter) -> dict[str, Any]:
    """What the form shows: a new token's defaults, or an existing token's fields."""
    if token is None:
        return {"name": "", "unlimited": True, "amount": "", "never": True, "expires_at": "", "models": set(),
                "subnet": "", "rpm_limit": "", "tpm_limit": ""}
    return {"name": token["name"], "unlimited": bool(token["unlimited_quota"]),
            "amount": fmt.amount(max(token["remain_quota"], 0)), "never": token["expired_time"] == -1,
            "expires_at": fmt.local_input(token["expired_time"]),
            "models": {m for m in token["models"].split(",") if m}, "subnet": token["subnet"],
            **{name: str(token.get(name) or "") for name in RATE_LIMITS}}


def _read(form: Form, fmt: Formatter) -> tuple[dict[str, Any], dict[str, Any]]:
    """The posted form as (values to show again, body for the service); FormError for unreadable text."""
    unlimited, never, amount_text, expires_text = (form.checked("unlimited"), form.checked("never"),
                                                   form.text("amount"), form.text("expires_at"))
    models = set(form.all("models"))
    values = {"name": form.text("name"), "unlimited": unlimited, "amount": amount_text, "never": never,
              "expires_at": expires_text, "models": models, "subnet": form.text("subnet"),
              **{name: form.text(name) for name in RATE_LIMITS}}
    body: dict[str, Any] = {"name": values["name"], "unlimited_quota": unlimited, "models": ",".join(sorted(models)),
                            "subnet": values["subnet"], "expired_time": -1, "remain_quota": 0}
    for name in RATE_LIMITS:  # empty: no limit; anything but digits goes on for the service to refuse by name
        text = form.text(name)
        body[name] = int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else (text or 0)
    amount = fmt.parse_amount(amount_text) if amount_text else None
    if not unlimited:
        if amount is None:
            raise FormError("error.amount", values=values)
        body["remain_quota"] = amount
    elif amount is not None:
        body["remain_quota"] = amount
    if not never:
        expires = fmt.parse_local(expires_text)
        if expires is None:
            raise FormError("error.expiry", values=values)
        body["expired_time"] = expires
    return values, body


async def _form_page(request: web.Request, user: dict[str, Any], token: dict[str, Any] | None,
                     values: dict[str, Any], error: str = "", status: int = 200) -> web.Response:
    available = await services(request).accounts.available_models(user)
    models = sorted(set(available) | values["models"])
    return await render(request, "token_form.html", status=status, token=token, values=values, models=models,
                        error=error, section="token")


async def new_token(request: web.Request) -> web.Response:
    user = await require_user(request)
    return await _form_page(request, user, None, _values(None, formatter(request)))


async def edit_token(request: web.Request) -> web.Response:
    user = await require_user(request)
    token = await services(request).tokens.get(user["id"], token_id(request))
    return await _form_page(request, user, token, _values(token, formatter(request)))


async def save_token(request: web.Request) -> web.Response:
    """POST of the new-token and edit forms."""
    user = await require_user(request)
    form = await read_form(request)
    existing = None
    if "id" in request.match_info:
        existing = await services(request).tokens.get(user["id"], token_id(request))
    t = translator(request)
    try:
        values, body = _read(form, formatter(request))
    except FormError as exc:
        return await _form_page(request, user, existing, exc.params["values"], t(exc.key), 400)
    try:
        if existing is None:
            saved = await services(request).tokens.create(user["id"], body)
        else:
            saved = await services(request).tokens.update(user["id"], {**body, "id": existing["id"]}, False)
    except OneAPIError as exc:
        return await _form_page(request, user, existing, values, t.error(exc.message), failure_status(exc))
    return redirect(request, "/token", "flash.token_created" if existing is None else "flash.token_saved",
                    name=saved["name"])


async def set_status(request: web.Request) -> web.Response:
    user = await require_user(request)
    form = await read_form(request)
    ident = token_id(request)
    status = form.text("status")
    if status not in ("1", "2"):
        raise FormError("error.status")
    token = await services(request).tokens.update(user["id"], {"id": ident, "status": int(status)}, True)
    return redirect(request, safe_next(form.text("next"), "/token"),
                    "flash.token_enabled" if status == "1" else "flash.token_disabled", name=token["name"])


async def confirm_delete(request: web.Request) -> web.Response:
    user = await require_user(request)
    token = await services(request).tokens.get(user["id"], token_id(request))
    return await render(request, "token_delete.html", token=token, masked=masked, section="token")


async def delete_token(request: web.Request) -> web.Response:
    user = await require_user(request)
    await read_form(request)
    ident = token_id(request)
    token = await services(request).tokens.get(user["id"], ident)
    await services(request).tokens.delete(user["id"], ident)
    return redirect(request, "/token", "flash.token_deleted", name=token["name"])


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/token", list_tokens)
    router.add_get("/token/new", new_token)
    router.add_post("/token/new", save_token)
    router.add_get("/token/{id}/edit", edit_token)
    router.add_post("/token/{id}/edit", save_token)
    router.add_post("/token/{id}/status", set_status)
    router.add_get("/token/{id}/delete", confirm_delete)
    router.add_post("/token/{id}/delete", delete_token)
