"""Does a fixed Gaussian pre-filter (the one Modify-Net training starts from) beat plain JPEG at the same bpp? (the Modify-Net premise)

Every third Kodak image (8), JPEG under lbcodec's rate control at each target bpp, plain decoder;
RGB PSNR and MS-SSIM against the *unfiltered* original, mean over images.

    python scripts/prefilter_check.py ../shared/data/kodak --bpp 0.3 --sigmas 0,0.5,0.7,0.9 \
        -o docs/data/prefilter_check.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from lbcodec.api import decode_image, encode_image
from lbcodec.metrics import ms_ssim, psnr
from lbcodec.training.modify import (
    gaussian_blur,  # the blur Modify-Net's training starts from
)


def blurred(x: np.ndarray, sigma: float) -> np.ndarray:
    import torch

    t = torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32))
    return gaussian_blur(sigma)(t)[0].numpy().transpose(1, 2, 0).round().clip(0, 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--bpp", default="0.3")
    ap.add_argument("--sigmas", default="0,0.5,0.7,0.9")
    ap.add_argument("--every", type=int, default=3)
    ap.add_argument("-o", "--out")
    a = ap.parse_args()
    files = sorted(Path(a.folder).glob("*.png"))[:: a.every]
    if not files:
        raise SystemExit(f"no PNG images in {a.folder}")
    rows = []
    for bpp in (float(b) for b in a.bpp.split(",")):
        for s in (float(x) for x in a.sigmas.split(",")):
            ps, ms, bs, qs = [], [], [], []
            for f in files:
                x = np.asarray(Image.open(f).convert("RGB"))
                y = x if s == 0 else blurred(x, s)
                r = encode_image(y, codec="jpeg", method="none", bpp=bpp, post="none")
                d = decode_image(r.data).pixels
                ps.append(psnr(x, d))
                ms.append(ms_ssim(x, d))
                bs.append(r.bpp)
                qs.append(r.quality)
            row = {"images": len(files), "target_bpp": bpp, "sigma": s, "bpp": round(float(np.mean(bs)), 4),
                   "rgb_psnr": round(float(np.mean(ps)), 3), "ms_ssim": round(float(np.mean(ms)), 4),
                   "quality": round(float(np.mean(qs)), 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if a.out:
        Path(a.out).write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
