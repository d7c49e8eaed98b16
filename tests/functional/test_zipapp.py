"""The single-file build: build_zipapp.sh makes an executable .pyz that serves /api/status."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.functional.server_process import ROOT, Server, clean_env, free_port

pytestmark = pytest.mark.slow


def test_pyz_builds_and_serves(tmp_path: Path) -> None:
    out = tmp_path / "oneapi.pyz"
    env = dict(os.environ, PYTHON=sys.executable, OUT=str(out))
    build = subprocess.run(["bash", str(ROOT / "build_zipapp.sh")], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    assert out.exists() and os.access(out, os.X_OK)
    assert out.read_bytes().startswith(b"#!/usr/bin/env python3")

    home = tmp_path / "home"
    home.mkdir()
    # Run it as an executable, with shiv's unpack directory inside the test's temp dir.
    server = Server([str(out)], home, free_port(), clean_env(home, SHIV_ROOT=str(tmp_path / "shiv")))
    try:
        server.wait_ready(timeout=120)
        status = server.get("/api/status")
        assert status["success"] is True and status["data"]["system_name"] == "One API"
        # the web's templates, catalogues and static files ship inside the .pyz
        with urllib.request.urlopen(server.url("/login"), timeout=10) as resp:
            page = resp.read().decode()
        assert "Username or e-mail" in page and 'rel="stylesheet"' in page
        with urllib.request.urlopen(server.url("/static/app.css"), timeout=10) as resp:
            assert resp.status == 200 and b".topbar" in resp.read()
    finally:
        assert server.stop() == 0
