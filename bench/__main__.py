"""``make bench`` / ``python -m bench``: oneapi against a bare aiohttp pass-through and the upstream itself,
then the many-slow-streams benchmark and the soak: one report.

The main run: three processes serve, the fake upstream, the pass-through, and oneapi (SQLite, billing and consume
logging on). The load comes from wrk when installed, else from the bundled asyncio client — the same one for
every target. Printed:

1. non-stream requests/s at 32 connections: upstream direct, pass-through, oneapi (and oneapi / pass-through);
2. 20-chunk streamed chats per second at 32 connections, each read to its end, the same targets;
3. p50 / p99 latency at concurrency 1, and oneapi's added p50 over the upstream and over the pass-through;
4. one 20-chunk stream: time to first byte and total time (medians of 50);
5. with Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/9 when it answers): non-stream throughput of one
   oneapi process with Redis's shared balances, and of ``--workers 2`` (all workers' CPU counted);

then the goals of issue 16 (bench/goals.py), each measured against the pass-through of this run, met or not:
non-stream throughput >= 70% of the pass-through's, 20-chunk streams >= 80%, added p50 at concurrency 1 <= 0.3 ms,
p99 at 32 connections <= 1.5x the pass-through's (from section 1). The goals are set for wrk.

LiteLLM's proxy, when installed in a venv of its own (bench/peer.py: BENCH_LITELLM, else
``.bench-litellm/bin/litellm``), runs on the same fake upstream and gets a row in 1, 2 and 3; without it those
rows say how to install it.

Beside each throughput figure: the serving process's CPU time per request (user + system, from /proc), which
other load on the machine disturbs far less than requests per second.

Then, each in its own process once the previous benchmark's servers have stopped: ``python -m bench.streams``
(many slow streams at once) and ``python -m bench.soak`` (a million requests, memory watched), at their full
sizes; their docstrings say what they print. ``python -m bench.multinode`` (it needs a SQL server) stays a
command of its own.

Environment knobs: BENCH_SECONDS (default 8) per measurement, BENCH_CONNECTIONS (32), BENCH_LOAD=asyncio|wrk;
BENCH_QUICK=1 for a quick look: 3 s measurements, 200 slow streams, a 50,000-request soak (a knob set
explicitly wins, e.g. BENCH_QUICK=1 BENCH_SECONDS=2); bench.streams and bench.soak have knobs of their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench import goals, peer
from bench.knobs import knob
from bench.load import BODY, STREAM_BODY, Result, run_asyncio, run_wrk, stream_test, wrk_available

KEY = "benchkey0000000000000000000000000000000000000000"[:48]
ACCESS = "bench-access-token-000000000000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"bench: nothing listening on port {port} after {timeout} s")


def start(args: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every process, then SIGKILL to any still there after 30 s."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def api(port: int, method: str, path: str, body: object) -> object:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method=method,
                                 headers={"Authorization": ACCESS, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        answer = json.loads(resp.read())
    if not answer.get("success"):
        raise SystemExit(f"bench: {path} failed: {answer}")
    return answer.get("data")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loader_name() -> str:
    return os.environ.get("BENCH_LOAD", "wrk" if wrk_available() else "asyncio")


def load(url: str, connections: int, seconds: float, key: str = KEY, max_requests: int = 1_000_000,
         body: str = BODY) -> Result:
    """``seconds`` of load; the asyncio client also stops after ``max_requests`` (wrk knows only durations)."""
    if loader_name() == "wrk":
        return run_wrk(url, key, connections, seconds, body)
    return asyncio.run(run_asyncio(url, key, connections, seconds, body, max_requests=max_requests))


def redis_url() -> str | None:
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.flushdb()
        client.close()
    except Exception:
        return None
    return url


def family_cpu(pid: int) -> float:
    """CPU time of a process and its children (the workers of ``--workers``)."""
    total = cpu_seconds(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def with_redis(upstream: str, connections: int, seconds: float, passthrough_rps: float) -> None:
    url = redis_url()
    print("5. with Redis: shared balances; --workers")
    if url is None:
        print("   (no Redis answers at BENCH_REDIS_URL or redis://127.0.0.1:6379/9: start one to see these rows)")
        return
    for workers in (1, 2):
        port = free_port()
        with tempfile.TemporaryDirectory() as home:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SQL_", "REDIS_", "LOG_SQL_"))}
            env.update(ONEAPI_HOME=home, INITIAL_ROOT_TOKEN=KEY, INITIAL_ROOT_ACCESS_TOKEN=ACCESS,
                       GLOBAL_API_RATE_LIMIT="0", REDIS_CONN_STRING=url, ONEAPI_WORKERS=str(workers))
            proc = start(["-m", "oneapi", "serve", "--port", str(port)], env=env, cwd=home)
            try:
                wait_port(port)
                api(port, "POST", "/api/channel/", {"type": 1, "name": "bench", "key": "k", "base_url": upstream,
                                                    "models": "gpt-4o-mini"})
                target = f"http://127.0.0.1:{port}/v1/chat/completions"
                time.sleep(0.5)  # every worker hears of the channel
                asyncio.run(run_asyncio(target, KEY, 4, 1.0))
                cpu_before = family_cpu(proc.pid)
                result = load(target, connections, seconds)
                cpu_us = (family_cpu(proc.pid) - cpu_before) / max(result.requests, 1) * 1e6
                share = result.rps / passthrough_rps if passthrough_rps else 0.0
                label = "1 process" if workers == 1 else f"--workers {workers}"
                print(f"   {label:12} {result.rps:9.0f} req/s   p50 {result.percentile(50):6.2f} ms   "
                      f"p99 {result.percentile(99):6.2f} ms   CPU {cpu_us:5.0f} µs/req   errors {result.errors}   "
                      f"({share:.0%} of the pass-through)")
            finally:
                stop([proc])


def latency(url: str, seconds: float, key: str = KEY) -> Result:
    # Concurrency 1, always with the asyncio client so every request's latency is known.
    return asyncio.run(run_asyncio(url, key, 1, seconds))


PEER_HINT = f"   {'litellm':12} not installed: {peer.INSTALL}  (or set BENCH_LITELLM=/path/to/bin/litellm)"


@dataclass
class Targets:
    """The servers of the main run: each one's chat URL, serving process and API key, by name."""

    urls: dict[str, str] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    peer_hint: str = PEER_HINT  # printed in place of LiteLLM's rows when it does not run

    def add(self, name: str, port: int, pid: int, key: str = KEY) -> None:
        self.urls[name] = f"http://127.0.0.1:{port}/v1/chat/completions"
        self.pids[name], self.keys[name] = pid, key

    def hint_unless_peer(self) -> None:
        if "litellm" not in self.urls:
            print(self.peer_hint)


def serve(home: str, procs: list[subprocess.Popen[bytes]]) -> tuple[str, Targets]:
    """Starts the upstream, the pass-through, oneapi and (when installed) LiteLLM, each warmed up; returns the
    upstream's URL and the targets. Every process started is appended to ``procs`` for the caller to stop."""
    ports = {"upstream": free_port(), "passthrough": free_port(), "oneapi": free_port()}
    procs.append(start(["-m", "bench.servers", "upstream", str(ports["upstream"])]))
    upstream = f"http://127.0.0.1:{ports['upstream']}"
    procs.append(start(["-m", "bench.servers", "passthrough", str(ports["passthrough"]), upstream]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQL_", "REDIS_", "LOG_SQL_"))}
    env.update(ONEAPI_HOME=home, INITIAL_ROOT_TOKEN=KEY, INITIAL_ROOT_ACCESS_TOKEN=ACCESS,
               GLOBAL_API_RATE_LIMIT="0")
    procs.append(start(["-m", "oneapi", "serve", "--port", str(ports["oneapi"])], env=env, cwd=home))
    targets = Targets()
    for (name, port), proc in zip(ports.items(), procs[-3:], strict=True):
        wait_port(port)
        targets.add(name, port, proc.pid)
    litellm = peer.find()
    if litellm is not None:
        port = free_port()
        procs.append(peer.start(litellm, upstream, port, home))
        if peer.ready(procs[-1], port):
            targets.add("litellm", port, procs[-1].pid, peer.KEY)
        else:
            targets.peer_hint = (f"   {'litellm':12} {litellm} did not start (it exited, or was not listening "
                                 f"after {peer.START_TIMEOUT} s)")
    api(ports["oneapi"], "POST", "/api/channel/", {"type": 1, "name": "bench", "key": "k",
                                                   "base_url": upstream, "models": "gpt-4o-mini"})
    for name, url in targets.urls.items():  # warm up connections, caches and the tokenizer
        asyncio.run(run_asyncio(url, targets.keys[name], 4, 1.0))
    return upstream, targets


def throughput(targets: Targets, connections: int, seconds: float, body: str) -> dict[str, Result]:
    """One row per target: requests/s, latency, the serving process's CPU per request, errors."""
    results = {}
    for name, url in targets.urls.items():
        cpu_before = family_cpu(targets.pids[name])
        result = results[name] = load(url, connections, seconds, targets.keys[name], body=body)
        cpu_us = (family_cpu(targets.pids[name]) - cpu_before) / max(result.requests, 1) * 1e6
        base = results["passthrough"].rps if name == "litellm" else 0.0
        share = f"   ({result.rps / base:.0%} of the pass-through)" if base else ""
        print(f"   {name:12} {result.rps:9.0f} req/s   p50 {result.percentile(50):6.2f} ms   "
              f"p99 {result.percentile(99):6.2f} ms   CPU {cpu_us:5.0f} µs/req   errors {result.errors}{share}")
    targets.hint_unless_peer()
    ratio = results["oneapi"].rps / results["passthrough"].rps if results["passthrough"].rps else 0.0
    print(f"   oneapi / pass-through = {ratio:.0%}\n")
    return results


def concurrency_one(targets: Targets, seconds: float) -> dict[str, float]:
    """p50 at concurrency 1 by target (ms), its rows printed."""
    p50 = {}
    for name, url in targets.urls.items():
        result = latency(url, seconds / 2, targets.keys[name])
        p50[name] = result.percentile(50)
        print(f"   {name:12} p50 {result.percentile(50):6.3f} ms   p99 {result.percentile(99):6.3f} ms   "
              f"({result.requests} requests)")
    targets.hint_unless_peer()
    print(f"   added by oneapi over the upstream: p50 {p50['oneapi'] - p50['upstream']:+.3f} ms; "
          f"over the pass-through: {p50['oneapi'] - p50['passthrough']:+.3f} ms\n")
    return p50


def main_run(seconds: float, connections: int) -> None:
    with tempfile.TemporaryDirectory() as home:
        procs: list[subprocess.Popen[bytes]] = []
        try:
            upstream, targets = serve(home, procs)
            loader = loader_name()
            print(f"oneapi benchmark — {os.cpu_count()} CPUs, load generator: {loader}, {seconds:g} s per run\n")
            print(f"1. non-stream throughput, {connections} connections")
            plain = throughput(targets, connections, seconds, BODY)
            print(f"2. 20-chunk stream throughput, {connections} connections (streams read to their end)")
            streamed = throughput(targets, connections, seconds, STREAM_BODY)
            print("3. latency at concurrency 1")
            p50 = concurrency_one(targets, seconds)
            print("4. one 20-chunk stream (medians of 50)")
            for name, url in targets.urls.items():
                if name == "litellm":
                    continue
                first, total, events = asyncio.run(stream_test(url, KEY, 50))
                print(f"   {name:12} first byte {first:6.3f} ms   total {total:6.3f} ms   events {events}")
            print()
            with_redis(upstream, connections, seconds, plain["passthrough"].rps)
            print()
            figures = {name: goals.Figures(plain[name].rps, streamed[name].rps, p50[name],
                                           plain[name].percentile(99)) for name in ("oneapi", "passthrough")}
            print(goals.render(goals.judge(figures["oneapi"], figures["passthrough"]), loader))
        finally:
            stop(procs)


FOLLOW_UPS = ("bench.streams", "bench.soak")


def main() -> None:
    seconds = float(knob("BENCH_SECONDS", "8", "3"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "32"))
    main_run(seconds, connections)
    failed = []
    for module in FOLLOW_UPS:
        # Each in a process of its own, after the previous one's servers have stopped: its open-file limit and
        # its memory stay its own, and one that fails does not stop the next.
        print(flush=True)
        if subprocess.run([sys.executable, "-m", module], check=False).returncode != 0:
            failed.append(module)
    if failed:
        raise SystemExit(f"bench: {', '.join(failed)} failed")


if __name__ == "__main__":
    main()
