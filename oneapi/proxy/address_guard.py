"""Which addresses a fetch of user-supplied content may reach (SSRF).

A user who sends an image URL makes the server fetch it; without a guard that URL can name the server's own
loopback services, the private network it sits in, or a cloud's metadata endpoint (link-local). The guard acts
where the connection is made, not on the URL's text, so that a name which resolves to a public address when
looked at and to a private one when connected to (DNS rebinding) gets nowhere:

* :class:`GuardedResolver` wraps the DNS resolver of the fetching connector: every answer is filtered before
  the connector sees it, and a name left with no acceptable address fails with :class:`RefusedAddressError`.
  The connector connects only to the addresses of that same, filtered answer.
* :func:`guarded_socket_factory` checks the address of every socket just before it connects, which also covers
  literal IP addresses in URLs (aiohttp does not ask the resolver about those).

Refused by default: loopback, private (RFC 1918, unique local, carrier-grade NAT and the other ranges Python's
``ipaddress`` does not call global), link-local (169.254/16 with the metadata endpoints, fe80::/10), multicast,
reserved and unspecified addresses, for IPv4 and IPv6 alike; an IPv6 address that embeds an IPv4 one
(IPv4-mapped, 6to4, NAT64) is judged by the IPv4 address. With ``allow_private``
(USER_CONTENT_REQUEST_ALLOW_PRIVATE) loopback and private addresses are allowed, for on-premise image hosts;
the other kinds stay refused, and so do the cloud metadata endpoints that sit in private ranges.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any, Literal

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

Kind = Literal["loopback", "private", "link-local", "cloud metadata", "multicast", "reserved", "unspecified"]
ALLOWED_WHEN_PRIVATE_IS_ON: frozenset[Kind] = frozenset({"loopback", "private"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Cloud metadata endpoints outside link-local, refused even where private addresses are allowed: AWS's IPv6 one
# (a unique local address) and Alibaba Cloud's (in the carrier-grade NAT range).
_METADATA = frozenset({ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")})


class RefusedAddressError(OSError):
    """A user-supplied URL leads to an address the guard refuses. ``str()`` names the host and the kind of
    address, not the address (a name's internal address is none of the client's business)."""

    def __init__(self, host: str, kind: Kind) -> None:
        super().__init__(f"{host} leads to a {kind} address")
        self.host = host
        self.kind = kind


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def kind_of(address: str) -> Kind | None:
    """The kind of a non-public address, or None for a public one. Raises ValueError for a non-address."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip in _METADATA:
        return "cloud metadata"
    if ip.is_reserved or ip == ipaddress.IPv4Address("255.255.255.255"):
        return "reserved"
    if ip.is_private or not ip.is_global:
        return "private"
    return None


def refusal(address: str, allow_private: bool) -> Kind | None:
    """Why ``address`` may not be fetched from (its kind), or None when it may."""
    try:
        kind = kind_of(address)
    except ValueError:
        return "reserved"  # not an IP address at all: never connect to it
    if kind is None or (allow_private and kind in ALLOWED_WHEN_PRIVATE_IS_ON):
        return None
    return kind


def check_literal(host: str, allow_private: bool) -> None:
    """Raise RefusedAddressError when ``host`` is an IP address the guard refuses (names pass: the resolver
    judges them)."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return
    kind = refusal(host.strip("[]"), allow_private)
    if kind is not None:
        raise RefusedAddressError(host, kind)


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` (the system's ``getaddrinfo`` by default: a resolver that holds nothing, as the
    connector does not close resolvers it was given) and keeps only the addresses the guard accepts."""

    def __init__(self, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self._allow_private = allow_private
        self._inner = inner if inner is not None else ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        kept = [a for a in answers if refusal(a["host"], self._allow_private) is None]
        if not kept:
            kinds = [refusal(a["host"], self._allow_private) for a in answers]
            raise RefusedAddressError(host, next((k for k in kinds if k is not None), "reserved"))
        return kept

    async def close(self) -> None:
        await self._inner.close()


def guarded_socket_factory(allow_private: bool) -> Callable[[Any], socket.socket]:
    """aiohttp's ``socket_factory``: refuses to create the socket for an address the guard refuses."""

    def factory(addr_info: Any) -> socket.socket:
        family, type_, proto, _, address = addr_info
        kind = refusal(str(address[0]), allow_private)
        if kind is not None:
            raise RefusedAddressError(str(address[0]), kind)
        return socket.socket(family=family, type=type_, proto=proto)

    return factory
