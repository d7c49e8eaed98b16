"""The console's usage: the user's own logs with One API's filters (time range, token, model, type), the totals
of what the filters select, and each request's detail.

The filters are turned into One API's query parameters and read by the same ``filter_from_query`` as
``/api/log/self``, with the user fixed to the caller.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from oneapi.api.common import services
from oneapi.errors import InvalidInputError, OneAPIError
from oneapi.services.logs import PAGE_SIZE, filter_from_query
from oneapi.web.forms import FormError
from oneapi.web.pages.tokens import page_number
from oneapi.web.render import Formatter, formatter, render, require_user, translator

LOG_TYPES = (("1", "log.type_1"), ("2", "log.type_2"), ("3", "log.type_3"), ("4", "log.type_4"))
TEXT_MAX = 191


def _query(request: web.Request, fmt: Formatter) -> tuple[dict[str, str], dict[str, str]]:
    """(the filters as the form shows them, One API's query parameters); FormError for an unreadable time."""
    shown = {name: request.query.get(name, "").strip() for name in ("from", "to", "token", "model", "type")}
    query = {"token_name": shown["token"], "model_name": shown["model"], "type": shown["type"]}
    for name, param in (("from", "start_timestamp"), ("to", "end_timestamp")):
        if shown[name]:
            stamp = fmt.parse_local(shown[name])
            if stamp is None:
                raise FormError("error.time", field=name)
            query[param] = str(stamp)
    if shown["type"] and shown["type"] not in dict(LOG_TYPES):
        raise FormError("error.log_type")
    return shown, query


async def usage(request: web.Request) -> web.Response:
    user = await require_user(request)
    fmt, t = formatter(request), translator(request)
    page = page_number(request)
    svc = services(request)
    shown = {name: request.query.get(name, "")[:TEXT_MAX] for name in ("from", "to", "token", "model", "type")}
    rows: list[dict[str, Any]] = []
    totals = {"requests": 0, "quota": 0, "prompt_tokens": 0, "completion_tokens": 0}
    error = ""
    try:
        shown, query = _query(request, fmt)
        f = filter_from_query(query, admin=False, user_id=user["id"])
        if f.start and f.end and f.start > f.end:
            raise InvalidInputError("the start of the time range is after its end")
        rows = await svc.logs.self_page(user["id"], f, page - 1)
        totals = await svc.logs.totals(f)
    except FormError as exc:
        error = t(exc.key, field=t.field(str(exc.params.get("field", ""))))
    except OneAPIError as exc:
        error = t.error(exc.message)
    token_names = sorted({row["name"] for row in await svc.tokens.search(user["id"], "")})
    models = await svc.accounts.available_models(user)
    return await render(request, "usage.html", status=400 if error else 200, logs=rows, filters=shown,
                        totals=totals, error=error, page=page, has_next=len(rows) == PAGE_SIZE,
                        token_names=token_names, models=models, log_types=LOG_TYPES, section="log")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/log", usage)
