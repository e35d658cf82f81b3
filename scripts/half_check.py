"""What storing a model's weights at half precision costs, measured per model.

For every model of the registry (or those named), the float32 weights and the
same weights rounded to float16 (what ``zoo.store_half`` stores) run on the same
inputs:

* post-filters: Kodak images coded by the model's own slot (codec, method,
  scale) at ``--bpp`` with no post-filter, so the input is what the decoder
  feeds the net; the table gives the RGB PSNR to the original with each copy of
  the weights;
* pre-filters (ComCNN, Modify-Net): the original image; the table gives how
  many output pixels (uint8) change and by how much at most.

Run it before ``--convert`` (which then rewrites the files with
``zoo.store_half``), e.g.::

    python scripts/half_check.py ../shared/data/kodak -n 6 --convert > /tmp/half.md

``--compare compute`` measures the other rounding instead: each post-filter's stored weights
computing in float32 and under bfloat16 autocast (what ``lbcodec decode`` does on a CPU with
native bfloat16, :mod:`lbcodec.precision`), with the seconds of each (best of the per-image
times summed; pre-filters always compute in float32 and are skipped)::

    python scripts/half_check.py ../shared/data/kodak -n 6 --compare compute > /tmp/bf16.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from lbcodec import api, filters, imageio, metrics, nets, zoo
from lbcodec.errors import BudgetError


def _net(entry: dict, state: dict):
    net = nets.from_state_dict(entry["arch"], state, **entry.get("config", {}))
    fuse = getattr(net, "fuse_bn", None)
    if callable(fuse):
        fuse()
    return net.eval().requires_grad_(False)


def _inputs(entry: dict, images: list[np.ndarray], bpp: float) -> list[np.ndarray]:
    slot = entry["slot"]
    if slot["role"] == "pre":
        return images
    for rate in (bpp, 0.3, 0.5):  # JPEG XL cannot reach 0.2 bpp on some Kodak images
        try:
            coded = [api.encode_image(img, codec=slot["codec"], method=slot["method"],
                                      scale=slot.get("scale"), bpp=rate, post="none") for img in images]
        except BudgetError:
            continue
        return [api.decode_image(res.data).pixels for res in coded]
    raise BudgetError(f"{entry['name']}: no rate up to 0.5 bpp fits")


def _cached_inputs(cache: dict, entry: dict, images: list[np.ndarray], bpp: float) -> list[np.ndarray]:
    slot = entry["slot"]
    key = (slot["role"], slot["codec"], slot["method"], slot.get("scale"))
    if key not in cache:
        cache[key] = _inputs(entry, images, bpp)
    return cache[key]


def _timed(net, inputs: list[np.ndarray], precision: str) -> tuple[list[np.ndarray], float]:
    """The outputs, and the seconds of a run over every input (the faster of two runs)."""
    best, outs = float("inf"), []
    for _ in range(2):
        t0 = time.perf_counter()
        outs = [filters._run(net, x, precision=precision) for x in inputs]
        best = min(best, time.perf_counter() - t0)
    return outs, best


def _compute_row(entry: dict, images: list[np.ndarray], inputs: list[np.ndarray]) -> None:
    net = filters._load(entry["name"])
    outs32, t32 = _timed(net, inputs, "fp32")
    outs16, t16 = _timed(net, inputs, "bf16")
    p32 = float(np.mean([metrics.psnr(o, y) for o, y in zip(images, outs32)]))
    p16 = float(np.mean([metrics.psnr(o, y) for o, y in zip(images, outs16)]))
    diff = [np.abs(a.astype(int) - b.astype(int)) for a, b in zip(outs32, outs16)]
    frac = float(np.mean([(d > 0).mean() for d in diff]))
    print(f"| {entry['name']} | {p32:.4f} dB | {p16:.4f} dB | {p16 - p32:+.4f} dB | {100 * frac:.1f} % | "
          f"{max(int(d.max()) for d in diff)} | {t32:.2f} | {t16:.2f} |")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("-n", type=int, default=6, help="images (the first n, sorted)")
    ap.add_argument("--bpp", type=float, default=0.2)
    ap.add_argument("--models", default="", help="comma-separated names (default: all)")
    ap.add_argument("--convert", action="store_true", help="then store each checked model at float16")
    ap.add_argument("--compare", choices=("storage", "compute"), default="storage",
                    help="storage: float32 against float16 weights; compute: float32 against bfloat16 compute")
    args = ap.parse_args(argv)
    if args.compare == "compute" and args.convert:
        ap.error("--convert goes with --compare storage")

    paths = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".ppm"))[: args.n]
    images = [imageio.read_image(p.read_bytes()).pixels for p in paths]
    names = [m for m in args.models.split(",") if m] or [e["name"] for e in zoo.list_models()]
    print(f"{len(images)} images of {args.folder}; post-filters fed their slot's decoded image at {args.bpp} bpp (0.3 or 0.5 where that does not fit)\n")
    if args.compare == "compute":
        print("| model | float32 | bfloat16 | change | pixels changed | most | float32 s | bfloat16 s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
    else:
        print("| model | role | float32 | float16 | change |")
        print("|---|---|---:|---:|---:|")
    cache: dict[tuple, list[np.ndarray]] = {}
    for name in names:
        entry = zoo.get_entry(name)
        if args.compare == "compute":
            if entry["slot"]["role"] == "post":
                _compute_row(entry, images, _cached_inputs(cache, entry, images, args.bpp))
            continue
        if entry.get("storage") == "float16":
            print(f"| {name} | {entry['slot']['role']} | - | - | already float16 |")
            continue
        state = zoo.load_state_dict(name)
        net32, net16 = _net(entry, state), _net(entry, zoo.as_stored(state, "float16"))
        slot = entry["slot"]
        inputs = _cached_inputs(cache, entry, images, args.bpp)
        outs32 = [filters._run(net32, x) for x in inputs]
        outs16 = [filters._run(net16, x) for x in inputs]
        if slot["role"] == "post":
            p32 = float(np.mean([metrics.psnr(o, y) for o, y in zip(images, outs32)]))
            p16 = float(np.mean([metrics.psnr(o, y) for o, y in zip(images, outs16)]))
            print(f"| {name} | post | {p32:.4f} dB | {p16:.4f} dB | {p16 - p32:+.4f} dB |")
        else:
            diff = [np.abs(a.astype(int) - b.astype(int)) for a, b in zip(outs32, outs16)]
            frac = float(np.mean([(d > 0).mean() for d in diff]))
            print(f"| {name} | pre | - | - | {100 * frac:.3f} % of pixels, at most {max(int(d.max()) for d in diff)} |")
        sys.stdout.flush()
        if args.convert:
            zoo.store_half(name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
