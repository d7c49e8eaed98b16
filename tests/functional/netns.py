"""Running a test's process in a network namespace of its own (``unshare -n``): only its loopback exists, so it
can prove it needs no network, and it may give its loopback addresses that stand for hosts elsewhere (a public
image host, a private one) without any packet leaving the machine."""

from __future__ import annotations

import fcntl
import shutil
import socket
import struct
import subprocess
from functools import cache


@cache
def isolation() -> tuple[list[str], str]:
    """The command prefix that runs a process in a new network namespace, or [] and the reason it cannot."""
    reason = ""
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        if shutil.which(prefix[0]) is None:
            return [], "unshare is not installed"
        probe = subprocess.run([*prefix, "true"], capture_output=True, text=True)
        if probe.returncode == 0:
            return prefix, ""
        reason = probe.stderr.strip()
    return [], f"unshare -n is not allowed here ({reason})"


def bring_loopback_up() -> None:
    """``ip link set lo up`` without needing ``ip``: a new network namespace starts with lo down."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, siocgifflags, request))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


def add_loopback_address(address: str) -> None:
    """Give lo one more IPv4 address (inside a namespace of our own only: never on the machine's)."""
    subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], check=True, capture_output=True)


def outside_reachable() -> bool:
    try:
        socket.create_connection(("1.1.1.1", 443), timeout=2).close()
    except OSError:
        return False
    return True
