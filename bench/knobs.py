"""The benchmarks' environment knobs, and the smaller defaults BENCH_QUICK=1 gives them for a quick look.

A knob set in the environment always wins; BENCH_QUICK only changes what an unset knob means, so a quick run can
still be made longer or shorter one knob at a time.
"""

from __future__ import annotations

import os


def quick() -> bool:
    """Whether BENCH_QUICK asks for the quick sizes (any value but empty or 0)."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


def knob(name: str, full: str, quick_value: str) -> str:
    """The environment variable ``name``; unset, ``quick_value`` under BENCH_QUICK, else ``full``."""
    if name in os.environ:
        return os.environ[name]
    return quick_value if quick() else full
