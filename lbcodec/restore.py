"""Restoring plain standard-codec files from anywhere (`lbcodec restore`, the real-world case of paper 004).

:func:`sniff_codec` names the codec of a file from its magic bytes;
:func:`jpeg_quality` estimates the quality of a JPEG (on the scale of its nearest table family) from its quantization
tables; :func:`restore_image` decodes the file and runs the post-filter that the
weights registry holds for (method none, that codec).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import filters
from .codecs import get_codec
from .codecs.jpeg import PSNR_CHROMA_TABLE, PSNR_LUMA, STD_CHROMA, STD_LUMA, scale_table
from .errors import InputError
from .imageio import DEFAULT_MAX_PIXELS, check_pixel_limit, drop_opaque_alpha

# zigzag index -> natural index
_ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14,
    21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60,
    61, 54, 47, 55, 62, 63,
])


def sniff_codec(data: bytes) -> str:
    """The lbcodec codec name of a standard image file, from its first bytes."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:4] == b"\xff\x4f\xff\x51" or data[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n":
        return "jpeg2000"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"\xff\x0a" or data[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n":
        return "jpegxl"
    if data[4:8] == b"ftyp":
        brands = data[8:64]
        if b"avif" in brands or b"avis" in brands:
            return "avif"
        if any(b in brands for b in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1")):
            return "heif"
    if data[:3] == b"LBC":
        raise InputError("this is a .lbc file: use `lbcodec decode`")
    raise InputError("not a JPEG, JPEG 2000, WebP, AVIF, HEIF or JPEG XL file")


def jpeg_tables(data: bytes) -> dict[int, np.ndarray]:
    """The quantization tables of a JPEG by id (0 luma, 1 chroma in practice), natural order."""
    out: dict[int, np.ndarray] = {}
    pos = 2
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return out
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:  # start of scan: the first scan's tables are all there
            return out
        if marker == 0xDB:
            seg, i = data[pos + 4 : pos + 2 + length], 0
            while i < len(seg):
                pq, tq = seg[i] >> 4, seg[i] & 15
                size = 128 if pq else 64
                vals = np.frombuffer(seg[i + 1 : i + 1 + size], dtype=">u2" if pq else np.uint8).astype(np.float64)
                if len(vals) == 64 and tq not in out:
                    table = np.empty(64)
                    table[_ZIGZAG] = vals
                    out[tq] = table
                i += 1 + size
        pos += 2 + length
    return out


def jpeg_tables_family(data: bytes) -> tuple[str, int] | None:
    """(family, quality 1-100) of the scaled tables nearest a JPEG's own.

    family is ``"standard"`` (the standard's tables, as libjpeg and most encoders write them) or
    ``"psnr"`` (lbcodec's ``tune="psnr"`` tables). Luma and chroma are compared together: at low
    qualities the PSNR luma table saturates at 255 while its flat chroma table does not. None
    when the file has no luma table.
    """
    own = jpeg_tables(data)
    if 0 not in own:
        return None
    best: tuple[float, str, int] | None = None
    for family, bases in (("standard", (STD_LUMA, STD_CHROMA)), ("psnr", (PSNR_LUMA, PSNR_CHROMA_TABLE))):
        for q in range(1, 101):
            errs = [np.abs(np.log(scale_table(base, q)) - np.log(own[t])).mean()
                    for t, base in enumerate(bases) if t in own]
            err = float(np.mean(errs))
            if best is None or err < best[0] - 1e-12:
                best = (err, family, q)
    assert best is not None
    return best[1], best[2]


def jpeg_quality(data: bytes) -> int | None:
    """Estimated quality (1-100) of a JPEG on the scale of its nearest table family (:func:`jpeg_tables_family`)."""
    found = jpeg_tables_family(data)
    return None if found is None else found[1]


@dataclass
class RestoreResult:
    pixels: np.ndarray
    codec: str
    model: str | None
    quality: int | None
    bpp: float
    notes: list[str] = field(default_factory=list)
    #: the file's alpha plane (uint8 HxW), passed through unchanged; None when it has none
    alpha: np.ndarray | None = None


def restore_image(data: bytes, post: str = "auto", ensemble: bool = False,
                  progress: Callable[[float], None] | None = None,
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> RestoreResult:
    """Decode a plain standard-codec file and run the restoration network for its codec.

    As ``encode`` reads images: files over ``max_pixels`` are refused from their header before
    decoding, truncated files are refused (InputError or CorruptContainerError, one line), samples
    deeper than 8 bits are scaled to 8 with a note, the EXIF orientation is applied, and an alpha
    channel is kept (the network restores the colour; alpha passes through unchanged; a fully opaque
    one is dropped with a note).
    """
    codec = sniff_codec(data)
    coder = get_codec(codec)
    notes: list[str] = []
    w, h = coder.probe_size(data)
    check_pixel_limit(w, h, max_pixels)
    filters.check_post_name(post)  # a bad --post fails before the decode
    pixels, alpha, bits = coder.decode_file(data)  # deep samples (10-bit AVIF, 16-bit JPEG XL) as encode reads them
    if bits > 8:
        notes.append(f"converted {bits}-bit samples to 8 bits")
    h, w = pixels.shape[:2]
    bpp = len(data) * 8 / (w * h)
    alpha = drop_opaque_alpha(alpha, notes)
    found = jpeg_tables_family(data) if codec == "jpeg" else None
    quality = found[1] if found else None
    if codec == "jpeg":
        kind = {"standard": "", "psnr": " (lbcodec's PSNR tables)"}
        notes.append(f"estimated JPEG quality {found[1]}{kind[found[0]]} from the quantization tables" if found
                     else "could not estimate the JPEG quality (no quantization table)")
    notes.append(f"{codec} file at {bpp:.3f} bpp")
    entry = filters.resolve_post(post, "none", codec, 1, notes)
    found = entry
    entry = filters.check_rate(entry, post, "none", bpp, notes)  # above its rates a model lowers the quality
    if entry is None:
        if post == "auto" and found is None:
            notes.append(f"no trained restoration model for {codec} is installed: output is the plain decode")
        restored, model = pixels, None
    else:
        restored, model = filters.apply_post(entry, pixels, ensemble, progress), entry["name"]
    # the network sees the image as coded (its block grid in place); the result is then turned as
    # encode turns its inputs, by the EXIF orientation
    orientation = exif_orientation(codec, data)
    if orientation != 1:
        restored = orient(restored, orientation)
        alpha = None if alpha is None else orient(alpha, orientation)
        notes.append(f"applied the EXIF orientation ({orientation})")
    return RestoreResult(restored, codec, model, quality, bpp, notes, alpha)


#: EXIF orientation -> the same transpose as Pillow's ImageOps.exif_transpose, on (H, W[, C]) arrays
_ORIENT = {
    2: lambda a: a[:, ::-1],  # FLIP_LEFT_RIGHT
    3: lambda a: a[::-1, ::-1],  # ROTATE_180
    4: lambda a: a[::-1],  # FLIP_TOP_BOTTOM
    5: lambda a: a.swapaxes(0, 1),  # TRANSPOSE
    6: lambda a: np.rot90(a, -1),  # ROTATE_270 (clockwise quarter turn)
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),  # TRANSVERSE
    8: lambda a: np.rot90(a, 1),  # ROTATE_90
}


def orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """``a`` (uint8 HxW or HxWxC) turned as EXIF ``orientation`` (1-8) says a viewer shows it."""
    fn = _ORIENT.get(orientation)
    return a if fn is None else np.ascontiguousarray(fn(a))


def exif_orientation(codec: str, data: bytes) -> int:
    """The EXIF orientation (1-8; 1 when absent or unreadable) that ``encode`` would apply to this file,
    read from its header only. JPEG: APP1; WebP: the EXIF chunk; AVIF: EXIF or irot/imir, as Pillow
    reports them. HEIF and JPEG XL come out of their decoders already turned; JPEG 2000 has no EXIF."""
    import io

    from PIL import Image

    try:
        if codec == "jpeg":
            from PIL import JpegImagePlugin

            with JpegImagePlugin.JpegImageFile(io.BytesIO(data)) as im:
                value = im.getexif().get(0x0112, 1)
        elif codec == "webp":
            from .codecs.webp import webp_chunks

            exif = next((body for kind, body in webp_chunks(data) if kind == b"EXIF"), None)
            if exif is None:
                return 1
            ex = Image.Exif()
            ex.load(exif[6:] if exif.startswith(b"Exif\x00\x00") else exif)
            value = ex.get(0x0112, 1)
        elif codec == "avif":
            from PIL import AvifImagePlugin

            with AvifImagePlugin.AvifImageFile(io.BytesIO(data)) as im:
                value = im.getexif().get(0x0112, 1)
        else:
            return 1
    except Exception:  # a broken EXIF block is no reason to refuse the image (encode ignores it too)
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


__all__ = ["RestoreResult", "exif_orientation", "jpeg_quality", "jpeg_tables_family", "orient", "restore_image",
           "sniff_codec"]
