"""Training patches packed into one small file, to train on another machine.

A patch cache (:mod:`lbcodec.training.data`) holds raw uint8 arrays: hundreds of MB.
A lent GPU machine takes a working tree of at most 64 MiB and no codecs beyond Pillow,
so the pairs travel instead as lossless WebP: a random subset of the training patches,
tiled into mosaics (inputs and targets apart: the decoded inputs compress better), and
a few validation images, until a byte budget is spent. Lossless means the machine
trains on exactly the pixels the real codec produced here; nothing is re-encoded there.

File: an uncompressed ``.npz`` (the WebP streams are already compressed) of uint8 arrays
``in_<k>``, ``tg_<k>`` (mosaic ``k``), ``vin_<j>``, ``vtg_<j>`` (validation image ``j``),
``qualities`` (float32, one per patch) and ``meta`` (JSON: patch side, count per mosaic,
source cache meta, packing facts).
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

from .data import PatchSet

#: libwebp's lossless effort: 6 packs 2-3 % smaller than 4 in three times the time.
METHOD = 4

#: Bytes an array adds to the .npz beyond its data: npy header, local and central zip entries.
ARRAY_OVERHEAD = 512

#: Patches per mosaic row; a mosaic of 96-pixel patches is at most 1536 pixels wide.
ROW = 16


def _webp(img: np.ndarray) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, "WEBP", lossless=True, quality=100, method=METHOD)
    return np.frombuffer(buf.getvalue(), np.uint8)


def _unwebp(data: np.ndarray) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data.tobytes())) as im:
        return np.asarray(im.convert("RGB"))


def _mosaic(patches: np.ndarray) -> np.ndarray:
    n, p, _, c = patches.shape
    rows = -(-n // ROW)
    grid = np.zeros((rows * ROW, p, p, c), np.uint8)
    grid[:n] = patches
    return grid.reshape(rows, ROW, p, p, c).transpose(0, 2, 1, 3, 4).reshape(rows * p, ROW * p, c)


def _unmosaic(img: np.ndarray, p: int, n: int) -> np.ndarray:
    rows, c = img.shape[0] // p, img.shape[2]
    return img.reshape(rows, p, ROW, p, c).transpose(0, 2, 1, 3, 4).reshape(rows * ROW, p, p, c)[:n]


def pack_patches(ps: PatchSet, max_bytes: int, val_images: int = 12, chunk: int = 256,
                 seed: int = 0) -> bytes:
    """The bytes of a pack of ``ps``, at most ``max_bytes`` of them: up to ``val_images``
    validation images first (spread over the validation set), then shuffled training
    patches, ``chunk`` per mosaic, while the next mosaic still fits."""
    if not len(ps):
        raise ValueError("no training patches to pack")
    if ps.inputs.shape[1] != ps.inputs.shape[2] or ps.inputs.shape != ps.targets.shape:
        raise ValueError(f"patches must be square and paired, got {ps.inputs.shape} and {ps.targets.shape}")
    p = int(ps.inputs.shape[1])
    arrays: dict[str, np.ndarray] = {}
    used = 4096  # the meta and qualities arrays; each array adds ARRAY_OVERHEAD (npy header, zip entries)
    nval = min(val_images, len(ps.val_inputs))
    picks = np.linspace(0, len(ps.val_inputs) - 1, nval).round().astype(int) if nval else []
    for j, i in enumerate(picks):
        a, b = _webp(ps.val_inputs[i]), _webp(ps.val_targets[i])
        arrays[f"vin_{j}"], arrays[f"vtg_{j}"] = a, b
        used += a.nbytes + b.nbytes + 2 * ARRAY_OVERHEAD
    order = np.random.default_rng(seed).permutation(len(ps))
    counts, kept = [], []
    for k, start in enumerate(range(0, len(order), chunk)):
        idx = np.sort(order[start : start + chunk])
        a, b = _webp(_mosaic(ps.inputs[idx])), _webp(_mosaic(ps.targets[idx]))
        cost = a.nbytes + b.nbytes + 2 * ARRAY_OVERHEAD + 4 * len(idx)  # + its qualities
        if used + cost > max_bytes:
            break
        arrays[f"in_{k}"], arrays[f"tg_{k}"] = a, b
        used += cost
        counts.append(len(idx))
        kept.append(idx)
    while counts:  # the estimate above leaves out the meta's size: drop mosaics until it fits
        data = _save(arrays, counts, kept, ps, p, nval)
        if len(data) <= max_bytes:
            return data
        k = len(counts) - 1
        del arrays[f"in_{k}"], arrays[f"tg_{k}"]
        counts.pop()
        kept.pop()
    raise ValueError(f"{max_bytes} bytes hold no mosaic of {chunk} patches; raise the budget")


def _save(arrays: dict, counts: list[int], kept: list[np.ndarray], ps: PatchSet, p: int, nval: int) -> bytes:
    out = dict(arrays)
    out["qualities"] = ps.qualities[np.concatenate(kept)].astype(np.float32)
    meta = {"patch": p, "counts": counts, "source": ps.meta, "source_patches": len(ps),
            "source_val_images": len(ps.val_inputs), "val_images": int(nval), "format": "lbcodec-pack-1"}
    out["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **out)
    return buf.getvalue()


def unpack_patches(data: bytes) -> PatchSet:
    """The :class:`PatchSet` a pack holds (its ``meta`` says it came from a pack)."""
    with np.load(io.BytesIO(data)) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        if meta.get("format") != "lbcodec-pack-1":
            raise ValueError("not an lbcodec patch pack")
        p, counts = int(meta["patch"]), meta["counts"]
        ins = [_unmosaic(_unwebp(z[f"in_{k}"]), p, n) for k, n in enumerate(counts)]
        tgs = [_unmosaic(_unwebp(z[f"tg_{k}"]), p, n) for k, n in enumerate(counts)]
        vin = [_unwebp(z[f"vin_{j}"]) for j in range(meta["val_images"])]
        vtg = [_unwebp(z[f"vtg_{j}"]) for j in range(meta["val_images"])]
        qs = z["qualities"].copy()
    src = dict(meta["source"])
    src["pack"] = {"patches": int(sum(counts)), "of": meta["source_patches"], "val_images": meta["val_images"],
                   "of_val": meta["source_val_images"]}
    return PatchSet(np.concatenate(ins), np.concatenate(tgs), qs, vin, vtg, src)


def write_pack(ps: PatchSet, path: str, max_bytes: int, val_images: int = 12, seed: int = 0) -> int:
    """Write a pack atomically; return its size in bytes."""
    data = pack_patches(ps, max_bytes, val_images=val_images, seed=seed)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return len(data)


def read_pack(path: str) -> PatchSet:
    with open(path, "rb") as f:
        return unpack_patches(f.read())
