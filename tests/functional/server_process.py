"""Running ``oneapi serve`` (or the .pyz) as a real subprocess, for tests of start-up, shutdown and packaging."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The parent's environment without One API settings, with ONEAPI_HOME set, and a runtime directory of the
    test's own (where servers note their admin sockets), so that tests never find each other's servers."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SQL_", "LOG_SQL_", "REDIS_", "NODE_TYPE", "PORT", "INITIAL_ROOT", "SESSION_"))}
    runtime = home / ".run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env.update({"ONEAPI_HOME": str(home), "XDG_RUNTIME_DIR": str(runtime), **extra})
    return env


def oneapi_cmd() -> list[str]:
    return [sys.executable, "-m", "oneapi"]


def with_default_sigint(cmd: list[str]) -> list[str]:
    """``cmd`` started with SIGINT at its default disposition, as a terminal's Ctrl-C finds it, whatever this
    process inherited: an ignored SIGINT (background jobs, nohup, some CI runners) is inherited by every child,
    and Python then never raises KeyboardInterrupt. The reset happens in a tiny exec wrapper, which, unlike
    ``preexec_fn``, is safe while the test has threads running."""
    reset = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
    return [sys.executable, "-c", reset, *cmd]


def run_cli(*args: str, home: Path, timeout: float = 30, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*oneapi_cmd(), *args], cwd=home, env=clean_env(home, **env), capture_output=True,
                          text=True, timeout=timeout)


class Server:
    """A started server process; ``stop()`` sends SIGTERM and returns the exit code."""

    def __init__(self, cmd: list[str], home: Path, port: int, env: dict[str, str]) -> None:
        self.port = port
        self.log_path = home / "server.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen([*cmd, "serve", "--port", str(port)], cwd=home, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}: {self.output()}")
            try:
                self.get("/api/status")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        raise AssertionError(f"server not ready after {timeout} s: {self.output()}")

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url(path), data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.request("GET", path, headers=headers)

    def stop(self, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")
