"""The admin socket of a real ``oneapi serve`` process (issue 6 §1): where it is, its mode, who may use it,
and its life cycle (a second server refused, stale sockets replaced, removed on SIGTERM).

Data directories are short paths under /tmp, since a Unix socket path must fit in ``sun_path``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.server_process import Server, clean_env, free_port, oneapi_cmd

ACCESS = "socket-test-access-token-0123456"


@pytest.fixture
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="oa-sock-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def server_env(home: Path, **extra: str) -> dict[str, str]:
    env = clean_env(home, INITIAL_ROOT_ACCESS_TOKEN=ACCESS, **extra)
    if "ONEAPI_ADMIN_SOCKET" not in extra:
        env.pop("ONEAPI_ADMIN_SOCKET", None)
    return env


class Serve(Server):
    """``oneapi serve --port N [flags]`` in ``home``."""

    def __init__(self, home: Path, *flags: str, **env: str) -> None:
        self.port = free_port()
        self.log_path = home / f"server-{self.port}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen([*oneapi_cmd(), "serve", "--port", str(self.port), *flags], cwd=home,
                                     env=server_env(home, **env), stdout=self._log, stderr=subprocess.STDOUT)


def started(home: Path, *flags: str, **env: str) -> Serve:
    server = Serve(home, *flags, **env)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def serve_once(home: Path, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``oneapi serve`` expecting it to refuse to start (it is killed after 30 s otherwise)."""
    return subprocess.run([*oneapi_cmd(), "serve", "--port", str(free_port()), *flags], cwd=home,
                          env=server_env(home, **env), capture_output=True, text=True, timeout=30)


def cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*oneapi_cmd(), *args], cwd=home, env=server_env(home, **env), capture_output=True,
                          text=True, timeout=30)


def socket_request(path: Path, target: str = "/admin/ping", method: str = "GET", body: Any = None) -> tuple[int, Any]:
    """One HTTP/1.0 request over the Unix socket with nothing but the standard library."""
    payload = b"" if body is None else json.dumps(body).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        s.sendall(f"{method} {target} HTTP/1.0\r\nHost: oneapi\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, raw = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(raw)


def one_error_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr + result.stdout, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_default_socket_is_0600_acts_as_root_refuses_a_second_server_and_goes_on_sigterm(home: Path) -> None:
    path = home / "oneapi.sock"
    server = started(home)
    try:
        info = path.lstat()
        assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
        assert info.st_uid == os.getuid()
        status, ping = socket_request(path)
        assert status == 200 and ping["success"] and ping["data"]["pid"] == server.proc.pid
        status, me = socket_request(path, "/api/user/self")
        assert status == 200 and me["data"]["username"] == "root" and me["data"]["role"] == 100

        second = serve_once(home)
        one_error_line(second, "already running", str(path))
        assert socket_request(path)[0] == 200  # the first server is untouched
        assert stat.S_IMODE(path.lstat().st_mode) == 0o600

        found = cli(home, "option", "get", "SystemName")  # the CLI finds it the same way (ONEAPI_HOME)
        assert found.returncode == 0, found.stderr
    finally:
        assert server.stop() == 0
    assert not path.exists() and not path.is_symlink()
    assert "admin socket at" in server.output()


def test_env_and_flag_choose_the_socket_and_the_flag_wins(home: Path) -> None:
    (home / "a").mkdir()
    (home / "b").mkdir()
    relative = home / "a" / "ctl" / "admin.sock"  # ONEAPI_ADMIN_SOCKET is relative to ONEAPI_HOME
    flagged = home / "b" / "flag.sock"
    by_env = Serve(home / "a", ONEAPI_ADMIN_SOCKET="ctl/admin.sock")
    by_flag = Serve(home / "b", "--admin-socket", str(flagged), ONEAPI_ADMIN_SOCKET=str(home / "b" / "env.sock"))
    try:
        by_env.wait_ready()
        by_flag.wait_ready()
        for path in (relative, flagged):
            assert stat.S_ISSOCK(path.lstat().st_mode) and stat.S_IMODE(path.lstat().st_mode) == 0o600
        assert not (home / "a" / "oneapi.sock").exists()
        assert not (home / "b" / "oneapi.sock").exists() and not (home / "b" / "env.sock").exists()
        assert socket_request(relative)[1]["data"]["pid"] == by_env.proc.pid
        assert socket_request(flagged)[1]["data"]["pid"] == by_flag.proc.pid

        assert cli(home / "a", "option", "get", "SystemName", ONEAPI_ADMIN_SOCKET="ctl/admin.sock").returncode == 0
        assert cli(home / "b", "option", "get", "SystemName", "--admin-socket", str(flagged)).returncode == 0
        # Nothing at the default path: the one server this user runs, as noted in the runtime directory.
        noted = cli(home / "b", "option", "get", "SystemName", "--json")
        assert noted.returncode == 0 and json.loads(noted.stdout)["key"] == "SystemName", noted.stderr
        elsewhere = home / "b" / "other-run"
        elsewhere.mkdir(mode=0o700)
        lost = cli(home / "b", "option", "get", "SystemName", XDG_RUNTIME_DIR=str(elsewhere))  # no server noted
        assert lost.returncode == 3 and str(home / "b" / "oneapi.sock") in lost.stderr
        assert str(elsewhere / "oneapi") in lost.stderr and len(lost.stderr.strip().splitlines()) == 1
    finally:
        assert by_env.stop() == 0
        assert by_flag.stop() == 0
    assert not relative.exists() and not flagged.exists()


def test_a_stale_socket_is_replaced_at_start(home: Path) -> None:
    path = home / "oneapi.sock"
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(str(path))  # bound, never listening, closed without unlinking: a crashed server's leftover
    left.close()
    assert stat.S_ISSOCK(path.lstat().st_mode)

    crashed = started(home)
    assert socket_request(path)[1]["data"]["pid"] == crashed.proc.pid
    assert "removed a stale admin socket" in crashed.output()
    crashed.proc.send_signal(signal.SIGKILL)
    assert crashed.stop() == -signal.SIGKILL
    assert stat.S_ISSOCK(path.lstat().st_mode)  # kill -9 leaves it behind
    with pytest.raises(ConnectionRefusedError):
        socket_request(path)

    again = started(home)
    try:
        assert socket_request(path)[1]["data"]["pid"] == again.proc.pid
        assert stat.S_IMODE(path.lstat().st_mode) == 0o600
    finally:
        assert again.stop() == 0
    assert not path.exists()


def test_a_socket_path_too_long_for_sun_path_is_refused(home: Path) -> None:
    long_path = home / ("d" * 60) / ("s" * 60 + ".sock")
    assert len(str(long_path).encode()) > 100
    result = serve_once(home, "--admin-socket", str(long_path))
    line = one_error_line(result, "too long", "--admin-socket")
    assert str(long_path) in line
    assert not (home / "one-api.db").exists()  # refused before anything was opened or created

    by_env = serve_once(home, ONEAPI_ADMIN_SOCKET="x" * 120)  # relative: ONEAPI_HOME + name
    one_error_line(by_env, "too long")


def test_the_length_limit_is_100_bytes(home: Path) -> None:
    from oneapi.server import StartupError, claim_socket_path

    stem = str(home / "p") + "/"
    fits = Path(stem + "f" * (100 - len(stem.encode())))
    assert len(str(fits).encode()) == 100
    claim_socket_path(fits)  # accepted, and its directory made
    assert fits.parent.is_dir()
    with pytest.raises(StartupError, match="too long"):
        claim_socket_path(Path(str(fits) + "x"))


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_something_else_at_the_socket_path_is_left_alone(home: Path, kind: str) -> None:
    path = home / "oneapi.sock"
    if kind == "file":
        path.write_text("precious\n")
    else:
        path.mkdir()
    result = serve_once(home)
    one_error_line(result, str(path), "not a socket")
    if kind == "file":
        assert path.read_text() == "precious\n"
    else:
        assert path.is_dir()


NOBODY = 65534
AS_NOBODY = """
import json, socket, sys
path, target = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(path)
except PermissionError:
    print(json.dumps({"connect": "EACCES"}))
    raise SystemExit(0)
s.sendall(f"GET {target} HTTP/1.0\\r\\nHost: oneapi\\r\\n\\r\\n".encode())
data = b""
while chunk := s.recv(65536):
    data += chunk
head, _, body = data.partition(b"\\r\\n\\r\\n")
print(json.dumps({"uid": __import__("os").getuid(), "status": int(head.split()[1]), "body": json.loads(body)}))
"""


def as_nobody(path: Path, target: str) -> dict[str, Any]:
    """Run AS_NOBODY as uid/gid 65534 (``setpriv`` when installed, else Popen's ``user=``); the script needs only
    the standard library, so a system python3 does when this interpreter cannot be reached by that uid."""
    setpriv = shutil.which("setpriv")
    failures = []
    for python in dict.fromkeys(p for p in (sys.executable, shutil.which("python3")) if p):
        args = [python, "-I", "-c", AS_NOBODY, str(path), target]
        try:
            if setpriv:
                result = subprocess.run([setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                         *args], capture_output=True, text=True, timeout=30)
            else:
                result = subprocess.run(args, user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True,
                                        text=True, timeout=30)
        except PermissionError as exc:
            failures.append(f"{python}: {exc}")
            continue
        if result.returncode in (126, 127):  # setpriv could not execute it
            failures.append(f"{python}: {result.stderr.strip()}")
            continue
        assert result.returncode == 0, result.stderr
        answer: dict[str, Any] = json.loads(result.stdout)
        return answer
    pytest.skip(f"no Python interpreter can run as uid {NOBODY}: {'; '.join(failures)}")


@pytest.mark.skipif(os.getuid() != 0, reason="switching to another uid (65534) needs root")
def test_another_uid_is_refused_even_when_the_mode_would_let_it_in(home: Path) -> None:
    path = home / "oneapi.sock"
    home.chmod(0o711)  # let uid 65534 reach the socket file; the socket's own mode is what is under test
    server = started(home)
    try:
        assert as_nobody(path, "/admin/ping") == {"connect": "EACCES"}  # 0600: the kernel refuses first

        path.chmod(0o666)  # a careless chmod: now only SO_PEERCRED stands between uid 65534 and root's powers
        for target in ("/admin/ping", "/api/user/self", "/api/channel/", "/admin/events"):
            answer = as_nobody(path, target)
            assert answer["uid"] == NOBODY and answer["status"] == 403, (target, answer)
            assert answer["body"]["success"] is False
            assert answer["body"]["message"] == f"the admin socket belongs to uid {os.getuid()}; uid {NOBODY} is " \
                                                "refused"
        assert socket_request(path)[0] == 200  # the owner still gets in
    finally:
        assert server.stop() == 0
