"""Which X-Forwarded-For address is the client's: only what trusted proxies appended counts."""

from __future__ import annotations

import pytest

from sdcpp_rest.auth.proxies import TrustedProxies, parse_networks

PROXIES = TrustedProxies(parse_networks("10.0.0.5, 192.168.1.0/24"))


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("127.0.0.1", "10.0.0.5", "127.0.0.1"),  # not a proxy: its header means nothing
        ("127.0.0.1", None, "127.0.0.1"),
        ("10.0.0.5", None, "10.0.0.5"),
        ("10.0.0.5", "203.0.113.7", "203.0.113.7"),
        ("10.0.0.5", "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the left part is the client's own
        ("10.0.0.5", "203.0.113.7, 192.168.1.20", "203.0.113.7"),  # through two trusted proxies
        ("10.0.0.5", "192.168.1.20", "192.168.1.20"),  # only proxies: the first one
        ("10.0.0.5", "not-an-address", "10.0.0.5"),
        ("::ffff:10.0.0.5", "203.0.113.7", "203.0.113.7"),  # IPv4 inside IPv6
        ("unix-peer:0", "203.0.113.7", "unix-peer:0"),
        (None, "203.0.113.7", None),
    ],
)
def test_client_address(peer: str | None, forwarded_for: str | None, client: str | None) -> None:
    assert PROXIES.client_address(peer, forwarded_for) == client


def test_membership() -> None:
    assert "10.0.0.5" in PROXIES and "192.168.1.77" in PROXIES
    assert "10.0.0.6" not in PROXIES and "garbage" not in PROXIES and None not in PROXIES
    with pytest.raises(ValueError):
        parse_networks("10.0.0.5,nope")
