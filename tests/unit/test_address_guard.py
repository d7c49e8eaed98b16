"""The address guard's judgement of each kind of address (``oneapi.proxy.address_guard``), table-style: what a
user-supplied URL may reach, by default and with USER_CONTENT_REQUEST_ALLOW_PRIVATE."""

from __future__ import annotations

import pytest

from oneapi.proxy.address_guard import RefusedAddressError, check_literal, kind_of, refusal

TABLE = [
    # public
    ("1.2.3.4", None), ("8.8.8.8", None), ("2606:4700:4700::1111", None), ("::ffff:8.8.8.8", None),
    ("64:ff9b::808:808", None),
    # loopback
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("64:ff9b::7f00:1", "loopback"),
    # private networks
    ("10.0.0.1", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"), ("192.168.0.1", "private"),
    ("100.64.0.1", "private"), ("fd00::1", "private"), ("fc00::1", "private"), ("::ffff:192.168.1.1", "private"),
    ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
    ("192.0.2.1", "private"), ("198.18.0.1", "private"),  # documentation, benchmarking: not global either
    # link-local, with the cloud metadata endpoints
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"),
    ("::ffff:169.254.169.254", "link-local"), ("fd00:ec2::254", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    # multicast, reserved, unspecified
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("::ffff:0.0.0.0", "unspecified"),
]


@pytest.mark.parametrize(("address", "kind"), TABLE)
def test_kind_of(address: str, kind: str | None) -> None:
    assert kind_of(address) == kind


@pytest.mark.parametrize(("address", "kind"), TABLE)
def test_allowing_private_lets_loopback_and_private_through_only(address: str, kind: str | None) -> None:
    assert refusal(address, allow_private=False) == kind
    expected = None if kind in (None, "loopback", "private") else kind
    assert refusal(address, allow_private=True) == expected


def test_a_host_that_is_not_an_address_is_never_connected_to() -> None:
    assert refusal("example.com", allow_private=True) == "reserved"


def test_check_literal_judges_addresses_and_lets_names_pass() -> None:
    check_literal("example.com", allow_private=False)
    check_literal("1.2.3.4", allow_private=False)
    check_literal("[::1]", allow_private=True)
    with pytest.raises(RefusedAddressError) as caught:
        check_literal("[::1]", allow_private=False)
    assert caught.value.kind == "loopback" and str(caught.value) == "[::1] leads to a loopback address"
