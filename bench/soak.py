"""``python -m bench.soak``: one oneapi process under a long run of small requests, its memory watched.

BENCH_SOAK_REQUESTS (default 1,000,000; 50,000 with BENCH_QUICK=1) non-stream chats through oneapi (SQLite, billing
and consume logs on) from the benchmark's fake upstream, at BENCH_CONNECTIONS (32) connections, sent in slices of
BENCH_SOAK_SAMPLE_S (5) seconds with wrk when installed, else the bundled asyncio client (BENCH_LOAD chooses).
After each slice oneapi's RSS is read from /proc. Printed: the RSS series (MiB, one figure per slice), and the
verdict: flat when every sample after the warm-up (the first BENCH_SOAK_WARMUP of the requests, default 0.1) stays
within 10% of the first sample after it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time

from bench.__main__ import ACCESS, KEY, api, free_port, load, start, stop, wait_port
from bench.knobs import knob
from bench.load import wrk_available
from bench.streams import rss_bytes

TOLERANCE = 0.10


def verdict(series: list[tuple[int, int]], warmup: int) -> str:
    """Whether the RSS samples ((requests so far, bytes)) taken after ``warmup`` requests stay within 10% of the
    first of them."""
    after = [rss for done, rss in series if done > warmup]
    if len(after) < 2:
        return "too few samples after the warm-up to judge (raise BENCH_SOAK_REQUESTS)"
    base = after[0]
    low, high = min(after) / base - 1, max(after) / base - 1
    flat = low >= -TOLERANCE and high <= TOLERANCE
    return (f"{'flat' if flat else 'NOT flat'}: after the warm-up RSS moved {low:+.1%} / {high:+.1%} around "
            f"{base / 2**20:.1f} MiB ({len(after)} samples; tolerance ±{TOLERANCE:.0%})")


def compact(samples: list[int]) -> str:
    """The series in whole MiB, runs of one figure written once with their length: "114 189×208 190"."""
    runs: list[list[int]] = []
    for mib in (round(rss / 2**20) for rss in samples):
        if runs and runs[-1][0] == mib:
            runs[-1][1] += 1
        else:
            runs.append([mib, 1])
    return " ".join(f"{mib}×{n}" if n > 1 else str(mib) for mib, n in runs)


def main() -> None:
    total = int(float(knob("BENCH_SOAK_REQUESTS", "1000000", "50000")))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "32"))
    slice_s = max(1.0, float(os.environ.get("BENCH_SOAK_SAMPLE_S", "5")))  # wrk runs whole seconds
    warmup = int(total * float(os.environ.get("BENCH_SOAK_WARMUP", "0.1")))
    loader = os.environ.get("BENCH_LOAD", "wrk" if wrk_available() else "asyncio")
    print(f"oneapi soak — {os.cpu_count()} CPUs, {total:,} requests at {connections} connections, load generator: "
          f"{loader}, RSS sampled every {slice_s:g} s")
    ports = {"upstream": free_port(), "oneapi": free_port()}
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as home:
        try:
            procs.append(start(["-m", "bench.servers", "upstream", str(ports["upstream"])]))
            upstream = f"http://127.0.0.1:{ports['upstream']}"
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SQL_", "REDIS_", "LOG_SQL_"))}
            env.update(ONEAPI_HOME=home, INITIAL_ROOT_TOKEN=KEY, INITIAL_ROOT_ACCESS_TOKEN=ACCESS,
                       GLOBAL_API_RATE_LIMIT="0")
            procs.append(start(["-m", "oneapi", "serve", "--port", str(ports["oneapi"])], env=env, cwd=home))
            pid = procs[1].pid
            for port in ports.values():
                wait_port(port)
            api(ports["oneapi"], "POST", "/api/channel/", {"type": 1, "name": "bench", "key": "k",
                                                           "base_url": upstream, "models": "gpt-4o-mini"})
            url = f"http://127.0.0.1:{ports['oneapi']}/v1/chat/completions"
            series = [(0, rss_bytes(pid))]
            done = errors = 0
            began = time.monotonic()
            while done < total:
                # wrk runs for whole seconds and may overshoot the count by one slice: close enough for a soak.
                result = load(url, connections, slice_s, max_requests=total - done)
                done += result.requests + result.errors
                errors += result.errors
                series.append((done, rss_bytes(pid)))
                if sys.stderr.isatty():  # a long run shows it is alive, without cluttering a saved report
                    print(f"\r   {done:,} requests, RSS {series[-1][1] / 2**20:.0f} MiB", end="", file=sys.stderr,
                          flush=True)
            elapsed = time.monotonic() - began
            if sys.stderr.isatty():
                print("\r", end="", file=sys.stderr)
            print(f"   {done:,} requests in {elapsed:.0f} s ({done / elapsed:.0f} req/s), errors {errors}")
            print(textwrap.fill(f"RSS MiB (start, then after each slice; ×n: n slices alike): "
                                f"{compact([rss for _, rss in series])}", 110, initial_indent="   ",
                                subsequent_indent="     "))
            print(f"   {verdict(series, warmup)}")
        finally:
            stop(procs)


if __name__ == "__main__":
    main()
