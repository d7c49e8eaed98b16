"""Who may call an inbound format's route, checked as on the OpenAI routes, answered in the format's shape."""

from __future__ import annotations

from aiohttp import web

from oneapi.http.request import CLIENT_IP
from oneapi.proxy.auth import Caller, authenticate, check_model
from oneapi.proxy.errors import ERROR_RENDERER, RelayError, Renderer
from oneapi.proxy.relay import RELAY


async def caller(request: web.Request, credential: str, renderer: Renderer) -> Caller:
    """The token's owner (SPEC 1.2's checks) for a key found where the format carries it; from here on every
    error of the request is answered by ``renderer``."""
    request[ERROR_RENDERER] = renderer
    relay = request.app[RELAY]
    return await authenticate(request, relay, request.get(CLIENT_IP) or request.remote or "", credential)


def check_served(request: web.Request, who: Caller, model: str) -> None:
    """The token may use ``model`` and a channel of the caller's group serves it: else 404, as the providers
    answer an unknown model (not an overload to retry: there is nothing to wait for)."""
    check_model(who, model)
    group = who.user.group
    if who.pinned_channel is None and not request.app[RELAY].routes.has_route(group, model):
        raise RelayError(f"model {model} is not served in group {group}", status=404, code="model_not_found",
                         error_type="not_found_error")
