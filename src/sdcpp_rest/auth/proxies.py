"""Which peers are trusted proxies, and the client address a request comes from.

Every trust decision starts from the real peer of the connection (uvicorn runs with its own proxy
header handling off, see cli/main.py): an `X-Forwarded-For` header counts only when that peer is a
configured trusted proxy, and then only the addresses the trusted proxies appended to it, read from
the right, so a client cannot choose its own address by sending the header itself.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# A header longer than this is not from a proxy chain we trust to parse in full.
MAX_FORWARDED_HOPS = 32


def parse_networks(text: str) -> list[Network]:
    """Comma-separated addresses or CIDR networks; ValueError names a bad entry."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an IP address or network: {exc}") from None
    return networks


class TrustedProxies:
    def __init__(self, networks: list[Network]) -> None:
        self._networks = networks

    def __contains__(self, host: object) -> bool:
        address = _address(host) if isinstance(host, str) else None
        if address is None:
            return False
        return any(address.version == net.version and address in net for net in self._networks)

    def client_address(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The address of the client behind the trusted proxies: the peer itself unless it is a
        trusted proxy that forwarded the request; then the right-most address in X-Forwarded-For
        that is not a trusted proxy (the one the first trusted proxy saw)."""
        if peer not in self or not forwarded_for:
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",")][-MAX_FORWARDED_HOPS:]
        client = peer
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                break  # garbage from the client side of the chain: keep the last address we trust
            client = str(address)
            if client not in self:
                break
        return client


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
