"""Result downloads: http(s) only, size-capped while streaming, images only; downscaling to fit."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from PIL import Image as PILImage

from bot.images import DownloadError, Image, download, fit, sniff
from sandbox.images import png
from sandbox.provider import bound_port


@pytest.fixture
async def files() -> AsyncIterator[str]:
    async def good(request: web.Request) -> web.Response:
        return web.Response(body=png("x"), content_type="image/png")

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html></html>", content_type="text/html")

    async def liar(request: web.Request) -> web.Response:
        return web.Response(body=b"not really a png at all", content_type="image/png")

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"\x89PNG\r\n\x1a\n" + b"0" * 65536)
        return response

    app = web.Application()
    app.router.add_get("/good.png", good)
    app.router.add_get("/page", html)
    app.router.add_get("/liar.png", liar)
    app.router.add_get("/huge.png", huge)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{bound_port(site)}"
    await runner.cleanup()


async def test_good_image(session: aiohttp.ClientSession, files: str) -> None:
    image = await download(session, files + "/good.png", max_bytes=1_000_000)
    assert image.extension == "png" and image.data.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/missing.png", "HTTP 404"),
        ("/page", "not an image"),
        ("/liar.png", "magic bytes"),
        ("/huge.png", "too large"),
    ],
)
async def test_bad_results_are_download_errors(
    session: aiohttp.ClientSession, files: str, path: str, words: str
) -> None:
    with pytest.raises(DownloadError, match=words):
        await download(session, files + path, max_bytes=1_000_000)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x/y.png", "javascript:alert(1)"])
async def test_only_http_links(session: aiohttp.ClientSession, url: str) -> None:
    with pytest.raises(DownloadError, match="not an http"):
        await download(session, url, max_bytes=1000)


async def test_dead_host(session: aiohttp.ClientSession) -> None:
    with pytest.raises(DownloadError):
        await download(session, "http://127.0.0.1:9/x.png", max_bytes=1000)


def test_sniff() -> None:
    assert sniff(b"\xff\xd8\xff\xe0") == "jpg" and sniff(b"GIF89a..") == "gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp" and sniff(b"<html>") is None


async def test_fit_downscales_until_under_the_limit() -> None:
    noisy = PILImage.effect_noise((600, 600), 100).convert("RGB")
    raw = io.BytesIO()
    noisy.save(raw, format="PNG")
    images = [Image(raw.getvalue(), "png")] * 4
    total = sum(len(i.data) for i in images)
    fitted = await fit(images, total // 4)
    assert sum(len(i.data) for i in fitted) <= total // 4 and all(i.extension == "jpg" for i in fitted)
    assert await fit(images, total) == images
