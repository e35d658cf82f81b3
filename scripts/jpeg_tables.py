"""Search JPEG quantization tables for RGB PSNR at equal bytes (how lbcodec's ``tune="psnr"`` tables were chosen).

A table family: luma = G * (STD_LUMA / G) ** flatten (G: the standard table's geometric mean;
flatten 1 = the standard table, 0 = flat), chroma = chroma_ratio * luma DC * (STD_CHROMA / 17)
** chroma_flatten. For each member, every image is coded at the largest table scale that fits
the budget (bisection on a continuous scale, the same for every member, so only the shape
differs), decoded, upsampled back when downsampled, and scored by RGB PSNR. Cases: plain at
0.15 and 0.3 bpp, downsampled x2 (bicubic) at 0.1, 0.2 and 0.3 bpp.

    python scripts/jpeg_tables.py -o results/jpeg-tables.jsonl            # the grid that picked them
    python scripts/jpeg_tables.py --grid '[[0.2, 0, 0.55, 2], [1, 1, 1.0625, 2]]' --images ../shared/data/kodak

Images: by default 25 training images (every 3rd of train_wiki29, every 43rd of train_bsds432,
every 6th of train_urban100_30), never Kodak. One JSON line per member: its parameters
(flatten, chroma_flatten, chroma_ratio, Pillow subsampling: 2 = 4:2:0, 0 = 4:4:4) and the mean
RGB PSNR per case. Results: docs/results.md, "JPEG quantization tables".
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lbcodec.codecs.jpeg import table_family  # noqa: E402

CASES = ((1, 0.15), (1, 0.3), (2, 0.1), (2, 0.2), (2, 0.3))
DEFAULT_GRID = (
    [[a, ac, c, 2] for a in (0, 0.25, 0.5, 1.0) for ac in (0, 0.5, 1.0) for c in (0.7, 1.0, 1.4, 2.0)]
    + [[a, 0, c, 2] for a in (0.15, 0.25, 0.35) for c in (0.3, 0.4, 0.5, 0.6)]
    + [[0.25, 0, c, 0] for c in (0.4, 0.6, 0.8)]
    + [[0.2, 0, 0.55, 2]]
)


def encode(img: Image.Image, scale: float, base: list[np.ndarray], sub: int) -> bytes:
    qt = [np.clip(np.round(b * scale), 1, 255).astype(int).tolist() for b in base]
    buf = io.BytesIO()
    img.save(buf, "JPEG", qtables=qt, optimize=True, subsampling=sub)
    return buf.getvalue()


def fit(img: Image.Image, base: list[np.ndarray], budget: float, sub: int) -> bytes | None:
    lo, hi, best = 0.02, 40.0, None
    for _ in range(16):
        s = (lo * hi) ** 0.5
        b = encode(img, s, base, sub)
        if len(b) <= budget:
            best, hi = b, s
        else:
            lo = s
    return best


def default_images(data: str) -> list[str]:
    def pick(folder: str, step: int) -> list[str]:
        d = os.path.join(data, folder)
        return [os.path.join(d, n) for n in sorted(os.listdir(d))][::step]

    return pick("train_wiki29", 3) + pick("train_bsds432", 43) + pick("train_urban100_30", 6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", help="JSON list of [flatten, chroma_flatten, chroma_ratio, subsampling]")
    ap.add_argument("--images", help="a folder of images (default: 25 training images)")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    ap.add_argument("-o", "--out", default="-", help="JSON lines file to append to (default: stdout)")
    args = ap.parse_args()
    grid = json.loads(args.grid) if args.grid else DEFAULT_GRID
    if args.images:
        files = [os.path.join(args.images, n) for n in sorted(os.listdir(args.images))]
    else:
        files = default_images(args.data)
    imgs = [Image.open(f).convert("RGB") for f in files]
    out = sys.stdout if args.out == "-" else open(args.out, "a")
    for g in grid:
        base, row = table_family(g[0], g[2], g[1]), {"flatten": g[0], "chroma_flatten": g[1], "chroma_ratio": g[2], "subsampling": g[3]}
        for ds, bpp in CASES:
            scores = []
            for im in imgs:
                a = np.asarray(im)
                src = im.resize((im.width // ds, im.height // ds), Image.BICUBIC) if ds > 1 else im
                b = fit(src, base, bpp * a.shape[0] * a.shape[1] / 8, g[3])
                if b is None:
                    continue
                d = Image.open(io.BytesIO(b)).convert("RGB")
                if ds > 1:
                    d = d.resize(im.size, Image.BICUBIC)
                mse = np.mean((a.astype(np.float64) - np.asarray(d)) ** 2)
                scores.append(10 * np.log10(255.0**2 / mse))
            row[f"x{ds}@{bpp}"] = round(float(np.mean(scores)), 4) if scores else None
        row["mean"] = round(float(np.mean([v for k, v in row.items() if k.startswith("x") and v is not None])), 4)
        out.write(json.dumps(row) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
