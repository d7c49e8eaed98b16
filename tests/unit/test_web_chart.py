"""The dashboard chart's geometry (oneapi.web.chart)."""

from __future__ import annotations

import pytest

from oneapi.web import chart


@pytest.mark.parametrize(("value", "integer", "expected"), [  # four ticks of 1, 2, 2.5 or 5 × 10^k
    (0, False, 1.0), (0.7, False, 0.8), (1.2, False, 2.0), (2.3, False, 4.0), (3, False, 4.0), (7, False, 8.0),
    (0.0013, False, 0.002), (0, True, 4.0), (1, True, 4.0), (5, True, 8.0), (17, True, 20.0), (9, True, 20.0),
    (1000, False, 1000.0),
])
def test_nice_ceiling(value: float, integer: bool, expected: float) -> None:
    assert chart.nice_ceiling(value, integer) == pytest.approx(expected)


def test_series_keep_the_biggest_models_and_group_the_rest() -> None:
    totals = {f"m{i}": float(i) for i in range(10)}
    series = chart.series_for(totals, "Other")
    assert [s.name for s in series] == ["m9", "m8", "m7", "m6", "m5", "m4", "m3", "Other"]
    assert series[-1].members == {"m0", "m1", "m2"} and series[-1].color == chart.OTHER_COLOR
    assert len({s.color for s in series}) == len(series)


def test_stacked_bars_fill_the_plot_in_proportion() -> None:
    days = ["2030-01-01", "2030-01-02", "2030-01-03"]
    values = {"2030-01-01": {"a": 1.0, "b": 3.0}, "2030-01-03": {"a": 2.0}}
    series = chart.series_for({"a": 3.0, "b": 3.0}, "Other")
    c = chart.stacked(days, values, series, lambda v: f"{v:g}", lambda d: d[5:])
    plot = c.bottom - c.top
    assert [t.label for t in c.y_ticks] == ["0", "1", "2", "3", "4"]
    first = [s for s in c.segments if s.label.startswith("01-01")]
    assert len(first) == 2 and sum(s.height for s in first) == pytest.approx(plot, abs=0.05)
    assert first[0].y + first[0].height == pytest.approx(c.bottom, abs=0.01)  # stacked from the axis up
    assert first[1].y + first[1].height == pytest.approx(first[0].y, abs=0.02)
    assert not [s for s in c.segments if s.label.startswith("01-02")]
    assert [t.label for t in c.x_ticks] == ["01-01", "01-02", "01-03"]
    assert chart.stacked([], {}, series, str, str).empty


def test_thirty_days_get_a_readable_number_of_labels() -> None:
    days = [f"2030-01-{d:02d}" for d in range(1, 31)]
    c = chart.stacked(days, {}, [], str, lambda d: d[5:])
    assert c.empty and 5 <= len(c.x_ticks) <= 8
