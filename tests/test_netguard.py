"""Result downloads reach public addresses only: the address check, and downloads that meet it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.images import DownloadError, download
from bot.netguard import address_check, download_session, is_public, literal_address
from sandbox.images import png
from sandbox.provider import bound_port


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",
        "64:ff9b::a00:1",
        "2001:db8::1",
        "not-an-address",
    ],
)
def test_internal_and_special_addresses_are_refused(address: str) -> None:
    assert not is_public(address)
    assert not address_check(False)(address) and address_check(True)(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public(address)


def test_literal_hosts() -> None:
    assert literal_address("127.0.0.1") == "127.0.0.1" and literal_address("[::1]") == "::1"
    assert literal_address("::ffff:7f00:1") == "::ffff:7f00:1"
    assert literal_address("cdn.example.org") is None and literal_address(None) is None


@dataclass
class Hosts:
    """Two loopback servers standing for the internet and the inside: the test says which is which."""

    public: str
    internal: str
    internal_port: int
    internal_hits: list[str] = field(default_factory=list)


class NamesResolver(AbstractResolver):
    """DNS for the test: `public.test` is 127.0.0.2, `internal.test` is 127.0.0.1."""

    NAMES: ClassVar[dict[str, str]] = {"public.test": "127.0.0.2", "internal.test": "127.0.0.1"}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = self.NAMES[host]
        return [
            ResolveResult(hostname=host, host=address, port=port, family=socket.AF_INET, proto=0, flags=0)
        ]

    async def close(self) -> None:
        return None


async def _serve(app: web.Application, host: str) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    return runner, bound_port(site)


@pytest.fixture
async def hosts() -> AsyncIterator[Hosts]:
    internal = web.Application()
    public = web.Application()
    state = Hosts("", "", 0)

    async def secret(request: web.Request) -> web.Response:
        state.internal_hits.append(request.path)
        return web.Response(body=png("secret"), content_type="image/png")

    internal.router.add_get("/secret.png", secret)
    internal_runner, internal_port = await _serve(internal, "127.0.0.1")

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=png("public"), content_type="image/png")

    async def bounce(request: web.Request) -> web.Response:
        target = request.query["to"].replace("PORT", str(internal_port))
        raise web.HTTPFound(target)

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    public.router.add_get("/image.png", image)
    public.router.add_get("/bounce", bounce)
    public.router.add_get("/loop", loop)
    public_runner, public_port = await _serve(public, "127.0.0.2")
    state.public = f"http://public.test:{public_port}"
    state.internal = f"http://internal.test:{internal_port}"
    state.internal_port = internal_port
    yield state
    await public_runner.cleanup()
    await internal_runner.cleanup()


async def test_a_loopback_link_is_refused_by_default(hosts: Hosts) -> None:
    check = address_check(allow_private=False)
    async with download_session(check) as session:
        for url in (
            f"http://127.0.0.1:{hosts.internal_port}/secret.png",
            f"http://[::ffff:127.0.0.1]:{hosts.internal_port}/secret.png",
            f"http://localhost:{hosts.internal_port}/secret.png",
        ):
            with pytest.raises(DownloadError):
                await download(session, url, max_bytes=1_000_000, check=check)
    assert hosts.internal_hits == []


async def test_a_redirect_from_an_allowed_host_to_a_forbidden_one_is_refused(hosts: Hosts) -> None:
    def check(address: str) -> bool:
        return address == "127.0.0.2"  # stands for "a public address" here

    async with download_session(check, NamesResolver()) as session:
        fine = await download(session, hosts.public + "/image.png", max_bytes=1_000_000, check=check)
        assert fine.extension == "png"
        for target in ("http://internal.test:PORT/secret.png", "http://127.0.0.1:PORT/secret.png"):
            with pytest.raises(DownloadError):
                await download(
                    session, f"{hosts.public}/bounce?to={target}", max_bytes=1_000_000, check=check
                )
        with pytest.raises(DownloadError):
            await download(session, hosts.internal + "/secret.png", max_bytes=1_000_000, check=check)
    assert hosts.internal_hits == []


async def test_allowing_private_addresses_follows_redirects_to_them(hosts: Hosts) -> None:
    check = address_check(allow_private=True)
    async with download_session(check, NamesResolver()) as session:
        image = await download(
            session,
            f"{hosts.public}/bounce?to=http://internal.test:PORT/secret.png",
            max_bytes=1_000_000,
            check=check,
        )
    assert image.extension == "png" and hosts.internal_hits == ["/secret.png"]


async def test_a_redirect_loop_ends(hosts: Hosts) -> None:
    check = address_check(allow_private=True)
    async with download_session(check, NamesResolver()) as session:
        with pytest.raises(DownloadError, match="redirects"):
            await download(session, hosts.public + "/loop", max_bytes=1_000_000, check=check)
