"""What every handler knows of its request, whichever door it came through: the keys the outer middleware
sets (the request id, the client's address), and the answers for a URL nobody serves and a body that could
not be read."""

from __future__ import annotations

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

REQUEST_ID_HEADER = "X-Oneapi-Request-Id"
REQUEST_ID = web.RequestKey("request_id", str)
CLIENT_IP = web.RequestKey("client_ip", str)


def invalid_url(request: web.Request, status: int = 404) -> web.Response:
    body = {"error": {"message": f"Invalid URL ({request.method} {request.path})",
                      "type": "invalid_request_error", "param": "", "code": ""}}
    return web.json_response(body, status=status)


def payload_problem(exc: RequestPayloadError) -> str:
    """aiohttp's reason ("Can not decode content-encoding: gzip"), without its status prefix and newlines."""
    return " ".join(str(exc).split()).removeprefix("400, message:").strip() or "malformed body"


def unreadable_body(response: web.StreamResponse) -> web.StreamResponse:
    """The answer to a request whose body could not be read: the connection closes after it, or aiohttp would
    try to read the rest of that body (and log the same failure as a traceback)."""
    response.force_close()
    return response
