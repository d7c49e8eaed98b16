"""The load generator: wrk when installed, else a bundled asyncio client. Same requests for every target.

Both count a response once it has ended: for a streamed chat (STREAM_BODY), wrk's HTTP parser reads the chunked
answer to its last chunk, and the asyncio client reads it whole and counts it an error unless it ends with
``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say twenty words."}]})
STREAM_BODY = json.dumps({"model": "gpt-4o-mini", "stream": True,
                          "messages": [{"role": "user", "content": "Say twenty words."}]})


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run_asyncio(url: str, key: str, connections: int, seconds: float, body: str = BODY,
                      max_requests: int = 1_000_000) -> Result:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    streamed = bool(json.loads(body).get("stream"))
    latencies: list[float] = []
    errors = 0
    count = 0
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors, count
        while time.perf_counter() < deadline and count < max_requests:
            count += 1
            start = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    answer = await resp.read()
                    if resp.status != 200 or (streamed and not answer.rstrip().endswith(b"data: [DONE]")):
                        errors += 1
                        continue
            except aiohttp.ClientError:
                errors += 1
                continue
            latencies.append((time.perf_counter() - start) * 1000)

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(connections)))
        elapsed = time.perf_counter() - began
    return Result(len(latencies), errors, elapsed, latencies)


_WRK_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
# A stream cut short ends its connection before the last chunk: wrk counts it a read error, not a response.
_WRK_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, key: str, connections: int, seconds: float, body: str = BODY) -> Result:
    """wrk's figures as a Result (latencies: only p50 and p99 are known)."""
    script = (f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
              f'wrk.headers["Content-Type"] = "application/json"\n'
              f'wrk.headers["Authorization"] = "Bearer {key}"\n')
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "post.lua"
        path.write_text(script)
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-s",
                              str(path), url], capture_output=True, text=True, check=True).stdout
    rps = float(_WRK_RPS.search(out).group(1))  # type: ignore[union-attr]
    errors = int(m.group(1)) if (m := _WRK_ERRORS.search(out)) else 0
    errors += sum(int(n) for n in m.groups()) if (m := _WRK_SOCKET_ERRORS.search(out)) else 0
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    found = {p: float(v) * scale[u] for p, v, u in _WRK_LATENCY.findall(out)}
    # Represent p50/p99 as a two-point distribution so Result.percentile answers for them.
    lat = [found.get("50", float("nan"))] * 98 + [found.get("99", float("nan"))] * 2
    return Result(int(rps * seconds), errors, seconds, lat)


async def stream_once(session: aiohttp.ClientSession, url: str, key: str) -> tuple[float, float, int]:
    """(time to first byte ms, total ms, data events) of one 20-chunk streamed answer."""
    start = time.perf_counter()
    first = None
    events = 0
    async with session.post(url, data=STREAM_BODY, headers={"Authorization": f"Bearer {key}",
                                                            "Content-Type": "application/json"}) as resp:
        async for chunk in resp.content.iter_any():
            if first is None:
                first = time.perf_counter()
            events += chunk.count(b"data: ")
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000, events


async def stream_test(url: str, key: str, rounds: int) -> tuple[float, float, int]:
    async with aiohttp.ClientSession() as session:
        results = [await stream_once(session, url, key) for _ in range(rounds)]
    return (statistics.median(r[0] for r in results), statistics.median(r[1] for r in results),
            results[-1][2])
