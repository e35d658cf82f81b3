"""AVIF (AV1 intra) through libavif (imagecodecs.avif)."""

from __future__ import annotations

import numpy as np

from .base import Codec, thread_kwargs

#: libavif speed (0 slowest/best .. 10 fastest); 6 is the usual balance
SPEED = 6


class AvifCodec(Codec):
    """AVIF at speed 6, 4:2:0 by default (imagecodecs defaults to 4:4:4).

    imagecodecs' ``level`` 100 (and no level at all) is *lossless*, so quality
    maps to level ``min(99, round(q))``. Grayscale is coded as R=G=B (libavif's
    4:0:0 path ignores the level here) and returned single-channel.
    """

    name = "avif"
    container_id = 4
    extension = ".avif"
    library = "libavif"
    native_gray = False

    @classmethod
    def _available(cls) -> bool:
        import imagecodecs

        return imagecodecs.AVIF.available

    @classmethod
    def _version(cls) -> str:
        import imagecodecs

        return imagecodecs.avif_version()

    def _encode(self, img: np.ndarray, quality: float, subsampling: str) -> bytes:
        import imagecodecs

        return imagecodecs.avif_encode(
            img, level=min(99, int(quality)), speed=SPEED, pixelformat="yuv" + subsampling
        )  # no numthreads: libaom's output changes with its thread count; imagecodecs uses 1

    def _decode(self, data: bytes) -> np.ndarray:
        import imagecodecs

        return imagecodecs.avif_decode(data, **thread_kwargs())
