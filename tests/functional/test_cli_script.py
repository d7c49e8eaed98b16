"""Issue 6's "Done when", scripted: a bash script of nothing but ``oneapi`` subcommands adds a channel and creates
a token against a running server; the official OpenAI SDK calls ``/v1/chat/completions`` with that token; a
second script reads the call back with ``oneapi log tail --json`` and ``oneapi log stats --json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.fakes.threaded import ThreadedFake
from tests.functional.server_process import Server, clean_env, free_port, oneapi_cmd

SETUP = r"""#!/usr/bin/env bash
# Set up a gateway in front of one OpenAI-compatible upstream; print the new token's key on stdout.
set -euo pipefail
upstream="$1"

oneapi log stats --json > stats-before.json
channel_json=$(oneapi channel add --name scripted --type 1 --key sk-scripted-upstream \
    --base-url "$upstream" --models gpt-4o-mini,gpt-4o --priority 1 --json)
channel_id=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["ids"][0])' <<< "$channel_json")
oneapi channel list --json | python3 -c '
import json, sys
assert any(c["id"] == int(sys.argv[1]) and c["status"] == 1 for c in json.load(sys.stdin)), "channel missing"
' "$channel_id"
token_json=$(oneapi token create --name scripted --quota '$5' --expires 30d --models gpt-4o-mini --json)
key=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])' <<< "$token_json")
echo "$channel_id" > channel-id
echo "sk-$key"
"""

CHECK = r"""#!/usr/bin/env bash
# After the call: wait for its consume log (written behind the response), then record the figures.
set -euo pipefail
for _ in $(seq 40); do
    logs=$(oneapi log tail --json --type consume --token scripted)
    if [ -n "$logs" ]; then
        break
    fi
    sleep 0.25
done
[ -n "$logs" ] || { echo "no consume log for the scripted token" >&2; exit 1; }
printf '%s\n' "$logs" > tail.json
oneapi log stats --json > stats-after.json
oneapi log stats --token scripted --json > stats-token.json
"""


@pytest.fixture
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="oa-sh-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def script_env(home: Path) -> dict[str, str]:
    """``oneapi`` and ``python3`` on PATH: the installed console script, else a wrapper around ``-m oneapi``."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "oneapi").exists() or not (bin_dir / "python3").exists():
        bin_dir = home / "bin"
        bin_dir.mkdir()
        (bin_dir / "oneapi").write_text(f'#!/bin/sh\nexec {" ".join(oneapi_cmd())} "$@"\n')
        (bin_dir / "python3").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
        for name in ("oneapi", "python3"):
            (bin_dir / name).chmod(0o755)
    env = clean_env(home, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("ONEAPI_ADMIN_SOCKET", None)  # found the default way: oneapi.sock in ONEAPI_HOME
    return env


def run_script(home: Path, text: str, *args: str) -> str:
    path = home / "script.sh"
    path.write_text(text)
    result = subprocess.run(["bash", str(path), *args], cwd=home, env=script_env(home), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def read_json(path: Path) -> object:
    return json.loads(path.read_text())


def test_a_shell_script_of_cli_subcommands_sets_up_a_working_gateway(home: Path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    upstream = ThreadedFake()
    env = clean_env(home, GLOBAL_API_RATE_LIMIT="0")
    env.pop("ONEAPI_ADMIN_SOCKET", None)
    server = Server(oneapi_cmd(), home, free_port(), env)
    try:
        server.wait_ready()
        key = run_script(home, SETUP, upstream.url).strip().splitlines()[-1]
        assert key.startswith("sk-") and len(key) == 51

        client = openai.OpenAI(base_url=server.url("/v1"), api_key=key, max_retries=0, timeout=30)
        answer = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "scripted hello from bash"}])
        client.close()
        assert answer.choices[0].message.content == "echo: scripted hello from bash"
        assert answer.usage is not None and answer.usage.prompt_tokens == 7 and answer.usage.completion_tokens == 5
        sent = upstream.fake.requests[-1]
        assert sent.path == "/v1/chat/completions" and sent.headers["authorization"] == "Bearer sk-scripted-upstream"

        run_script(home, CHECK)
    finally:
        assert server.stop() == 0, server.output()[-3000:]
        upstream.close()

    channel_id = int((home / "channel-id").read_text())
    decoder, text, logs = json.JSONDecoder(), (home / "tail.json").read_text().strip(), []
    while text:
        doc, end = decoder.raw_decode(text)
        logs.append(doc)
        text = text[end:].strip()
    assert len(logs) == 1, logs
    [log] = logs
    assert (log["type"], log["token_name"], log["model_name"], log["channel"]) == (2, "scripted", "gpt-4o-mini",
                                                                                   channel_id)
    assert (log["prompt_tokens"], log["completion_tokens"], log["username"]) == (7, 5, "root")
    assert log["quota"] > 0

    before, after, by_token = (read_json(home / f"stats-{n}.json") for n in ("before", "after", "token"))
    assert isinstance(before, dict) and isinstance(after, dict) and isinstance(by_token, dict)
    assert after["total_requests"] == before["total_requests"] + 1
    assert after["total_quota"] == before["total_quota"] + log["quota"]
    assert after["quota"] == before["quota"] + log["quota"]
    assert by_token["quota"] == log["quota"]
    assert sum(after["series"]["requests"]) >= 1 and ["gpt-4o-mini", 1] in after["top_models"]
