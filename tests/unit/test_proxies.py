"""Which address is the client's behind trusted proxies (api/proxies.py)."""

from __future__ import annotations

import pytest

from api.proxies import TrustedProxies


def _proxies(trusted: str) -> TrustedProxies:
    async def app(scope: object, receive: object, send: object) -> None:  # never called
        raise AssertionError

    return TrustedProxies(app, trusted)


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        # A trusted load balancer: the address it appended.
        ("10.0.0.0/8", "10.1.2.3", ["203.0.113.9"], "203.0.113.9"),
        # Whatever the client wrote at the left is not believed past the proxies.
        ("10.0.0.0/8", "10.1.2.3", ["1.2.3.4, 203.0.113.9"], "203.0.113.9"),
        # Two trusted hops (LB then the node's ingress), in one header or two.
        ("10.0.0.0/8,127.0.0.1", "127.0.0.1", ["203.0.113.9, 10.0.0.5"], "203.0.113.9"),
        ("10.0.0.0/8,127.0.0.1", "127.0.0.1", ["203.0.113.9", "10.0.0.5"], "203.0.113.9"),
        # An untrusted peer's header is ignored: it would choose its own bucket.
        ("10.0.0.0/8", "198.51.100.7", ["203.0.113.9"], "198.51.100.7"),
        # IPv4-mapped IPv6 peers are their IPv4 address.
        ("127.0.0.1", "::ffff:127.0.0.1", ["203.0.113.9"], "203.0.113.9"),
        # Only trusted hops: the left-most one.
        ("*", "10.1.2.3", ["10.0.0.1, 10.0.0.2"], "10.0.0.1"),
        # Garbage in the header is an untrusted hop, never an error.
        ("10.0.0.0/8", "10.1.2.3", ["not-an-ip"], "not-an-ip"),
    ],
)
def test_the_client_is_the_rightmost_untrusted_hop(
    trusted: str, peer: str, forwarded: list[str], client: str
) -> None:
    assert _proxies(trusted).client_of(peer, forwarded) == client
