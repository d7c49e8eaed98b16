"""Reading a posted form: the CSRF token first, then its text fields.

A form whose token is missing or wrong is refused (:class:`CsrfRefused`, a 403 page) before any field is read.
Problems that belong to the web form itself (two passwords that differ, an amount that is not a number) are a
:class:`FormError` naming a catalogue key; the rules of the data are the services', whose errors the page
shows translated.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from oneapi.api.csrf import FIELD, valid_token
from oneapi.errors import AuthenticationError, OneAPIError
from oneapi.services.inputs import is_storable_text

MAX_FIELD = 65_536  # beyond any field's own limit: the service names the real one


def failure_status(exc: OneAPIError) -> int:
    """The HTTP status of a page showing a service's refusal: the error's own (400 bad input, 403, 404, 409,
    429, 502 an outside service failed, ...), except that a refused login is a 403 on a page (``/api`` answers
    some with 200, as One API does); 500 for the server's own failures."""
    if isinstance(exc, AuthenticationError):
        return 403
    return exc.http_status if 400 <= exc.http_status < 600 else 500


class CsrfRefused(Exception):
    """The form did not come from one of our pages (or the page is too old: the session changed)."""


class FormError(Exception):
    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


class Form:
    def __init__(self, data: MultiDictProxy[Any]) -> None:
        self._data = data

    def text(self, name: str, strip: bool = True) -> str:
        """The field's text ('' when absent or a file); overlong text is cut to MAX_FIELD for the service to
        refuse with its own limit."""
        value = self._data.get(name)
        if not isinstance(value, str):
            return ""
        if not is_storable_text(value):
            raise FormError("error.bad_text")
        value = value[:MAX_FIELD]
        return value.strip() if strip else value

    def checked(self, name: str) -> bool:
        return self.text(name) in ("on", "1", "true")

    def all(self, name: str) -> list[str]:
        values = [v for v in self._data.getall(name, []) if isinstance(v, str)]
        if not all(is_storable_text(v) for v in values):
            raise FormError("error.bad_text")
        return [v.strip()[:MAX_FIELD] for v in values if v.strip()]


async def read_form(request: web.Request) -> Form:
    try:
        data = await request.post()
    except (ValueError, HttpProcessingError):  # a body that is not a form (broken multipart, undecodable text)
        raise CsrfRefused() from None
    token = data.get(FIELD)
    if not valid_token(request, token if isinstance(token, str) else None):
        raise CsrfRefused()
    return Form(data)
