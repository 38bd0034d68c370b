"""Fetching result images safely, and fitting them under Discord's upload limit.

Downloads follow only http(s) links, stream with a size cap (abort past it, never holding a huge file),
and keep only what really is an image: an image content type *and* image magic bytes.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
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


async def download(
    session: aiohttp.ClientSession, url: str, *, max_bytes: int, timeout_s: float = 30.0
) -> Image:
    if urlsplit(url).scheme not in ("http", "https"):
        raise DownloadError(f"not an http(s) link: {url[:80]}")
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
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
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DownloadError(f"{type(exc).__name__}: {exc}") from exc
    extension = sniff(bytes(buffer[:16]))
    if extension is None:
        raise DownloadError("content is not an image (bad magic bytes)")
    return Image(bytes(buffer), extension)


async def download_all(session: aiohttp.ClientSession, urls: list[str], *, max_bytes: int) -> list[Image]:
    """All images or an error: a grid with a missing quarter is worse than linked images."""
    return list(await asyncio.gather(*(download(session, url, max_bytes=max_bytes) for url in urls)))


def _shrink(image: Image, scale: float) -> Image:
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(image.data)) as picture:
        width, height = picture.size
        size = (max(1, int(width * scale)), max(1, int(height * scale)))
        resized = picture.convert("RGB").resize(size, PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    resized.save(out, format="JPEG", quality=88, optimize=True)
    return Image(out.getvalue(), "jpg")


def _shrink_all(images: list[Image], scale: float) -> list[Image]:
    return [_shrink(image, scale) for image in images]


async def fit(images: list[Image], limit_bytes: int) -> list[Image]:
    """Downscale (in a worker thread) until all of them fit in one upload."""
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
