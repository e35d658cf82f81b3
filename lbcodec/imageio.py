"""Reading and writing ordinary image files (Pillow), with lbcodec's input policy.

Policy (README "Inputs"):
- 8-bit RGB and grayscale are taken as they are; palette, CMYK, YCbCr and 1-bit
  images are converted to RGB or grayscale.
- EXIF orientation is applied, so the pixels are stored the way a viewer shows them.
- 16-bit and 32-bit images are converted to 8 bits, with a note saying so.
- Alpha is carried losslessly beside the lossy colour; a fully opaque alpha
  channel is dropped, with a note.
- Images over ``max_pixels`` are refused from the header, before any decoding.
- Files Pillow cannot open but a standard codec of lbcodec reads (HEIF, JPEG XL; AVIF where
  Pillow was built without it) are decoded by that codec's adapter, as ``lbcodec restore`` decodes
  them, under the same policy.

Array contract: ``pixels`` is uint8 ``(H, W, C)`` with C = 1 or 3; ``alpha`` is
uint8 ``(H, W)`` or None.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import CorruptContainerError, InputError, OutputError

#: default limit on input size (pixels); `--max-pixels` raises it
DEFAULT_MAX_PIXELS = 150_000_000

#: output file extension -> format name: Pillow's, except the Netpbm three, which Pillow writes as one
#: format ("PPM") in whatever mode the image has: lbcodec lets the extension decide (:func:`write_image_bytes`)
OUTPUT_FORMATS = {
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".ppm": "PPM",
    ".pgm": "PGM",
    ".pnm": "PNM",
    ".webp": "WEBP",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
}
LOSSLESS_OUTPUT = {"PNG", "TIFF", "BMP", "PPM", "PGM", "PNM"}
#: the Netpbm formats: all written by Pillow's "PPM" writer
NETPBM_FORMATS = ("PPM", "PGM", "PNM")


@dataclass
class LoadedImage:
    pixels: np.ndarray
    alpha: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def read_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode an image file's bytes according to the input policy above."""
    if not data:
        raise InputError("the input file is empty")
    notes: list[str] = []
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own limit below replaces Pillow's, for this call only
    try:
        try:
            im = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            codec = _standard_codec(data)
            if codec is None:
                raise
            return _read_with_codec(data, codec, max_pixels)
        w, h = im.size
        check_pixel_limit(w, h, max_pixels)
        # an MPO (a camera JPEG with a preview image) is one photo, not an animation
        frames = getattr(im, "n_frames", 1) if im.format != "MPO" else 1
        source_format = im.format
        im.load()
        im = ImageOps.exif_transpose(im)
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError("not an image file that Pillow can read") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"cannot decode the image: {exc}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit

    if frames > 1:
        notes.append(f"the image has {frames} frames: only the first is coded")
    bits = _header_bit_depth(data, source_format)
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F") or (bits is not None and bits > 8):
        notes.append(f"converted {bits or 16}-bit samples to 8 bits")
    pixels, alpha = _to_arrays(im, source_format)
    return LoadedImage(pixels, drop_opaque_alpha(alpha, notes), notes)


def _standard_codec(data: bytes) -> str | None:
    """The lbcodec codec whose files ``data`` starts like (as ``lbcodec restore`` tells them), or None."""
    from .restore import sniff_codec

    try:
        return sniff_codec(data)
    except InputError:
        return None


def _read_with_codec(data: bytes, codec: str, max_pixels: int) -> LoadedImage:
    """Read a standard-codec file through its adapter, as ``lbcodec restore`` decodes it: the size
    from the header first (refused over ``max_pixels``), then the pixels, deep samples scaled to
    8 bits (with a note), the EXIF orientation applied where restore applies it."""
    from .codecs import get_codec
    from .restore import exif_orientation, orient

    coder = get_codec(codec)
    try:
        w, h = coder.probe_size(data)
        check_pixel_limit(w, h, max_pixels)
        pixels, alpha, bits = coder.decode_file(data)
    except CorruptContainerError as exc:
        raise InputError(f"cannot decode the image: {exc}") from None
    notes: list[str] = []
    if bits > 8:
        notes.append(f"converted {bits}-bit samples to 8 bits")
    orientation = exif_orientation(codec, data)
    if orientation != 1:
        pixels = orient(pixels, orientation)
        alpha = None if alpha is None else orient(alpha, orientation)
    return LoadedImage(pixels, drop_opaque_alpha(alpha, notes), notes)


def drop_opaque_alpha(alpha: np.ndarray | None, notes: list[str]) -> np.ndarray | None:
    """``alpha``, or None (with a note) when it is fully opaque: coding it would only cost bits."""
    if alpha is not None and bool((alpha == 255).all()):
        notes.append("alpha channel is fully opaque: dropped")
        return None
    return alpha


def check_pixel_limit(w: int, h: int, max_pixels: int) -> None:
    """InputError when a ``w`` x ``h`` image is over ``max_pixels`` (read from a header, before decoding)."""
    if w * h > max_pixels:
        raise InputError(
            f"image is {w}x{h} = {_pixel_count(w * h)}, over the limit of {_pixel_count(max_pixels)}; "
            "raise it with --max-pixels if you have the memory"
        )


def _pixel_count(n: int) -> str:
    """``n`` pixels in words: exact, with megapixels beside counts of a million or more."""
    if n < 1_000_000:
        return f"{n:,} pixel{'' if n == 1 else 's'}"
    mp = n / 1e6
    return f"{n:,} pixels ({mp:,.0f} megapixels)" if mp >= 10 else f"{n:,} pixels ({mp:.1f} megapixels)"


def _header_bit_depth(data: bytes, source_format: str | None) -> int | None:
    """Bits per sample from the header of a file Pillow decoded, where it tells (PNG, JPEG 2000, AVIF:
    Pillow scales their deep samples itself, so the note names the depth the file had); else None."""
    if source_format == "JPEG2000":
        from .codecs.jpeg2000 import j2k_bits

        return j2k_bits(data)
    if source_format == "AVIF":
        from .codecs.avif import avif_bits

        return avif_bits(data)
    return _png_bit_depth(data)


def _png_bit_depth(data: bytes) -> int | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 24:
        return data[24]
    return None


def _to_arrays(im: Image.Image, source_format: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit samples (Pillow opens 16-bit PNG and TIFF as I;16*, 16-bit PGM and PNG as I): the
        # scale comes from the bit depth, never from the values, so a dark image stays dark. Only
        # a 32-bit integer image of another format (mode I, e.g. TIFF) has no telling depth: there
        # values up to 255 are taken as 8-bit
        a = np.asarray(im, dtype=np.float64)
        sixteen = mode != "I" or source_format in ("PNG", "PPM") or a.max(initial=0) > 255
        scale = 65535.0 if sixteen else 255.0
        return np.clip(np.rint(a / scale * 255), 0, 255).astype(np.uint8)[:, :, None], None
    if mode == "F":
        a = np.asarray(im, dtype=np.float64)
        scale = 1.0 if a.max(initial=0) <= 1.0 else 255.0
        return np.clip(np.rint(a / scale * 255), 0, 255).astype(np.uint8)[:, :, None], None
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode == "1":
        im = im.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGB")
    elif mode == "La":
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in mode else "RGB")
    a = np.asarray(im)
    if a.dtype != np.uint8:  # e.g. 16-bit RGB modes of newer Pillow: scaled by bit depth, as above
        a = np.clip(np.rint(a.astype(np.float64) / 65535.0 * 255), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return np.ascontiguousarray(a[:, :, None]), None
    if im.mode == "LA":
        return np.ascontiguousarray(a[:, :, :1]), np.ascontiguousarray(a[:, :, 1])
    if im.mode == "RGBA":
        return np.ascontiguousarray(a[:, :, :3]), np.ascontiguousarray(a[:, :, 3])
    return np.ascontiguousarray(a[:, :, :3]), None


def format_for_path(path: str, default: str = "PNG") -> str:
    """Pillow format name for an output path's extension (``default`` for ``-``)."""
    if path == "-":
        return default
    ext = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    try:
        return OUTPUT_FORMATS[ext]
    except KeyError:
        raise InputError(
            f"cannot tell the output format from {path!r}: use one of {', '.join(sorted(OUTPUT_FORMATS))}"
        ) from None


#: output formats without an alpha channel: :func:`write_image_bytes` drops it there
NO_ALPHA_FORMATS = ("JPEG", "PPM", "PGM", "PNM", "BMP")


def alpha_note(alpha: np.ndarray | None, fmt: str) -> list[str]:
    """A note when writing ``alpha`` in Pillow format ``fmt`` would drop it (empty otherwise)."""
    if alpha is None or fmt not in NO_ALPHA_FORMATS:
        return []
    return [f"{fmt} has no alpha channel: the transparency is dropped (write png, tif or webp to keep it)"]


def write_image_bytes(pixels: np.ndarray, alpha: np.ndarray | None = None, fmt: str = "PNG") -> bytes:
    """Encode pixels (+ alpha) as an image file in format ``fmt`` (:data:`OUTPUT_FORMATS`; alpha
    dropped where the format has none: :data:`NO_ALPHA_FORMATS`).

    The Netpbm formats follow their extension, as their readers expect: ``PPM`` is always a pixmap
    (P6; a gray image is written as R=G=B, which loses nothing), ``PGM`` always a graymap (P5) and
    ``PNM`` whichever fits the image. A colour image is never turned gray behind the user's back: for
    ``PGM`` it is refused (OutputError) unless its three channels are equal, in which case they are
    written, losslessly, as one.
    """
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if fmt == "PPM" and pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif fmt == "PGM" and pixels.shape[2] == 3:
        if not (np.array_equal(pixels[:, :, 0], pixels[:, :, 1])
                and np.array_equal(pixels[:, :, 0], pixels[:, :, 2])):
            raise OutputError("PGM is a gray format and this image is in colour: write .ppm or .png "
                              "(or .pnm, which takes either)")
        pixels = pixels[:, :, :1]
    if pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    im = Image.fromarray(np.ascontiguousarray(pixels))
    if alpha is not None:
        im.putalpha(Image.fromarray(np.ascontiguousarray(alpha)))
        if fmt in NO_ALPHA_FORMATS:
            im = im.convert("RGB" if pixels.ndim == 3 else "L")
    buf = io.BytesIO()
    kwargs = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "WEBP":
        kwargs = {"lossless": True}
    im.save(buf, format="PPM" if fmt in NETPBM_FORMATS else fmt, **kwargs)
    return buf.getvalue()
