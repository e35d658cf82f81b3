"""JPEG 2000 through OpenJPEG (imagecodecs.jpeg2k), as a raw J2K codestream."""

from __future__ import annotations

import numpy as np

from .base import Codec, iter_boxes, thread_kwargs

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
    own_chroma = "444"

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

    def _probe_size(self, data: bytes) -> tuple[int, int]:
        return j2k_size(data)

    def _sample_bits(self, data: bytes) -> int:
        # OpenJPEG decodes deep samples to uint16 at their own depth (0-4095 for 12 bits)
        return j2k_bits(data) or 16


_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


def j2k_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the SIZ segment of a J2K codestream, bare or inside a JP2 file
    (its ``jp2c`` box): the reference grid's size less the image offset."""
    if data[:12] == _JP2_SIGNATURE:
        data = _jp2_codestream(data)
    if data[:4] != b"\xff\x4f\xff\x51":  # SOC, then SIZ (the standard puts SIZ first)
        raise ValueError("no SOC + SIZ marker at the start of the codestream")
    if len(data) < 24:
        raise ValueError("truncated SIZ segment")
    xsiz, ysiz, xosiz, yosiz = (int.from_bytes(data[i : i + 4], "big") for i in (8, 12, 16, 20))
    if xosiz >= xsiz or yosiz >= ysiz:
        raise ValueError(f"image offset {xosiz},{yosiz} outside the grid {xsiz}x{ysiz}")
    return xsiz - xosiz, ysiz - yosiz


def j2k_bits(data: bytes) -> int | None:
    """Bits per sample of a J2K codestream, bare or inside a JP2 file: the SIZ segment's Ssiz of the
    first component; None where the header cannot be read."""
    try:
        if data[:12] == _JP2_SIGNATURE:
            data = _jp2_codestream(data)
    except ValueError:
        return None
    if data[:4] != b"\xff\x4f\xff\x51" or len(data) < 43:
        return None
    bits = (data[42] & 0x7F) + 1
    return bits if bits <= 16 else None


def _jp2_codestream(data: bytes) -> bytes:
    """The contents of a JP2 file's top-level ``jp2c`` box."""
    for kind, body in iter_boxes(data, "JP2"):
        if kind == b"jp2c":
            return body
    raise ValueError("no jp2c box (codestream) in the JP2 file")
