"""aiohttp's TestServer as oneapi's servers run: with the options of ``oneapi.http.body.SERVER_OPTIONS`` (oneapi
decodes request bodies itself). TestServer's own constructor keeps extra options away from its runner."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from aiohttp.web_runner import BaseRunner

from oneapi.http.body import SERVER_OPTIONS


class AppTestServer(TestServer):
    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return await super()._make_runner(**{**kwargs, **SERVER_OPTIONS})
