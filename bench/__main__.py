"""``make bench`` / ``python -m bench``: oneapi against a bare aiohttp pass-through and the upstream itself.

Three processes serve: the fake upstream, the pass-through, and oneapi (SQLite, billing and consume logging
on). The load comes from wrk when installed, else from the bundled asyncio client — the same one for every
target. Printed:

1. non-stream requests/s at 32 connections: upstream direct, pass-through, oneapi (and oneapi / pass-through);
2. p50 / p99 latency at concurrency 1, and oneapi's added p50 over calling the upstream directly;
3. a 20-chunk stream: time to first byte and total time (medians);
4. with Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/9 when it answers): non-stream throughput of one
   oneapi process with Redis's shared balances, and of ``--workers 2`` (all workers' CPU counted).

LiteLLM's proxy, when installed in a venv of its own (bench/peer.py: BENCH_LITELLM, else
``.bench-litellm/bin/litellm``), runs on the same fake upstream and gets a row in 1 and 2; without it those rows
say how to install it.

Beside each throughput figure: the serving process's CPU time per request (user + system, from /proc), which
other load on the machine disturbs far less than requests per second.

Targets (issue #3, on a 2-core machine): oneapi >= 50% of the pass-through's throughput; <= 1 ms added p50.
Environment knobs: BENCH_SECONDS (default 8), BENCH_CONNECTIONS (32), BENCH_LOAD=asyncio|wrk.

The longer benchmarks are separate commands: ``python -m bench.streams`` (many slow streams at once) and
``python -m bench.soak`` (a million requests, memory watched); ``python -m bench.multinode`` needs a SQL server.
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
from pathlib import Path

from bench import peer
from bench.load import Result, run_asyncio, run_wrk, stream_test, wrk_available

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


def load(url: str, connections: int, seconds: float, key: str = KEY, max_requests: int = 1_000_000) -> Result:
    """``seconds`` of load; the asyncio client also stops after ``max_requests`` (wrk knows only durations)."""
    if os.environ.get("BENCH_LOAD", "wrk" if wrk_available() else "asyncio") == "wrk":
        return run_wrk(url, key, connections, seconds)
    return asyncio.run(run_asyncio(url, key, connections, seconds, max_requests=max_requests))


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
    print("4. with Redis: shared balances; --workers")
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


def main() -> None:
    seconds = float(os.environ.get("BENCH_SECONDS", "8"))
    connections = int(os.environ.get("BENCH_CONNECTIONS", "32"))
    ports = {"upstream": free_port(), "passthrough": free_port(), "oneapi": free_port()}
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as home:
        try:
            procs.append(start(["-m", "bench.servers", "upstream", str(ports["upstream"])]))
            upstream = f"http://127.0.0.1:{ports['upstream']}"
            procs.append(start(["-m", "bench.servers", "passthrough", str(ports["passthrough"]), upstream]))
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SQL_", "REDIS_", "LOG_SQL_"))}
            env.update(ONEAPI_HOME=home, INITIAL_ROOT_TOKEN=KEY, INITIAL_ROOT_ACCESS_TOKEN=ACCESS,
                       GLOBAL_API_RATE_LIMIT="0")
            procs.append(start(["-m", "oneapi", "serve", "--port", str(ports["oneapi"])], env=env, cwd=home))
            pids = {"upstream": procs[0].pid, "passthrough": procs[1].pid, "oneapi": procs[2].pid}
            keys = dict.fromkeys(ports, KEY)
            for port in ports.values():
                wait_port(port)
            litellm = peer.find()
            peer_hint = PEER_HINT
            if litellm is not None:
                port = free_port()
                procs.append(peer.start(litellm, upstream, port, home))
                if peer.ready(procs[-1], port):
                    ports["litellm"], pids["litellm"], keys["litellm"] = port, procs[-1].pid, peer.KEY
                else:
                    peer_hint = (f"   {'litellm':12} {litellm} did not start (it exited, or was not listening "
                                 f"after {peer.START_TIMEOUT} s)")
            api(ports["oneapi"], "POST", "/api/channel/", {"type": 1, "name": "bench", "key": "k",
                                                           "base_url": upstream, "models": "gpt-4o-mini"})
            urls = {name: f"http://127.0.0.1:{port}/v1/chat/completions" for name, port in ports.items()}
            with_peer = "litellm" in urls
            for name, url in urls.items():  # warm up connections, caches and the tokenizer
                asyncio.run(run_asyncio(url, keys[name], 4, 1.0))
            loader = os.environ.get("BENCH_LOAD", "wrk" if wrk_available() else "asyncio")
            print(f"oneapi benchmark — {os.cpu_count()} CPUs, load generator: {loader}, {seconds:g} s per run\n")
            print(f"1. non-stream throughput, {connections} connections")
            rps = {}
            for name, url in urls.items():
                cpu_before = family_cpu(pids[name])
                result = load(url, connections, seconds, keys[name])
                cpu_us = (family_cpu(pids[name]) - cpu_before) / max(result.requests, 1) * 1e6
                rps[name] = result.rps
                share = (f"   ({result.rps / rps['passthrough']:.0%} of the pass-through)"
                         if name == "litellm" and rps["passthrough"] else "")
                print(f"   {name:12} {result.rps:9.0f} req/s   p50 {result.percentile(50):6.2f} ms   "
                      f"p99 {result.percentile(99):6.2f} ms   CPU {cpu_us:5.0f} µs/req   errors {result.errors}{share}")
            if not with_peer:
                print(peer_hint)
            ratio = rps["oneapi"] / rps["passthrough"] if rps["passthrough"] else 0.0
            print(f"   oneapi / pass-through = {ratio:.0%}  (target >= 50%)\n")
            print("2. latency at concurrency 1")
            p50 = {}
            for name, url in urls.items():
                result = latency(url, seconds / 2, keys[name])
                p50[name] = result.percentile(50)
                print(f"   {name:12} p50 {result.percentile(50):6.3f} ms   p99 {result.percentile(99):6.3f} ms   "
                      f"({result.requests} requests)")
            if not with_peer:
                print(peer_hint)
            print(f"   added by oneapi over the upstream: p50 {p50['oneapi'] - p50['upstream']:+.3f} ms "
                  f"(target <= 1 ms); over the pass-through: {p50['oneapi'] - p50['passthrough']:+.3f} ms\n")
            print("3. 20-chunk stream (medians of 50)")
            for name, url in urls.items():
                if name == "litellm":
                    continue
                first, total, events = asyncio.run(stream_test(url, KEY, 50))
                print(f"   {name:12} first byte {first:6.3f} ms   total {total:6.3f} ms   events {events}")
            print()
            with_redis(upstream, connections, seconds, rps["passthrough"])
        finally:
            stop(procs)


if __name__ == "__main__":
    main()
