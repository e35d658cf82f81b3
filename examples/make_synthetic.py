"""Write a few synthetic photo-like PNGs into a folder (for examples/batch.sh and CI).

    python examples/make_synthetic.py photos/ [--count 4] [--size 240x160]

Smooth shading, hard-edged shapes, fine texture and sensor noise, so that a codec
meets what it meets in a photo; the last image goes into a subfolder and every
third one is grayscale. Images under 161 pixels a side skip MS-SSIM (no torch).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from PIL import Image


def synthetic_photo(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((h, w, 3))
    img[..., 0] = 90 + 80 * x / w + 20 * np.sin(y / (7.0 + seed))
    img[..., 1] = 70 + 100 * y / h + 15 * np.cos(x / (11.0 + seed))
    img[..., 2] = 120 + 60 * np.sin((x + y) / 40.0)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(h / 10, h / 4)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(20, 240, 3)
    tex = 30 * np.sin(x / 1.7) * np.sin(y / 2.3)
    img[h // 2 :, : w // 3] += tex[h // 2 :, : w // 3, None]
    img += rng.normal(0.0, 3.0, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--size", default="240x160", help="WIDTHxHEIGHT")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    for i in range(args.count):
        sub = "more" if i == args.count - 1 and args.count > 1 else ""
        os.makedirs(os.path.join(args.folder, sub), exist_ok=True)
        img = synthetic_photo(h, w, seed=i)
        im = Image.fromarray(img).convert("L") if i % 3 == 2 else Image.fromarray(img)
        im.save(os.path.join(args.folder, sub, f"photo{i + 1}.png"))


if __name__ == "__main__":
    main()
