"""The import rules of ARCHITECTURE.md, checked in fresh interpreters: ``oneapi serve`` never loads Textual;
``oneapi tui`` (and the admin subcommands) never load peewee or the server side; an adaptor loads neither.

Each check imports the modules a door needs in a new ``python -I`` and reports ``sys.modules``; importing them
in this process would prove nothing, since pytest has already loaded everything.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from tests.functional.server_process import ROOT, Server, clean_env, free_port, oneapi_cmd

SERVER_SIDE = ("peewee", "oneapi.store", "oneapi.services", "oneapi.proxy", "oneapi.api", "oneapi.server")


def loaded_after(code: str) -> set[str]:
    """The modules loaded by a fresh interpreter after running ``code``."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run([sys.executable, "-I", "-c", script], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def under(modules: set[str], *packages: str) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)}


def test_serve_never_loads_textual() -> None:
    modules = loaded_after("""
        import oneapi.cli
        import oneapi.server
        import oneapi.api.admin
        import oneapi.config, oneapi.logsetup
        from oneapi.cli import app, serve
    """)
    assert "oneapi.server" in modules and "peewee" in modules  # the check really loaded the server
    assert under(modules, "textual", "oneapi.tui") == set()


def test_tui_never_loads_peewee_or_the_server() -> None:
    modules = loaded_after("""
        import importlib, pkgutil
        import oneapi.cli, oneapi.client, oneapi.tui
        from oneapi.tui import make_app
        for info in pkgutil.walk_packages(oneapi.tui.__path__, "oneapi.tui."):  # every screen
            importlib.import_module(info.name)
    """)
    assert "textual" in modules and "oneapi.tui.screens.channels" in modules
    assert under(modules, *SERVER_SIDE) == set()


def test_admin_subcommands_never_load_peewee_textual_or_the_server() -> None:
    modules = loaded_after("""
        import importlib, pkgutil
        import oneapi.cli, oneapi.client, oneapi.humanize, oneapi.commands
        for info in pkgutil.walk_packages(oneapi.commands.__path__, "oneapi.commands."):
            importlib.import_module(info.name)
    """)
    assert "oneapi.commands.channel" in modules and "oneapi.client" in modules
    assert under(modules, *SERVER_SIDE, "textual", "oneapi.tui") == set()


def test_the_adaptors_load_only_the_wire_types() -> None:
    """Adaptors are pure translators (ARCHITECTURE.md): loading every one of them loads the floor's modules
    (oneapi.errors, oneapi.channel_types, oneapi.wire) and proxy/sse.py, and no aiohttp, peewee, bcrypt, yaml or
    service."""
    modules = loaded_after("""
        import importlib, pkgutil
        import oneapi.proxy.adaptors
        for info in pkgutil.walk_packages(oneapi.proxy.adaptors.__path__, "oneapi.proxy.adaptors."):
            importlib.import_module(info.name)
    """)
    assert "oneapi.proxy.adaptors.ali" in modules and "oneapi.proxy.adaptors.xunfei" in modules
    assert under(modules, "aiohttp", "peewee", "bcrypt", "yaml", "textual") == set()
    ours = under(modules, "oneapi") - under(modules, "oneapi.proxy.adaptors", "oneapi.wire")
    assert ours == {"oneapi", "oneapi.errors", "oneapi.channel_types", "oneapi.proxy", "oneapi.proxy.sse"}


def test_help_loads_neither_textual_nor_peewee() -> None:
    modules = loaded_after("""
        import contextlib, io
        from oneapi.cli import app
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            app(["--help"], prog_name="oneapi")
    """)
    assert "oneapi.cli" in modules
    assert under(modules, *SERVER_SIDE, "textual", "oneapi.tui") == set()


SERVE_THEN_STOP = """
import os, signal, sys, threading, time, urllib.request
from oneapi.cli import app

port = sys.argv[1]

def stop_when_ready() -> None:
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=stop_when_ready, daemon=True).start()
try:
    app(["serve", "--port", port], prog_name="oneapi")
except SystemExit as exc:
    assert not exc.code, exc.code
"""

VISIT_EVERY_TAB = """
import asyncio, sys
from pathlib import Path
from oneapi.tui import make_app

async def main() -> None:
    app = make_app(Path(sys.argv[1]))
    async with app.run_test(size=(100, 32)) as pilot:
        for key in "1234567":  # every tab loads its data through the client
            await pilot.press(key)
        await pilot.pause(0.3)

asyncio.run(main())
"""


def pruned() -> set[str]:
    """The top-level modules of the distributions build_zipapp.sh leaves out of the .pyz (its PRUNE list)."""
    script = (ROOT / "build_zipapp.sh").read_text()
    match = re.search(r"^PRUNE=\$\{PRUNE:-([^}]*)\}", script, re.M)
    assert match, "PRUNE not found in build_zipapp.sh"
    return {name.replace("-", "_") for name in match.group(1).split()}


def run_script(code: str, *args: str, home: Path) -> set[str]:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run([sys.executable, "-I", "-c", script, *args], cwd=home, env=clean_env(home),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_a_running_server_and_a_running_tui_keep_to_their_rooms() -> None:
    """Lazy imports happen at run time too: serve for real (until SIGTERM), and drive every TUI tab against a
    live server, each in its own interpreter. Neither loads what the .pyz leaves out."""
    home = Path(tempfile.mkdtemp(prefix="oa-imp-", dir="/tmp"))  # short: the socket path must fit sun_path
    try:
        served = run_script(SERVE_THEN_STOP, str(free_port()), home=home)
        assert "oneapi.server" in served and not (home / "oneapi.sock").exists()
        assert under(served, "textual", "oneapi.tui") == set()

        server = Server(oneapi_cmd(), home, free_port(), clean_env(home))
        try:
            server.wait_ready()
            shown = run_script(VISIT_EVERY_TAB, str(home / "oneapi.sock"), home=home)
        finally:
            assert server.stop() == 0
        assert "oneapi.tui.screens.logs" in shown and "oneapi.client" in shown
        assert under(shown, *SERVER_SIDE) == set()
        assert pruned() >= {"requests", "regex"}
        # The redis client is in the bundle but costs ~170 ms to import: a server without REDIS_CONN_STRING
        # never loads it (oneapi/store/redis_names.py).
        assert under(served, "redis", "oneapi.store.redis_link") == set()
        assert under(served | shown, *pruned()) == set()
    finally:
        shutil.rmtree(home, ignore_errors=True)
