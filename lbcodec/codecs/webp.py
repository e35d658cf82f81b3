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
