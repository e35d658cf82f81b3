"""Plain AVIF (``tune="psnr"``) at each libaom speed: RGB PSNR, MS-SSIM and encode time, measured.

Every rate-control probe runs at the speed under test (no draft search), so the
seconds are what a single-speed rate control costs. This is the measurement behind
``avif.SPEED`` (the kept encode) and ``avif.DRAFT_SPEED`` (the search).

    python scripts/avif_speed.py ../shared/data/kodak --bpp 0.2 --speeds 6,5,4
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from lbcodec import api, imageio, metrics
from lbcodec.bench import list_images
from lbcodec.codecs import avif


def measure(images: list[np.ndarray], bpp: float, speed: int | None) -> tuple[float, float, float, float]:
    """(mean bpp, mean RGB PSNR, mean MS-SSIM, seconds) at ``speed`` (None: lbcodec's draft + final)."""
    saved = avif.SPEED, avif.AvifCodec.has_draft
    if speed is not None:
        avif.SPEED, avif.AvifCodec.has_draft = speed, False
    try:
        rows, t0 = [], time.perf_counter()
        for x in images:
            res = api.encode_image(x, codec="avif", method="none", bpp=bpp, post="none")
            y = api.decode_image(res.data, post="none").pixels
            rows.append((res.bpp, metrics.psnr(x, y), metrics.ms_ssim(x, y)))
        secs = time.perf_counter() - t0
    finally:
        avif.SPEED, avif.AvifCodec.has_draft = saved
    return (*(float(v) for v in np.mean(rows, axis=0)), secs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--bpp", type=float, default=0.2)
    ap.add_argument("--speeds", default="6,5,4", help="comma-separated libaom speeds; 'lbcodec' for the default")
    ap.add_argument("-n", type=int, default=0, help="first N images only (0: all)")
    a = ap.parse_args()
    images = [imageio.read_image(Path(p).read_bytes()).pixels for p in list_images(a.folder)[: a.n or None]]
    print(f"plain AVIF, tune psnr, {a.bpp:g} bpp; {len(images)} images of {a.folder}\n")
    print("| speed | mean bpp | RGB PSNR | MS-SSIM | encode s (all images, incl. decode and metrics) |")
    print("|---|---:|---:|---:|---:|")
    for sp in a.speeds.split(","):
        speed = None if sp == "lbcodec" else int(sp)
        got, p, m, secs = measure(images, a.bpp, speed)
        label = f"{avif.DRAFT_SPEED} search, {avif.SPEED} kept (lbcodec)" if speed is None else str(speed)
        print(f"| {label} | {got:.4f} | {p:.3f} | {m:.4f} | {secs:.0f} |", flush=True)


if __name__ == "__main__":
    main()
