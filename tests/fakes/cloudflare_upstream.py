"""A fake Cloudflare Workers AI API serving its OpenAI-compatible endpoints, following Cloudflare's published
formats (https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/,
https://developers.cloudflare.com/fundamentals/api/how-to/make-api-calls/).

``/client/v4/accounts/{account}/ai/v1/chat/completions`` and ``.../ai/v1/embeddings`` answer in OpenAI's format:
the handlers are :class:`~tests.fakes.openai_upstream.FakeOpenAI`'s (``openai`` here, with its scripting,
deterministic usage and recorded requests), mounted under the account's path. In front of them, what is
Cloudflare's own: the API token (``Authorization: Bearer <token>``, one of ``tokens``) and the account id are
checked first, and refused in Cloudflare's v4 envelope ``{"success": false, "errors": [{"code", "message"}],
"messages": [], "result": null}`` — 401 code 10000 "Authentication error" for a bad token, 404 code 7003
"Could not route to /client/v4/accounts/<id>/ai/..., perhaps your object identifier is invalid?" for an
unknown account. Workers AI model ids (``@cf/...``, ``@hf/...``) are accepted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from tests.fakes.openai_upstream import FakeOpenAI, json_response

ACCOUNT = "0123456789abcdef0123456789abcdef"
MODELS = ("@cf/meta/llama-3.1-8b-instruct", "@cf/meta/llama-3.3-70b-instruct-fp8-fast", "@cf/qwen/qwq-32b",
          "@cf/baai/bge-base-en-v1.5", "@cf/baai/bge-m3", "@hf/nousresearch/hermes-2-pro-mistral-7b")


def envelope(status: int, code: int, message: str) -> web.Response:
    return json_response({"success": False, "errors": [{"code": code, "message": message}], "messages": [],
                          "result": None}, status=status)


class FakeCloudflare:
    def __init__(self, tokens: set[str] | None = None, account: str = ACCOUNT) -> None:
        self.tokens = tokens if tokens is not None else {"cf-token"}
        self.account = account
        self.openai = FakeOpenAI()  # any key: the token is checked here, in Cloudflare's shape
        self.openai.models = [*self.openai.models, *MODELS]
        self.app = web.Application(middlewares=[self._cloudflare])
        self.app.add_subapp(f"/client/v4/accounts/{account}/ai", self.openai.app)

    @web.middleware
    async def _cloudflare(self, request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token not in self.tokens:
            return envelope(401, 10000, "Authentication error")
        if not request.path.startswith(f"/client/v4/accounts/{self.account}/ai/"):
            return envelope(404, 7003, f"Could not route to {request.path}, perhaps your object identifier is "
                                       "invalid?")
        return await handler(request)


async def start_fake(fake: FakeCloudflare) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its base URL and the stop coroutine function."""
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner.cleanup
