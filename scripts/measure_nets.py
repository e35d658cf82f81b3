"""Issue 3 measurements: parameters, decode seconds per Kodak-sized image, peak RSS of a 6000x4000 decode.

Timing and memory do not depend on the weights' values, so every network is
published with its initial weights into a temporary registry (never shipped).

    python scripts/measure_nets.py [--threads 2] [--image ../shared/data/kodak/kodim01.png] [--big]
    python scripts/measure_nets.py --models shufflecnn-jpeg-ds2,shufflecnn-webp-none-long6   (just these)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

NETS = [
    ("srcnn", {}, "downsample", "jpeg"),
    ("arcnn", {}, "none", "jpeg"),
    ("arcnn", {"kernels": [9, 7, 3, 1, 5], "widths": [64, 32, 16, 16]}, "none", "jpeg2000"),
    ("reccnn", {}, "comcnn", "jpeg"),
    ("reccnn", {"width": 32, "depth": 10, "batch_norm": False}, "downsample", "webp"),
    ("reccnn", {"width": 48, "depth": 12, "batch_norm": False}, "downsample", "avif"),
    ("attention", {}, "none", "heif"),
    ("attention", {"n_blocks": 30, "width": 64, "reduction": 16}, "none", "avif"),
    ("comcnn", {}, "comcnn", "jpeg"),
    ("modifynet", {}, "modifynet", "jpeg"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--image", default="../shared/data/kodak/kodim01.png")
    ap.add_argument("--big", action="store_true", help="also measure peak RSS of a 6000x4000 decode")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--models", default=None,
                    help="comma-separated shipped model names: time only these (no paper-size rows, no --big)")
    args = ap.parse_args()
    import torch
    from PIL import Image

    torch.set_num_threads(args.threads)
    from lbcodec import filters, nets, zoo

    img = np.asarray(Image.open(args.image).convert("RGB"))
    rows = []
    only = set(args.models.split(",")) if args.models else None
    unknown = sorted(only - {e["name"] for e in zoo.list_models()}) if only is not None else []
    if unknown:
        ap.error(f"unknown model(s): {', '.join(unknown)}")
    for entry in zoo.list_models():  # the shipped models, as decode runs them
        if only is not None and entry["name"] not in only:
            continue
        model = filters._load(entry["name"])
        times = {}
        for ens in (False, True):
            if ens and entry["slot"]["role"] == "pre":
                continue
            filters._run(model, img[:64, :64], ens)
            ts = []
            for _ in range(args.repeat if not ens else 1):
                t0 = time.perf_counter()
                filters._run(model, img, ens)
                ts.append(time.perf_counter() - t0)
            times["ensemble" if ens else "plain"] = min(ts)
        row = {"model": entry["name"], "net": entry["arch"], "config": model.config,
               "params": sum(p.numel() for p in model.parameters()), "image": f"{img.shape[1]}x{img.shape[0]}",
               "threads": args.threads, "seconds": times.get("plain"), "seconds_ensemble": times.get("ensemble")}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if only is not None:
        return
    os.environ["LBCODEC_WEIGHTS_DIR"] = wdir = tempfile.mkdtemp(prefix="lbcodec-measure-")
    for i, (arch, cfg, method, codec) in enumerate(NETS, start=1):
        torch.manual_seed(0)
        net = nets.build(arch, **cfg)
        role = "pre" if arch in ("comcnn", "modifynet") else "post"
        name = f"m{i}-{arch}"
        zoo.publish(name, arch, net.state_dict(), {"role": role, "method": method, "codec": codec, "scale": 2},
                    {"note": "initial weights, for timing only"}, i, weights_dir=wdir, config=cfg)
        model = zoo.load_model(name)
        params = sum(p.numel() for p in model.parameters())
        # one plain pass: the paper-size nets are too slow on CPU for repeats or an x8 ensemble
        filters._run(model, img[:64, :64])  # warm-up
        t0 = time.perf_counter()
        filters._run(model, img)
        seconds = time.perf_counter() - t0
        row = {"net": arch, "config": model.config, "params": params, "image": f"{img.shape[1]}x{img.shape[0]}",
               "threads": args.threads, "seconds": seconds, "seconds_ensemble": None}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.big:
        rows.append(measure_big(wdir))
        print(json.dumps(rows[-1]), flush=True)


def measure_big(wdir: str) -> dict:
    """Peak RSS of `lbcodec decode` of a 6000x4000 downsample+jpeg file with an srcnn post-filter."""
    from lbcodec.api import encode_image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:4000, 0:6000]
    big = np.stack([(xx * 255 // 6000), (yy * 255 // 4000), ((xx + yy) % 256)], axis=2).astype(np.uint8)
    big = np.clip(big.astype(np.int16) + rng.integers(-8, 9, big.shape), 0, 255).astype(np.uint8)
    tmp = tempfile.mkdtemp(prefix="lbcodec-big-")
    src = os.path.join(tmp, "big.lbc")
    res = encode_image(big, codec="jpeg", method="downsample", bpp=0.2, post="m1-srcnn")
    with open(src, "wb") as f:
        f.write(res.data)
    del big
    out = os.path.join(tmp, "big.png")
    code = ("import resource, sys; from lbcodec.cli import main\n"
            "try:\n    main(['decode', sys.argv[1], '-o', sys.argv[2], '--threads', '2'])\n"
            "except SystemExit: pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code, src, out], capture_output=True, text=True,
                       env={**os.environ, "LBCODEC_WEIGHTS_DIR": wdir})
    secs = time.perf_counter() - t0
    rss_kb = int(p.stdout.strip().splitlines()[-1])
    return {"big_decode": "6000x4000 downsample+jpeg 0.2 bpp, srcnn post", "peak_rss_mb": rss_kb / 1024,
            "seconds": secs, "stderr": p.stderr.strip()[-300:]}


if __name__ == "__main__":
    main()
