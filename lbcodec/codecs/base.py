"""The base class of every standard-codec adapter.

Above the adapters there is one ``quality`` scale: a float in [0, 100], higher is
better, file size non-decreasing in it, and never lossless. Each adapter maps it
onto its library's own setting (``level`` means a different thing per codec in
imagecodecs, and several of them default to lossless), so no raw setting leaks out.

Array contract for :meth:`Codec.encode` and :meth:`Codec.decode`: ``uint8`` arrays
of shape ``(H, W, C)`` with ``C`` = 1 (grayscale) or 3 (RGB).
"""

from __future__ import annotations

import functools
from typing import ClassVar

import numpy as np

from ..errors import CodecUnavailableError, CorruptContainerError, InputError

SUBSAMPLINGS = ("420", "444")
#: what a codec's encoder optimises where it has the choice (jpeg, heif, avif): ``psnr`` (lbcodec's
#: default: the post-filters are trained for squared error) or ``ssim`` (the libraries' defaults)
TUNES = ("psnr", "ssim")

#: worker threads each codec library may start (None: the library's own default)
_THREADS: int | None = None


def set_threads(n: int | None) -> None:
    """Limit the threads libavif, libjxl, OpenJPEG, x265 and libde265 start, process-wide.

    Batch workers set ``cores // jobs`` so that N workers never oversubscribe the
    cores; None restores each library's default. The bitstreams do not depend on it.
    """
    global _THREADS
    if n is not None and n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    _THREADS = n


def get_threads() -> int | None:
    """The limit :func:`set_threads` set, or None."""
    return _THREADS


def thread_kwargs() -> dict:
    """``numthreads=`` for the imagecodecs calls when a limit is set, else nothing."""
    return {} if _THREADS is None else {"numthreads": _THREADS}


class Codec:
    """A standard lossy image codec behind lbcodec's single quality scale.

    Subclasses set the class attributes and implement ``_encode``/``_decode``;
    the base does validation, the grayscale policy and error mapping once.
    """

    name: ClassVar[str]
    #: fixed id in the .lbc container (docs/format.md); never reuse or renumber
    container_id: ClassVar[int]
    #: file extension of :meth:`encode`'s output as a standalone file
    extension: ClassVar[str]
    #: library description, e.g. "libjpeg-turbo"
    library: ClassVar[str]
    #: can the codec store a single channel natively?
    native_gray: ClassVar[bool] = True
    #: True when the codec setting is an integer (rate control steps by 1)
    integer_quality: ClassVar[bool] = True
    #: True when chroma subsampling can be chosen
    has_subsampling: ClassVar[bool] = True
    #: the chroma subsampling (one of :data:`SUBSAMPLINGS`) that a codec without the choice always
    #: codes, whatever ``subsampling`` says (webp "420"; jpeg2000, jpegxl "444": full resolution);
    #: None for the codecs with the choice
    own_chroma: ClassVar[str | None] = None
    #: True when ``tune`` changes the encoder's settings (it is accepted, and ignored, by every codec)
    has_tune: ClassVar[bool] = False
    #: names the default (``tune="psnr"``) encoder settings where they changed since the
    #: first training runs; part of the training-patch cache key, so old caches are not reused
    settings_tag: ClassVar[str] = ""
    #: True when ``encode(..., draft=True)`` is a faster encoder whose sizes track the final
    #: one's (AVIF: libaom at a higher speed); rate control searches with it, then refines
    #: (``ratecontrol.fit_budget_drafted``; integer-quality codecs only)
    has_draft: ClassVar[bool] = False

    # -- availability ---------------------------------------------------------
    @classmethod
    def available(cls) -> bool:
        try:
            return bool(cls._available())
        except Exception:  # a broken binding is "not available", never a crash
            return False

    @classmethod
    def _available(cls) -> bool:
        raise NotImplementedError

    @classmethod
    def version(cls) -> str:
        try:
            return str(cls._version())
        except Exception:
            return "n/a"

    @classmethod
    def _version(cls) -> str:
        raise NotImplementedError

    # -- coding ---------------------------------------------------------------
    def encode(self, img: np.ndarray, quality: float, subsampling: str = "420", tune: str = "psnr",
               draft: bool = False) -> bytes:
        """Encode ``img`` (uint8, HxWxC, C in {1, 3}) lossily at ``quality`` in [0, 100].

        ``tune`` (``psnr`` or ``ssim``) picks the encoder's objective where the codec has one
        to pick (:attr:`has_tune`); the bitstream stays standard either way. ``draft``
        asks for the fast encoder of :attr:`has_draft` codecs (ignored by the others).
        """
        if not self.available():
            raise CodecUnavailableError(f"codec {self.name!r} is not available in this installation")
        img = _check_image(img)
        if not 0.0 <= quality <= 100.0:
            raise ValueError(f"quality must be within [0, 100], got {quality}")
        if subsampling not in SUBSAMPLINGS:
            raise ValueError(f"subsampling must be one of {SUBSAMPLINGS}, got {subsampling!r}")
        if tune not in TUNES:
            raise ValueError(f"tune must be one of {TUNES}, got {tune!r}")
        if img.shape[2] == 1 and not self.native_gray:
            img = np.repeat(img, 3, axis=2)
        if self.integer_quality:
            quality = float(round(quality))
        extra = {"draft": True} if draft and self.has_draft else {}
        data = self._encode(np.ascontiguousarray(img), quality, subsampling, tune, **extra)
        return bytes(data)

    def decode(self, data: bytes, channels: int | None = None) -> np.ndarray:
        """Decode a bitstream to uint8 HxWxC; ``channels`` (1 or 3) forces the channel count.

        An alpha channel in the bitstream is dropped (:meth:`decode_with_alpha` keeps it)."""
        return self.decode_with_alpha(data, channels)[0]

    def decode_with_alpha(self, data: bytes, channels: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Decode a bitstream to (uint8 HxWxC colour, uint8 HxW alpha or None when the bitstream has none)."""
        img = self._decode_array(data)
        if img.dtype != np.uint8:
            raise CorruptContainerError(f"{self.name} bitstream decoded to {img.dtype}, not 8-bit")
        return self._split(img, channels)

    def decode_file(self, data: bytes) -> tuple[np.ndarray, np.ndarray | None, int]:
        """Decode a standalone file of this codec as an input image: (uint8 HxWxC colour, uint8 HxW alpha
        or None, bits per sample of the decoded samples). Unlike :meth:`decode_with_alpha` it takes any
        bit depth: deeper samples are scaled to 8 bits by their depth (:meth:`_sample_bits`), never by
        their values."""
        img = self._decode_array(data)
        bits = self._coded_bits(bytes(data))
        if img.dtype == np.uint16:
            bits = self._sample_bits(bytes(data))
            scaled = np.rint(img.astype(np.float64) * (255.0 / ((1 << bits) - 1)))
            img = np.clip(scaled, 0, 255).astype(np.uint8)
        elif img.dtype != np.uint8:
            raise CorruptContainerError(f"{self.name} bitstream decoded to {img.dtype}, not 8 or 16-bit")
        pixels, alpha = self._split(img, None)
        return pixels, alpha, bits

    def _coded_bits(self, data: bytes) -> int:
        """Bits per sample of a file whose decoder already delivers 8 bits (HEIF: libheif converts)."""
        return 8

    def _sample_bits(self, data: bytes) -> int:
        """Bits per sample of a file the library decodes to uint16, read from its header: the libraries
        deliver deep samples at their own depth (0-4095 for 12 bits: libjpeg-turbo, OpenJPEG, libavif,
        libjxl as imagecodecs calls it), so 12-bit samples scaled as 16-bit ones come out almost black.
        16 where the adapter cannot tell."""
        return 16

    def _decode_array(self, data: bytes) -> np.ndarray:
        if not self.available():
            raise CodecUnavailableError(f"codec {self.name!r} is not available in this installation")
        try:
            return np.asarray(self._decode(bytes(data)))
        except Exception as exc:  # the libraries raise many types; all mean "bad bitstream"
            raise CorruptContainerError(f"{self.name} bitstream cannot be decoded: {_one_line(exc)}") from None

    def _split(self, img: np.ndarray, channels: int | None) -> tuple[np.ndarray, np.ndarray | None]:
        """(colour, alpha) of a decoded uint8 array, ``channels`` forced as :meth:`decode` says."""
        if img.ndim == 2:
            img = img[:, :, None]
        if img.ndim != 3 or img.shape[2] not in (1, 2, 3, 4):
            raise CorruptContainerError(f"{self.name} bitstream decoded to shape {img.shape}")
        alpha = None
        if img.shape[2] in (2, 4):  # gray + alpha, RGB + alpha
            alpha = np.ascontiguousarray(img[:, :, -1])
            img = img[:, :, :-1]
        if channels == 1 and img.shape[2] == 3:
            img = img[:, :, :1]  # gray stored as R=G=B: any channel is the gray value
        elif channels == 3 and img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        return np.ascontiguousarray(img), alpha

    def smallest_size(self, channels: int = 3) -> int | None:
        """Bytes of the smallest bitstream this codec makes for an image of ``channels`` (1 or 3): a
        1x1 image at quality 0, all headers and tables. No downsampling gets a file below it. None
        when the codec cannot encode here."""
        return _smallest_size(type(self), channels)

    def probe_size(self, data: bytes) -> tuple[int, int]:
        """(width, height) of the image that :meth:`decode` would return, read from the
        bitstream's headers only: no pixel is decoded and nothing image-sized is allocated,
        so callers can refuse huge or mismatched images before decoding them."""
        if not self.available():
            raise CodecUnavailableError(f"codec {self.name!r} is not available in this installation")
        try:
            w, h = self._probe_size(bytes(data))
        except CorruptContainerError:
            raise
        except Exception as exc:  # short, malformed or foreign headers; the libraries raise many types
            raise CorruptContainerError(f"{self.name} bitstream: cannot read the image size from its header "
                                        f"({_one_line(exc)})") from None
        if w < 1 or h < 1:
            raise CorruptContainerError(f"{self.name} bitstream: its header declares an empty image ({w}x{h})")
        return int(w), int(h)

    def _probe_size(self, data: bytes) -> tuple[int, int]:
        raise NotImplementedError

    def _encode(self, img: np.ndarray, quality: float, subsampling: str, tune: str) -> bytes:
        raise NotImplementedError

    def _decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<codec {self.name}>"


@functools.cache  # a few milliseconds per codec (HEIF, AVIF: tens), asked only when a budget cannot be met
def _smallest_size(cls: type[Codec], channels: int) -> int | None:
    img = np.zeros((1, 1, channels), np.uint8)
    for tune in TUNES:  # AVIF's psnr tuning needs Pillow's libaom; its ssim tuning does not
        try:
            return len(cls().encode(img, 0.0, tune=tune))
        except Exception:  # unavailable (or broken) here: no floor to offer
            continue
    return None


def _one_line(exc: BaseException) -> str:
    """A library's error message on one line (libheif's end with a newline), or the exception's type."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _check_image(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise InputError(f"codec input must be uint8, got {img.dtype}")
    if img.ndim == 2:
        img = img.reshape(img.shape[0], img.shape[1], 1)
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise InputError(f"codec input must be HxWx1 or HxWx3, got shape {img.shape}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise InputError("codec input is empty")
    # canonical C strides: a view like a[:, :, None] has a 0 stride that libjpeg's binding refuses
    return np.ascontiguousarray(img).reshape(-1).reshape(img.shape)


def iter_boxes(data: bytes, what: str = "ISO"):
    """(type, body) of each top-level box of an ISO base media file (a JP2 file, the JPEG XL
    container), in order: 32-bit sizes, 64-bit ones (size 1) and a last box to the end (size 0).
    ValueError on a size shorter than the box's own header (``what`` names the format)."""
    pos, n = 0, len(data)
    while pos + 8 <= n:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        head = 8
        if length == 1:
            length, head = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif length == 0:
            length = n - pos
        if length < head:
            raise ValueError(f"bad {what} box length {length}")
        yield kind, data[pos + head : pos + length]
        pos += length
