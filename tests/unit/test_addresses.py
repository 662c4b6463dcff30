"""The address policy: numeric host spellings, addresses hidden inside IPv6, one resolution."""

from __future__ import annotations

import ipaddress

import pytest

from tellmemore.catalog.feeds.addresses import (
    AddressPolicy,
    checked_addresses,
    is_forbidden,
    numeric_host,
)
from tellmemore.errors import FeedError

LOOPBACK = ipaddress.ip_address("127.0.0.1")


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("8.8.8.8.", "8.8.8.8"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
    ],
)
def test_numeric_hosts_are_read_as_the_address_they_spell(host: str, address: str) -> None:
    assert numeric_host(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["feeds.example.com", "1password.com", "0x.example", "a.b.c.d.e"])
def test_names_are_names(host: str) -> None:
    assert numeric_host(host) is None


@pytest.mark.parametrize(
    "host", ["08.1.1.1", "1.2.3.4.5", "256.1.1.1", "1.16777216", "0xg.1", ":::"]
)
def test_numbers_that_are_no_address_are_refused(host: str) -> None:
    with pytest.raises(ValueError, match=r"number|parts|range|permitted"):
        numeric_host(host)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "198.18.0.1",
        "::1", "::", "fe80::1", "fd00::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1",  # IPv4-mapped
        "64:ff9b::7f00:1", "64:ff9b::a00:1",  # NAT64 of loopback and a private address
        "2002:7f00:1::", "2002:c0a8:101::1",  # 6to4 of loopback and 192.168.1.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo
        "::7f00:1",  # IPv4-compatible (deprecated)
    ],
)  # fmt: skip
def test_forbidden_addresses(address: str) -> None:
    assert is_forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
                "2002:808:808::1"],
)  # fmt: skip
def test_public_addresses_pass(address: str) -> None:
    assert not is_forbidden(ipaddress.ip_address(address))


async def test_one_forbidden_answer_refuses_the_host_and_numbers_skip_the_resolver() -> None:
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["8.8.8.8", "127.0.0.1"]

    policy = AddressPolicy(resolve=resolve)
    with pytest.raises(FeedError) as caught:
        await checked_addresses("mixed.example.test", 80, policy)
    assert caught.value.code == "url_host_forbidden"
    for spelling in ("2130706433", "0177.0.0.1", "0x7f.1"):
        with pytest.raises(FeedError) as caught:
            await checked_addresses(spelling, 80, policy)
        assert caught.value.code == "url_host_forbidden"
    assert asked == [("mixed.example.test", 80)]
    allowed = AddressPolicy(allow_private=True, resolve=resolve)
    both = await checked_addresses("mixed.example.test", 443, allowed)
    assert both == [ipaddress.ip_address("8.8.8.8"), LOOPBACK]


async def test_a_name_that_does_not_resolve_is_unreachable() -> None:
    async def nothing(host: str, port: int) -> list[str]:
        return []

    async def fails(host: str, port: int) -> list[str]:
        raise OSError("no such name")

    for resolve in (nothing, fails):
        with pytest.raises(FeedError) as caught:
            await checked_addresses("gone.example.test", 80, AddressPolicy(resolve=resolve))
        assert caught.value.code == "feed_unreachable"
