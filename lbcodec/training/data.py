"""Training data: the real codec in the loop.

A training pair is (what the post-filter sees, the original): the original image is
encoded by :func:`lbcodec.api.encode_image` under rate control at a bpp target in the
range the model serves (so the codec runs at exactly the qualities rate control picks),
decoded with no post-filter (bicubic upsampling where the method resized), and both
images are cut into aligned patches. Pairs are cached on disk as one ``.npz``.

Array contract: patches are uint8 ``(N, P, P, C)``; validation images uint8 ``(H, W, C)``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, replace

import numpy as np

from ..bench import IMAGE_EXTS
from .config import Config


def list_images(roots: list[str]) -> list[str]:
    out = []
    for root in roots:
        if not os.path.isdir(root):
            raise FileNotFoundError(f"training folder {root!r} does not exist")
        out += [os.path.join(root, n) for n in sorted(os.listdir(root)) if n.lower().endswith(IMAGE_EXTS)]
    return out


def split(paths: list[str], holdout_every: int) -> tuple[list[str], list[str]]:
    """Deterministic split: every ``holdout_every``-th image is held out for validation."""
    val = paths[::holdout_every]
    train = [p for i, p in enumerate(paths) if i % holdout_every]
    return train, val


def load_rgb(path: str) -> np.ndarray:
    from ..imageio import read_image

    with open(path, "rb") as f:
        px = read_image(f.read()).pixels
    return np.repeat(px, 3, axis=2) if px.shape[2] == 1 else px


def crop(img: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    y = int(rng.integers(0, h - side + 1)) if h > side else 0
    x = int(rng.integers(0, w - side + 1)) if w > side else 0
    return img[y : y + side, x : x + side]


def degrade(img: np.ndarray, cfg: Config, bpp: float) -> tuple[np.ndarray, float] | None:
    """(decoded image without post-filter, quality used) at ``bpp``, or None if unreachable."""
    from ..api import decode_image, encode_image
    from ..errors import BudgetError

    try:
        res = encode_image(img, codec=cfg.codec, method=cfg.method, scale=cfg.scale, bpp=bpp, post="none",
                           tune=cfg.data.tune)
    except BudgetError:
        return None
    return decode_image(res.data, post="none").pixels, res.quality


@dataclass
class PatchSet:
    inputs: np.ndarray
    targets: np.ndarray
    qualities: np.ndarray
    val_inputs: list[np.ndarray]
    val_targets: list[np.ndarray]
    meta: dict

    def __len__(self) -> int:
        return len(self.inputs)


def pre_model(cfg: Config) -> dict | None:
    """The registry pre-filter the degradation runs through (what ``encode`` picks), if any."""
    from ..filters import default_pre

    return default_pre(cfg.method, cfg.codec, cfg.scale)


def codec_settings(cfg) -> str:
    """The tag of the encoder settings ``cfg``'s patches are coded with ("" for a codec's first ones);
    ``cfg`` is a post-filter :class:`Config` or a joint config (any with ``codec`` and ``data.tune``)."""
    from ..codecs import settings_tag

    return settings_tag(cfg.codec) if cfg.data.tune == "psnr" else ""


def cache_key(cfg: Config) -> str:
    data = cfg.to_dict()["data"]
    if data.get("tune") == "psnr":  # the default: keys from before the field existed stay valid
        data.pop("tune")
    data.pop("extra_seeds", None)  # each seed's patch set has its own key (see get_patches)
    if not data.get("per_image_rng"):  # off: keys from before the field existed stay valid
        data.pop("per_image_rng", None)
    d = {"data": data, "codec": cfg.codec, "method": cfg.method, "scale": cfg.scale, "v": 1}
    if cfg.train.seed:  # the seed picks crops, rates and patch positions (seed 0 keeps its old keys)
        d["seed"] = cfg.train.seed
    tag = codec_settings(cfg)
    if tag:  # the encoder's settings changed since the first caches (heif, avif, jpeg: tune psnr)
        d["codec_settings"] = tag
    pre = pre_model(cfg)
    if pre is not None:  # a comcnn/modifynet slot: the pre-filter's weights shape every input
        d["pre_sha256"] = pre["sha256"]
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _image_pairs(img: np.ndarray, cfg: Config, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """One training image's (input, target, quality) patches: crop, rates and positions from ``rng``."""
    d = cfg.data
    img = crop(img, d.max_side, rng)
    out_pairs = []
    for bpp in rng.choice(d.bpps, size=min(d.bpps_per_image, len(d.bpps)), replace=False):
        out = degrade(img, cfg, float(bpp))
        if out is None:
            continue
        dec, q = out
        h, w = img.shape[:2]
        if h < d.patch or w < d.patch:
            continue
        for _ in range(d.patches_per_pair):
            y, x = int(rng.integers(0, h - d.patch + 1)), int(rng.integers(0, w - d.patch + 1))
            out_pairs.append((dec[y : y + d.patch, x : x + d.patch], img[y : y + d.patch, x : x + d.patch], q))
    return out_pairs


def _image_pairs_job(job: tuple[str, Config, int]) -> list[tuple[np.ndarray, np.ndarray, float]]:
    path, cfg, index = job
    return _image_pairs(load_rgb(path), cfg, np.random.default_rng([cfg.train.seed, index]))


def _degrade_job(job: tuple[np.ndarray, Config, float]) -> tuple[np.ndarray, float] | None:
    return degrade(*job)


def _pool_map(fn, jobs: list, workers: int):
    """``map(fn, jobs)`` in order, over ``workers`` spawned processes when there is enough work.

    A spawned process costs about a second to start, so a few jobs run here. The cores are
    shared out as in batch mode (:func:`lbcodec.batch.limit_threads`); when the caller stops
    early (an exception, or ``close()``), the jobs not started are cancelled.
    """
    if workers <= 1 or len(jobs) < 4 * workers:
        yield from map(fn, jobs)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ..batch import limit_threads, threads_per_worker
    from ..codecs.base import get_threads

    threads = get_threads() or threads_per_worker(workers)
    ex = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=limit_threads, initargs=(threads,))
    try:
        yield from ex.map(fn, jobs)
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def default_workers() -> int:
    from ..batch import available_cores

    return min(8, available_cores())


def build_patches(cfg: Config, progress: Callable[[int, int], None] | None = None,
                  workers: int | None = None) -> PatchSet:
    """Code the training and validation images through the real codec and cut aligned patches.

    Validation images are always coded in parallel (``workers`` processes; their crops are drawn
    first, so the result is the same); training images only with ``data.per_image_rng``.
    """
    d = cfg.data
    workers = default_workers() if workers is None else workers
    rng = np.random.default_rng(cfg.train.seed)
    train, val = split(list_images(d.roots), d.holdout_every)
    if d.max_images:
        train = [train[i] for i in sorted(rng.choice(len(train), min(d.max_images, len(train)), replace=False))]
    ins, tgs, qs = [], [], []
    total = len(train) + len(val)
    if d.per_image_rng:
        per_image = _pool_map(_image_pairs_job, [(p, cfg, i) for i, p in enumerate(train)], workers)
    else:  # one generator through every image, in order: the caches made before per_image_rng
        per_image = (_image_pairs(load_rgb(p), cfg, rng) for p in train)
    with closing(per_image):
        for i, pairs in enumerate(per_image):
            for a, b, q in pairs:
                ins.append(a)
                tgs.append(b)
                qs.append(q)
            if progress:
                progress(i + 1, total)
    vrng = np.random.default_rng(12345)
    vimgs = [crop(load_rgb(path), d.val_crop, vrng) for path in val]
    jobs = [(img, cfg, float(bpp)) for img in vimgs for bpp in d.val_bpps]
    vin, vtg = [], []
    with closing(_pool_map(_degrade_job, jobs, workers)) as outs:
        for k, out in enumerate(outs):
            if out is not None:
                vin.append(out[0])
                vtg.append(jobs[k][0])
            if progress and (k + 1) % len(d.val_bpps) == 0:
                progress(len(train) + (k + 1) // len(d.val_bpps), total)
    if not ins:
        raise ValueError("no training pairs: every target was unreachable")
    meta = {"train_images": len(train), "val_images": len(val), "roots": d.roots, "pairs": len(ins) // d.patches_per_pair}
    pre = pre_model(cfg)
    if pre is not None:  # the pre-filter the inputs came through, for the published model's provenance
        meta["pre"] = {"name": pre["name"], "sha256": pre["sha256"]}
    return PatchSet(np.stack(ins), np.stack(tgs), np.asarray(qs, np.float32), vin, vtg, meta)


def save_patches(ps: PatchSet, path: str) -> None:
    tmp = path + ".tmp.npz"
    arrays = {"inputs": ps.inputs, "targets": ps.targets, "qualities": ps.qualities,
              "meta": np.frombuffer(json.dumps(ps.meta).encode(), np.uint8)}
    for i, (a, b) in enumerate(zip(ps.val_inputs, ps.val_targets)):
        arrays[f"val_in_{i}"], arrays[f"val_tg_{i}"] = a, b
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_patches(path: str) -> PatchSet:
    z = np.load(path)
    n_val = sum(1 for k in z.files if k.startswith("val_in_"))
    return PatchSet(
        z["inputs"], z["targets"], z["qualities"],
        [z[f"val_in_{i}"] for i in range(n_val)], [z[f"val_tg_{i}"] for i in range(n_val)],
        json.loads(bytes(z["meta"]).decode()),
    )


def get_patches(cfg: Config, cache_dir: str, progress=None) -> PatchSet:
    """Patches for ``cfg``, from the cache when it has them (keyed by the data config).

    With ``data.extra_seeds`` the training patches of each extra seed (its own cache entry, built
    if missing) are appended to those of ``train.seed``; validation is that of ``train.seed``.
    """
    ps = _patches_one_seed(cfg, cache_dir, progress)
    if not cfg.data.extra_seeds:
        return ps
    parts = [ps]
    for seed in cfg.data.extra_seeds:
        other = replace(cfg, train=replace(cfg.train, seed=seed), data=replace(cfg.data, extra_seeds=[]))
        parts.append(_patches_one_seed(other, cache_dir, progress))
    meta = dict(ps.meta, seeds=[cfg.train.seed, *cfg.data.extra_seeds],
                pairs=sum(p.meta.get("pairs", 0) for p in parts))
    return PatchSet(
        np.concatenate([p.inputs for p in parts]), np.concatenate([p.targets for p in parts]),
        np.concatenate([p.qualities for p in parts]), ps.val_inputs, ps.val_targets, meta,
    )


def _patches_one_seed(cfg: Config, cache_dir: str, progress=None) -> PatchSet:
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, f"{cfg.codec}-{cfg.method}{cfg.scale}-{cache_key(cfg)}.npz")
    if os.path.exists(path):
        return load_patches(path)
    ps = build_patches(cfg, progress)
    save_patches(ps, path)
    return ps
