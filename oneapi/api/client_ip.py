"""The client's IP address, believing X-Forwarded-For only from configured reverse proxies."""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in text.split(",") if p.strip())


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_ip(peer: str | None, forwarded_for: str | None, proxies: tuple[Network, ...]) -> str:
    """The right-most address in the chain that is not a trusted proxy.

    Clients can put anything in X-Forwarded-For; only hops appended by our own proxies are believed.
    """
    address = peer or ""
    if not forwarded_for or not _trusted(address, proxies):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        address = hop
        if not _trusted(hop, proxies):
            break
    return address


def forwarded_https(peer: str | None, forwarded_proto: str | None, proxies: tuple[Network, ...]) -> bool:
    """Whether the client reached our reverse proxy over HTTPS: ``X-Forwarded-Proto: https`` from a trusted proxy.

    Only the proxy next to us is asked (the first value a chain of proxies wrote is the client's side).
    """
    if not forwarded_proto or not _trusted(peer or "", proxies):
        return False
    return forwarded_proto.split(",")[0].strip().lower() == "https"
