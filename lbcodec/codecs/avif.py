"""AVIF (AV1 intra) through libavif + libaom: Pillow's encoder for ``tune="psnr"``, imagecodecs otherwise."""

from __future__ import annotations

import functools
import io

import numpy as np

from .base import Codec, thread_kwargs

#: libavif speed (0 slowest/best .. 10 fastest) of the encode that is kept
SPEED = 4
#: speed of the rate-control search (``draft=True``): about 5x faster than SPEED, sizes within a few %
DRAFT_SPEED = 6


class AvifCodec(Codec):
    """AVIF at speed 4, 4:2:0 by default (imagecodecs defaults to 4:4:4).

    Rate control searches the quality at speed 6 (``draft=True``), then
    encodes at speed 4 around it, guided by the draft's sizes (``ratecontrol.fit_budget_drafted``,
    usually two or three encodes): on Kodak at 0.2 bpp with ``tune="psnr"``, speed 4 gives 29.44 dB
    RGB PSNR against 29.17 for speed 6.

    Quality maps to libavif's quality ``min(99, round(q))`` (100 is *lossless*).
    ``tune="psnr"`` encodes with Pillow's libavif and libaom's ``tune=psnr``
    (imagecodecs cannot pass codec options): on Kodak at 0.2 bpp and speed 4,
    29.44 dB RGB PSNR against 29.18 for libavif's default tuning, for 0.011 less
    MS-SSIM (benches ``kodak-tune-psnr`` and ``kodak-tune-ssim`` in
    docs/results.md). ``tune="ssim"`` is libavif's default tuning through
    imagecodecs, at the same speeds (before ``tune`` existed lbcodec used it at
    speed 6). The two paths are two builds: imagecodecs' libavif and Pillow's
    libavif with its libaom (``version()`` names both). Decoding is always imagecodecs. Grayscale is coded as R=G=B (libavif's 4:0:0 path
    ignores the level here) and returned single-channel.
    """

    name = "avif"
    container_id = 4
    extension = ".avif"
    library = "libavif"
    native_gray = False
    has_tune = True
    has_draft = True
    settings_tag = f"pillow aom tune=psnr speed {SPEED}"

    @classmethod
    def _available(cls) -> bool:
        import imagecodecs

        return imagecodecs.AVIF.available

    @classmethod
    def _version(cls) -> str:
        import imagecodecs
        from PIL import features

        pil = features.version("avif")
        aom = ""
        if pil:
            from PIL import AvifImagePlugin

            aom = f" + aom {AvifImagePlugin.get_codec_version('aom')}"
        return (f"{imagecodecs.avif_version()} (decode; encode with --tune ssim), Pillow libavif {pil}{aom} "
                "(encode with --tune psnr)" if pil else imagecodecs.avif_version())

    def _encode(self, img: np.ndarray, quality: float, subsampling: str, tune: str, draft: bool = False) -> bytes:
        speed = DRAFT_SPEED if draft else SPEED
        if tune == "psnr":
            return _encode_pillow(img, quality, subsampling, speed)
        import imagecodecs

        return imagecodecs.avif_encode(
            img, level=min(99, int(quality)), speed=speed, pixelformat="yuv" + subsampling
        )  # no numthreads: libaom's output changes with its thread count; imagecodecs uses 1

    def _decode(self, data: bytes) -> np.ndarray:
        import imagecodecs

        return imagecodecs.avif_decode(data, **thread_kwargs())

    def _sample_bits(self, data: bytes) -> int:
        # libavif decodes deep samples to uint16 at their own depth (0-1023 for 10 bits)
        return avif_bits(data) or 16

    def _probe_size(self, data: bytes) -> tuple[int, int]:
        # Pillow's AVIF plugin parses the file with libavif (avifDecoderParse: the primary item's
        # ispe, which libavif decodes to, without applying irot) and decodes pixels only on load();
        # the class is built directly so that Pillow's own decompression-bomb check does not interfere
        from PIL import AvifImagePlugin, features

        if not features.check("avif"):
            return _largest_ispe(data)
        im = AvifImagePlugin.AvifImageFile(io.BytesIO(data))
        try:
            return im.size
        finally:
            im.close()


def avif_bits(data: bytes) -> int | None:
    """Bits per sample of an AVIF file, from its first ``av1C`` box (its third byte: high_bitdepth, then
    twelve_bit); None where there is none."""
    pos = data.find(b"av1C")
    if pos < 4 or pos + 7 > len(data):
        return None
    flags = data[pos + 6]
    return (12 if flags & 0x20 else 10) if flags & 0x40 else 8


def _largest_ispe(data: bytes) -> tuple[int, int]:
    """Without Pillow's AVIF: the largest image spatial extent (``ispe`` property) the file declares;
    libavif takes the primary item's size from its ispe (every image item must have one)."""
    best: tuple[int, int] | None = None
    pos = data.find(b"ispe")
    while pos >= 4:
        if pos + 16 <= len(data):
            w, h = int.from_bytes(data[pos + 8 : pos + 12], "big"), int.from_bytes(data[pos + 12 : pos + 16], "big")
            if best is None or w * h > best[0] * best[1]:
                best = (w, h)
        pos = data.find(b"ispe", pos + 4)
    if best is None:
        raise ValueError("no ispe property")
    return best


@functools.cache  # asked at every encode; the answer is fixed for the process
def pillow_aom_available() -> bool:
    """Can Pillow encode AVIF with libaom (what ``tune="psnr"`` uses)?"""
    from PIL import features

    if not features.check("avif"):
        return False
    try:
        from PIL import _avif

        return bool(_avif.encoder_codec_available("aom"))
    except (ImportError, AttributeError):
        return False


def _encode_pillow(img: np.ndarray, quality: float, subsampling: str, speed: int) -> bytes:
    from PIL import Image

    from ..errors import CodecUnavailableError

    if not pillow_aom_available():
        raise CodecUnavailableError("AVIF with --tune psnr needs Pillow >= 11.3 with AVIF and libaom; use --tune ssim")
    buf = io.BytesIO()
    Image.fromarray(img).save(
        buf, format="AVIF", quality=min(99, int(quality)), speed=speed,
        subsampling="4:2:0" if subsampling == "420" else "4:4:4",
        codec="aom", max_threads=1,  # libaom's output changes with its thread count
        advanced=[("tune", "psnr")],
    )
    return buf.getvalue()
