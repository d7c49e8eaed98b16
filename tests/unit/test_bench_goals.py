"""``make bench``'s goals block (``bench.goals``) and its quick sizes (``bench.knobs``): the verdict of each of
issue 16's four goals at and around its bound (at the precision printed), a figure that cannot be judged, and the
printed block."""

from __future__ import annotations

import math

import pytest

from bench import goals, knobs
from bench.goals import Figures

PASSTHROUGH = Figures(rps=1000.0, stream_rps=500.0, p50_c1_ms=0.5, p99_ms=20.0)


def verdicts(oneapi: Figures, passthrough: Figures = PASSTHROUGH) -> list[bool | None]:
    return [goal.met for goal in goals.judge(oneapi, passthrough)]


@pytest.mark.parametrize(("oneapi", "expected"), [
    # exactly at every bound: met
    (Figures(700.0, 400.0, 0.8, 30.0), [True, True, True, True]),
    # past every bound at the precision printed: not met
    (Figures(694.0, 397.0, 0.801, 30.2), [False, False, False, False]),
    # short of a bound by less than the precision printed: met, as the figure beside it reads (70%, 80%, ...)
    (Figures(696.0, 398.0, 0.8004, 30.09), [True, True, True, True]),
    # faster than the pass-through on every figure
    (Figures(1200.0, 600.0, 0.4, 10.0), [True, True, True, True]),
    # one goal missed alone, each in turn
    (Figures(500.0, 450.0, 0.6, 25.0), [False, True, True, True]),
    (Figures(800.0, 300.0, 0.6, 25.0), [True, False, True, True]),
    (Figures(800.0, 450.0, 1.5, 25.0), [True, True, False, True]),
    (Figures(800.0, 450.0, 0.6, 45.0), [True, True, True, False]),
])
def test_each_goal_is_judged_against_its_bound(oneapi: Figures, expected: list[bool | None]) -> None:
    assert verdicts(oneapi) == expected


def test_a_figure_missing_is_not_measured_rather_than_met_or_missed() -> None:
    # wrk's p99 unparsed (nan), a pass-through that served nothing: neither is a verdict.
    oneapi = Figures(700.0, 400.0, math.nan, math.nan)
    assert verdicts(oneapi, Figures(0.0, 0.0, 0.5, 20.0)) == [None, None, None, None]


def test_block_names_each_figure_its_value_goal_and_verdict() -> None:
    block = goals.render(goals.judge(Figures(750.0, 300.0, 0.62, 33.0), PASSTHROUGH), "wrk")
    lines = block.splitlines()
    assert lines[0].startswith("goals (issue 16")
    assert "75% of the pass-through" in lines[1] and ">= 70%" in lines[1] and lines[1].endswith(" met")
    assert "60% of the pass-through" in lines[2] and ">= 80%" in lines[2] and lines[2].endswith("NOT met")
    assert "+0.120 ms over the pass-through" in lines[3] and "<= 0.3 ms" in lines[3] and lines[3].endswith(" met")
    assert "1.65x the pass-through's" in lines[4] and "<= 1.5x" in lines[4] and lines[4].endswith("NOT met")
    assert lines[5] == "   2 of 4 goals met"


def test_block_says_when_the_load_generator_is_not_the_goals_own() -> None:
    block = goals.render(goals.judge(Figures(750.0, 450.0, 0.6, 25.0), PASSTHROUGH), "asyncio")
    assert block.splitlines()[-1] == "   4 of 4 goals met (load generator asyncio: the goals are set for wrk)"
    unjudged = goals.render(goals.judge(Figures(750.0, 450.0, 0.6, 25.0), Figures(0, 0, 0.5, 20)), "wrk")
    assert unjudged.splitlines()[1].endswith("not measured")


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "2000"),
    ({"BENCH_QUICK": "1"}, "200"),
    ({"BENCH_QUICK": "0"}, "2000"),
    ({"BENCH_QUICK": "1", "BENCH_STREAMS": "50"}, "50"),  # a knob set explicitly wins over the quick size
    ({"BENCH_STREAMS": "50"}, "50"),
])
def test_quick_sizes_apply_only_to_knobs_left_unset(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                     expected: str) -> None:
    for name in ("BENCH_QUICK", "BENCH_STREAMS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert knobs.knob("BENCH_STREAMS", "2000", "200") == expected
