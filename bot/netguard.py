"""Which addresses the bot may fetch result images from: public ones only, unless told otherwise.

A result URL comes from the provider's answer, so it is not ours to trust: without a check a link to
`http://169.254.169.254/` or `http://127.0.0.1:8080/metrics` would make the bot fetch from inside the
network it runs in. The check runs on the addresses a name *resolves to*, inside the connector's
resolver, so what is checked is what is connected to (a DNS answer cannot change in between), and
again for every redirect hop, since downloads follow redirects one by one (see `images.download`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

AddressCheck = Callable[[str], bool]  # an IP address as text -> may we connect to it?
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class ForbiddenAddress(OSError):
    """A result link points at an address the bot must not fetch from."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), which is what gets reached."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address: str) -> bool:
    """True for a globally routable unicast address; False for loopback, private, link-local,
    multicast, reserved, unspecified and other special ranges (IPv4, IPv6 and IPv4 inside IPv6)."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            # What gets reached is the IPv4 address; the IPv6 wrapper's own range says nothing.
            return is_public(str(inner))
    special = (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )
    # is_global also excludes shared (100.64/10) and documentation ranges the flags above miss.
    return not special and ip.is_global


def allow_any(address: str) -> bool:
    return True


def address_check(allow_private: bool) -> AddressCheck:
    return allow_any if allow_private else is_public


def literal_address(host: str | None) -> str | None:
    """The host itself when it is an IP address (which no resolver ever sees), else None."""
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%", 1)[0]))
    except ValueError:
        return None


class GuardedResolver(AbstractResolver):
    """Resolves as usual, then keeps only the addresses `check` allows; none left is an error."""

    def __init__(self, check: AddressCheck, inner: AbstractResolver | None = None) -> None:
        self._check = check
        self._inner = inner or aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [result for result in results if self._check(result["host"])]
        if not allowed:
            raise ForbiddenAddress(f"{host} resolves only to addresses the bot may not fetch from")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def download_session(check: AddressCheck, resolver: AbstractResolver | None = None) -> aiohttp.ClientSession:
    """A session for result downloads only: its connector resolves through the check, and it sends
    no cookies or proxy settings from the environment along."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(check, resolver), limit=16)
    return aiohttp.ClientSession(
        connector=connector, headers={"User-Agent": "mjbot/0.1"}, cookie_jar=aiohttp.DummyCookieJar()
    )
