"""The HTTP door for people's tools: One API's ``/api`` JSON routes, sessions, CSRF and rate limits.

:func:`add_api` mounts ``/api`` on an application; ``server.py`` decides which applications exist and adds the
web pages (``oneapi.web``, mounted by ``web_page.py``) to the public one only.
"""

from __future__ import annotations

from aiohttp import web

from oneapi.api.common import SERVICES, SESSIONS
from oneapi.api.csrf import CSRF, CsrfKeys
from oneapi.api.routes import channel, log, login, misc, option, redemption, token, user
from oneapi.api.session import SessionCodec
from oneapi.services import Services
from oneapi.web import methods


def add_api(app: web.Application, services: Services, session_secret: str) -> None:
    app[SERVICES] = services
    app[SESSIONS] = SessionCodec(session_secret)
    app[CSRF] = CsrfKeys(session_secret)
    misc.mark_start(app)
    methods.setup(app)
    for module in (misc, user, login, token, channel, redemption, log, option):
        module.add_routes(app.router)
