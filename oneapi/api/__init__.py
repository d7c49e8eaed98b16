"""The HTTP door for people and their tools: One API's ``/api`` JSON routes and the minimal web page.

:func:`add_api` mounts everything on an application; ``server.py`` decides which applications exist.
"""

from __future__ import annotations

from aiohttp import web

from oneapi.api import web_page
from oneapi.api.common import SERVICES, SESSIONS
from oneapi.api.routes import channel, log, misc, option, redemption, token, user
from oneapi.api.session import SessionCodec
from oneapi.services import Services


def add_api(app: web.Application, services: Services, session_secret: str) -> None:
    app[SERVICES] = services
    app[SESSIONS] = SessionCodec(session_secret)
    misc.mark_start(app)
    for module in (misc, user, token, channel, redemption, log, option):
        module.add_routes(app.router)
    web_page.add_routes(app.router)
