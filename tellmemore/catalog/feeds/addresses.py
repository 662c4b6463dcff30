"""Which addresses the server may connect to, and how a URL's host becomes them.

A host is turned into addresses exactly once per hop (:func:`checked_addresses`), every address
is held against the policy, and the caller connects to one of those addresses and nothing else
(:mod:`tellmemore.catalog.feeds.outbound`): a name that answers differently the second time it
is asked (DNS rebinding) never gets a second chance. Hosts that are numbers in the forms old
``inet_aton`` accepts (``2130706433``, ``0177.0.0.1``, ``0x7f.1``) mean an IPv4 address to
every resolver and browser, so they are read as that address and judged like it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from tellmemore.errors import ErrorKind, FeedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host (ASCII, no brackets), port -> the addresses it resolves to, best first.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_NUMBER_LABEL = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


async def resolve_host(host: str, port: int) -> list[str]:
    """The system resolver (``getaddrinfo``), in the order it prefers."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _refused(ip: IPAddress) -> bool:
    return (
        not ip.is_global
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
    )


def is_forbidden(ip: IPAddress) -> bool:
    """True for addresses a public fetch must not reach: private, loopback, link-local,
    multicast, reserved and unspecified ones, also when an IPv6 address carries one of those
    IPv4 addresses inside (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d``, 6to4
    ``2002:AABB:CCDD::``; Teredo is not global, so refused as it is)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _refused(ip.ipv4_mapped)
        if any(ip in net for net in _NAT64):
            return _refused(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and _refused(ip.sixtofour):
            return True
    return _refused(ip)


@dataclass(frozen=True)
class AddressPolicy:
    """How hosts become addresses and which addresses are off limits.

    ``allow_private`` lets tests and the local demo fetch from loopback; ``resolve`` and
    ``forbidden`` are the system resolver and :func:`is_forbidden` in production, and seams for
    tests (a resolver that rebinds, a test address treated as public)."""

    allow_private: bool = False
    resolve: Resolver = resolve_host
    forbidden: Callable[[IPAddress], bool] = is_forbidden
    resolve_timeout_s: float = 10.0


def numeric_host(host: str) -> IPAddress | None:
    """The address a host names by number, or None for a name.

    IPv6 literals, dotted quads, and the other IPv4 spellings (one to four parts, each decimal,
    ``0x`` hex or ``0`` octal, the last filling the remaining bytes) as the WHATWG URL standard
    reads them. A host whose last label is a number but that is no valid address raises
    ``ValueError``, since resolvers disagree on what it means."""
    if ":" in host:
        return ipaddress.IPv6Address(host)  # raises ValueError for junk (scope ids included)
    labels = host.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    if not _NUMBER_LABEL.fullmatch(labels[-1]):
        return None
    if len(labels) > 4:
        raise ValueError(f"{host!r} has too many parts for an IPv4 address")
    numbers = [_ipv4_part(label) for label in labels]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise ValueError(f"{host!r} is out of range for an IPv4 address")
    value = numbers[-1] + sum(n << (8 * (3 - i)) for i, n in enumerate(numbers[:-1]))
    return ipaddress.IPv4Address(value)


def _ipv4_part(label: str) -> int:
    if label[:2] in ("0x", "0X"):
        digits, base = label[2:] or "0", 16
        valid = all(c in "0123456789abcdefABCDEF" for c in digits)
    elif len(label) > 1 and label.startswith("0"):
        digits, base = label[1:], 8
        valid = all(c in "01234567" for c in digits)
    else:
        digits, base = label, 10
        valid = digits.isascii() and digits.isdigit()
    if not valid:
        raise ValueError(f"{label!r} is not a number")
    return int(digits, base)


async def checked_addresses(host: str, port: int, policy: AddressPolicy) -> list[IPAddress]:
    """Every address ``host`` stands for, each one allowed by ``policy``, resolved once.

    ``host`` is an ASCII name (IDNA already applied) or an address literal without brackets.
    Raises :class:`FeedError`: ``url_invalid`` for a malformed numeric host,
    ``url_host_forbidden`` when any address is off limits (a client may be steered to any of
    them), ``feed_unreachable`` when the name does not resolve."""
    try:
        literal = numeric_host(host)
    except ValueError as exc:
        raise FeedError("url_invalid", f"The host {host!r} is not a usable address.") from exc
    if literal is not None:
        addresses = [literal]
    else:
        addresses = await _resolve(host, port, policy)
    if not policy.allow_private and any(policy.forbidden(a) for a in addresses):
        raise FeedError(
            "url_host_forbidden",
            f"The host {host!r} is a local or private address, which this server does not fetch.",
            details={"host": host},
        )
    return addresses


async def _resolve(host: str, port: int, policy: AddressPolicy) -> list[IPAddress]:
    unresolved = FeedError(
        "feed_unreachable", f"The host {host!r} could not be resolved.", ErrorKind.INVALID
    )
    try:
        async with asyncio.timeout(policy.resolve_timeout_s):
            answers = await policy.resolve(host, port)
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
    except (OSError, UnicodeError, ValueError) as exc:  # TimeoutError is an OSError
        raise unresolved from exc
    if not addresses:
        raise unresolved
    return list(dict.fromkeys(addresses))  # each once, in the resolver's order
