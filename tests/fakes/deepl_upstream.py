"""A fake DeepL API (``api.deepl.com`` / ``api-free.deepl.com``) following DeepL's published format
(https://developers.deepl.com/api-reference/translate, .../usage-and-quota, .../errors).

Auth: ``Authorization: DeepL-Auth-Key <key>`` with a key in ``keys``; otherwise 403 ``{"message":
"Forbidden"}`` (DeepL answers a bad key with 403, not 401).

Endpoints:

* ``POST /v2/translate`` — JSON ``{text: [...] (1..50), target_lang, source_lang?, context?,
  show_billed_characters?, ...}`` or the same as a form (``text`` repeated). ``target_lang`` must be one of
  DeepL's target languages (case-insensitive; ``EN`` and ``PT`` are accepted as DeepL still does). The answer is
  ``{translations: [{detected_source_language, text, billed_characters?}]}``, one per text; the fake's
  "translation" is ``"[<TARGET>] <text>"`` and the detected source language ``EN``; ``billed_characters`` (only
  with ``show_billed_characters``) is the text's length in characters: context is not billed.
* ``GET|POST /v2/usage`` — ``{character_count, character_limit}`` of this fake's key.

``fail_next(status, message)`` answers the next call with an error (456 for a used-up quota, 429...).
Requests are recorded in ``requests`` before any check.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from tests.fakes.openai_upstream import json_response

TRANSLATE_PATH = "/v2/translate"
USAGE_PATH = "/v2/usage"
TARGETS = {"AR", "BG", "CS", "DA", "DE", "EL", "EN", "EN-GB", "EN-US", "ES", "ES-419", "ET", "FI", "FR", "HE",
           "HU", "ID", "IT", "JA", "KO", "LT", "LV", "NB", "NL", "PL", "PT", "PT-BR", "PT-PT", "RO", "RU", "SK",
           "SL", "SV", "TH", "TR", "UK", "VI", "ZH", "ZH-HANS", "ZH-HANT"}
CHARACTER_LIMIT = 500_000


class DeepLError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class FakeDeepL:
    def __init__(self, keys: set[str] | None = None) -> None:
        self.keys = keys if keys is not None else {"deepl-key:fx"}
        self.requests: list[Recorded] = []
        self.characters = 0
        self._failures: deque[DeepLError] = deque()
        self.app = web.Application()
        self.app.router.add_post(TRANSLATE_PATH, self._guard(self._translate))
        self.app.router.add_route("*", USAGE_PATH, self._guard(self._usage))

    def fail_next(self, status: int, message: str) -> None:
        self._failures.append(DeepLError(status, message))

    def _guard(self, handler: Callable[[dict[str, Any]], Awaitable[web.StreamResponse]]
               ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            record = Recorded(request.path, {k.lower(): v for k, v in request.headers.items()}, await request.read())
            self.requests.append(record)
            try:
                scheme, _, key = request.headers.get("Authorization", "").partition(" ")
                if scheme != "DeepL-Auth-Key" or key not in self.keys:
                    raise DeepLError(403, "Forbidden")
                if self._failures:
                    raise self._failures.popleft()
                return await handler(_params(request, record.body))
            except DeepLError as exc:
                return json_response({"message": exc.message}, status=exc.status)
        return guarded

    async def _translate(self, params: dict[str, Any]) -> web.StreamResponse:
        texts = params.get("text")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise DeepLError(400, "Parameter 'text' not specified.")
        if len(texts) > 50:
            raise DeepLError(413, "Request Entity Too Large")
        target = params.get("target_lang")
        if not isinstance(target, str) or not target:
            raise DeepLError(400, "Parameter 'target_lang' not specified.")
        if target.upper() not in TARGETS:
            raise DeepLError(400, "Value for 'target_lang' not supported.")
        context = params.get("context")
        if context is not None and not isinstance(context, str):
            raise DeepLError(400, "Parameter 'context' must be a string.")
        billed = params.get("show_billed_characters") in (True, "1", "true")
        translations = []
        for text in texts:
            self.characters += len(text)
            item: dict[str, Any] = {"detected_source_language": "EN", "text": f"[{target.upper()}] {text}"}
            if billed:
                item["billed_characters"] = len(text)
            translations.append(item)
        return json_response({"translations": translations})

    async def _usage(self, params: dict[str, Any]) -> web.StreamResponse:
        return json_response({"character_count": self.characters, "character_limit": CHARACTER_LIMIT})


def _params(request: web.Request, body: bytes) -> dict[str, Any]:
    """A JSON body as it is; a form body (``text`` repeated) as a dict with ``text`` a list."""
    if not body:
        return {}
    if request.content_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise DeepLError(400, "Invalid request: the body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise DeepLError(400, "Invalid request: expected a JSON object.")
        return data
    form = parse_qs(body.decode(), keep_blank_values=True)
    return {k: (v if k == "text" else v[-1]) for k, v in form.items()}


async def start_fake(fake: FakeDeepL) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve ``fake`` on ``127.0.0.1:<free port>``; return its base URL and the stop coroutine function."""
    runner = web.AppRunner(fake.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner.cleanup
