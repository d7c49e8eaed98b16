"""Issue 16's four speed goals, judged from one ``make bench`` run against the pass-through of the same run.

Pure: the figures go in, the verdicts and the printed block come out, so the arithmetic is tested without a
server (tests/unit/test_bench_goals.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NON_STREAM_SHARE = 0.70  # oneapi's non-stream requests/s at 32 connections, as a share of the pass-through's
STREAM_SHARE = 0.80  # the same for 20-chunk streamed chats
ADDED_P50_MS = 0.3  # oneapi's p50 at concurrency 1 minus the pass-through's
P99_RATIO = 1.5  # oneapi's p99 at 32 connections over the pass-through's


@dataclass(frozen=True)
class Figures:
    """One target's figures from the main run (requests/s; milliseconds)."""

    rps: float  # non-stream, 32 connections
    stream_rps: float  # 20-chunk streams, 32 connections
    p50_c1_ms: float  # concurrency 1
    p99_ms: float  # non-stream, 32 connections


@dataclass(frozen=True)
class Goal:
    figure: str
    measured: str
    goal: str
    met: bool | None  # None: a figure is missing (no requests, or a pass-through at 0), so it cannot be judged


def _share(ours: float, theirs: float) -> float:
    return ours / theirs if theirs > 0 and math.isfinite(ours) and math.isfinite(theirs) else math.nan


def _judge(value: float, ok: bool) -> bool | None:
    return ok if math.isfinite(value) else None


def judge(oneapi: Figures, passthrough: Figures) -> list[Goal]:
    """The four goals, each judged on its figure rounded as printed, so that a verdict never contradicts the
    figure beside it (69.6% is printed 70% and meets ">= 70%")."""
    share = round(_share(oneapi.rps, passthrough.rps), 2)
    stream_share = round(_share(oneapi.stream_rps, passthrough.stream_rps), 2)
    added = round(oneapi.p50_c1_ms - passthrough.p50_c1_ms, 3)
    ratio = round(_share(oneapi.p99_ms, passthrough.p99_ms), 2)
    return [
        Goal("non-stream throughput, 32 connections", f"{share:.0%} of the pass-through",
             f">= {NON_STREAM_SHARE:.0%}", _judge(share, share >= NON_STREAM_SHARE)),
        Goal("20-chunk stream throughput, 32 connections", f"{stream_share:.0%} of the pass-through",
             f">= {STREAM_SHARE:.0%}", _judge(stream_share, stream_share >= STREAM_SHARE)),
        Goal("added p50 at concurrency 1", f"{added:+.3f} ms over the pass-through",
             f"<= {ADDED_P50_MS:g} ms", _judge(added, added <= ADDED_P50_MS)),
        Goal("p99 at 32 connections", f"{ratio:.2f}x the pass-through's",
             f"<= {P99_RATIO:g}x", _judge(ratio, ratio <= P99_RATIO)),
    ]


def render(goals: list[Goal], loader: str) -> str:
    """The goals block: one line per goal, and a count; says so when the load generator is not the goals' own."""
    verdicts = {True: "met", False: "NOT met", None: "not measured"}
    lines = ["goals (issue 16; each against the pass-through in this run)"]
    lines += [f"   {g.figure:42} {g.measured:32} goal {g.goal:9} {verdicts[g.met]}" for g in goals]
    met = sum(g.met is True for g in goals)
    note = "" if loader == "wrk" else f" (load generator {loader}: the goals are set for wrk)"
    lines.append(f"   {met} of {len(goals)} goals met{note}")
    return "\n".join(lines)
