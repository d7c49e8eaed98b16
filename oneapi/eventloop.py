"""How a serving process runs its event loop: on uvloop when it is installed, with the start-up heap kept out of
the garbage collector's way.

* **uvloop** runs the loop and the sockets' transports in C (libuv): a relayed chat costs ~13% fewer CPU
  instructions than on asyncio's pure-Python selector loop (callgrind over 2,000 requests: 1.70 M → 1.49 M).
  ``ONEAPI_EVENT_LOOP`` chooses: ``auto`` (uvloop when importable; it is in the .pyz and in pip installs on Linux
  and macOS), ``uvloop`` (refuse to start without it) or ``asyncio``.
* **The collector.** What start-up builds lives as long as the process: the tokenizer's rank tables (300,000
  entries), the catalogue, peewee's models, aiohttp's routes. Every full collection walks all of it, and with the
  default thresholds one ran every few hundred requests, stalling every open request for milliseconds: under
  load this, not the relay's own work, made oneapi's p99 three times the pass-through's (65 ms against 23 ms at
  32 connections; 25 ms with the heap frozen). :func:`freeze_startup_heap` moves that heap to the permanent
  generation once it is built, and raises the first threshold so that a request's short-lived objects are
  mostly freed by reference counting before a collection ever looks at them.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

from oneapi.config import ConfigError

T = TypeVar("T")

CHOICES = ("auto", "uvloop", "asyncio")
# Objects allocated (less freed) between two young collections; then how many young collections per middle one,
# and middle ones per full one. Python's defaults are 700, 10, 10 (3.13: 2000, 10, 10).
GC_THRESHOLDS = (20_000, 50, 100)


def run(main: Coroutine[Any, Any, T], choice: str = "auto") -> T:
    """Run ``main`` to completion on the loop ``choice`` names (one of :data:`CHOICES`)."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                main.close()
                raise ConfigError("ONEAPI_EVENT_LOOP", "is uvloop, but uvloop is not installed "
                                  "(pip install uvloop, or set ONEAPI_EVENT_LOOP=asyncio)") from None
        else:
            return uvloop.run(main)
    return asyncio.run(main)


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: for the start-up line, so an operator sees which one serves."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def freeze_startup_heap() -> None:
    """Exempt everything alive now from future collections, and collect young objects less often. Call once,
    when start-up has built its long-lived state (see the module's docstring for why)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
