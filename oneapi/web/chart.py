"""The dashboard's charts: stacked bars per day and model, laid out here and drawn as SVG by the template.

Pure geometry: no markup is built here, so every label reaches the page through the template's escaping. The
most expensive models keep their own colour; the rest share one "other" series.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

PALETTE = ("#4f46e5", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#14b8a6")
OTHER_COLOR = "#94a3b8"
WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 92, 8, 12, 28


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    color: str
    label: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass
class Chart:
    segments: list[Segment] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not self.segments


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    members: frozenset[str]


def series_for(totals: dict[str, float], other_label: str, keep: int = len(PALETTE)) -> list[Series]:
    """Models by descending total: the first ``keep`` get a colour each, the rest one shared "other" series."""
    ranked = sorted(totals, key=lambda m: (-totals[m], m))
    out = [Series(name, PALETTE[i], frozenset({name})) for i, name in enumerate(ranked[:keep])]
    if len(ranked) > keep:
        out.append(Series(other_label, OTHER_COLOR, frozenset(ranked[keep:])))
    return out


def nice_ceiling(value: float, integer: bool = False) -> float:
    """The top of the axis: four ticks of 1, 2, 2.5 or 5 × 10^k (whole steps for counts) reaching ``value``."""
    if value <= 0:
        return 4.0 if integer else 1.0
    quarter = value / 4
    magnitude = 10 ** math.floor(math.log10(quarter))
    steps = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(s * magnitude for s in steps if s * magnitude >= quarter * (1 - 1e-12))
    return 4 * max(step, 1) if integer else 4 * step


def stacked(days: Sequence[str], values: dict[str, dict[str, float]], series: Sequence[Series],
            value_label: Callable[[float], str], day_label: Callable[[str], str], integer: bool = False) -> Chart:
    """``values[day][model]`` as one bar per day, one segment per series, bottom up in series order."""
    chart = Chart()
    if not days:
        return chart
    totals = [sum(values.get(day, {}).values()) for day in days]
    top = nice_ceiling(max(totals, default=0), integer)
    plot_height = chart.bottom - chart.top
    slot = (chart.right - chart.left) / len(days)
    bar = max(2.0, slot * 0.7)
    for i, day in enumerate(days):
        x = chart.left + i * slot + (slot - bar) / 2
        y = float(chart.bottom)
        for s in series:
            value = sum(v for model, v in values.get(day, {}).items() if model in s.members)
            if value <= 0:
                continue
            height = value / top * plot_height
            y -= height
            chart.segments.append(Segment(round(x, 2), round(y, 2), round(bar, 2), round(height, 2), s.color,
                                          f"{day_label(day)} · {s.name}: {value_label(value)}"))
    for k in range(5):
        value = top * k / 4
        chart.y_ticks.append(Tick(round(chart.bottom - plot_height * k / 4, 2), value_label(value)))
    every = max(1, math.ceil(len(days) / 8))
    for i, day in enumerate(days):
        if i % every == 0:
            chart.x_ticks.append(Tick(round(chart.left + i * slot + slot / 2, 2), day_label(day)))
    return chart
