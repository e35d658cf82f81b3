"""JPEG 2000 through OpenJPEG (imagecodecs.jpeg2k), as a raw J2K codestream."""

from __future__ import annotations

import numpy as np

from .base import Codec, thread_kwargs

#: quality 0 and 100 map to these target PSNRs (dB) of OpenJPEG's distortion control
PSNR_AT_Q0 = 10.0
PSNR_AT_Q100 = 60.0


def quality_to_psnr(quality: float) -> float:
    return PSNR_AT_Q0 + (PSNR_AT_Q100 - PSNR_AT_Q0) * quality / 100.0


class Jpeg2000Codec(Codec):
    """JPEG 2000 (irreversible 9/7 wavelet, one quality layer).

    imagecodecs' ``level`` is OpenJPEG's target PSNR in dB (no level means
    *lossless*); quality maps linearly onto 10-60 dB, which is monotone in size.
    There is no chroma subsampling option.
    """

    name = "jpeg2000"
    container_id = 2
    extension = ".j2k"
    library = "OpenJPEG"
    integer_quality = False
    has_subsampling = False

    @classmethod
    def _available(cls) -> bool:
        import imagecodecs

        return imagecodecs.JPEG2K.available

    @classmethod
    def _version(cls) -> str:
        import imagecodecs

        return imagecodecs.jpeg2k_version()

    def _encode(self, img: np.ndarray, quality: float, subsampling: str, tune: str) -> bytes:
        import imagecodecs

        src = img[:, :, 0] if img.shape[2] == 1 else img
        return imagecodecs.jpeg2k_encode(
            src, level=quality_to_psnr(quality), codecformat="j2k", reversible=False, **thread_kwargs()
        )

    def _decode(self, data: bytes) -> np.ndarray:
        import imagecodecs

        return imagecodecs.jpeg2k_decode(data, **thread_kwargs())
