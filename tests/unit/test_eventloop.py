"""oneapi/eventloop.py: which loop serves, and the heap frozen after start-up."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Iterator

import pytest

from oneapi import eventloop
from oneapi.config import ConfigError


async def running_loop_name() -> str:
    return eventloop.loop_name(asyncio.get_running_loop())


def test_auto_serves_on_uvloop_when_it_is_installed() -> None:
    pytest.importorskip("uvloop")
    assert eventloop.run(running_loop_name(), "auto") == "uvloop"
    assert eventloop.run(running_loop_name(), "uvloop") == "uvloop"


def test_asyncio_is_chosen_explicitly() -> None:
    assert eventloop.run(running_loop_name(), "asyncio") == "asyncio"


def test_without_uvloop_auto_falls_back_and_uvloop_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    assert eventloop.run(running_loop_name(), "auto") == "asyncio"
    main = running_loop_name()
    with pytest.raises(ConfigError, match="ONEAPI_EVENT_LOOP: is uvloop, but uvloop is not installed"):
        eventloop.run(main, "uvloop")
    assert main.cr_frame is None  # closed, not left to warn "never awaited"


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restore_gc")
def test_the_startup_heap_is_frozen_and_young_collections_come_later() -> None:
    long_lived = [{"rank": i} for i in range(1000)]
    eventloop.freeze_startup_heap()
    assert gc.get_freeze_count() >= len(long_lived)
    assert gc.get_threshold() == eventloop.GC_THRESHOLDS
    assert eventloop.GC_THRESHOLDS[0] > 700  # Python's default: the point is to collect young objects less often
