"""Requests that are not HTTP reach a real ``oneapi serve``: each gets a bare 400 and a closed connection, the
server stays up, and its log gets one short line for the lot instead of a traceback per request."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.functional.server_process import Server, clean_env, free_port, oneapi_cmd

pytestmark = pytest.mark.slow

NOT_HTTP = [
    b"GET /api/status HTTP/1.1\r\nHost: x\r\nX-Bad\x01Name: 1\r\n\r\n",   # a control byte in a header name
    b"GET /api/status HTTP/9.9\r\nHost: x\r\n\r\n",                      # no such HTTP version
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,      # a TLS ClientHello on the plain port
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"GET /api/status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
]


def send_raw(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(payload)
        received = b""
        while chunk := conn.recv(65536):  # the server closes the connection after its answer
            received += chunk
    return received


def test_malformed_requests_get_400_and_one_log_line(tmp_path: Path) -> None:
    server = Server(oneapi_cmd(), tmp_path, free_port(), clean_env(tmp_path))
    try:
        server.wait_ready()
        for _ in range(10):
            for payload in NOT_HTTP:
                answer = send_raw(server.port, payload)
                assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n", 1)[0], (payload, answer)
        assert server.get("/api/status")["success"] is True
    finally:
        assert server.stop() == 0
    log = server.output()
    assert "Traceback" not in log, log
    reports = [line for line in log.splitlines() if "malformed HTTP request" in line]
    # 50 bad requests within seconds: the first is reported, the rest are held back for the next report
    assert len(reports) == 1 and "WARNING" in reports[0], log
