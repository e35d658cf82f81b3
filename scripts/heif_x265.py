"""How x265's settings under ``tune="psnr"`` move HEIF's rate-distortion, measured.

libheif tunes x265 for SSIM (aq-mode 2 at strength 1.0, chroma QP offsets 0).
lbcodec's ``tune="psnr"`` lowers the strength to ``heif.AQ_STRENGTH_PSNR`` and
offsets the chroma QP by ``heif.chroma_qp_offset(quality)``; this script is the
measurement behind those choices. A variant is ``AQ:CHROMA``: an aq-strength and
a chroma offset (an integer, or ``auto`` for lbcodec's rule). For each variant
and bpp target, every image of the folder goes through lbcodec's own rate control
(method none, no post-filter); the table gives the mean bpp, RGB PSNR and MS-SSIM.
Strength 0 (x265's own tune=psnr) leaves the picture QP an integer, so the rate
control's shortfall column shows how coarse the file sizes become.

    python scripts/heif_x265.py ../shared/data/kodak --bpp 0.15,0.3,0.5 --variants 1:0,0.4:0,0.2:0,0.1:0,0:0
    python scripts/heif_x265.py ../shared/data/kodak --bpp 0.07,0.15,0.3,0.5 --variants 0.2:0,0.2:-2,0.2:-4,0.2:-6,0.2:auto
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lbcodec import api, imageio, metrics
from lbcodec.bench import list_images
from lbcodec.codecs import heif


def measure(images: list[np.ndarray], bpp: float, aq: float, chroma: str) -> tuple[float, float, float]:
    """(mean bpp, mean RGB PSNR, mean MS-SSIM) of plain HEIF at ``bpp`` with x265 aq-strength ``aq``
    and chroma QP offset ``chroma`` (an integer, or ``auto``)."""
    saved = heif.AQ_STRENGTH_PSNR, heif.chroma_qp_offset
    heif.AQ_STRENGTH_PSNR = aq
    if chroma != "auto":
        heif.chroma_qp_offset = lambda q: int(chroma)
    try:
        rows = []
        for x in images:
            res = api.encode_image(x, codec="heif", method="none", bpp=bpp, post="none", tune="psnr")
            y = api.decode_image(res.data, post="none").pixels
            rows.append((res.bpp, metrics.psnr(x, y), metrics.ms_ssim(x, y)))
    finally:
        heif.AQ_STRENGTH_PSNR, heif.chroma_qp_offset = saved
    return tuple(float(v) for v in np.mean(rows, axis=0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--bpp", default="0.15,0.3,0.5", help="comma-separated bpp targets")
    ap.add_argument("--variants", default="1:0,0.2:0,0.2:auto", help="comma-separated AQ:CHROMA pairs")
    ap.add_argument("-n", type=int, default=0, help="first N images only (0: all)")
    a = ap.parse_args()
    images = [imageio.read_image(Path(p).read_bytes()).pixels for p in list_images(a.folder)[: a.n or None]]
    print(f"HEIF (x265 aq-mode 2), method none, no post-filter; {len(images)} images of {a.folder}\n")
    print("| bpp target | aq-strength | chroma QP offset | mean bpp | shortfall % | RGB PSNR | MS-SSIM |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for bpp in (float(b) for b in a.bpp.split(",")):
        for v in a.variants.split(","):
            aq, chroma = v.split(":")
            got, p, m = measure(images, bpp, float(aq), chroma)
            print(f"| {bpp:g} | {float(aq):g} | {chroma} | {got:.4f} | {100 * (1 - got / bpp):.1f} | {p:.3f} | {m:.4f} |",
                  flush=True)


if __name__ == "__main__":
    main()
