"""One run of the built ``.pyz`` under one interpreter, as a user would: ``serve``, ``/api/status``, a relayed chat
through a fake OpenAI upstream, and a CLI command over the admin socket; first, every top-level module the bundle
holds is imported on that interpreter (shiv's SHIV_INTERPRETER), so that a package whose compiled part is missing
for one Python is caught even when serve does not import it. Prints the findings as one JSON object.

Started by tests/functional/test_zipapp.py, inside a fresh network namespace (``unshare -n``) when the machine
allows it: ``--isolated`` then brings the namespace's loopback up and checks that nothing outside answers, so
the run proves the file needs no network. Usage::

    python -m tests.functional.zipapp_run --pyz FILE --python INTERPRETER --home DIR [--isolated]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from tests.fakes.threaded import ThreadedFake
from tests.functional.netns import bring_loopback_up, outside_reachable
from tests.functional.server_process import Server, clean_env, free_port

ACCESS = "zipapp-access-token-0123456789ab"
IMPORT_ALL = """import importlib, json, sys
failed = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = repr(exc)
print(json.dumps(failed))
"""


def top_level_modules(pyz: Path) -> list[str]:
    """The importable names at the top of the bundle's site-packages: packages (namespace ones too), modules and
    extension modules; not metadata (``*.dist-info``), bundled libraries (``*.libs``), stubs or scripts."""
    tops: set[str] = set()
    for name in zipfile.ZipFile(pyz).namelist():
        parts = name.split("/")
        if parts[0] != "site-packages" or len(parts) < 2 or not parts[-1].endswith((".py", ".so")):
            continue
        top = parts[1].split(".")[0] if len(parts) == 2 else parts[1]  # peewee.py; a package's directory
        if top.isidentifier() and top != "bin":
            tops.add(top)
    return sorted(tops)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    began = time.monotonic()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    return time.monotonic() - began, result


def run(pyz: Path, python: str, home: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    env = clean_env(home, SHIV_ROOT=str(home / "shiv"), INITIAL_ROOT_ACCESS_TOKEN=ACCESS)
    env.pop("ONEAPI_ADMIN_SOCKET", None)
    cold, first = timed([python, str(pyz), "--version"], env)
    warm = [timed([python, str(pyz), "--version"], env)[0] for _ in range(3)]
    found.update(version=first.stdout.strip(), version_rc=first.returncode, version_cold=cold,
                 version_warm=min(warm), version_stderr=first.stderr[-2000:])
    tops = top_level_modules(pyz)
    imported = subprocess.run([python, str(pyz), "-c", IMPORT_ALL, *tops], env={**env, "SHIV_INTERPRETER": "1"},
                              capture_output=True, text=True, timeout=300)
    try:
        failed = json.loads(imported.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        failed = {"*": imported.stderr[-2000:]}
    found["imports"] = {"tops": tops, "rc": imported.returncode, "failed": failed}

    upstream = ThreadedFake()
    server = Server([python, str(pyz)], home, free_port(), env)
    began = time.monotonic()
    try:
        server.wait_ready(timeout=60)
        found["ready"] = time.monotonic() - began
        found["status"] = server.get("/api/status")
        headers = {"Authorization": ACCESS}
        channel = server.request("POST", "/api/channel/", {"name": "fake", "type": 1, "key": "upstream-key",
                                                           "base_url": upstream.url, "models": "gpt-4o-mini"},
                                 headers)
        token = server.request("POST", "/api/token/", {"name": "pyz", "unlimited_quota": True}, headers)
        found["setup"] = [channel.get("success"), token.get("success")]
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi from pyz"}]}
        request = urllib.request.Request(server.url("/v1/chat/completions"), method="POST",
                                         data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": "Bearer sk-" + token["data"]["key"]})
        with urllib.request.urlopen(request, timeout=30) as resp:
            found["chat"] = json.loads(resp.read())
        cli = subprocess.run([python, str(pyz), "channel", "list", "--json"], cwd=home, env=env,
                             capture_output=True, text=True, timeout=120)
        found["cli"] = {"rc": cli.returncode, "stdout": cli.stdout, "stderr": cli.stderr[-2000:]}
    finally:
        found["stop_rc"] = server.stop()
        found["server_log"] = server.output()[-3000:]
        upstream.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pyz", type=Path, required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--isolated", action="store_true")
    args = parser.parse_args()
    found: dict[str, Any] = {"isolated": False}
    if args.isolated:
        bring_loopback_up()
        found["isolated"] = not outside_reachable()
    args.home.mkdir(parents=True, exist_ok=True)
    found.update(run(args.pyz, args.python, args.home))
    sys.stdout.write(json.dumps(found) + "\n")


if __name__ == "__main__":
    os.environ.pop("ONEAPI_ADMIN_SOCKET", None)
    main()
