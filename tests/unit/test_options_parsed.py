"""Options parse a switch or a number once per value: an update or a reload is seen at the next read."""

from __future__ import annotations

import pytest

from oneapi.services.options import Options
from oneapi.store.facade import Store
from oneapi.store.queries import options as option_q


@pytest.fixture
def backend() -> str:
    return "sqlite"


async def test_an_update_and_a_reload_are_seen_at_the_next_read(store: Store) -> None:
    options = await Options.load(store)
    assert options.get_bool("PreConsumeMaxOutput") is False and options.get_int("PreConsumedQuota") == 500
    await options.update("PreConsumeMaxOutput", "true")
    await options.update("PreConsumedQuota", "42")
    assert options.get_bool("PreConsumeMaxOutput") is True and options.get_int("PreConsumedQuota") == 42
    await store.write(option_q.save, "PreConsumedQuota", "7")  # another node's change, seen at the next sync
    assert options.get_int("PreConsumedQuota") == 42
    await options.reload()
    assert options.get_int("PreConsumedQuota") == 7
