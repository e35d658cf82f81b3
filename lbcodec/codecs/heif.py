"""HEIF with HEVC intra (the codec family of BPG) through pillow-heif / libheif + x265."""

from __future__ import annotations

import io

import numpy as np

from .base import Codec, get_threads

#: libheif quality held fixed; lbcodec's quality moves x265's I-frame QP instead
LIBHEIF_QUALITY = 50
#: x265's default ipratio, which libheif's quality 50 is calibrated with
IPRATIO_AT_Q50 = 1.4
#: quality points per doubling of ipratio (one doubling = 6 QP steps)
QUALITY_PER_OCTAVE = 9.4
#: x265 adaptive-quantisation strength for ``tune="psnr"``. libheif tunes x265 for SSIM
#: (aq-mode 2 at strength 1.0, which moves bits into flat areas). On Kodak at 0.15/0.3/0.5 bpp,
#: strength 0.2 gains 0.17/0.18/0.18 dB RGB PSNR for 0.002-0.003 less MS-SSIM; 0.1 is as good
#: but coarser for rate control, and 0 (x265's tune=psnr) leaves the QP integer, so the
#: file size moves in 12-20 % steps (scripts/heif_x265.py measures it).
AQ_STRENGTH_PSNR = 0.2
#: x265 chroma QP offsets (Cb and Cr) for ``tune="psnr"``, by lbcodec quality: RGB PSNR
#: weighs chroma errors far more than x265's defaults (offset 0) do. On Kodak (aq 0.2):
#: 0.07 bpp (quality ~15) gains most at -2; 0.15 bpp (~23) +0.095 dB at -6; 0.3 bpp +0.20 dB
#: and 0.5 bpp +0.26 dB at -6 (scripts/heif_x265.py). Linear in between; more negative
#: offsets at higher quality keep the file size non-decreasing in quality.
CHROMA_OFFSET_LOW_Q, CHROMA_OFFSET_HIGH_Q = -2, -6
CHROMA_Q_LOW, CHROMA_Q_HIGH = 15.0, 23.0


def chroma_qp_offset(quality: float) -> int:
    """The Cb/Cr QP offset of ``tune="psnr"`` at ``quality``."""
    t = min(max((quality - CHROMA_Q_LOW) / (CHROMA_Q_HIGH - CHROMA_Q_LOW), 0.0), 1.0)
    return round(CHROMA_OFFSET_LOW_Q + t * (CHROMA_OFFSET_HIGH_Q - CHROMA_OFFSET_LOW_Q))


def quality_to_ipratio(quality: float) -> float:
    return IPRATIO_AT_Q50 * 2.0 ** ((quality - 50.0) / QUALITY_PER_OCTAVE)


class HeifCodec(Codec):
    """HEIF/HEVC still image (x265 intra).

    libheif's own quality maps to an integer CRF, whose steps change the file
    size by 12-20% at low rates: too coarse to hit a bpp target. So libheif's
    quality is held at 50 and lbcodec's continuous quality sets x265's
    ``ipratio`` (the I-frame QP offset, 6 QP per doubling): quality 50 is exactly
    libheif's quality 50, and 0..100 spans about 0.03 to 6.7 bpp on Kodak.
    libheif's quality -1 (lossless) is never used. 4:2:0 by default, 4:4:4 on
    request (BPG's usual setting for the papers' comparisons). ``tune="psnr"``
    lowers x265's adaptive quantisation to :data:`AQ_STRENGTH_PSNR` and spends more
    on chroma (:func:`chroma_qp_offset`); ``"ssim"`` keeps libheif's settings.
    """

    name = "heif"
    container_id = 5
    extension = ".heic"
    library = "libheif + x265"
    integer_quality = False
    has_tune = True
    settings_tag = f"aq-strength {AQ_STRENGTH_PSNR} chroma {CHROMA_OFFSET_LOW_Q}..{CHROMA_OFFSET_HIGH_Q}"

    @classmethod
    def _available(cls) -> bool:
        import pillow_heif

        return "x265" in str(pillow_heif.libheif_info().get("encoders", {})) or bool(
            pillow_heif.libheif_info().get("HEIF")
        )

    @classmethod
    def _version(cls) -> str:
        import pillow_heif

        info = pillow_heif.libheif_info()
        return f"libheif {info.get('libheif')}, {info.get('HEIF')}, pillow-heif {pillow_heif.__version__}"

    def _encode(self, img: np.ndarray, quality: float, subsampling: str, tune: str) -> bytes:
        import pillow_heif

        h, w, c = img.shape
        mode = "L" if c == 1 else "RGB"
        heif = pillow_heif.from_bytes(mode=mode, size=(w, h), data=img.tobytes())
        buf = io.BytesIO()
        heif.save(
            buf,
            format="HEIF",
            quality=LIBHEIF_QUALITY,
            chroma=subsampling,
            enc_params=_x265_params(quality, tune),
        )
        return buf.getvalue()

    def _decode(self, data: bytes) -> np.ndarray:
        import pillow_heif

        threads = get_threads()
        if threads is not None:
            pillow_heif.options.DECODE_THREADS = threads
        heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
        return np.asarray(heif)

    def _coded_bits(self, data: bytes) -> int:
        import pillow_heif

        # the decoder converts deep samples to 8 bits (convert_hdr_to_8bit); the primary image's depth
        # is in its header (parsed only, as in _probe_size)
        try:
            return int(pillow_heif.open_heif(data, convert_hdr_to_8bit=True).info.get("bit_depth") or 8)
        except Exception:  # the decode itself succeeded: the depth is only for a note
            return 8

    def _probe_size(self, data: bytes) -> tuple[int, int]:
        import pillow_heif

        # open_heif only parses the file (libheif's context and the primary image's handle, its size
        # after the irot/clap transforms that decoding applies); pixels are decoded on first access
        return tuple(pillow_heif.open_heif(data, convert_hdr_to_8bit=True).size)


def _x265_params(quality: float, tune: str = "psnr") -> dict[str, str]:
    """x265 settings: the I-frame QP ratio, the AQ strength, and a thread pool no larger than set_threads' limit."""
    params = {"x265:ipratio": f"{quality_to_ipratio(quality):.6f}"}
    if tune == "psnr":
        off = str(chroma_qp_offset(quality))
        params.update({"x265:aq-strength": f"{AQ_STRENGTH_PSNR}", "x265:cbqpoffs": off, "x265:crqpoffs": off})
    threads = get_threads()
    if threads is not None:
        # one pool of `threads` workers; a still image has one frame, so one frame thread
        params.update({"x265:pools": str(threads), "x265:frame-threads": "1"})
    return params
