"""``oneapi channel|token|voucher|user|option|log`` as subprocesses against a real ``oneapi serve`` (issue 6 §3).

One server serves the whole module (its data directory is a short path under /tmp, for the socket); a fake
OpenAI upstream runs in a thread. What the CLI prints with ``--json`` is checked against what the server's
HTTP ``/api`` says, so both doors must agree. Exit codes: 0 ok, 1 refused (the server's message on stderr),
2 bad usage (one line, no traceback), 3 no server.
"""

from __future__ import annotations

import csv
import json
import os
import queue
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import web

from oneapi.humanize import money
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.threaded import ThreadedFake
from tests.functional.server_process import Server, clean_env, free_port, oneapi_cmd, run_cli, with_default_sigint

ACCESS = "cli-test-access-token-0123456789"
BALANCE_LIMIT, BALANCE_USED_CENTS = 100.0, 1234  # the fake's billing answers: balance 87.66


def with_billing(fake: FakeOpenAI) -> FakeOpenAI:
    """Add OpenAI's (legacy) billing routes, which channel balance queries read."""
    async def subscription(request: web.Request) -> web.Response:
        return web.json_response({"hard_limit_usd": BALANCE_LIMIT, "has_payment_method": True})

    async def usage(request: web.Request) -> web.Response:
        return web.json_response({"total_usage": BALANCE_USED_CENTS})

    fake.app.router.add_get("/v1/dashboard/billing/subscription", subscription)
    fake.app.router.add_get("/v1/dashboard/billing/usage", usage)
    return fake


def parse_json_stream(text: str) -> list[Any]:
    """Every JSON document in ``text`` (``log tail --json`` prints one per log, indented or not)."""
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return docs
        doc, i = decoder.raw_decode(text, i)
        docs.append(doc)


@dataclass
class Served:
    home: Path
    server: Server
    upstream: ThreadedFake
    relay_key: str = ""
    relay_channel: int = 0
    names: Iterator[int] = field(default_factory=lambda: iter(range(1, 10_000)))

    def env(self, **extra: str) -> dict[str, str]:
        env = clean_env(self.home, **extra)
        if "ONEAPI_ADMIN_SOCKET" not in extra:
            env.pop("ONEAPI_ADMIN_SOCKET", None)
        return env

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*oneapi_cmd(), *args], cwd=self.home, env=self.env(**env), capture_output=True,
                              text=True, timeout=60)

    def ok(self, *args: str, **env: str) -> str:
        result = self.cli(*args, **env)
        assert result.returncode == 0, (args, result.returncode, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def many(self, commands: list[list[str]], **env: str) -> list[subprocess.CompletedProcess[str]]:
        """Run several CLI commands at once (each is mostly interpreter start-up)."""
        procs = [subprocess.Popen([*oneapi_cmd(), *args], cwd=self.home, env=self.env(**env),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for args in commands]
        results = []
        for args, proc in zip(commands, procs, strict=True):
            out, err = proc.communicate(timeout=60)
            results.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
        return results

    def api(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        answer: dict[str, Any] = self.server.request(method, path, body, {"Authorization": ACCESS})
        return answer

    def data(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.api(method, path, body)
        assert answer["success"] is True, (method, path, answer)
        return answer.get("data")

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self.names)}"

    def chat(self, key: str, text: str = "hello from the cli test") -> str:
        client = openai.OpenAI(base_url=self.server.url("/v1"), api_key=key, max_retries=0, timeout=30)
        try:
            answer = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
        finally:
            client.close()
        return answer.choices[0].message.content or ""


def wait_for(check: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout} s")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    home = Path(tempfile.mkdtemp(prefix="oa-cli-", dir="/tmp"))
    upstream = ThreadedFake(with_billing(FakeOpenAI()))
    env = clean_env(home, INITIAL_ROOT_ACCESS_TOKEN=ACCESS, GLOBAL_API_RATE_LIMIT="0", SESSION_SECRET="cli-secret")
    env.pop("ONEAPI_ADMIN_SOCKET", None)
    server = Server(oneapi_cmd(), home, free_port(), env)
    try:
        server.wait_ready()
        s = Served(home, server, upstream)
        # The relay's own channel and token, made through the HTTP API so CLI tests do not depend on each other.
        s.relay_channel = s.data("POST", "/api/channel/", {"name": "relay", "type": 1, "key": "upstream-key",
                                                           "base_url": upstream.url, "models": "gpt-4o-mini"})[0]
        token = s.data("POST", "/api/token/", {"name": "relay", "unlimited_quota": True})
        s.relay_key = "sk-" + token["key"]
        yield s
    finally:
        assert server.stop() == 0, server.output()[-3000:]
        upstream.close()
        shutil.rmtree(home, ignore_errors=True)


def usage_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 2, exactly one line on stderr naming the problem, no traceback, nothing on stdout."""
    assert result.returncode == 2, (result.args, result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, (result.args, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    for needle in needles:
        assert needle in lines[0], (result.args, lines[0])


def refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 1 with exactly the server's message on stderr."""
    assert result.returncode == 1, (result.args, result.returncode, result.stdout, result.stderr)
    assert result.stderr == f"oneapi: {message}\n", (result.stderr, message)


# ------------------------------------------------------------------------------------------------- channel

def test_channel_add_update_enable_disable_test_balance_delete(served: Served) -> None:
    name = served.unique("ch")
    before = len(served.upstream.paths())
    added = served.json("channel", "add", "--name", name, "--type", "1", "--key", "sk-upstream-one",
                        "--base-url", served.upstream.url, "--models", "gpt-4o,gpt-4", "--group", "default,vip",
                        "--priority", "7", "--weight", "3", "--model-mapping", '{"gpt-4": "gpt-4o"}',
                        "--config", '{"region": "eu"}')
    [cid] = added["ids"]
    row = served.data("GET", f"/api/channel/{cid}")
    assert {k: row[k] for k in ("name", "type", "base_url", "models", "group", "priority", "weight", "status")} == {
        "name": name, "type": 1, "base_url": served.upstream.url, "models": "gpt-4o,gpt-4",
        "group": "default,vip", "priority": 7, "weight": 3, "status": 1}
    assert json.loads(row["model_mapping"]) == {"gpt-4": "gpt-4o"} and json.loads(row["config"]) == {"region": "eu"}

    listed = {c["id"]: c for c in served.json("channel", "list")}
    assert listed[cid]["name"] == name and listed[cid]["status_text"] == "enabled"
    assert all("key" not in c for c in listed.values())  # keys go in, never come out
    assert [c["id"] for c in served.json("channel", "list", "--search", name)] == [cid]

    updated = served.json("channel", "update", str(cid), "--priority", "2", "--weight", "9", "--name", name + "u")
    assert [(c["id"], c["priority"], c["weight"], c["name"]) for c in updated] == [(cid, 2, 9, name + "u")]
    row = served.data("GET", f"/api/channel/{cid}")
    assert (row["priority"], row["weight"], row["name"], row["models"]) == (2, 9, name + "u", "gpt-4o,gpt-4")

    assert served.ok("channel", "disable", str(cid)).strip() == f"channel {cid} disabled"
    assert served.data("GET", f"/api/channel/{cid}")["status"] == 2
    assert served.ok("channel", "enable", str(cid)).strip() == f"channel {cid} enabled"
    assert served.data("GET", f"/api/channel/{cid}")["status"] == 1

    tested = served.json("channel", "test", str(cid), "--model", "gpt-4o")
    assert tested["success"] is True and tested["modelName"] == "gpt-4o", tested
    assert len(served.upstream.paths()) > before and served.upstream.paths()[-1] == "/v1/chat/completions"
    assert served.upstream.fake.requests[-1].headers["authorization"] == "Bearer sk-upstream-one"
    assert served.data("GET", f"/api/channel/{cid}")["test_time"] > 0
    text = served.ok("channel", "test", str(cid))
    assert text.startswith(f"channel {cid} (") and "ok in" in text

    balance = served.json("channel", "balance", str(cid))
    expected = BALANCE_LIMIT - BALANCE_USED_CENTS / 100
    assert balance["success"] is True and balance["balance"] == pytest.approx(expected)
    assert served.data("GET", f"/api/channel/{cid}")["balance"] == pytest.approx(expected)
    assert served.ok("channel", "balance", str(cid)).strip() == f"channel {cid}: balance {expected}"

    assert served.ok("channel", "delete", str(cid)).strip() == f"deleted channel {cid}"
    gone = served.api("GET", f"/api/channel/{cid}")
    assert gone["success"] is False and str(cid) in gone["message"]
    assert cid not in {c["id"] for c in served.json("channel", "list")}


def test_channel_add_one_per_key_line_and_the_all_variants(served: Served) -> None:
    name = served.unique("multi")
    ids = served.json("channel", "add", "--name", name, "--key", "sk-a\nsk-b", "--base-url", served.upstream.url,
                      "--models", "gpt-4o")["ids"]
    assert len(ids) == 2
    assert sorted(c["id"] for c in served.data("GET", f"/api/channel/search?keyword={name}")) == sorted(ids)
    assert served.ok("channel", "add", "--name", name + "t", "--key", "sk-c", "--base-url", served.upstream.url,
                     "--models", "gpt-4o").startswith("created channel ")

    started = served.ok("channel", "test", "--all")
    assert "background" in started
    wait_for(lambda: all(served.data("GET", f"/api/channel/{i}")["test_time"] > 0 for i in ids), 20,
             "every channel tested")
    updated = served.ok("channel", "balance", "--all")
    assert updated.startswith("updated ") and updated.strip().endswith("channel balances")
    assert all(served.data("GET", f"/api/channel/{i}")["balance"] == pytest.approx(87.66) for i in ids)
    for i in ids:
        served.ok("channel", "delete", str(i))


# --------------------------------------------------------------------------------------------------- token

def test_token_create_list_update_enable_disable_delete(served: Served) -> None:
    name = served.unique("tok")
    created = served.json("token", "create", "--name", name, "--quota", "$2", "--expires", "30d", "--models",
                          "gpt-4o-mini,gpt-4o", "--subnet", "10.0.0.0/8,127.0.0.1/32")
    tid, key = created["id"], created["key"]
    assert len(key) == 48 and not key.startswith("sk-")  # shown in full here, once
    row = served.data("GET", f"/api/token/{tid}")
    assert row["key"] == key and row["name"] == name and row["remain_quota"] == 1_000_000
    assert row["unlimited_quota"] is False and row["status"] == 1
    assert row["models"] == "gpt-4o-mini,gpt-4o" and row["subnet"] == "10.0.0.0/8,127.0.0.1/32"
    assert abs(row["expired_time"] - (time.time() + 30 * 86400)) < 120

    unlimited = served.json("token", "create", "--name", name + "u", "--unlimited")
    assert served.data("GET", f"/api/token/{unlimited['id']}")["unlimited_quota"] is True
    plain = served.ok("token", "create", "--name", name + "p", "--quota", "1000")
    assert plain.startswith("created token ") and f"({name}p): sk-" in plain

    listed = {t["id"]: t for t in served.json("token", "list")}
    assert listed[tid]["name"] == name and listed[unlimited["id"]]["unlimited_quota"] is True
    assert [t["id"] for t in served.json("token", "list", "--search", name + "u")] == [unlimited["id"]]

    changed = served.json("token", "update", str(tid), "--name", name + "x", "--quota", "500", "--expires",
                          "never", "--models", "", "--subnet", "")
    assert changed["name"] == name + "x" and changed["remain_quota"] == 500
    row = served.data("GET", f"/api/token/{tid}")
    assert (row["name"], row["remain_quota"], row["expired_time"], row["models"], row["subnet"]) == (
        name + "x", 500, -1, "", "")
    assert row["key"] == key  # an update never changes the key

    served.json("token", "update", str(tid), "--disable")
    assert served.data("GET", f"/api/token/{tid}")["status"] == 2
    served.json("token", "update", str(tid), "--enable", "--expires", "2099-01-01")
    row = served.data("GET", f"/api/token/{tid}")
    assert row["status"] == 1 and row["expired_time"] == 4070908800

    # The create help's claim about the key is what list --json does.
    create_help = " ".join(served.ok("token", "create", "--help").split())
    assert "shown in full only here" not in create_help and "'token list --json' shows every key" in create_help
    assert {t["key"] for t in served.json("token", "list")} >= {key}

    for token_id in (tid, unlimited["id"]):
        assert served.ok("token", "delete", str(token_id)).strip() == f"deleted token {token_id}"
        assert served.api("GET", f"/api/token/{token_id}")["success"] is False
    assert tid not in {t["id"] for t in served.json("token", "list")}


def test_token_rate_limits(served: Served) -> None:
    name = served.unique("rl")
    created = served.json("token", "create", "--name", name, "--unlimited", "--rpm", "60", "--tpm", "100000")
    row = served.data("GET", f"/api/token/{created['id']}")
    assert (row["rpm_limit"], row["tpm_limit"]) == (60, 100000)
    table = served.ok("token", "list", "--search", name, COLUMNS="200")
    assert "Rate limits" in table and "60 rpm, 100000 tpm" in table
    changed = served.json("token", "update", str(created["id"]), "--tpm", "0")  # only what is given changes
    assert (changed["rpm_limit"], changed["tpm_limit"]) == (60, 0)
    assert "60 rpm " in served.ok("token", "list", "--search", name, COLUMNS="200")
    for flag, value in (("--rpm", "-1"), ("--tpm", "1000000001"), ("--rpm", "many")):
        usage_error(served.cli("token", "update", str(created["id"]), flag, value), flag)
        usage_error(served.cli("token", "create", "--unlimited", flag, value), flag)
    row = served.data("GET", f"/api/token/{created['id']}")
    assert (row["rpm_limit"], row["tpm_limit"]) == (60, 0)


# ------------------------------------------------------------------------------------------------- voucher

def all_vouchers(served: Served) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in range(1000):
        batch = served.data("GET", f"/api/redemption/?p={page}")
        if not batch:
            return rows
        rows += batch
    raise AssertionError("too many pages")


def test_voucher_create_print_export_list_disable_delete(served: Served, tmp_path: Path) -> None:
    name = served.unique("v")
    made = served.json("voucher", "create", "--count", "3", "--quota", "$1", "--name", name)
    assert len(made) == 3 and {v["name"] for v in made} == {name} and {v["quota"] for v in made} == {500_000}
    stored = {v["key"]: v for v in all_vouchers(served) if v["name"] == name}
    assert set(stored) == {v["key"] for v in made}
    assert {(v["status"], v["quota"]) for v in stored.values()} == {(1, 500_000)}

    printed = served.ok("voucher", "create", "--count", "2", "--quota", "1,000", "--name", name + "p")
    keys = printed.split()
    assert len(keys) == 2 and all(len(k) == 32 for k in keys)
    assert {v["key"] for v in all_vouchers(served) if v["name"] == name + "p"} == set(keys)

    txt = tmp_path / "keys.txt"
    said = served.ok("voucher", "create", "--count", "4", "--quota", "100", "--name", name + "t", "--out", str(txt))
    assert said.strip() == f"wrote 4 vouchers to {txt}"
    lines = txt.read_text().splitlines()
    assert len(lines) == 4 and {v["key"] for v in all_vouchers(served) if v["name"] == name + "t"} == set(lines)

    assert stat.S_IMODE(txt.stat().st_mode) == 0o600  # keys are money: readable only by their owner
    out = tmp_path / "keys.CSV"
    out.write_text("an older export\n")
    out.chmod(0o644)  # an existing file is narrowed before the keys go in
    served.ok("voucher", "create", "--count", "2", "--quota", "$0.5", "--name", name + "c", "--out", str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0] == ["key", "name", "quota"] and len(rows) == 3
    assert {(r[1], r[2]) for r in rows[1:]} == {(name + "c", "250000")}
    assert {v["key"] for v in all_vouchers(served) if v["name"] == name + "c"} == {r[0] for r in rows[1:]}

    listed = served.json("voucher", "list", "--search", name)
    assert {v["key"] for v in listed} >= set(stored)
    first = next(v for v in all_vouchers(served) if v["key"] == made[0]["key"])
    assert served.ok("voucher", "disable", str(first["id"])).strip() == f"voucher {first['id']} disabled"
    assert served.data("GET", f"/api/redemption/{first['id']}")["status"] == 2
    assert served.ok("voucher", "delete", str(first["id"])).strip() == f"deleted voucher {first['id']}"
    assert served.api("GET", f"/api/redemption/{first['id']}")["success"] is False


def test_voucher_create_150_takes_two_batches(served: Served, tmp_path: Path) -> None:
    too_many = served.api("POST", "/api/redemption/", {"name": "x", "quota": 1, "count": 150})
    assert too_many["success"] is False  # the API's cap, which the CLI batches around
    name = served.unique("big")
    out = tmp_path / "big.csv"
    served.ok("voucher", "create", "--count", "150", "--quota", "7", "--name", name, "--out", str(out))
    rows = list(csv.reader(out.read_text().splitlines()))[1:]
    keys = {r[0] for r in rows}
    assert len(rows) == 150 and len(keys) == 150
    assert {v["key"] for v in all_vouchers(served) if v["name"] == name} == keys


def test_voucher_keys_are_printed_when_the_export_cannot_be_written(served: Served, tmp_path: Path) -> None:
    name = served.unique("lost")
    out = tmp_path / ("k" * 300 + ".txt")  # the directory is writable; the name is not possible
    result = served.cli("voucher", "create", "--count", "2", "--quota", "5", "--name", name, "--out", str(out))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "printed above" in result.stderr
    keys = result.stdout.split()
    assert len(keys) == 2 and {v["key"] for v in all_vouchers(served) if v["name"] == name} == set(keys)


# ---------------------------------------------------------------------------------------------------- user

def test_user_create_list_update_topup_enable_disable(served: Served) -> None:
    username = served.unique("cliuser")
    created = served.json("user", "create", "--username", username, "--password", "password123", "--display-name",
                          "Cli User")
    found = served.data("GET", f"/api/user/search?keyword={username}")
    assert [(u["username"], u["display_name"], u["role"]) for u in found] == [(username, "Cli User", 1)]
    uid = found[0]["id"]
    assert created == served.data("GET", f"/api/user/{uid}")
    other = served.unique("cliuser")
    said = served.ok("user", "create", "--username", other, "--password", "password123").strip()
    assert said == f"created user {other} (id {served.data('GET', f'/api/user/search?keyword={other}')[0]['id']})"
    assert username in {u["username"] for u in served.json("user", "list")}
    assert [u["id"] for u in served.json("user", "list", "--search", username)] == [uid]

    updated = served.json("user", "update", str(uid), "--group", "vip", "--quota", "$3", "--display-name", "Renamed",
                          "--promote")
    assert (updated["group"], updated["quota"], updated["display_name"], updated["role"]) == ("vip", 1_500_000,
                                                                                            "Renamed", 10)
    row = served.data("GET", f"/api/user/{uid}")
    assert (row["group"], row["quota"], row["display_name"], row["role"]) == ("vip", 1_500_000, "Renamed", 10)
    served.json("user", "update", str(uid), "--demote")
    assert served.data("GET", f"/api/user/{uid}")["role"] == 1

    said = served.ok("user", "topup", "--id", str(uid), "--quota", "$1", "--remark", "cli test")
    assert said.strip() == f"added $1.00 to {username} (id {uid}); balance $4.00"  # dollars, as the TUI shows
    assert served.data("GET", f"/api/user/{uid}")["quota"] == 2_000_000
    said = served.ok("user", "topup", username, "--quota", "3", "--raw")  # a username, as enable takes
    assert said.strip() == f"added 3 to {username} (id {uid}); balance 2,000,003"
    topped = served.json("user", "topup", username, "--quota", "$0.000004")
    assert topped["added"] == 2 and topped["user"]["quota"] == 2_000_005
    topups = served.data("GET", f"/api/log/?type=1&username={username}")
    assert sorted(t["quota"] for t in topups) == [2, 3, 500_000]
    nobody = served.cli("user", "topup", "no-such-user", "--quota", "1")
    assert nobody.returncode == 1 and nobody.stderr == "oneapi: no user named 'no-such-user'\n"

    assert served.ok("user", "disable", username).strip() == f"user {username}: disabled"
    assert served.data("GET", f"/api/user/{uid}")["status"] == 2
    assert served.ok("user", "enable", "--id", str(uid)).strip() == f"user {username}: enabled"
    assert served.data("GET", f"/api/user/{uid}")["status"] == 1


def test_a_username_of_digits_is_a_name_and_an_id_is_given_as_id(served: Served) -> None:
    root = served.data("GET", "/api/user/1")
    assert root["username"] == "root"
    made = served.json("user", "create", "--username", "1", "--password", "password123")
    assert made["username"] == "1" and made["id"] != 1  # the new user, not root (whose id is 1)
    said = served.ok("user", "topup", "1", "--quota", "5", "--raw")
    assert said.strip() == f"added 5 to 1 (id {made['id']}); balance {made['quota'] + 5:,}"
    assert served.ok("user", "disable", "1").strip() == "user 1: disabled"
    assert served.data("GET", f"/api/user/{made['id']}")["status"] == 2
    after = served.data("GET", "/api/user/1")
    assert (after["quota"], after["status"]) == (root["quota"], 1)  # root untouched
    assert served.ok("user", "enable", "--id", str(made["id"])).strip() == "user 1: enabled"
    topped = served.json("user", "topup", "--id", "1", "--quota", "2")
    assert topped["user"]["username"] == "root" and topped["user"]["quota"] == root["quota"] + 2

    nobody = served.cli("user", "topup", "99999", "--quota", "1")
    assert (nobody.returncode, nobody.stderr) == (
        1, "oneapi: no user named '99999' (for the user with id 99999, use --id 99999)\n")
    for args in (["user", "topup", "1", "--id", "1", "--quota", "1"], ["user", "enable"], ["user", "disable"]):
        usage_error(served.cli(*args), "give a username or --id ID")


def test_an_exact_short_username_is_found_among_a_hundred_longer_ones(served: Served) -> None:
    """The prefix search answers at most 100 users, newest first: the short name must not depend on it."""
    made = served.json("user", "create", "--username", "px", "--password", "password123")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: served.data("POST", "/api/user/", {"username": f"px{i:03d}",
                                                                   "password": "password123"}), range(101)))
    try:
        assert len(served.data("GET", "/api/user/search?keyword=px")) == 100  # ... without px among them
        said = served.ok("user", "topup", "px", "--quota", "1", "--raw")
        assert said.strip() == f"added 1 to px (id {made['id']}); balance {made['quota'] + 1:,}"
        assert served.ok("user", "disable", "px").strip() == "user px: disabled"
        assert served.data("GET", f"/api/user/{made['id']}")["status"] == 2
    finally:  # the other tests list the first page of users and expect root on it
        while left := served.data("GET", "/api/user/search?keyword=px"):
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda user: served.data("DELETE", f"/api/user/{user['id']}"), left))


# -------------------------------------------------------------------------------------------------- option

def test_option_get_and_set(served: Served) -> None:
    assert served.ok("option", "set", "SystemName", "CLI Test Gateway").strip() == "SystemName updated"
    options = {o["key"]: o["value"] for o in served.data("GET", "/api/option/")}
    assert options["SystemName"] == "CLI Test Gateway"
    assert served.data("GET", "/api/status")["system_name"] == "CLI Test Gateway"
    assert served.ok("option", "get", "SystemName") == "CLI Test Gateway\n"
    assert served.json("option", "get", "SystemName") == {"key": "SystemName", "value": "CLI Test Gateway"}

    served.ok("option", "set", "RetryTimes", "2")
    everything = {o["key"]: o["value"] for o in served.json("option", "get")}
    assert everything == {o["key"]: o["value"] for o in served.data("GET", "/api/option/")}
    assert everything["RetryTimes"] == "2"
    served.ok("option", "set", "ModelRatio", '{"gpt-4o-mini": 0.075, "gpt-4o": 1.25}')
    assert served.ok("option", "get", "ModelRatio").strip().startswith("{")


# ----------------------------------------------------------------------------------------------------- log

def consume_logs(served: Served, token_name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = served.data("GET", f"/api/log/?type=2&token_name={token_name}")
    return rows


def test_log_tail_and_stats_show_a_relayed_call(served: Served) -> None:
    name = served.unique("logtok")
    key = "sk-" + served.data("POST", "/api/token/", {"name": name, "unlimited_quota": True})["key"]
    stats_before = served.json("log", "stats")
    assert served.chat(key, "one two three") == "echo: one two three"
    [row] = wait_for(lambda: consume_logs(served, name), what="the consume log")

    tail = parse_json_stream(served.ok("log", "tail", "--json", "--type", "consume", "--token", name))
    assert tail == [row]
    assert (row["model_name"], row["token_name"], row["username"], row["type"]) == ("gpt-4o-mini", name, "root", 2)
    assert row["prompt_tokens"] == 6 and row["completion_tokens"] == 4 and row["quota"] > 0
    everything = parse_json_stream(served.ok("log", "tail", "--json", "--limit", "100"))
    assert row in everything and len(everything) <= 100
    by_model = parse_json_stream(served.ok("log", "tail", "--json", "--model", "gpt-4o-mini", "--user", "root",
                                           "--channel", str(row["channel"])))
    assert row in by_model and all(r["model_name"] == "gpt-4o-mini" for r in by_model)
    assert parse_json_stream(served.ok("log", "tail", "--json", "--token", name, "--type", "topup")) == []

    stats = served.json("log", "stats", "--token", name)
    assert stats["quota"] == row["quota"] == served.data("GET", f"/api/log/stat?type=2&token_name={name}")["quota"]
    assert stats["total_requests"] >= stats_before["total_requests"] + 1
    assert stats["total_quota"] >= stats_before["total_quota"] + row["quota"]
    assert "gpt-4o-mini" in {model for model, _ in stats["top_models"]}
    text = served.ok("log", "stats", "--token", name)
    assert f"spent (matching logs): {money(row['quota'], True)}\n" in text and "requests" in text
    assert f"spent (matching logs): {row['quota']:,}\n" in served.ok("log", "stats", "--token", name, "--raw")
    table = served.ok("log", "tail", "--token", name, COLUMNS="300")
    assert money(row["quota"], True) in table


@pytest.mark.parametrize("inherited", [signal.SIG_DFL, signal.SIG_IGN], ids=["sigint-default", "sigint-ignored"])
def test_log_tail_follow_prints_a_relayed_call_as_it_happens(served: Served, inherited: signal.Handlers) -> None:
    """Ctrl-C ends the follow with exit 0, whatever SIGINT disposition the suite inherited (a suite started in the
    background, under nohup or by some CI runners ignores SIGINT, and so would every child it starts)."""
    name = served.unique("follow")
    key = "sk-" + served.data("POST", "/api/token/", {"name": name, "unlimited_quota": True})["key"]
    before = signal.signal(signal.SIGINT, inherited)
    try:
        proc = subprocess.Popen([*with_default_sigint(oneapi_cmd()), "log", "tail", "--follow", "--json", "--token",
                                 name], cwd=served.home, env=served.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, before)
    chunks: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        while char := proc.stdout.read(1):
            chunks.put(char)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    out = ""
    try:
        # The stream subscribes after printing the (empty) backlog; call until a call is seen, then stop.
        for _ in range(10):
            served.chat(key)
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                try:
                    out += chunks.get(timeout=0.1)
                except queue.Empty:
                    continue
                try:
                    if parse_json_stream(out):
                        break
                except ValueError:
                    continue  # half a document so far
            if out.strip():
                break
        time.sleep(0.3)
        while not chunks.empty():
            out += chunks.get()
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        proc.wait(15)
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(5)
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
    while not chunks.empty():
        out += chunks.get()
    seen = parse_json_stream(out)
    assert seen, (out, err)
    assert {(r["token_name"], r["model_name"], r["type"], r["username"]) for r in seen} == {
        (name, "gpt-4o-mini", 2, "root")}
    stored = wait_for(lambda: consume_logs(served, name), what="the consume logs")

    def figures(row: dict[str, Any]) -> tuple[Any, ...]:
        return row["prompt_tokens"], row["completion_tokens"], row["quota"], row["channel"]

    assert len(seen) <= len(stored) and {figures(r) for r in seen} <= {figures(r) for r in stored}
    assert proc.returncode == 0 and "Traceback" not in err, err


# -------------------------------------------------------------------------------------------- tables, errors

def test_tables_by_default(served: Served) -> None:
    commands = {
        ("channel", "list"): ("Name", "relay"),
        ("token", "list"): ("Remaining", "relay"),
        ("voucher", "list"): ("Redeemed", "ID"),
        ("user", "list"): ("Username", "root"),
        ("option", "get"): ("Value", "RetryTimes"),
        ("log", "tail"): ("Model", "Content"),
        ("channel", "update", str(served.relay_channel), "--weight", "0"): ("Priority", "relay"),
    }
    results = served.many([list(c) for c in commands], COLUMNS="200")
    for (command, words), result in zip(commands.items(), results, strict=True):
        assert result.returncode == 0, (command, result.stderr)
        assert "┃" in result.stdout and not result.stdout.lstrip().startswith(("{", "[")), (command, result.stdout)
        for word in words:
            assert word in result.stdout, (command, word, result.stdout)
    narrow = served.ok("channel", "list", COLUMNS="80")
    assert "ID" in narrow and max(len(line) for line in narrow.splitlines()) <= 80


BAD_USAGE: list[tuple[list[str], tuple[str, ...]]] = [
    (["channel", "add", "--name", "nokey"], ("--key is required",)),
    (["channel", "add", "--key", "k", "--model-mapping", "{bad json"], ("--model-mapping", "not valid JSON")),
    (["channel", "add", "--key", "k", "--config", "[1, 2]"], ("--config", "JSON object")),
    (["channel", "add", "--key", "k", "--priority", "high"], ("--priority",)),
    (["channel", "list", "--bogus"], ("--bogus",)),
    (["channel", "delete", "abc"], ("CHANNEL_ID",)),
    (["channel", "enable", "1.5"], ("CHANNEL_ID",)),
    (["channel", "test"], ("give a channel id or --all",)),
    (["channel", "balance", "1", "--all"], ("give a channel id or --all",)),
    (["channel", "update", "1"], ("nothing to change",)),
    (["channel", "frobnicate"], ("frobnicate",)),
    (["token", "create", "--name", "x"], ("--quota or --unlimited",)),
    (["token", "create", "--quota", "abc"], ("'abc'", "not a number")),
    (["token", "create", "--quota", "-5"], ("between 0",)),
    (["token", "create", "--quota", "1", "--expires", "someday"], ("--expires", "'someday'")),
    (["token", "update", "1"], ("nothing to change",)),
    (["token", "delete", "one"], ("TOKEN_ID",)),
    (["token", "create", "--quota", "1", "--expires", "2020-01-01"], ("--expires", "'2020-01-01' is in the past")),
    (["token", "create", "--quota", "1", "--expires", "1"], ("--expires", "in the past")),
    (["token", "update", "1", "--expires", "2001-09-09"], ("--expires", "in the past")),
    (["voucher", "create", "--count", "3"], ("--quota is required",)),
    (["voucher", "create", "--count", "0", "--quota", "1"], ("--count",)),
    (["voucher", "create", "--quota", "$x"], ("not a number",)),
    (["voucher", "disable", "x1"], ("VOUCHER_ID",)),
    (["voucher", "create", "--quota", "1", "--out", "v.xlsx"], ("--out", "v.xlsx", ".txt", ".csv")),
    (["voucher", "create", "--quota", "1", "--out", "keys"], ("--out", ".txt", ".csv")),
    (["voucher", "create", "--quota", "1", "--out", "/nonexistent-oa/keys.csv"], ("--out", "/nonexistent-oa")),
    (["voucher", "create", "--quota", "1", "--out", "/tmp"], ("--out", "is a directory")),
    (["user", "create", "--username", "bob"], ("--username and --password are required",)),
    (["user", "topup", "x"], ("--quota is required",)),
    (["user", "topup", "1"], ("--quota is required",)),
    (["user", "update", "1", "--quota", "lots"], ("not a number",)),
    (["option", "set", "RetryTimes"], ("VALUE",)),
    (["option", "get", "NoSuchOption"], ("NoSuchOption",)),
    (["log", "tail", "--type", "bogus"], ("bogus",)),
    (["log", "tail", "--limit", "0"], ("--limit",)),
    (["log", "stats", "--channel", "one"], ("--channel",)),
]


@pytest.mark.parametrize("groups", [("channel",), ("token", "voucher"), ("user", "option", "log")],
                         ids=lambda g: "+".join(g))
def test_bad_usage_is_exit_2_with_one_line_and_changes_nothing(served: Served, groups: tuple[str, ...]) -> None:
    def state() -> tuple[Any, ...]:
        return (served.data("GET", "/api/channel/"), served.data("GET", "/api/token/"),
                served.data("GET", "/api/redemption/"), served.data("GET", "/api/user/"),
                served.data("GET", "/api/option/"))

    cases = [(args, needles) for args, needles in BAD_USAGE if args[0] in groups]
    before = state()
    results = served.many([args for args, _ in cases])
    for (_, needles), result in zip(cases, results, strict=True):
        usage_error(result, *needles)
    assert state() == before


def test_refusals_are_exit_1_with_the_servers_message(served: Served) -> None:
    bad_option = served.api("PUT", "/api/option/", {"key": "RetryTimes", "value": "x"})
    missing_channel = served.api("DELETE", "/api/channel/999")
    missing_token = served.api("DELETE", "/api/token/99999")
    missing_voucher = served.api("PUT", "/api/redemption/?status_only=1", {"id": 99999, "status": 2})
    missing_user = served.api("GET", "/api/user/99999")
    assert not any(a["success"] for a in (bad_option, missing_channel, missing_token, missing_voucher, missing_user))
    results = served.many([["option", "set", "RetryTimes", "x"], ["channel", "delete", "999"],
                           ["token", "delete", "99999"], ["voucher", "disable", "99999"],
                           ["user", "update", "99999", "--group", "vip"], ["user", "create", "--username", "root",
                                                                           "--password", "password123"],
                           ["channel", "test", "999"], ["token", "update", "99999", "--name", "x"]])
    refused(results[0], bad_option["message"])
    assert "RetryTimes" in bad_option["message"]
    refused(results[1], missing_channel["message"])
    assert "999" in missing_channel["message"]
    refused(results[2], missing_token["message"])
    refused(results[3], missing_voucher["message"])
    refused(results[4], missing_user["message"])
    for result in results[5:]:
        assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result
        assert result.stderr.startswith("oneapi: ") and "Traceback" not in result.stderr
    assert served.ok("option", "get", "RetryTimes").strip() != "x"


UNREACHABLE = [["channel", "list"], ["channel", "add", "--key", "k"], ["token", "list"],
               ["token", "create", "--unlimited"], ["voucher", "list"], ["voucher", "create", "--quota", "1"],
               ["user", "list"], ["user", "topup", "1", "--quota", "1"], ["option", "get"],
               ["option", "set", "RetryTimes", "1"], ["log", "tail"], ["log", "tail", "--follow"], ["log", "stats"],
               ["tui"]]


@pytest.mark.parametrize("leftover", [False, True], ids=["no-file", "stale-socket-file"])
def test_no_server_is_exit_3_for_every_command_group(served: Served, leftover: bool) -> None:
    nowhere = served.home / f"nobody-{leftover}.sock"
    if leftover:  # a socket file nobody listens on, as a crashed server leaves behind
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(nowhere))
        stale.close()
    try:
        results = served.many(UNREACHABLE, ONEAPI_ADMIN_SOCKET=str(nowhere))
    finally:
        nowhere.unlink(missing_ok=True)
    for args, result in zip(UNREACHABLE, results, strict=True):
        assert result.returncode == 3, (args, result.returncode, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(nowhere) in lines[0] and "Traceback" not in result.stderr, (args, lines)
        assert "oneapi serve" in lines[0] or args == ["tui"] or "answer" in lines[0], (args, lines)

    flag = served.cli("channel", "list", "--admin-socket", str(nowhere))  # the flag, not the environment
    assert flag.returncode == 3 and str(nowhere) in flag.stderr


def test_the_cli_follows_the_server_going_away(tmp_path: Path) -> None:
    """A ``log tail --follow`` running when the server stops ends with exit 3 and one line, and the server's
    shutdown does not wait for it."""
    home = Path(tempfile.mkdtemp(prefix="oa-gone-", dir="/tmp"))
    try:
        env = clean_env(home)
        env.pop("ONEAPI_ADMIN_SOCKET", None)
        server = Server(oneapi_cmd(), home, free_port(), env)
        try:
            server.wait_ready()
            follow = subprocess.Popen([*oneapi_cmd(), "log", "tail", "--follow", "--json"], cwd=home, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(1.5)  # started, subscribed
            assert follow.poll() is None, follow.communicate()
        finally:
            began = time.monotonic()
            assert server.stop() == 0
            stopped_in = time.monotonic() - began
        _, err = follow.communicate(timeout=15)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert stopped_in < 10, f"shutdown waited {stopped_in:.1f} s for the live stream"
    assert follow.returncode == 3, err
    assert len(err.strip().splitlines()) == 1 and "stopped" in err and "Traceback" not in err, err


def test_help_is_not_an_error() -> None:
    result = subprocess.run([*oneapi_cmd(), "channel", "--help"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "120"})
    assert result.returncode == 0 and "balance" in result.stdout and result.stderr == ""


def test_help_shows_flags_the_usual_way() -> None:
    """Flags take nothing; options name the kind of value they take; arguments are in capitals."""
    def helped(*args: str) -> str:
        result = subprocess.run([*oneapi_cmd(), *args, "--help"], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "COLUMNS": "120"})
        assert result.returncode == 0, result.stderr
        return result.stdout

    top = helped()
    assert re.search(r"^  --version +Print the version and exit\.$", top, re.M), top
    assert "<bool>" not in top and "<str>" not in top
    update = helped("token", "update")
    assert update.splitlines()[0] == "Usage: oneapi token update [OPTIONS] TOKEN_ID", update  # no {TOKEN_ID}
    assert re.search(r"^  --name TEXT +Token name", update, re.M), update
    assert helped("user", "topup").splitlines()[0] == "Usage: oneapi user topup [OPTIONS] [USER]"
    assert helped("option", "set").splitlines()[0] == "Usage: oneapi option set [OPTIONS] KEY VALUE"
    assert re.search(r"^  --enable / --disable +Switch", update, re.M), update
    assert re.search(r"^  --port INTEGER +TCP port", helped("serve"), re.M)
    assert not re.search(r"<(bool|str|int|path)>", helped("voucher", "create") + helped("log", "tail"))


def test_every_usage_line_names_arguments_in_plain_capitals() -> None:
    """Each subcommand's usage line, as ``--help`` prints it: arguments as Click writes them (KEY, [USER]),
    never in typer's braces, and no lower-case placeholder."""
    import typer.main

    from oneapi.cli import app, plain_metavars

    root = plain_metavars(typer.main.get_command(app))
    lines = []
    for group_name, group in root.commands.items():
        for name, command in (getattr(group, "commands", None) or {"": group}).items():
            path = " ".join(filter(None, ("oneapi", group_name, name)))
            ctx = command.make_context(path, [], resilient_parsing=True)
            lines.append(command.get_usage(ctx))
    assert len(lines) >= 29 and "Usage: oneapi user enable [OPTIONS] [USER]" in lines, lines
    for line in lines:
        assert re.fullmatch(r"Usage: oneapi [a-z ]+ \[OPTIONS\]( \[?[A-Z_]+\]?(\.\.\.)?)*", line), line


def test_top_level_usage_errors_are_one_line(tmp_path: Path) -> None:
    for args in (["bogus"], ["serve", "--port", "x"], ["tui", "--bogus"]):
        result = run_cli(*args, home=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
