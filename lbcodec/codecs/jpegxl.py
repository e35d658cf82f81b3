"""JPEG XL (VarDCT) through libjxl (imagecodecs.jpegxl), as a bare codestream."""

from __future__ import annotations

import numpy as np

from .base import Codec, thread_kwargs

#: libjxl encoder effort (1 fastest .. 9); 7 is libjxl's default
EFFORT = 7


def quality_to_distance(quality: float) -> float:
    """libjxl's own quality -> Butteraugli distance mapping (JxlEncoderDistanceFromQuality).

    Quality 100 maps to distance 0.1 here, never to 0 (lossless).
    """
    q = float(quality)
    if q >= 30.0:
        return max(0.1, 0.1 + (100.0 - q) * 0.09)
    return 53.0 / 3000.0 * q * q - 23.0 / 20.0 * q + 25.0


class JpegxlCodec(Codec):
    """JPEG XL, lossy VarDCT at effort 7; quality -> distance 0.1 .. 25.

    With neither level nor distance imagecodecs encodes *losslessly*; the
    distance and ``lossless=False`` are always passed. No chroma subsampling
    option (XYB colour space).
    """

    name = "jpegxl"
    container_id = 6
    extension = ".jxl"
    library = "libjxl"
    integer_quality = False
    has_subsampling = False

    @classmethod
    def _available(cls) -> bool:
        import imagecodecs

        return imagecodecs.JPEGXL.available

    @classmethod
    def _version(cls) -> str:
        import imagecodecs

        return imagecodecs.jpegxl_version()

    def _encode(self, img: np.ndarray, quality: float, subsampling: str, tune: str) -> bytes:
        import imagecodecs

        src = img[:, :, 0] if img.shape[2] == 1 else img
        return imagecodecs.jpegxl_encode(
            src, distance=quality_to_distance(quality), effort=EFFORT, lossless=False, **thread_kwargs()
        )

    def _decode(self, data: bytes) -> np.ndarray:
        import imagecodecs

        return imagecodecs.jpegxl_decode(data, **thread_kwargs())
