"""Baseline JPEG through libjpeg-turbo, with quantization tables chosen for PSNR by default.

Encoding goes through Pillow's libjpeg-turbo (the one binding that takes custom
quantization tables), decoding through imagecodecs' (any standard decoder reads the
files: the tables travel in the bitstream, as in every JPEG).
"""

from __future__ import annotations

import io
import re

import numpy as np

from .base import Codec

#: the example tables of the JPEG standard (ITU-T T.81 Annex K), natural order: libjpeg's defaults
STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.float64)
STD_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
] + [99] * 32, dtype=np.float64)

#: ``tune="psnr"`` tables: the luma table flattened (each entry's ratio to the table's geometric
#: mean raised to PSNR_FLATTEN) and a flat chroma table at PSNR_CHROMA times luma's DC step. The
#: standard tables weight the steps for the eye; squared error wants them nearly equal, and RGB PSNR
#: counts chroma errors about as much as luma ones. Chosen on 25 training images (wiki29, bsds432,
#: urban100), plain decoder, 0.15/0.3 bpp and 0.1-0.3 bpp downsampled x2: +0.5 dB RGB PSNR at the
#: same bytes over the standard tables (scripts/jpeg_tables.py; docs/results.md, "JPEG tables")
PSNR_FLATTEN = 0.2
PSNR_CHROMA = 0.55


def table_family(flatten: float, chroma_ratio: float, chroma_flatten: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(luma, chroma) base tables of the family the PSNR tables were chosen from.

    luma: the standard table with each entry's ratio to its geometric mean raised to ``flatten``
    (1: the standard table, 0: flat); chroma: ``chroma_ratio`` x luma's DC step, shaped as the
    standard chroma table raised to ``chroma_flatten`` (0: flat). Scaled by :func:`scale_table`.
    """
    g = float(np.exp(np.log(STD_LUMA).mean()))
    luma = g * (STD_LUMA / g) ** flatten
    return luma, chroma_ratio * luma[0] * (STD_CHROMA / STD_CHROMA[0]) ** chroma_flatten


PSNR_LUMA, PSNR_CHROMA_TABLE = table_family(PSNR_FLATTEN, PSNR_CHROMA)


def quality_scale(quality: float) -> float:
    """libjpeg's quality -> table scaling in percent (jpeg_quality_scaling), on a continuous quality."""
    q = min(100.0, max(1.0, float(quality)))
    return 5000.0 / q if q < 50.0 else 200.0 - 2.0 * q


def scale_table(base: np.ndarray, quality: float) -> np.ndarray:
    """``base`` scaled for ``quality`` as libjpeg does it (baseline: steps 1-255), as integers."""
    s = quality_scale(quality)
    return np.clip(np.floor((base * s + 50.0) / 100.0), 1, 255).astype(np.int64)


def tables(quality: float, tune: str = "psnr") -> tuple[np.ndarray, np.ndarray]:
    """(luma, chroma) quantization tables, natural order, that ``encode`` writes at ``quality``."""
    if tune == "psnr":
        return scale_table(PSNR_LUMA, quality), scale_table(PSNR_CHROMA_TABLE, quality)
    return scale_table(STD_LUMA, quality), scale_table(STD_CHROMA, quality)


class JpegCodec(Codec):
    """Baseline JPEG with optimized Huffman tables, on a continuous quality.

    quality 0-100 scales the quantization tables as libjpeg's quality does (0 is treated
    as 1), but continuously, so rate control fills the budget instead of stopping at the
    last integer that fits. ``tune="psnr"`` (the default) writes flat tables tuned for
    squared error (:data:`PSNR_LUMA`, :data:`PSNR_CHROMA_TABLE`); ``tune="ssim"`` writes the
    standard's tables, libjpeg's own default (bit-identical to libjpeg at integer qualities
    where 5000/quality is an integer, and at every quality from 50 up). ``optimize`` is always
    on: at low rates it saves about 30 % of the bytes.
    """

    name = "jpeg"
    container_id = 1
    extension = ".jpg"
    library = "libjpeg-turbo"
    integer_quality = False
    has_tune = True
    settings_tag = f"pillow qtables flatten {PSNR_FLATTEN} chroma {PSNR_CHROMA}"

    @classmethod
    def _available(cls) -> bool:
        import imagecodecs
        from PIL import features

        return bool(imagecodecs.JPEG8.available and features.check("jpg"))

    @classmethod
    def _version(cls) -> str:
        import imagecodecs
        from PIL import features

        return f"{imagecodecs.jpeg8_version()} (decode), Pillow libjpeg-turbo {features.version('libjpeg_turbo')} (encode)"

    def _encode(self, img: np.ndarray, quality: float, subsampling: str, tune: str) -> bytes:
        from PIL import Image, ImageFile

        luma, chroma = tables(quality, tune)
        buf = io.BytesIO()
        # with optimize=True libjpeg cannot suspend: Pillow must hold the whole file in one block,
        # which it sizes at 1-2 bytes per pixel; a grainy image at quality 100 and 4:4:4 needs more
        # (MAXBLOCK is Pillow's floor for that block; restored after the save)
        saved = ImageFile.MAXBLOCK
        ImageFile.MAXBLOCK = max(saved, 4 * img.size + 65536)
        try:
            if img.shape[2] == 1:
                Image.fromarray(img[:, :, 0], "L").save(buf, "JPEG", qtables=[luma.tolist()], optimize=True)
            else:
                Image.fromarray(img, "RGB").save(buf, "JPEG", qtables=[luma.tolist(), chroma.tolist()], optimize=True,
                                                 subsampling=2 if subsampling == "420" else 0)
        finally:
            ImageFile.MAXBLOCK = saved
        return buf.getvalue()

    def _decode(self, data: bytes) -> np.ndarray:
        import imagecodecs

        # libjpeg only warns when the data runs out (and imagecodecs keeps quiet): the rows it never
        # got come out grey. Pillow refuses such a file ("image file is truncated"); so does lbcodec
        if jpeg_truncated(data):
            raise ValueError("the file is truncated (it ends before the end-of-image marker)")
        img = imagecodecs.jpeg8_decode(data)
        if img.ndim == 3 and img.shape[2] == 4:  # CMYK (a JPEG has no alpha): Pillow converts it to RGB
            from PIL import Image

            with Image.open(io.BytesIO(data)) as im:
                img = np.asarray(im.convert("RGB"))
        return img

    def _probe_size(self, data: bytes) -> tuple[int, int]:
        return jpeg_size(data)

    def _sample_bits(self, data: bytes) -> int:
        # libjpeg-turbo decodes 12-bit (and lossless 2-16-bit) JPEGs to uint16 at their own precision
        # (0-4095 for 12 bits): the frame header's sample precision says which
        try:
            bits = _jpeg_frame(data)[2]
        except ValueError:
            return 16
        return bits if 2 <= bits <= 16 else 16


#: start-of-frame markers (every coding process; not DHT 0xC4, JPG 0xC8, DAC 0xCC)
_SOF_MARKERS = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's first SOF segment, walking the segments by their lengths
    (so a thumbnail inside APP1 is skipped); ValueError when there is none before the scan."""
    w, h, _ = _jpeg_frame(data)
    return w, h


def _jpeg_frame(data: bytes) -> tuple[int, int, int]:
    """(width, height, sample precision in bits) from a JPEG's first SOF segment (see :func:`jpeg_size`)."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("no JPEG start-of-image marker")
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:  # stray bytes between segments: libjpeg skips them (with a warning)
            nxt = data.find(b"\xff", pos)
            if nxt < 0:
                break
            pos = nxt
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            raise ValueError(f"bad segment length {length}")
        if marker in _SOF_MARKERS:
            if pos + 9 > n:
                break
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            if height == 0:
                raise ValueError("the frame height is left to a DNL marker, which is not supported")
            return width, height, data[pos + 4]
        pos += 2 + length
    raise ValueError("no start-of-frame segment before the image data")


#: the end of entropy-coded data: a marker, i.e. 0xFF followed by neither a stuffed zero nor RST0-7
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def jpeg_truncated(data: bytes) -> bool:
    """True when a JPEG ends before its end-of-image marker: walking the segments by their lengths and
    each scan's entropy-coded data to the marker after it, the data runs out before EOI (a segment,
    a scan or the marker cut off). What follows the first EOI (an MPO's second image, a trailer) is
    not looked at; a file that does not start with SOI is left to the decoder. Linear time: the
    scans are skipped with a regular expression."""
    if data[:2] != b"\xff\xd8":
        return False
    pos, n = 2, len(data)
    while pos < n:
        if data[pos] != 0xFF:  # stray bytes between segments: libjpeg skips them (with a warning)
            pos = data.find(b"\xff", pos)
            if pos < 0:
                return True
            continue
        if pos + 1 >= n:
            return True
        marker = data[pos + 1]
        if marker == 0xD9:
            return False
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x00, 0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        if pos + 4 > n:
            return True
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:  # corrupt, not truncated: the decoder says what it makes of it
            return False
        pos += 2 + length
        if pos > n:
            return True
        if marker == 0xDA:  # start of scan: its entropy-coded data runs to the next marker
            m = _SCAN_END.search(data, pos)
            if m is None:
                return True
            pos = m.start()
    return True
