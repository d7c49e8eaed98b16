"""How ``oneapi tui`` and the CLI find the server and decide to trust its socket (issue 10 §2).

* ``make run`` serves with ``ONEAPI_HOME=data``; the README's next steps run from the repository root without
  it. The CLI finds the server through the runtime directory where ``serve`` notes its socket, and says where it
  looked when none answers.
* A user who may not open the socket is told "permission denied ... (owned by USER)", not "no server answers".
* A socket planted by someone else in a shared directory receives nothing: the file's owner and the listening
  process's uid are checked before a byte is sent. The working directory's owner is not trusted: a shared
  directory (1777) may belong to anyone.
* A server that runs as a service account answers only that account: root, or a user naming its socket, is told
  to run the command as that account (exit 4) before anything is sent.
* A socket file nobody listens on in the working directory does not hide the server this user runs.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from tests.functional.server_process import ROOT, Server, clean_env, free_port, oneapi_cmd

pytestmark = pytest.mark.slow

NOBODY = 65534
ACCESS = "finding-access-token-0123456789a"


@pytest.fixture
def repo() -> Iterator[Path]:
    """A short directory standing for a checkout (sockets need short paths)."""
    path = Path(tempfile.mkdtemp(prefix="oa-find-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def without_home(env: dict[str, str]) -> dict[str, str]:
    """The environment of a user's shell: no ONEAPI_HOME, no ONEAPI_ADMIN_SOCKET."""
    return {k: v for k, v in env.items() if k not in ("ONEAPI_HOME", "ONEAPI_ADMIN_SOCKET")}


def test_after_make_run_the_cli_and_tui_find_the_server_from_the_repository_root(repo: Path) -> None:
    data = repo / "data"
    data.mkdir()
    env = clean_env(data, INITIAL_ROOT_ACCESS_TOKEN=ACCESS)  # what `make run` does: ONEAPI_HOME=data
    env.pop("ONEAPI_ADMIN_SOCKET", None)
    server = Server(oneapi_cmd(), repo, free_port(), env)  # ... started in the repository root
    stale = repo / "oneapi.sock"  # ... where an earlier `oneapi serve` (killed) left its socket file
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as left:
        left.bind(str(stale))
    try:
        server.wait_ready()
        shell = without_home(env)
        listed = subprocess.run([*oneapi_cmd(), "channel", "list", "--json"], cwd=repo, env=shell,
                                capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == []
        stale.unlink()
        elsewhere = subprocess.run([*oneapi_cmd(), "option", "get", "SystemName"], cwd="/", env=shell,
                                   capture_output=True, text=True, timeout=60)
        assert elsewhere.returncode == 0 and elsewhere.stdout == "One API\n", elsewhere.stderr
    finally:
        assert server.stop() == 0
    assert list((data / ".run" / "oneapi").iterdir()) == []  # the note is removed on a clean stop

    gone = subprocess.run([*oneapi_cmd(), "tui"], cwd=repo, env=shell, capture_output=True, text=True, timeout=60)
    assert gone.returncode == 3, gone
    [line] = gone.stderr.strip().splitlines()
    assert f"looked in {repo / 'oneapi.sock'} and {data / '.run' / 'oneapi'}" in line, line
    assert "Traceback" not in gone.stderr


def test_make_run_installs_only_the_server_and_make_tui_opens_the_tui() -> None:
    run = subprocess.run(["make", "-n", "-B", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    installs = [line for line in run.stdout.splitlines() if "pip install" in line and " -e " in line]
    assert installs and not any("[dev]" in line for line in installs), run.stdout
    assert ".venv/bin/oneapi serve" in run.stdout
    test = subprocess.run(["make", "-n", "-B", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "-e '.[dev]'" in test.stdout and "pytest" in test.stdout, test.stdout
    tui = subprocess.run(["make", "-n", "tui"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ".venv/bin/oneapi tui" in tui.stdout


@pytest.mark.skipif(os.getuid() != 0 or shutil.which("setpriv") is None,
                    reason="playing another user needs root and setpriv")
@pytest.mark.parametrize(("mode", "told"), [(0o755, "permission denied on {sock} (owned by nobody)"),
                                            (0o700, "permission denied on {sock}: its directory is closed to root")])
def test_a_user_who_may_not_open_the_socket_is_told_permission_denied(repo: Path, mode: int, told: str) -> None:
    env = clean_env(repo, INITIAL_ROOT_ACCESS_TOKEN=ACCESS)
    env.pop("ONEAPI_ADMIN_SOCKET", None)
    server = Server(oneapi_cmd(), repo, free_port(), env)
    try:
        server.wait_ready()
        # The service account's data directory and socket (0600), as a systemd unit with User=nobody has them;
        # the admin who runs the CLI is root without the capabilities that would let it bypass file modes.
        os.chown(repo / "oneapi.sock", NOBODY, NOBODY)
        os.chown(repo, NOBODY, NOBODY)
        repo.chmod(mode)
        for args in (["channel", "list"], ["tui"]):
            result = subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-all", *oneapi_cmd(), *args],
                                    cwd=repo, env=without_home(env), capture_output=True, text=True, timeout=60)
            assert result.returncode == 4, (args, result)
            [line] = result.stderr.strip().splitlines()
            assert told.format(sock=repo / "oneapi.sock") in line, line
            assert "no oneapi server answers" not in line and "Traceback" not in result.stderr
    finally:
        os.chown(repo, 0, 0)
        os.chown(repo / "oneapi.sock", 0, 0)
        assert server.stop() == 0


def impostor(path: Path, report: Connection) -> None:
    """Listen on ``path`` as uid 65534 and report every byte received (a stranger's socket in a shared dir)."""
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()
    report.send("listening")
    while True:
        conn, _ = listener.accept()
        conn.settimeout(2)
        try:
            while chunk := conn.recv(65536):
                report.send(chunk)
        except OSError:
            pass
        conn.close()


# Where the stranger's socket is, who owns that directory, whether the admin named it (ONEAPI_HOME) or is just
# working there, and what the admin is told.
PLACES = {
    "shared-dir-of-root-named": ("shared", 0, 0o1777, True, "refusing"),
    "shared-dir-of-the-stranger-as-working-dir": ("shared", NOBODY, 0o1777, False, "refusing"),
    "the-strangers-own-dir-named": ("own", NOBODY, 0o755, True, "run-as"),
    "the-strangers-own-dir-as-working-dir": ("own", NOBODY, 0o755, False, "run-as"),
}


@pytest.mark.skipif(os.getuid() != 0, reason="playing another user needs root")
@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("planted", ["owned-by-the-stranger", "chowned-to-us-but-served-by-the-stranger"])
def test_a_socket_planted_in_a_shared_directory_receives_nothing(repo: Path, planted: str, place: str) -> None:
    name, owner, mode, named, told = PLACES[place]
    shared = repo / name
    shared.mkdir()
    os.chown(shared, owner, owner)
    shared.chmod(mode)  # 1777, like /tmp: anyone may create files in it
    repo.chmod(0o711)
    path = shared / "oneapi.sock"
    ours, theirs = multiprocessing.get_context("fork").Pipe()
    stranger = multiprocessing.get_context("fork").Process(target=impostor, args=(path, theirs), daemon=True)
    stranger.start()
    try:
        assert ours.poll(10) and ours.recv() == "listening"
        if planted != "owned-by-the-stranger":
            os.chown(path, 0, 0)  # the file looks like ours; the process behind it is not
        env = without_home(clean_env(repo))  # a runtime directory with no server noted in it
        if named:
            env["ONEAPI_HOME"] = str(shared)
        secret = "sk-upstream-secret-key"
        results = [subprocess.run([*oneapi_cmd(), *args], cwd=shared, env=env, capture_output=True, text=True,
                                  timeout=60)
                   for args in (["channel", "add", "--key", secret, "--name", "x"], ["log", "tail", "--follow"],
                                ["tui"])]
        time.sleep(0.5)
    finally:
        stranger.terminate()
        stranger.join(10)
        stranger_received = b""
        while ours.poll(0.5):
            message = ours.recv()
            if isinstance(message, bytes):
                stranger_received += message
    for result in results:
        assert result.returncode == 4, result
        [line] = result.stderr.strip().splitlines()
        if told == "refusing":
            assert line.startswith(f"oneapi: refusing {path}: ") and "nobody" in line, line
        else:  # a service's socket in its own data directory: not an impostor, just not ours to use
            assert line == f"oneapi: permission denied on {path} (owned by nobody); run the command as nobody, " \
                           "e.g. sudo -u nobody oneapi ...", line
    assert stranger_received == b""


@pytest.fixture
def service(repo: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A real server running as the service account nobody, in its own data directory (0755), as a systemd unit
    with User= runs it; yields the data directory and the environment of an admin's shell (no ONEAPI_HOME)."""
    data = repo / "srv"
    repo.chmod(0o711)
    env = clean_env(data, INITIAL_ROOT_ACCESS_TOKEN=ACCESS)
    env.pop("ONEAPI_ADMIN_SOCKET", None)
    for path in (data, data / ".run"):
        os.chown(path, NOBODY, NOBODY)
    data.chmod(0o755)
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    server = Server([*as_nobody, *oneapi_cmd()], data, free_port(), env)
    try:
        server.wait_ready()
        assert (data / "oneapi.sock").stat().st_uid == NOBODY
        yield data, without_home(env)
    finally:
        assert server.stop() == 0, server.output()[-2000:]


@pytest.mark.skipif(os.getuid() != 0 or shutil.which("setpriv") is None,
                    reason="playing another user needs root and setpriv")
def test_root_is_told_to_run_the_command_as_the_service_account(service: tuple[Path, dict[str, str]]) -> None:
    data, shell = service
    sock = data / "oneapi.sock"
    told = (f"oneapi: permission denied on {sock} (owned by nobody); run the command as nobody, "
            "e.g. sudo -u nobody oneapi ...")
    ways = {  # how root may reach the service's socket: each ends in the same advice
        "ONEAPI_HOME": ("/", {"ONEAPI_HOME": str(data)}, ["channel", "list"]),
        "working-directory": (str(data), {}, ["channel", "list"]),
        "--admin-socket": ("/", {}, ["channel", "list", "--admin-socket", str(sock)]),
        "tui": ("/", {"ONEAPI_HOME": str(data)}, ["tui"]),
    }
    for way, (cwd, extra, args) in ways.items():
        result = subprocess.run([*oneapi_cmd(), *args], cwd=cwd, env={**shell, **extra}, capture_output=True,
                                text=True, timeout=60)
        assert (result.returncode, result.stderr) == (4, told + "\n"), (way, result)
    as_service = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                 *oneapi_cmd(), "option", "get", "SystemName"], cwd="/",
                                env={**shell, "ONEAPI_HOME": str(data)}, capture_output=True, text=True, timeout=60)
    assert (as_service.returncode, as_service.stdout) == (0, "One API\n"), as_service  # what sudo -u would do
