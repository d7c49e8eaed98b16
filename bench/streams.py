"""``python -m bench.streams``: many slow streams at once, as a busy gateway holds them.

BENCH_STREAMS (default 2000; 200 with BENCH_QUICK=1) concurrent streamed chats, each a realistic LLM answer:
BENCH_STREAM_CHUNKS (50) content chunks BENCH_STREAM_GAP_MS (20) apart, from the benchmark's fake upstream in its
slow mode (``bench.servers slow``), which holds every stream after its first chunk until all of them are open. They
go to the upstream directly (the floor: the load client and the upstream themselves), through the bare aiohttp
pass-through and through oneapi (SQLite, billing and consume logs on). Printed for each:

* completion: how many streams finished whole (status 200, every content chunk, ``[DONE]``);
* the added inter-chunk latency: p50 / p99 of the gap between two content chunks as the client sees them, minus
  the upstream's gap;
* how late the whole answer came: the time from its first to its last content chunk, minus (chunks - 1) gaps
  (chunks that arrive together show as a gap of 0, i.e. -gap, so the gap's p50 alone can flatter a relay that
  falls behind and catches up);
* RSS per open stream: the serving process's RSS (/proc) at its highest while the most streams were open, minus
  its RSS before the run, divided by the number of streams.

The client is a raw asyncio HTTP/1.1 client (no per-chunk parsing beyond finding event boundaries), which raises
its open-file limit to the hard limit; it says so when that limit is too low for the streams asked.
BENCH_STREAM_HOLD_S (default 60) bounds how long the upstream waits for all streams to open.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import resource
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.__main__ import ACCESS, KEY, api, free_port, start, stop, wait_port
from bench.knobs import knob
from bench.load import STREAM_BODY, run_asyncio

CONNECTS_AT_ONCE = 128  # connections being opened at one time, so no listen backlog overflows
STREAM_GRACE_S = 120.0  # beyond the hold and the answer's own length, before a stream is given up
SAMPLE_EVERY = 0.05  # seconds between two RSS samples


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (Linux /proc), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def raise_file_limit(needed: int) -> int:
    """Raise this process's soft open-file limit to the hard one; returns it, warning when below ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError):
            pass
    if soft < needed:
        print(f"   (open-file limit {soft} < {needed} needed: this machine's limits cap the streams held at once)")
    return soft


@dataclass
class Run:
    streams: int
    complete: int = 0
    open_now: int = 0
    gaps_ms: list[float] = field(default_factory=list)
    spans_ms: list[float] = field(default_factory=list)  # first to last content chunk, per complete stream
    samples: list[tuple[int, int]] = field(default_factory=list)  # (streams open, RSS bytes)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def one_stream(port: int, request: bytes, chunks: int, connects: asyncio.Semaphore, run: Run,
                     limit: float) -> None:
    """One streamed chat over a raw connection, given up after ``limit`` seconds; records each content chunk's
    arrival time."""
    times: list[float] = []
    done = False
    status = b""
    opened = False
    writer = None
    try:
        async with asyncio.timeout(limit):
            async with connects:  # held until the answer's first bytes: the connection is then open for good
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                data = await reader.read(65536)
            opened = True
            run.open_now += 1
            status = data.split(b"\r\n", 1)[0]
            pending = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
            now = time.perf_counter()
            while True:
                # Events end with a blank line; the chunked framing between them never holds one.
                *events, pending = pending.split(b"\n\n")
                for event in events:
                    if b"word" in event:
                        times.append(now)
                    elif b"[DONE]" in event:
                        done = True
                data = await reader.read(65536)
                if not data:
                    break
                now = time.perf_counter()
                pending += data
    except TimeoutError:
        failure: str | None = "timeout"
    except (OSError, asyncio.IncompleteReadError) as exc:
        failure = type(exc).__name__
    else:
        failure = None
    finally:
        if opened:
            run.open_now -= 1
        if writer is not None:
            writer.close()
    if failure is not None:  # each stream counts once, under its first failure
        run.error(failure)
    elif b" 200 " not in status:
        run.error(f"status {status.decode(errors='replace')[9:12] or 'none'}")
    elif len(times) == chunks and done:
        run.complete += 1
        run.spans_ms.append((times[-1] - times[0]) * 1000)
    else:
        run.error("cut short")
    run.gaps_ms.extend((b - a) * 1000 for a, b in itertools.pairwise(times))


async def sample_rss(pid: int, run: Run, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            run.samples.append((run.open_now, rss_bytes(pid)))
        except OSError:
            return
        await asyncio.sleep(SAMPLE_EVERY)


async def run_streams(port: int, pid: int, streams: int, chunks: int, key: str, limit: float) -> Run:
    body = STREAM_BODY.encode()
    request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
               ).encode() + body
    run = Run(streams)
    connects = asyncio.Semaphore(CONNECTS_AT_ONCE)
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(pid, run, stop))
    await asyncio.gather(*(one_stream(port, request, chunks, connects, run, limit) for _ in range(streams)))
    stop.set()
    await sampler
    return run


def report(name: str, run: Run, idle_rss: int, gap_ms: float, chunks: int) -> None:
    most_open = max((n for n, _ in run.samples), default=0)
    peak_rss = max((rss for n, rss in run.samples if n == most_open), default=idle_rss)
    per_stream = (peak_rss - idle_rss) / run.streams / 1024
    added = [g - gap_ms for g in run.gaps_ms]
    late = [span - (chunks - 1) * gap_ms for span in run.spans_ms]
    errors = ", ".join(f"{k} {v}" for k, v in sorted(run.errors.items())) or "none"
    print(f"   {name:12} complete {run.complete:5}/{run.streams}   added gap p50 {percentile(added, 50):+7.2f} ms"
          f" p99 {percentile(added, 99):+7.2f} ms   whole answer late p50 {percentile(late, 50):+6.0f} ms"
          f" p99 {percentile(late, 99):+6.0f} ms\n{'':16}RSS {idle_rss / 2**20:5.1f} -> {peak_rss / 2**20:6.1f} MiB"
          f" with {most_open} open = {per_stream:5.1f} KiB per stream   errors: {errors}")


def main() -> None:
    streams = int(knob("BENCH_STREAMS", "2000", "200"))
    chunks = int(os.environ.get("BENCH_STREAM_CHUNKS", "50"))
    gap_ms = float(os.environ.get("BENCH_STREAM_GAP_MS", "20"))
    hold = os.environ.get("BENCH_STREAM_HOLD_S", "60")
    # A stream that has not ended this long after the start is counted as cut short ("timeout"), not waited for.
    limit = float(hold) + chunks * gap_ms / 1000 + STREAM_GRACE_S
    print(f"oneapi slow-stream benchmark — {os.cpu_count()} CPUs, {streams} concurrent streams of {chunks} chunks "
          f"{gap_ms:g} ms apart")
    raise_file_limit(3 * streams + 100)
    ports = {"upstream": free_port(), "passthrough": free_port(), "oneapi": free_port()}
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as home:
        try:
            procs.append(start(["-m", "bench.servers", "slow", str(ports["upstream"]), str(chunks), str(gap_ms),
                                str(streams), hold]))
            upstream = f"http://127.0.0.1:{ports['upstream']}"
            procs.append(start(["-m", "bench.servers", "passthrough", str(ports["passthrough"]), upstream]))
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SQL_", "REDIS_", "LOG_SQL_"))}
            # No cap on connections from one address: every stream comes from 127.0.0.1.
            env.update(ONEAPI_HOME=home, INITIAL_ROOT_TOKEN=KEY, INITIAL_ROOT_ACCESS_TOKEN=ACCESS,
                       GLOBAL_API_RATE_LIMIT="0", ONEAPI_MAX_CONNECTIONS_PER_IP="0")
            procs.append(start(["-m", "oneapi", "serve", "--port", str(ports["oneapi"])], env=env, cwd=home))
            pids = dict(zip(ports, (p.pid for p in procs), strict=True))
            for port in ports.values():
                wait_port(port)
            api(ports["oneapi"], "POST", "/api/channel/", {"type": 1, "name": "bench", "key": "k",
                                                           "base_url": upstream, "models": "gpt-4o-mini"})
            print("   (upstream: the load client and the fake upstream alone, the floor of the other rows)")
            for name, port in ports.items():
                # Non-stream requests first (the upstream's gate holds only streams): caches, the tokenizer.
                asyncio.run(run_asyncio(f"http://127.0.0.1:{port}/v1/chat/completions", KEY, 4, 1.0))
                idle = rss_bytes(pids[name])
                run = asyncio.run(run_streams(port, pids[name], streams, chunks, KEY, limit))
                report(name, run, idle, gap_ms, chunks)
        finally:
            stop(procs)


if __name__ == "__main__":
    main()
