"""``oneapi serve`` as a process: configuration errors, first boot, restart, shutdown, slave refusal."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.functional.server_process import Server, clean_env, free_port, oneapi_cmd, run_cli

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("env", "setting"), [
    ({"PORT": "abc"}, "PORT"),
    ({"NODE_TYPE": "boss"}, "NODE_TYPE"),
    ({"SYNC_FREQUENCY": "-1"}, "SYNC_FREQUENCY"),
    ({"SQL_DSN": "oracle://scott@db/orcl"}, "SQL_DSN"),
    ({"SESSION_SECRET": "random_string"}, "SESSION_SECRET"),
    ({"ONEAPI_SMTP_CA_FILE": "/nonexistent/ca.pem"}, "ONEAPI_SMTP_CA_FILE"),
    ({"REDIS_CONN_STRING": "redis://:hunter2-redis-pass@127.0.0.1:1/0"}, "REDIS_CONN_STRING"),  # nothing listens
    ({"REDIS_CONN_STRING": "http://:hunter2-redis-pass@example.com/"}, "REDIS_CONN_STRING"),
])
def test_bad_env_value_exits_2_with_one_line(tmp_path: Path, env: dict[str, str], setting: str) -> None:
    result = run_cli("serve", home=tmp_path, **env)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and setting in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "hunter2" not in result.stderr + result.stdout  # a URL's password is never shown


@pytest.mark.parametrize(("yaml_text", "needle"), [
    ("port: [", "not valid YAML"),
    ("colour: blue\n", "colour"),
    ("port: 99999\n", "port"),
])
def test_bad_yaml_exits_2(tmp_path: Path, yaml_text: str, needle: str) -> None:
    (tmp_path / "oneapi.yaml").write_text(yaml_text)
    result = run_cli("serve", "--config", "oneapi.yaml", home=tmp_path)
    assert result.returncode == 2 and needle in result.stderr and "Traceback" not in result.stderr


def test_missing_config_file_and_bad_flag(tmp_path: Path) -> None:
    missing = run_cli("serve", "--config", "nope.yaml", home=tmp_path)
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr
    bad_flag = run_cli("serve", "--port", "x", home=tmp_path)
    assert bad_flag.returncode == 2 and "Traceback" not in bad_flag.stderr


def test_version(tmp_path: Path) -> None:
    for args in (["--version"], ["version"]):
        result = run_cli(*args, home=tmp_path)
        assert result.returncode == 0 and result.stdout.startswith("oneapi ")


def test_first_boot_restart_and_graceful_stop(tmp_path: Path) -> None:
    env = clean_env(tmp_path, INITIAL_ROOT_ACCESS_TOKEN="boot-access-token",
                    INITIAL_ROOT_TOKEN="bootrelaykey0123456789", SESSION_SECRET="s3cret")
    server = Server(oneapi_cmd(), tmp_path, free_port(), env)
    try:
        server.wait_ready()
        login = server.request("POST", "/api/user/login", {"username": "root", "password": "123456"})
        assert login["success"] and login["data"]["role"] == 100
        auth = {"Authorization": "boot-access-token"}
        tokens = server.get("/api/token/", auth)["data"]
        assert {t["name"] for t in tokens} == {"default", "Initial Root Token"}
        assert any(t["key"] == "bootrelaykey0123456789" for t in tokens)
        assert server.request("PUT", "/api/user/self", {"password": "new-password-1"}, auth)["success"]
        assert "change the password" in server.output()
    finally:
        assert server.stop() == 0
    assert "stopped" in server.output()
    assert (tmp_path / "one-api.db").exists()

    again = Server(oneapi_cmd(), tmp_path, free_port(), env)
    try:
        again.wait_ready()
        old = again.request("POST", "/api/user/login", {"username": "root", "password": "123456"})
        assert old["success"] is False
        new = again.request("POST", "/api/user/login", {"username": "root", "password": "new-password-1"})
        assert new["success"] is True
        users = again.get("/api/user/", {"Authorization": "boot-access-token"})["data"]
        assert [u["username"] for u in users] == ["root"]  # first boot did not run twice
        assert "created the root account" not in again.output()
    finally:
        assert again.stop() == 0


def test_sigint_also_stops_cleanly_and_log_dir_is_written(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(tmp_path)
    proc = subprocess.Popen([*oneapi_cmd(), "serve", "--port", str(port), "--log-dir", "logs"], cwd=tmp_path,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        proc.kill()
    assert "listening on" in (tmp_path / "logs" / "oneapi.log").read_text()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("serve", "--port", str(port), home=tmp_path)
    assert result.returncode == 1
    assert "already in use" in result.stderr and "Traceback" not in result.stderr


def test_slave_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = run_cli("serve", home=tmp_path, NODE_TYPE="slave")
    assert result.returncode == 1
    assert "start the master node first" in result.stderr
