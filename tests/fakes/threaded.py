"""A :class:`FakeOpenAI` served by its own event loop in a daemon thread, for tests that are not async (CLI and
packaging tests driving subprocesses)."""

from __future__ import annotations

import asyncio
import threading

from tests.fakes.openai_upstream import FakeOpenAI, start_fake


class ThreadedFake:
    def __init__(self, fake: FakeOpenAI | None = None) -> None:
        self.fake = fake or FakeOpenAI()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-openai", daemon=True)
        self._thread.start()
        self.url, self._stop = asyncio.run_coroutine_threadsafe(start_fake(self.fake), self._loop).result(10)

    def close(self) -> None:
        async def stop() -> None:
            await self._stop()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def paths(self) -> list[str]:
        return [r.path for r in list(self.fake.requests)]
