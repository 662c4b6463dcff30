"""The client's address behind trusted proxies, on every server the API runs under.

Rate limits per IP and the access log need the listener's address, not the load balancer's.
``X-Forwarded-For`` is believed only when the direct peer is a trusted proxy
(``api.forwarded_allow_ips``: addresses and networks, comma-separated, or ``*``), and then only
up to the first address from the right that is not itself trusted: a client can put anything
at the left of that header, but not past the proxies that append to it. One ASGI middleware
does this for plain uvicorn and for Serve alike (Serve's proxy applies no such setting of ours),
so behind a real ingress the whole site no longer shares one bucket.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted(value: str) -> tuple[bool, tuple[Network, ...]]:
    """``"*"`` (every peer) or comma-separated addresses and networks."""
    items = [v.strip() for v in value.split(",") if v.strip()]
    if "*" in items:
        return True, ()
    return False, tuple(ipaddress.ip_network(v, strict=False) for v in items)


class TrustedProxies:
    def __init__(self, app: ASGIApp, trusted: str) -> None:
        self.app = app
        self._everyone, self._networks = parse_trusted(trusted)

    def _trusted(self, address: str) -> bool:
        if self._everyone:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        ip = ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip
        return any(ip in network for network in self._networks)

    def client_of(self, peer: str, forwarded: Sequence[str]) -> str:
        """The client's address: the peer, or the right-most untrusted forwarded hop."""
        if not self._trusted(peer):
            return peer
        hops = [h.strip() for header in forwarded for h in header.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("client"):
            forwarded = [v.decode("latin-1") for k, v in scope.get("headers", [])
                         if k == b"x-forwarded-for"]  # fmt: skip
            if forwarded:
                peer, port = scope["client"]
                client = self.client_of(peer, forwarded)
                if client != peer:
                    scope = {**scope, "client": (client, port)}
        await self.app(scope, receive, send)
