"""Fetching result images safely, and fitting them under Discord's upload limit.

Downloads follow only http(s) links to addresses `netguard` allows (redirects one hop at a time, each
checked), stream with a size cap (abort past it, never holding a huge file), and keep only what really
is an image: an image content type *and* image magic bytes. No more than `MAX_DOWNLOADS` run at once
in the process, and an image is decoded only when its header declares a sane size. Every failure here
is a `DownloadError`, which delivery answers by posting the links instead.
"""

from __future__ import annotations

import asyncio
import io
import logging
import weakref
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp
from PIL import Image as PILImage

from .netguard import AddressCheck, literal_address

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
# Midjourney results are at most ~4096×4096 (16.7 MP); 50 MP leaves room while a decoded frame stays
# near 150 MB of RGB. Pillow's own default (89 MP, and only a warning below 179 MP) let a 48 KB PNG
# declaring 13000×13000 take 1.6 GB and 19 s to shrink.
MAX_PIXELS = 50_000_000
PILImage.MAX_IMAGE_PIXELS = MAX_PIXELS
MAX_REDIRECTS = 5
# Each download holds a socket and up to DOWNLOAD_MAX_BYTES of memory: bound them process-wide.
MAX_DOWNLOADS = 8
_REDIRECTS = {301, 302, 303, 307, 308}
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
_MAGIC = {
    b"\x89PNG\r\n\x1a\n": ("png", "image/png"),
    b"\xff\xd8\xff": ("jpg", "image/jpeg"),
    b"GIF87a": ("gif", "image/gif"),
    b"GIF89a": ("gif", "image/gif"),
}


class DownloadError(Exception):
    """A result link is dead, too large, or not an image."""


@dataclass(frozen=True)
class Image:
    data: bytes
    extension: str


def sniff(data: bytes) -> str | None:
    for magic, (extension, _kind) in _MAGIC.items():
        if data.startswith(magic):
            return extension
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def download_slots() -> asyncio.Semaphore:
    """The running loop's download semaphore (one loop per process in the bot; one per test)."""
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(MAX_DOWNLOADS)
    return slots


def _checked(url: str, check: AddressCheck) -> str:
    """The URL if its scheme is http(s) and its host is not a forbidden IP literal (names are checked
    by the session's resolver, on the addresses it actually connects to)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise DownloadError(f"not an http(s) link: {url[:80]}")
    literal = literal_address(parts.hostname)
    if literal is not None and not check(literal):
        raise DownloadError(f"refused: {literal} is not a public address")
    return url


async def download(
    session: aiohttp.ClientSession, url: str, *, max_bytes: int, check: AddressCheck, timeout_s: float = 30.0
) -> Image:
    """One result image. `session` must resolve names through `netguard.GuardedResolver` with the
    same `check` (see `netguard.download_session`)."""
    async with download_slots():
        buffer = await _fetch(session, _checked(url, check), max_bytes, check, timeout_s)
    extension = sniff(bytes(buffer[:16]))
    if extension is None:
        raise DownloadError("content is not an image (bad magic bytes)")
    return Image(bytes(buffer), extension)


async def _fetch(
    session: aiohttp.ClientSession, url: str, max_bytes: int, check: AddressCheck, timeout_s: float
) -> bytearray:
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        for _ in range(MAX_REDIRECTS + 1):
            # Redirects by hand: aiohttp would follow them without asking us about the next host.
            async with session.get(url, timeout=timeout, allow_redirects=False) as response:
                if response.status in _REDIRECTS and "Location" in response.headers:
                    url = _checked(urljoin(url, response.headers["Location"]), check)
                    continue
                return await _body(response, max_bytes)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise DownloadError(f"{type(exc).__name__}: {exc}") from exc
    raise DownloadError(f"more than {MAX_REDIRECTS} redirects")


async def _body(response: aiohttp.ClientResponse, max_bytes: int) -> bytearray:
    if response.status != 200:
        raise DownloadError(f"HTTP {response.status}")
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not kind.startswith("image/"):
        raise DownloadError(f"not an image (content type {kind or 'missing'})")
    if response.content_length is not None and response.content_length > max_bytes:
        raise DownloadError(f"too large ({response.content_length} bytes)")
    buffer = bytearray()
    async for chunk in response.content.iter_chunked(CHUNK):
        buffer += chunk
        if len(buffer) > max_bytes:
            raise DownloadError(f"too large (over {max_bytes} bytes)")
    return buffer


async def download_all(
    session: aiohttp.ClientSession, urls: list[str], *, max_bytes: int, check: AddressCheck
) -> list[Image]:
    """All images or an error: a grid with a missing quarter is worse than linked images."""
    return list(
        await asyncio.gather(*(download(session, url, max_bytes=max_bytes, check=check) for url in urls))
    )


def check_dimensions(image: Image) -> None:
    """Refuse an image whose header declares more than `MAX_PIXELS`, before anything decodes it:
    the header is a few bytes, the decoded frame could be gigabytes."""
    try:
        with PILImage.open(io.BytesIO(image.data)) as picture:
            width, height = picture.size
    except PILImage.DecompressionBombError as exc:  # Pillow's own check, at twice MAX_IMAGE_PIXELS
        raise DownloadError(f"image declares too many pixels (limit {MAX_PIXELS:,}): {exc}") from exc
    except Exception as exc:  # Pillow raises many types on hostile input; all mean "not usable".
        raise DownloadError(f"unreadable image ({type(exc).__name__}: {exc})") from exc
    if width * height > MAX_PIXELS:
        raise DownloadError(f"image declares {width}×{height} pixels (limit {MAX_PIXELS:,})")


def _shrink(image: Image, scale: float) -> Image:
    with PILImage.open(io.BytesIO(image.data)) as picture:
        width, height = picture.size
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        resized = picture.convert("RGB").resize(size, PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    resized.save(out, format="JPEG", quality=88, optimize=True)
    return Image(out.getvalue(), "jpg")


def _shrink_all(images: list[Image], scale: float) -> list[Image]:
    try:
        return [_shrink(image, scale) for image in images]
    except DownloadError:
        raise
    except Exception as exc:
        # DecompressionBombError, OSError, ValueError, SyntaxError, EOFError...: a result that cannot be
        # decoded is posted as links, never retried forever.
        raise DownloadError(f"cannot downscale ({type(exc).__name__}: {exc})") from exc


async def fit(images: list[Image], limit_bytes: int) -> list[Image]:
    """Check every image's declared size, then downscale (in a worker thread) until all of them fit
    in one upload."""
    for image in images:
        check_dimensions(image)
    scale = 1.0
    current = images
    for _ in range(6):
        if sum(len(image.data) for image in current) <= limit_bytes:
            return current
        scale *= 0.7
        current = await asyncio.to_thread(_shrink_all, images, scale)
    if sum(len(image.data) for image in current) <= limit_bytes:
        return current
    raise DownloadError("images stay over the upload limit even downscaled")
