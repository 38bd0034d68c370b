"""Result downloads: http(s) only, size-capped while streaming, images only; downscaling to fit."""

from __future__ import annotations

import asyncio
import contextlib
import io
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import PIL.Image
import pytest
from aiohttp import web
from PIL import Image as PILImage

import bot.images
from bot.images import MAX_DOWNLOADS, DownloadError, Image, download, download_all, fit, sniff
from bot.netguard import allow_any
from sandbox.images import png
from sandbox.provider import bound_port
from tests.helpers import eventually


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
    image = await download(session, files + "/good.png", max_bytes=1_000_000, check=allow_any)
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
        await download(session, files + path, max_bytes=1_000_000, check=allow_any)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x/y.png", "javascript:alert(1)"])
async def test_only_http_links(session: aiohttp.ClientSession, url: str) -> None:
    with pytest.raises(DownloadError, match="not an http"):
        await download(session, url, max_bytes=1000, check=allow_any)


async def test_dead_host(session: aiohttp.ClientSession) -> None:
    with pytest.raises(DownloadError):
        await download(session, "http://127.0.0.1:9/x.png", max_bytes=1000, check=allow_any)


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


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def declared_png(width: int, height: int, rows: bytes) -> bytes:
    """A PNG whose header declares `width`×`height` RGB pixels, whatever its data really holds."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )


def test_pillow_pixel_bound_is_set() -> None:
    assert PIL.Image.MAX_IMAGE_PIXELS == bot.images.MAX_PIXELS == 50_000_000


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [13000, 7500])
@pytest.mark.parametrize("limit", [1_000, 100_000_000])
async def test_a_png_declaring_13000_by_13000_is_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch, limit: int, side: int
) -> None:
    bomb = declared_png(side, side, bytes(3 * side + 1) * 4)  # a few KB of zlib
    assert len(bomb) < 50_000
    decoded: list[float] = []

    def shrink_all(images: list[Image], scale: float) -> list[Image]:
        decoded.append(scale)
        return images

    monkeypatch.setattr(bot.images, "_shrink_all", shrink_all)
    with pytest.raises(DownloadError, match="pixels"):
        await fit([Image(bomb, "png")], limit)
    assert decoded == []


@pytest.mark.parametrize(
    "data",
    [
        declared_png(64, 64, b"not zlib rows at all"),  # a valid header over garbage pixels
        declared_png(64, 64, bytes(10)),  # truncated pixel data
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,  # magic bytes, then nothing usable
    ],
    ids=["garbage-pixels", "truncated", "header-only"],
)
async def test_a_broken_image_is_a_download_error(data: bytes) -> None:
    with pytest.raises(DownloadError):
        await fit([Image(data, "png")], 10)


class BlockingFiles:
    """A stand-in session whose every GET waits for the test; it records how many run at once."""

    def __init__(self) -> None:
        self.active = 0
        self.peak = 0
        self.release = asyncio.Event()

    def get(self, url: str, **_: Any) -> Any:
        return self._request()

    @contextlib.asynccontextmanager
    async def _request(self) -> AsyncIterator[Any]:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await self.release.wait()
            yield _Response(png("x"))
        finally:
            self.active -= 1


class _Content:
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        yield self._data


class _Response:
    def __init__(self, data: bytes) -> None:
        self.status = 200
        self.headers = {"Content-Type": "image/png"}
        self.content_length = len(data)
        self.content = _Content(data)


async def test_downloads_are_bounded_process_wide() -> None:
    files = BlockingFiles()
    urls = [f"http://cdn.example.org/{n}.png" for n in range(6)]
    # Several deliveries at once, each with its own grid: the bound is across all of them.
    grids = [
        asyncio.create_task(download_all(files, urls, max_bytes=1_000_000, check=allow_any))  # type: ignore[arg-type]
        for _ in range(4)
    ]

    async def busy() -> bool:
        return files.active >= MAX_DOWNLOADS

    await eventually(busy)
    for _ in range(50):
        await asyncio.sleep(0)  # every other download has had its turn to start
    assert files.active == MAX_DOWNLOADS == 8
    files.release.set()
    results = await asyncio.gather(*grids)
    assert [len(images) for images in results] == [6] * 4 and files.peak == MAX_DOWNLOADS
