"""The peer of ``make bench``: LiteLLM's proxy, when installed in a venv of its own, on the same fake upstream.

Found at BENCH_LITELLM (the path of its ``litellm`` command), else at ``.bench-litellm/bin/litellm`` in the
current directory. It runs one worker with a minimal config mapping gpt-4o-mini to the fake upstream as an
OpenAI-compatible model, a master key (checked on every request, no database: it neither bills nor logs spend
as oneapi does), and LiteLLM's bundled model-cost map instead of the copy it would download at start.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

DEFAULT_PATH = ".bench-litellm/bin/litellm"
KEY = "sk-bench-litellm-master-key"
INSTALL = "python3 -m venv .bench-litellm && .bench-litellm/bin/pip install 'litellm[proxy]'"
START_TIMEOUT = 180  # seconds: the proxy imports a great deal before it listens


def find() -> Path | None:
    """The litellm command to run, or None when it is not installed where the benchmark looks."""
    path = Path(os.environ.get("BENCH_LITELLM", DEFAULT_PATH))
    return path.resolve() if path.is_file() and os.access(path, os.X_OK) else None


def config(upstream: str) -> str:
    """LiteLLM's proxy config (YAML, written as JSON, which YAML reads)."""
    return json.dumps({
        "model_list": [{"model_name": "gpt-4o-mini",
                        "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": upstream + "/v1",
                                           "api_key": "k"}}],
        "general_settings": {"master_key": KEY},
        "litellm_settings": {"telemetry": False},
    }, indent=2)


def start(command: Path, upstream: str, port: int, workdir: str) -> subprocess.Popen[bytes]:
    path = Path(workdir) / "litellm.yaml"
    path.write_text(config(upstream))
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR")
    return subprocess.Popen([str(command), "--config", str(path), "--host", "127.0.0.1", "--port", str(port),
                             "--num_workers", "1"], env=env, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def ready(proc: subprocess.Popen[bytes], port: int) -> bool:
    """Whether the proxy listens within START_TIMEOUT; False (and the process ended) when it exits or does not."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.2)
    proc.kill()
    return False
