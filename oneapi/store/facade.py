"""The async face of the store: query functions run on store threads, never on the event loop.

Query code is plain sync functions ``fn(db: Database, *args)`` (``store/queries/``). :class:`Store` runs
writes on **one** writer thread (SQLite allows one writer; on MySQL/PostgreSQL it also orders a node's writes
and keeps lock contention low) and reads on a small pool of reader threads. Each thread owns its peewee
connection and closes it when the store closes.

Queues are bounded: when the database cannot keep up, callers get a clear ``StoreError`` instead of the
process growing without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import peewee as pw

from oneapi.errors import OneAPIError, StoreError
from oneapi.store.database import Database

log = logging.getLogger("oneapi.store")

P = ParamSpec("P")
T = TypeVar("T")

QUEUE_LIMIT = 10_000
IDLE_RECONNECT_SECONDS = 300.0  # servers drop idle connections (MySQL wait_timeout); reopen before that

_Job = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]",
             asyncio.AbstractEventLoop]


def _deliver(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _is_disconnect(exc: BaseException) -> bool:
    if isinstance(exc, pw.InterfaceError):
        return True
    if isinstance(exc, pw.OperationalError):
        code = exc.args[0] if exc.args else None
        text = str(exc).lower()
        return code in (2006, 2013, 2055) or "server closed the connection" in text \
            or "connection already closed" in text
    return False


class _Worker(threading.Thread):
    def __init__(self, name: str, jobs: queue.Queue[_Job | None], db: Database, retry_reads: bool) -> None:
        super().__init__(name=name, daemon=True)
        self._jobs = jobs
        self._db = db
        self._retry = retry_reads
        self._last_used = time.monotonic()

    def run(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                fn, args, kwargs, future, loop = job
                result, error = None, None
                try:
                    result = self._call(fn, args, kwargs)
                except BaseException as exc:  # delivered to the awaiting coroutine, never lost
                    error = exc
                # RuntimeError: the loop closed while we worked; nobody is waiting for the answer.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_deliver, future, result, error)
        finally:
            self._db.close_connections()

    def _call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        now = time.monotonic()
        if now - self._last_used > IDLE_RECONNECT_SECONDS and self._db.kind != "sqlite":
            self._db.close_connections()
        self._last_used = now
        try:
            return fn(self._db, *args, **kwargs)
        except Exception as exc:
            if not _is_disconnect(exc):
                raise
            self._db.close_connections()
            if not self._retry:
                raise
            log.warning("database connection lost; retrying the read once")
            return fn(self._db, *args, **kwargs)


class Store:
    """Runs query functions on store threads. Create with :meth:`start`; :meth:`close` drains and stops."""

    def __init__(self, db: Database, read_threads: int = 4) -> None:
        self.db = db
        self._reads: queue.Queue[_Job | None] = queue.Queue(QUEUE_LIMIT)
        self._writes: queue.Queue[_Job | None] = queue.Queue(QUEUE_LIMIT)
        self._workers = [_Worker("oneapi-store-writer", self._writes, db, retry_reads=False)]
        self._workers += [_Worker(f"oneapi-store-reader-{i}", self._reads, db, retry_reads=True)
                          for i in range(read_threads)]
        self._read_threads = read_threads
        self._closed = False
        for worker in self._workers:
            worker.start()

    async def read(self, fn: Callable[Concatenate[Database, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a read-only query function on the reader pool."""
        return await self._submit(self._reads, fn, args, kwargs)

    async def write(self, fn: Callable[Concatenate[Database, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a query function that changes data on the writer thread (one at a time, in order)."""
        return await self._submit(self._writes, fn, args, kwargs)

    async def _submit(self, jobs: queue.Queue[_Job | None], fn: Callable[..., Any], args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Any:
        if self._closed:
            raise StoreError("the store is closed (server shutting down)")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        try:
            jobs.put_nowait((fn, args, kwargs, future, loop))
        except queue.Full:
            raise StoreError("the database is overloaded; try again shortly") from None
        try:
            # shield: a cancelled request must not abandon a write half-way; the job still completes.
            return await asyncio.shield(future)
        except OneAPIError:
            raise
        except pw.PeeweeException as exc:
            log.error("database error in %s: %s", getattr(fn, "__qualname__", fn), exc)
            raise StoreError("database error; the operation was not completed") from exc

    async def close(self) -> None:
        """Finish queued jobs, stop the threads and close their connections."""
        if self._closed:
            return
        self._closed = True
        self._writes.put(None)
        for _ in range(self._read_threads):
            self._reads.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._join)

    def _join(self) -> None:
        for worker in self._workers:
            worker.join()
