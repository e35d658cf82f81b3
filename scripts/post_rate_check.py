"""Where a post-filter stops helping: each codec's default `none` post-filter above its rates.

For each codec, Kodak images (every ``--step``-th, ``-n`` of them) are coded with method none at
each ``--bpp`` target and no post-filter; the codec's default post model (what ``--post auto``
picks for the slot) is then forced onto the decode, and the table gives its RGB PSNR gain over
the plain decode (mean, worst and best image), beside the rate ceiling above which ``auto`` now
runs no post-filter (:func:`lbcodec.filters.rate_ceiling`). The numbers behind
``filters.RATE_SLACK``::

    python scripts/post_rate_check.py ../shared/data/kodak > docs/data/post_rate_check.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from lbcodec import api, filters, imageio, metrics
from lbcodec.container import unpack
from lbcodec.errors import BudgetError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--codecs", default="jpeg,jpegxl,webp,heif,avif,jpeg2000")
    ap.add_argument("--bpp", default="0.5,0.6,0.7,1.0")
    ap.add_argument("-n", type=int, default=4, help="images (default 4)")
    ap.add_argument("--step", type=int, default=6, help="every STEP-th image of the sorted folder (default 6)")
    args = ap.parse_args(argv)
    paths = sorted(p for p in Path(args.folder).iterdir() if p.suffix.lower() == ".png")[:: args.step][: args.n]
    images = [imageio.read_image(p.read_bytes()).pixels for p in paths]
    print(f"Images: {', '.join(p.name for p in paths)}; method none; RGB PSNR gain of the codec's default "
          "post-filter, forced, over the plain decode (dB); bpp of the codec's bitstream.\n")
    print("| codec | model | trained up to | auto's ceiling | target bpp | mean bpp | mean gain | worst | best | auto runs it |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for codec in args.codecs.split(","):
        entry = filters.default_post("none", codec, 1)
        if entry is None:
            continue
        top, ceiling = filters.trained_top(entry), filters.rate_ceiling(entry)
        for bpp in (float(b) for b in args.bpp.split(",")):
            gains, rates = [], []
            for img in images:
                try:
                    enc = api.encode_image(img, codec=codec, method="none", bpp=bpp, post="none")
                except BudgetError:
                    continue
                plain = api.decode_image(enc.data, post="none", precision="fp32").pixels
                post = api.decode_image(enc.data, post=entry["name"], precision="fp32").pixels
                gains.append(metrics.psnr(img, post) - metrics.psnr(img, plain))
                rates.append(len(unpack(enc.data).payload) * 8 / (img.shape[0] * img.shape[1]))
            if not gains:
                continue
            runs = "yes" if ceiling is None or max(rates) <= ceiling else ("no" if min(rates) > ceiling else "some")
            print(f"| {codec} | {entry['name']} | {top:g} | {ceiling:.2f} | {bpp:g} | {np.mean(rates):.3f} | "
                  f"{np.mean(gains):+.3f} | {min(gains):+.3f} | {max(gains):+.3f} | {runs} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
