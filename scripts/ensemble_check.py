"""Kodak RGB PSNR of averaging several post-filters' outputs on the same decoded files.

    python scripts/ensemble_check.py CODEC METHOD BPP MODEL[,MODEL...] [--images ../shared/data/kodak]

Encodes every image once at BPP (rate control as `lbcodec encode`; no post-filter is recorded, so
the header is a few bytes shorter than the bench's and rate control may pick another quality on
an image at the edge of a step),
decodes it without post-filter, runs each named model, and prints the mean PSNR of: the decoded
image, each model's output, and the rounded mean of the models' outputs.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from PIL import Image

from lbcodec import zoo
from lbcodec.api import decode_image, encode_image
from lbcodec.filters import _run
from lbcodec.metrics import psnr


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("codec")
    ap.add_argument("method")
    ap.add_argument("bpp", type=float)
    ap.add_argument("models", help="comma-separated model names")
    ap.add_argument("--images", default="../shared/data/kodak")
    args = ap.parse_args()
    names = args.models.split(",")
    models = [zoo.load_model(n) for n in names]
    rows = []
    files = [f for f in sorted(os.listdir(args.images)) if f.lower().endswith((".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff"))]
    for f in files:
        img = np.asarray(Image.open(os.path.join(args.images, f)).convert("RGB"))
        res = encode_image(img, codec=args.codec, method=args.method, bpp=args.bpp, post="none")
        dec = decode_image(res.data, post="none").pixels
        outs = [_run(m, dec) for m in models]
        mean = np.clip(np.rint(np.mean([o.astype(np.float64) for o in outs], axis=0)), 0, 255).astype(np.uint8)
        rows.append([psnr(img, dec)] + [psnr(img, o) for o in outs] + [psnr(img, mean)])
    avg = np.mean(rows, axis=0)
    for label, value in zip(["decoded", *names, "mean of models"], avg):
        print(f"{label:32s} {value:.3f}")


if __name__ == "__main__":
    main()
