"""The single-file build: build_zipapp.sh makes one executable .pyz that runs on CPython 3.11, 3.12 and 3.13.

The file is built once; then, under every one of those interpreters this machine has (pyenv's or on PATH),
tests/functional/zipapp_run.py imports every top-level module the bundle holds, starts ``serve`` from it, reads
``/api/status``, relays a chat through a fake upstream and runs a CLI command, inside a fresh network namespace
(``unshare -n``) so that the run proves the file needs no network. Where namespaces are not allowed the same run
happens without the isolation, and the test says so in a warning.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
import zipfile
from functools import cache
from pathlib import Path

import pytest

from tests.functional.netns import isolation
from tests.functional.server_process import ROOT
from tests.functional.zipapp_run import top_level_modules

pytestmark = pytest.mark.slow

TARGETS = ("3.11", "3.12", "3.13")
MAX_BYTES = 20 * 1024 * 1024


@cache
def interpreter(version: str) -> str | None:
    """A python3.X of this machine: pyenv's versions first (the shims need PYENV_VERSION), then PATH."""
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("pyenv") else ""
    candidates = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"), reverse=True) if root else []
    on_path = shutil.which(f"python{version}")
    if on_path and "shims" not in on_path:
        candidates.append(on_path)
    for candidate in candidates:
        probe = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zipapp") / "oneapi.pyz"
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(out))
    build = subprocess.run(["bash", str(ROOT / "build_zipapp.sh")], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=900)
    assert build.returncode == 0, build.stderr[-3000:]
    return out


def test_the_file_is_one_executable_of_at_most_20_mb_without_what_nothing_imports(pyz: Path) -> None:
    assert os.access(pyz, os.X_OK) and pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert pyz.stat().st_size <= MAX_BYTES, f"{pyz.stat().st_size / 2**20:.1f} MiB"
    names = zipfile.ZipFile(pyz).namelist()
    # Every compiled module is there once per target Python: the same set of modules for each ABI tag.
    compiled: dict[str, set[str]] = {}
    for name in names:
        if match := re.fullmatch(r"(.+)\.cpython-(3\d+)-x86_64-linux-gnu\.so", name):
            compiled.setdefault(match[2], set()).add(match[1])
    assert sorted(compiled) == [v.replace(".", "") for v in TARGETS], sorted(compiled)
    assert compiled["311"] == compiled["312"] == compiled["313"], compiled
    assert {"site-packages/aiohttp/_http_parser", "site-packages/tiktoken/_tiktoken",
            "site-packages/psycopg2/_psycopg", "site-packages/multidict/_multidict"} <= compiled["311"]
    for shipped in ("oneapi/web/templates/login.html", "oneapi/web/static/app.css", "oneapi/web/messages/zh.json"):
        assert any(n.endswith(shipped) for n in names), shipped  # the web works offline from the file
    tops = set(top_level_modules(pyz))
    assert not tops & {"pydantic", "pydantic_core", "requests", "urllib3", "regex", "_yaml"}, tops
    assert {"oneapi", "aiohttp", "textual", "typer", "peewee", "psycopg2", "pymysql", "yaml", "tiktoken"} <= tops


@pytest.mark.parametrize("version", TARGETS)
def test_serve_status_relay_and_cli_under_each_python(pyz: Path, version: str, tmp_path: Path) -> None:
    python = interpreter(version)
    if python is None:
        pytest.skip(f"CPython {version} is not installed on this machine")
    prefix, why_not = isolation()
    if not prefix:
        warnings.warn(f"running the .pyz without network isolation: {why_not}", stacklevel=1)
    cmd = [*prefix, sys.executable, "-m", "tests.functional.zipapp_run", "--pyz", str(pyz), "--python", python,
           "--home", str(tmp_path / "home"), *(["--isolated"] if prefix else [])]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    context = json.dumps(found, indent=1)[-4000:]
    assert found["isolated"] is bool(prefix), context
    assert found["version_rc"] == 0 and found["version"].startswith("oneapi "), context
    assert found["status"]["success"] is True and found["status"]["data"]["system_name"] == "One API", context
    assert found["imports"]["tops"] == top_level_modules(pyz), context
    assert (found["imports"]["rc"], found["imports"]["failed"]) == (0, {}), context  # each imports on this Python
    assert found["setup"] == [True, True], context
    assert found["chat"]["choices"][0]["message"]["content"] == "echo: hi from pyz", context
    assert found["cli"]["rc"] == 0 and [c["name"] for c in json.loads(found["cli"]["stdout"])] == ["fake"], context
    assert found["stop_rc"] == 0, context
    # The README's goals: --version at most 1 s warm (the best of three runs here), serve ready in at most 2 s
    # (measured once here, on cores the rest of the machine shares: twice the goal is a regression, not noise).
    assert found["version_warm"] <= 1.0, context
    assert found["ready"] <= 2 * 2.0, context


@pytest.mark.parametrize("version", ["3.10", "2.7"])
def test_an_unsupported_python_is_told_in_one_line(pyz: Path, tmp_path: Path, version: str) -> None:
    python = interpreter(version)
    if python is None:
        pytest.skip(f"Python {version} is not installed on this machine")
    env = dict(os.environ, SHIV_ROOT=str(tmp_path / "shiv"))
    for args in (["--version"], ["serve"], ["channel", "list"]):
        result = subprocess.run([python, str(pyz), *args], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, (args, result)
        assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert "3.11, 3.12, 3.13" in result.stderr and f"cpython {version}." in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "shiv").exists()  # told before anything was unpacked
