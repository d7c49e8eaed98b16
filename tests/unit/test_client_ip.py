"""client_ip: X-Forwarded-For is believed only from configured reverse proxies."""

from __future__ import annotations

import ipaddress

import pytest

from oneapi.api.client_ip import client_ip, parse_networks

LOCAL = parse_networks("127.0.0.1/32,::1/128")
PROXIES = parse_networks("127.0.0.1/32, 10.0.0.0/8")


def test_parse_networks() -> None:
    assert parse_networks("") == ()
    assert parse_networks(" , ") == ()
    assert parse_networks("127.0.0.1/32, ::1/128") == (ipaddress.ip_network("127.0.0.1/32"),
                                                       ipaddress.ip_network("::1/128"))
    assert parse_networks("10.1.2.3/8") == (ipaddress.ip_network("10.0.0.0/8"),)  # host bits allowed
    assert parse_networks("192.168.1.1") == (ipaddress.ip_network("192.168.1.1/32"),)


@pytest.mark.parametrize("bad", ["not-a-network", "10.0.0.0/33", "300.1.1.1"])
def test_parse_networks_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_networks(bad)


def test_without_forwarded_for_the_peer_is_the_client() -> None:
    assert client_ip("203.0.113.5", None, LOCAL) == "203.0.113.5"
    assert client_ip("127.0.0.1", None, LOCAL) == "127.0.0.1"
    assert client_ip("127.0.0.1", "", LOCAL) == "127.0.0.1"
    assert client_ip(None, None, LOCAL) == ""


def test_forwarded_for_from_untrusted_peer_is_ignored() -> None:
    assert client_ip("203.0.113.5", "1.2.3.4", LOCAL) == "203.0.113.5"
    assert client_ip("127.0.0.1", "1.2.3.4", ()) == "127.0.0.1"  # no proxies configured
    assert client_ip("127.0.0.2", "1.2.3.4", LOCAL) == "127.0.0.2"  # /32: only 127.0.0.1 is trusted
    assert client_ip(None, "1.2.3.4", LOCAL) == ""
    assert client_ip("not-an-ip", "1.2.3.4", LOCAL) == "not-an-ip"


def test_forwarded_for_from_trusted_peer_is_believed() -> None:
    assert client_ip("127.0.0.1", "1.2.3.4", LOCAL) == "1.2.3.4"
    assert client_ip("::1", "2001:db8::7", LOCAL) == "2001:db8::7"
    assert client_ip("127.0.0.1", " 1.2.3.4 ", LOCAL) == "1.2.3.4"


def test_right_most_untrusted_hop_wins_over_spoofed_left_hops() -> None:
    # the client wrote "6.6.6.6"; our proxy appended the real client address
    assert client_ip("127.0.0.1", "6.6.6.6, 1.2.3.4", LOCAL) == "1.2.3.4"
    # a chain of our own proxies is skipped
    assert client_ip("127.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.9, 10.1.1.1", PROXIES) == "1.2.3.4"
    # a chain through an untrusted hop stops there
    assert client_ip("10.0.0.1", "1.2.3.4, 203.0.113.8", PROXIES) == "203.0.113.8"


def test_only_trusted_hops_gives_the_left_most() -> None:
    assert client_ip("127.0.0.1", "10.0.0.3, 10.0.0.2", PROXIES) == "10.0.0.3"


def test_empty_hops_are_skipped() -> None:
    assert client_ip("127.0.0.1", " , ,", LOCAL) == "127.0.0.1"
    assert client_ip("127.0.0.1", "1.2.3.4,,", LOCAL) == "1.2.3.4"
