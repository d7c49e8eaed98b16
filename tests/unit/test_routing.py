"""oneapi.services.routing: the in-memory routing table, with a seeded random generator.

Statistical checks use a tolerance of 4 binomial standard deviations around the expected share; with a fixed
seed they are deterministic, and a wrong weighting (e.g. uniform instead of 1:3) misses by far more than that.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

import pytest

from oneapi.services.routing import RoutingTable, route_channel
from oneapi.store.queries.channels import STATUS_AUTO_DISABLED, STATUS_ENABLED, STATUS_MANUALLY_DISABLED


def row(channel_id: int, *, priority: int = 0, weight: int = 0, models: str = "gpt-4o-mini",
        group: str = "default", status: int = STATUS_ENABLED, **fields: Any) -> dict[str, Any]:
    return {"id": channel_id, "type": 1, "name": f"ch{channel_id}", "key": f"sk-{channel_id}",
            "base_url": f"http://upstream-{channel_id}/", "status": status, "priority": priority, "weight": weight,
            "models": models, "group": group, "model_mapping": "", "config": "", "other": "",
            "system_prompt": "", **fields}


def draws(table: RoutingTable, n: int, *, seed: int = 1, group: str = "default", model: str = "gpt-4o-mini",
          exclude: tuple[int, ...] = ()) -> Counter[int]:
    rng = random.Random(seed)
    picks: Counter[int] = Counter()
    for _ in range(n):
        channel = table.pick(group, model, exclude=exclude, rng=rng)
        assert channel is not None
        picks[channel.id] += 1
    return picks


def within(count: int, n: int, p: float, sds: float = 4.0) -> bool:
    """``count`` of ``n`` draws is within ``sds`` binomial standard deviations of ``n * p``."""
    return abs(count - n * p) <= sds * math.sqrt(n * p * (1 - p))


# -- tiers -----------------------------------------------------------------------------------------------


def test_the_highest_priority_tier_always_wins() -> None:
    table = RoutingTable([row(1, priority=0, weight=100), row(2, priority=10), row(3, priority=10),
                          row(4, priority=5, weight=100)])
    picks = draws(table, 2000)
    assert set(picks) == {2, 3}
    assert within(picks[2], 2000, 0.5)


def test_negative_priorities_are_plain_tiers_not_one_apis_everything_quirk() -> None:
    table = RoutingTable([row(1, priority=-5), row(2, priority=-1), row(3, priority=-3)])
    assert set(draws(table, 300)) == {2}


def test_exclude_moves_to_the_rest_of_the_tier_then_to_lower_tiers() -> None:
    table = RoutingTable([row(1, priority=10), row(2, priority=10), row(3, priority=5), row(4, priority=0)])
    assert set(draws(table, 200, exclude=(1,))) == {2}
    assert set(draws(table, 200, exclude=(1, 2))) == {3}
    assert set(draws(table, 200, exclude=(1, 2, 3))) == {4}
    assert table.pick("default", "gpt-4o-mini", exclude=(1, 2, 3, 4)) is None
    # excluding an id that is not in the route changes nothing
    assert set(draws(table, 200, exclude=(99,))) == {1, 2}


def test_exclude_keeps_the_weights_of_the_remaining_channels() -> None:
    table = RoutingTable([row(1, weight=1), row(2, weight=1), row(3, weight=3)])
    n = 4000
    picks = draws(table, n, exclude=(2,))
    assert set(picks) == {1, 3}
    assert within(picks[3], n, 0.75) and not within(picks[3], n, 0.5)


# -- weights ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_weights_within_a_tier_are_proportional(seed: int) -> None:
    table = RoutingTable([row(1, weight=1), row(2, weight=3)])
    n = 4000
    picks = draws(table, n, seed=seed)
    assert picks[1] + picks[2] == n
    assert within(picks[2], n, 0.75)
    assert not within(picks[2], n, 0.5)  # One API's uniform choice would fail here


def test_three_weights() -> None:
    table = RoutingTable([row(1, weight=1), row(2, weight=2), row(3, weight=7)])
    n = 10_000
    picks = draws(table, n)
    for cid, p in ((1, 0.1), (2, 0.2), (3, 0.7)):
        assert within(picks[cid], n, p), (cid, picks)


def test_weight_zero_channels_get_an_equal_share() -> None:
    table = RoutingTable([row(1), row(2), row(3), row(4)])
    n = 8000
    picks = draws(table, n)
    assert all(within(picks[cid], n, 0.25) for cid in (1, 2, 3, 4)), picks


def test_weight_zero_counts_as_the_mean_of_the_positive_weights() -> None:
    # weights 0, 2, 4 -> 0 counts as 3: shares 3/9, 2/9, 4/9
    table = RoutingTable([row(1, weight=0), row(2, weight=2), row(3, weight=4)])
    n = 9000
    picks = draws(table, n)
    for cid, p in ((1, 3 / 9), (2, 2 / 9), (3, 4 / 9)):
        assert within(picks[cid], n, p), (cid, picks)


def test_a_negative_weight_is_treated_as_zero() -> None:
    assert route_channel(row(1, weight=-5)).weight == 0


def test_the_draw_is_reproducible_with_the_same_seed() -> None:
    table = RoutingTable([row(1, weight=1), row(2, weight=2), row(3, weight=3)])
    first = [table.pick("default", "gpt-4o-mini", rng=random.Random(7)) for _ in range(5)]
    again = [table.pick("default", "gpt-4o-mini", rng=random.Random(7)) for _ in range(5)]
    assert first == again


# -- what is routable -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [STATUS_MANUALLY_DISABLED, STATUS_AUTO_DISABLED, 0])
def test_channels_that_are_not_enabled_are_absent(status: int) -> None:
    table = RoutingTable([row(1, priority=10, status=status, models="gpt-4o-mini,only-here"), row(2)])
    assert set(draws(table, 200)) == {2}
    assert not table.has_route("default", "only-here")
    assert table.pick("default", "only-here") is None
    assert "only-here" not in table.models_for_group("default")
    # still known by id: a pinned request can find it (and then refuse it as disabled)
    channel = table.channel(1)
    assert channel is not None and channel.status == status


def test_groups_route_independently() -> None:
    table = RoutingTable([row(1, group="default,vip"), row(2, group="vip", priority=10), row(3, group="svip")])
    assert set(draws(table, 100, group="default")) == {1}
    assert set(draws(table, 100, group="vip")) == {2}
    assert set(draws(table, 100, group="vip", exclude=(2,))) == {1}
    assert set(draws(table, 100, group="svip")) == {3}
    assert table.pick("nobody", "gpt-4o-mini") is None
    assert not table.has_route("nobody", "gpt-4o-mini")


def test_models_route_independently_and_unknown_models_have_no_route() -> None:
    table = RoutingTable([row(1, models="gpt-4o-mini,gpt-4o"), row(2, models="gpt-4o", priority=10)])
    assert set(draws(table, 100, model="gpt-4o-mini")) == {1}
    assert set(draws(table, 100, model="gpt-4o")) == {2}
    assert table.pick("default", "gpt-5") is None
    assert table.pick("default", "") is None


def test_model_mapping_gives_the_upstream_model() -> None:
    table = RoutingTable([row(1, models="gpt-4o-mini,my-alias,other",
                              model_mapping='{"my-alias": "gpt-4o", "other": 5, "blank": ""}')])
    channel = table.pick("default", "my-alias")
    assert channel is not None
    assert channel.upstream_model("my-alias") == "gpt-4o"
    assert channel.upstream_model("gpt-4o-mini") == "gpt-4o-mini"
    assert channel.upstream_model("other") == "other"  # a non-string target is ignored
    assert channel.upstream_model("blank") == "blank"
    # routing uses the requested name, not the mapped one
    assert table.pick("default", "gpt-4o") is None


@pytest.mark.parametrize("mapping", ["", "   ", "not json", "[1, 2]", '"a string"'])
def test_a_bad_model_mapping_means_no_mapping(mapping: str) -> None:
    channel = route_channel(row(1, model_mapping=mapping))
    assert dict(channel.model_mapping) == {}
    assert channel.upstream_model("gpt-4o-mini") == "gpt-4o-mini"


def test_models_for_group() -> None:
    table = RoutingTable([row(1, models="b-model, a-model", group="default,vip"),
                          row(2, models="c-model,a-model", group="vip"),
                          row(3, models="z-model", group="vip", status=STATUS_MANUALLY_DISABLED)])
    assert table.models_for_group("default") == ("a-model", "b-model")
    assert table.models_for_group("vip") == ("a-model", "b-model", "c-model")
    assert table.models_for_group("svip") == ()


def test_channel_snapshot_fields() -> None:
    table = RoutingTable([row(7, priority=3, weight=2, base_url="https://api.example.com/",
                              config='{"region": "us"}', system_prompt="be brief")])
    channel = table.channel(7)
    assert channel is not None
    assert channel.base_url == "https://api.example.com"  # trailing slash dropped
    assert (channel.priority, channel.weight, channel.models, channel.groups) == (3, 2, ("gpt-4o-mini",),
                                                                                  ("default",))
    assert channel.config["region"] == "us" and channel.system_prompt == "be brief"
    assert "sk-7" not in repr(channel)  # the key stays out of logs
    assert [c.id for c in table.channels()] == [7]
    assert table.channel(8) is None


def test_an_empty_table_routes_nothing() -> None:
    table = RoutingTable([])
    assert table.pick("default", "gpt-4o-mini") is None
    assert table.channels() == [] and table.models_for_group("default") == ()


def test_is_listed_counts_disabled_channels_has_route_does_not() -> None:
    """404 model_not_found (nothing lists the model for the group) versus 503 (listed, none enabled now)."""
    table = RoutingTable([row(1, status=STATUS_AUTO_DISABLED, models="gpt-4o"), row(2, models="gpt-4o-mini")])
    assert table.is_listed("default", "gpt-4o") and not table.has_route("default", "gpt-4o")
    assert table.is_listed("default", "gpt-4o-mini") and table.has_route("default", "gpt-4o-mini")
    assert not table.is_listed("default", "gpt-9") and not table.is_listed("vip", "gpt-4o")
