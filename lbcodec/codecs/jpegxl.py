"""JPEG XL (VarDCT) through libjxl (imagecodecs.jpegxl), as a bare codestream."""

from __future__ import annotations

import numpy as np

from .base import Codec, iter_boxes, thread_kwargs

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
    own_chroma = "444"

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

    def _probe_size(self, data: bytes) -> tuple[int, int]:
        return jxl_size(data)

    def _sample_bits(self, data: bytes) -> int:
        return jxl_bits(data)


_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
#: SizeHeader aspect ratios (ratio 1..7): xsize = ysize * num // den
_JXL_RATIOS = ((1, 1), (12, 10), (4, 3), (3, 2), (16, 9), (5, 4), (2, 1))


def jxl_size(data: bytes) -> tuple[int, int]:
    """(width, height) of the image libjxl decodes, from the codestream's SizeHeader
    (bare, or in the ``jxlc``/``jxlp`` boxes of the container), swapped when the
    ImageMetadata's orientation (5-8) transposes it: libjxl applies the orientation."""
    w, h, _ = _jxl_header(data, depth=False)
    return w, h


def jxl_bits(data: bytes) -> int:
    """Bits per sample of a JPEG XL image (its ImageMetadata's BitDepth): imagecodecs decodes integer
    samples deeper than 8 bits to uint16 at that depth (0-1023 for 10 bits); 16 for float samples and
    where the header cannot be read."""
    try:
        return _jxl_header(data)[2] or 16
    except ValueError:
        return 16


def _jxl_header(data: bytes, depth: bool = True) -> tuple[int, int, int | None]:
    """(width, height, bits per sample) from the SizeHeader and ImageMetadata (ISO/IEC 18181-1 A.6);
    without ``depth`` the header is read up to the orientation only (bits per sample None)."""
    if data[:12] == _JXL_CONTAINER:
        data = _jxl_codestream(data)
    if data[:2] != b"\xff\x0a":
        raise ValueError("no JPEG XL codestream signature")
    bits = _Bits(data, 2)
    xsize, ysize = _size_header(bits)
    orientation, sample_bits = 1, 8
    all_default = bits.read(1)  # ImageMetadata
    extra_fields = not all_default and bits.read(1)
    if extra_fields:
        orientation = bits.read(3) + 1
    w, h = (ysize, xsize) if orientation > 4 else (xsize, ysize)
    if not depth:
        return w, h, None
    if extra_fields:
        if bits.read(1):  # have_intrinsic_size
            _size_header(bits)
        if bits.read(1):  # have_preview: PreviewHeader
            div8 = bits.read(1)
            side = ((0, 16), (0, 32), (5, 1), (9, 33)) if div8 else ((6, 1), (8, 65), (10, 321), (12, 1345))
            bits.u32(side)
            if not bits.read(3):  # ratio 0: the width follows
                bits.u32(side)
        if bits.read(1):  # have_animation: AnimationHeader
            bits.u32(((0, 100), (0, 1000), (10, 1), (30, 1)))  # tps_numerator
            bits.u32(((0, 1), (0, 1001), (8, 1), (10, 1)))  # tps_denominator
            bits.u32(((0, 0), (3, 0), (16, 0), (32, 0)))  # num_loops
            bits.read(1)  # have_timecodes
    if not all_default:  # BitDepth
        if bits.read(1):  # float_sample: libjxl converts floats itself
            sample_bits = 16
        else:
            sample_bits = bits.u32(((0, 8), (0, 10), (0, 12), (6, 1)))
            if not 1 <= sample_bits <= 16:
                sample_bits = 16
    return w, h, sample_bits


def _size_header(bits: _Bits) -> tuple[int, int]:
    """(xsize, ysize) of a SizeHeader."""
    small = bits.read(1)
    if small:
        ysize = (bits.read(5) + 1) * 8
    else:
        ysize = bits.u32_size()
    ratio = bits.read(3)
    if ratio:
        num, den = _JXL_RATIOS[ratio - 1]
        xsize = ysize * num // den
    elif small:
        xsize = (bits.read(5) + 1) * 8
    else:
        xsize = bits.u32_size()
    return xsize, ysize


class _Bits:
    """LSB-first bit reader of the JPEG XL codestream."""

    def __init__(self, data: bytes, pos: int):
        self.data, self.bit = data, pos * 8

    def read(self, n: int) -> int:
        value = 0
        for i in range(n):
            byte = self.bit >> 3
            if byte >= len(self.data):
                raise ValueError("truncated JPEG XL header")
            value |= ((self.data[byte] >> (self.bit & 7)) & 1) << i
            self.bit += 1
        return value

    def u32_size(self) -> int:
        """U32(Bits(9), Bits(13), Bits(18), Bits(30)) + 1, a SizeHeader side."""
        return self.read((9, 13, 18, 30)[self.read(2)]) + 1

    def u32(self, dist: tuple[tuple[int, int], ...]) -> int:
        """A U32 field: a 2-bit selector, then ``dist[selector]`` = (bits to read, offset added)."""
        n, offset = dist[self.read(2)]
        return self.read(n) + offset


def _jxl_codestream(data: bytes) -> bytes:
    """The codestream of a JPEG XL container: the ``jxlc`` box, or the ``jxlp`` boxes joined."""
    parts: list[bytes] = []
    for kind, body in iter_boxes(data, "JPEG XL"):
        if kind == b"jxlc":
            return body
        if kind == b"jxlp":
            parts.append(body[4:])  # after a 4-byte part index
            if sum(map(len, parts)) >= 64:  # far more than a SizeHeader and the orientation need
                break
    if not parts:
        raise ValueError("no codestream box in the JPEG XL container")
    return b"".join(parts)
