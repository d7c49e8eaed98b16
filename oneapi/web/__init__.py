"""The remote users' web: public pages, sign in and sign up, and the console.

Server-rendered pages (Jinja2, autoescaped) with one stylesheet and one small script that only enhances them
(copy buttons, the time zone cookie, the notice's close button); every page works without JavaScript. Nothing
is built at install time and nothing is fetched from outside at run time: templates, messages and static files
ship inside the package (and so the ``.pyz``).

Pages read and change data through the same services as ``/api`` (``oneapi.services``), with the ``/api``
door's session cookie and ``caller``: the rules live there, once. What is here is presentation: turning form
text into the values a service takes (dollars into quota, a local time into a timestamp), translating, and
laying out. Forms post back to their page (POST, then a redirect to a GET), each with the CSRF token of
``oneapi.api.csrf``.

Rooms: ``pages/`` (one module per part of the site), ``render.py`` (templates, the context every page sees,
security headers), ``forms.py``, ``middleware.py`` (failures become pages), ``i18n.py`` with ``messages/``,
``display.py`` (money and times), ``content.py`` (the operator's Markdown/HTML/URL texts), ``chart.py``.
"""

from __future__ import annotations

from aiohttp import web

from oneapi.web.pages import auth, console, public, settings, signin, tokens, usage
from oneapi.web.render import TEMPLATES, make_environment


def add_web(app: web.Application) -> None:
    """Mount every page on ``app`` (which must carry /api's services and session keys)."""
    app[TEMPLATES] = make_environment()
    for module in (public, auth, signin, console, tokens, usage, settings):
        module.add_routes(app.router)
