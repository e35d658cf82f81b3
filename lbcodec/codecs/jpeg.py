"""JPEG through libjpeg-turbo (imagecodecs.jpeg8)."""

from __future__ import annotations

import numpy as np

from .base import Codec


class JpegCodec(Codec):
    """Baseline JPEG with optimized Huffman tables.

    quality 0-100 maps to the IJG quality 1-100 (0 is treated as 1);
    ``optimize`` is always on: at low rates it saves about 30% of the bytes.
    """

    name = "jpeg"
    container_id = 1
    extension = ".jpg"
    library = "libjpeg-turbo"

    @classmethod
    def _available(cls) -> bool:
        import imagecodecs

        return imagecodecs.JPEG8.available

    @classmethod
    def _version(cls) -> str:
        import imagecodecs

        return imagecodecs.jpeg8_version()

    def _encode(self, img: np.ndarray, quality: float, subsampling: str, tune: str) -> bytes:
        import imagecodecs

        kwargs = {"subsampling": subsampling} if img.shape[2] == 3 else {}
        return imagecodecs.jpeg8_encode(img, level=max(1, int(quality)), optimize=True, **kwargs)

    def _decode(self, data: bytes) -> np.ndarray:
        import imagecodecs

        return imagecodecs.jpeg8_decode(data)
