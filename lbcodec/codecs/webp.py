"""WebP (lossy VP8) through libwebp (imagecodecs.webp)."""

from __future__ import annotations

import numpy as np

from .base import Codec


class WebpCodec(Codec):
    """Lossy WebP, method 6 (slowest, smallest).

    imagecodecs' WebP is lossless unless told otherwise: ``lossless=False`` is
    always passed. Lossy WebP is always 4:2:0 and always colour: grayscale
    images are coded as R=G=B and returned single-channel.
    """

    name = "webp"
    container_id = 3
    extension = ".webp"
    library = "libwebp"
    native_gray = False
    integer_quality = False
    has_subsampling = False
    own_chroma = "420"

    @classmethod
    def _available(cls) -> bool:
        import imagecodecs

        return imagecodecs.WEBP.available

    @classmethod
    def _version(cls) -> str:
        import imagecodecs

        return imagecodecs.webp_version()

    def _encode(self, img: np.ndarray, quality: float, subsampling: str, tune: str) -> bytes:
        import imagecodecs

        return imagecodecs.webp_encode(img, level=float(quality), lossless=False, method=6)

    def _decode(self, data: bytes) -> np.ndarray:
        import imagecodecs

        return imagecodecs.webp_decode(data)

    def _probe_size(self, data: bytes) -> tuple[int, int]:
        return webp_size(data)


def webp_chunks(data: bytes):
    """(fourcc, payload) of each chunk of a RIFF/WEBP file, in order."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a RIFF/WEBP file")
    pos, n = 12, len(data)
    while pos + 8 <= n:
        kind = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        yield kind, data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)  # chunks are padded to an even size


def webp_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a WebP file's first chunk: the VP8X canvas (libwebp requires a
    still image's bitstream to match it), the VP8 key frame header or the VP8L header."""
    for kind, body in webp_chunks(data):
        if kind == b"VP8X":
            if len(body) < 10:
                break
            return int.from_bytes(body[4:7], "little") + 1, int.from_bytes(body[7:10], "little") + 1
        if kind == b"VP8 ":
            if len(body) < 10 or body[3:6] != b"\x9d\x01\x2a":
                raise ValueError("no VP8 key frame start code")
            return int.from_bytes(body[6:8], "little") & 0x3FFF, int.from_bytes(body[8:10], "little") & 0x3FFF
        if kind == b"VP8L":
            if len(body) < 5 or body[0] != 0x2F:
                raise ValueError("no VP8L signature")
            bits = int.from_bytes(body[1:5], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        raise ValueError(f"unexpected first chunk {kind!r}")
    raise ValueError("truncated WebP header")
