"""Paper 002, Algorithm 1: alternate training of ComCNN (pre) and RecCNN (post) with the codec in the loop.

Outer iteration t:
  1. compact images ``x_m = Cr(x)`` from the current ComCNN are coded by the *real*
     codec at qualities that rate control picks for the served bpp range, decoded and
     upsampled (bicubic, as the decoder does) -> RecCNN's inputs;
  2. RecCNN is trained on them, residual MSE (Eq. 5 / 15);
  3. ComCNN is trained through the frozen RecCNN (Eq. 13): ``Re(up(Cr(x))) ~ x``.
     With ``ste`` (an improvement beyond the paper), the forward pass uses the real
     codec's output ``Co(Cr(x))`` and the gradient passes straight through the codec.

Before iteration 1, ComCNN is fitted to bicubic downsampling for ``init_steps`` (a
warm start beyond the paper, which starts from random weights), so step 1 never
feeds the codec a meaningless compact image.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .config import DataConfig, refuse_extra_seeds, resolve_data
from .data import codec_settings
from .diffjpeg import calibrate_rate, pad16, proxy_bpp
from .trainer import zero_init_last


@dataclass(frozen=True)
class NetSpec:
    name: str
    container_id: int
    arch: str
    arch_config: dict


@dataclass(frozen=True)
class JointConfig:
    codec: str
    scale: int
    pre: NetSpec
    post: NetSpec
    data: DataConfig
    bpp_range: list[float]
    outer: int = 2
    init_steps: int = 300
    rec_steps: int = 1000
    com_steps: int = 500
    batch: int = 16
    crop: int = 96
    lr: float = 1e-3
    lr_final: float = 1e-5
    ste: bool = True
    #: beyond the paper: "diffjpeg" codes ComCNN's output with the differentiable JPEG in the
    #: forward pass (JPEG only; gradients see the quantisation), in place of ``ste``
    emulator: str | None = None
    #: beyond the paper: a published post model to start RecCNN from (easy-to-hard transfer)
    init_post: str | None = None
    #: beyond the paper: Lagrangian rate term for ComCNN, in MSE per real bit per compact pixel
    #: (0 = paper 002, which has none); a differentiable JPEG's coefficient cost, calibrated
    #: against the real codec, stands in for the bits
    rate_weight: float = 0.0
    #: validate at this bpp (rate control on both pipelines) instead of at one shared quality
    val_bpp: float | None = None
    #: "rec-com" (Algorithm 1: RecCNN, then ComCNN through it) or "com-rec" (beyond the paper,
    #: for a RecCNN that starts trained: ComCNN first, then RecCNN on its compact images)
    order: str = "rec-com"
    seed: int = 0
    threads: int | None = None
    path: str = ""

    def __post_init__(self) -> None:
        if self.order not in ("rec-com", "com-rec"):
            raise ValueError(f"train.order must be 'rec-com' or 'com-rec', not {self.order!r}")
        if self.outer < 1:
            raise ValueError("train.outer must be at least 1")


def load_joint_config(raw: dict, path: str) -> JointConfig:
    data = resolve_data(raw["data"], path)
    refuse_extra_seeds(data, "joint")
    t = raw.get("train", {})
    return JointConfig(
        codec=raw["codec"], scale=int(raw.get("scale", 2)),
        pre=NetSpec(**raw["pre"]), post=NetSpec(**raw["post"]), data=DataConfig(**data),
        bpp_range=list(raw.get("bpp_range", [0.05, 0.5])), path=os.path.abspath(path), **t,
    )


def _lr(step: int, steps: int, lr: float, lr_final: float) -> float:
    return lr * (lr_final / lr) ** (min(step, steps) / max(1, steps))  # exponential decay, as the paper


def rate_qualities(cfg: JointConfig, images: list[np.ndarray], bpps: list[float]) -> list[float]:
    """Qualities that rate control picks for bicubic-downsampled images at ``bpps`` (the served range)."""
    from ..api import encode_image
    from ..errors import BudgetError

    qs = []
    for img in images:
        for b in bpps:
            try:
                qs.append(encode_image(img, codec=cfg.codec, method="downsample", scale=cfg.scale, bpp=b,
                                       post="none", tune=cfg.data.tune).quality)
            except BudgetError:
                pass
    return qs or [50.0]


def _codec_roundtrip(coder, batch_u8: np.ndarray, qualities: np.ndarray, tune: str = "psnr") -> np.ndarray:
    out = np.empty_like(batch_u8)
    for i, (img, q) in enumerate(zip(batch_u8, qualities)):
        out[i] = coder.decode(coder.encode(img, float(q), tune=tune), channels=img.shape[2])
    return out


def _to_t(a: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).float().div_(255.0)


def _to_u8(t) -> np.ndarray:
    return (t.detach().clamp(0, 1) * 255).round().byte().cpu().numpy().transpose(0, 2, 3, 1)


def train_joint(cfg: JointConfig, log: Callable[[str], None], run_dir: str, device: str = "cpu",
                weights_dir: str | None = None, publish: bool = True) -> dict:
    import torch
    import torch.nn.functional as F

    from .. import nets, zoo
    from ..codecs import get_codec
    from ..metrics import psnr
    from ..resample import resize_bicubic, resize_bicubic_u8, to_u8
    from .data import crop, list_images, load_rgb, split
    from .diffops import resize_torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    dev = torch.device(device)
    coder = get_codec(cfg.codec)
    t_start = time.perf_counter()
    train_paths, val_paths = split(list_images(cfg.data.roots), cfg.data.holdout_every)
    if cfg.data.max_images:
        n = min(cfg.data.max_images, len(train_paths))
        train_paths = [train_paths[i] for i in sorted(rng.choice(len(train_paths), n, replace=False))]
    loaded = [load_rgb(p) for p in train_paths]
    crops = np.stack([crop(im, cfg.crop, rng) for im in loaded if min(im.shape[:2]) >= cfg.crop])
    val_imgs = [crop(load_rgb(p), cfg.data.val_crop, np.random.default_rng(12345)) for p in val_paths]
    qs = np.asarray(rate_qualities(cfg, [crop(im, 512, rng) for im in loaded[:: max(1, len(loaded) // 24)]],
                                   cfg.data.bpps))
    del loaded
    log(f"{len(crops)} training crops of {cfg.crop}px, {len(val_imgs)} validation images; "
        f"{cfg.codec} qualities for bpp {cfg.data.bpps}: {qs.min():.1f}-{qs.max():.1f} (median {np.median(qs):.1f})")
    h = w = cfg.crop
    cw, ch = -(-w // cfg.scale), -(-h // cfg.scale)

    com = nets.build(cfg.pre.arch, **cfg.pre.arch_config).to(dev)
    rec = nets.build(cfg.post.arch, **cfg.post.arch_config).to(dev)
    if cfg.init_post:
        rec.load_state_dict(zoo.load_state_dict(cfg.init_post), strict=True)
        log(f"RecCNN starts from the published {cfg.init_post}")
    else:
        zero_init_last(rec)
    rate_scale = 0.0
    if cfg.rate_weight:
        rate_scale = cfg.rate_weight * calibrate_rate(coder, crops, cfg.scale, float(np.median(qs)), log, tune=cfg.data.tune)

    def batch_idx(step_key: list[int]) -> np.ndarray:
        return np.random.default_rng([cfg.seed, *step_key]).integers(0, len(crops), cfg.batch)

    # warm start: ComCNN ~ bicubic downsampling
    opt = torch.optim.Adam(com.parameters(), lr=cfg.lr)
    for s in range(cfg.init_steps):
        x = _to_t(crops[batch_idx([0, s])]).to(dev)
        loss = F.mse_loss(com(x), resize_torch(x, (cw, ch)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    if cfg.init_steps:
        log(f"ComCNN warm start: {cfg.init_steps} steps, mse {float(loss.detach()):.5f}")

    def code(compact: np.ndarray, full_pixels: int) -> np.ndarray:
        """Real codec round trip: at the median quality, or under rate control at ``val_bpp``."""
        if cfg.val_bpp is None:
            return coder.decode(coder.encode(compact, float(np.median(qs)), tune=cfg.data.tune), channels=3)
        from ..errors import BudgetError
        from ..ratecontrol import fit_budget

        budget = int(cfg.val_bpp * full_pixels / 8)
        try:
            payload = fit_budget(lambda q: coder.encode(compact, q, tune=cfg.data.tune), len, budget,
                                 coder.integer_quality).payload
        except BudgetError:
            payload = coder.encode(compact, 0.0, tune=cfg.data.tune)
        return coder.decode(payload, channels=3)

    def evaluate() -> tuple[float, float]:
        """Mean PSNR of the full pipeline and of bicubic downsampling + the codec + bicubic.

        Both at the median training quality, or both at ``val_bpp`` under rate control."""
        com.eval()
        rec.eval()
        ours, base = [], []
        with torch.inference_mode():
            for img in val_imgs:
                vh, vw = img.shape[:2]
                c = _to_u8(com(_to_t(img[None]).to(dev)))[0]
                up = to_u8(resize_bicubic(code(c, vh * vw), (vw, vh)))
                out = _to_u8(rec(_to_t(up[None]).to(dev)))[0]
                ours.append(psnr(img, out))
                bc = resize_bicubic_u8(img, (-(-vw // cfg.scale), -(-vh // cfg.scale)))
                base.append(psnr(img, to_u8(resize_bicubic(code(bc, vh * vw), (vw, vh)))))
        com.train()
        rec.train()
        return float(np.mean(ours)), float(np.mean(base))

    history = []
    best: tuple | None = None  # (validation gain, iteration, ComCNN state, RecCNN state)
    start_gain = None
    if cfg.init_post or cfg.pre.arch_config.get("residual"):
        # what training starts from is already a pipeline (bicubic and/or a trained RecCNN):
        # the trained pair has to beat it, not only bicubic
        ours, base = evaluate()
        start_gain = ours - base
        history.append({"iteration": 0, "val_psnr": ours, "val_psnr_bicubic_codec": base, "val_bpp": cfg.val_bpp})
        log(f"start: validation {ours:.3f} dB vs bicubic+codec {base:.3f} dB ({start_gain:+.3f})")

    def rec_phase(t: int) -> None:
        if not cfg.rec_steps:
            return
        # 1. real codec on the current compact images, as the shipped ComCNN makes them: in eval
        # mode (batch-norm running statistics, which a forward pass in train mode would also move)
        com.eval()
        with torch.inference_mode():
            compact = np.concatenate([_to_u8(com(_to_t(crops[i:i + 64]).to(dev))) for i in range(0, len(crops), 64)])
        com.train()
        q_each = rng.choice(qs, len(crops))
        decoded = _codec_roundtrip(coder, compact, q_each, cfg.data.tune)
        rec_in = np.stack([to_u8(resize_bicubic(d, (w, h))) for d in decoded])
        # 2. RecCNN on real decoded images (Eq. 5 / 15)
        opt = torch.optim.Adam(rec.parameters(), lr=cfg.lr)
        for s in range(cfg.rec_steps):
            for g in opt.param_groups:
                g["lr"] = _lr(s, cfg.rec_steps, cfg.lr, cfg.lr_final)
            idx = batch_idx([t, 1, s])
            k = int(np.random.default_rng([cfg.seed, t, 2, s]).integers(0, 4))
            x = _to_t(np.rot90(rec_in[idx], k, axes=(1, 2))).to(dev)
            y = _to_t(np.rot90(crops[idx], k, axes=(1, 2))).to(dev)
            loss = F.mse_loss(rec(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        log(f"iteration {t}: RecCNN {cfg.rec_steps} steps, mse {float(loss.detach()):.5f}")

    def com_phase(t: int) -> None:
        # 3. ComCNN through the frozen RecCNN (Eq. 13), optionally with the real codec in the forward pass
        rec.requires_grad_(False)
        rec.eval()  # frozen: batch-norm statistics stay those learned on real decoded images
        opt = torch.optim.Adam(com.parameters(), lr=cfg.lr)
        for s in range(cfg.com_steps):
            for g in opt.param_groups:
                g["lr"] = _lr(s, cfg.com_steps, cfg.lr, cfg.lr_final)
            idx = batch_idx([t, 3, s])
            x = _to_t(crops[idx]).to(dev)
            c = c_raw = com(x)
            if cfg.emulator == "diffjpeg":
                from .diffjpeg import diff_jpeg

                q = float(np.random.default_rng([cfg.seed, t, 4, s]).choice(qs))
                c = diff_jpeg(pad16(c), q, tune=cfg.data.tune)[0][..., : c.shape[2], : c.shape[3]]
            elif cfg.emulator is not None:
                raise ValueError(f"unknown emulator {cfg.emulator!r} (None or 'diffjpeg')")
            elif cfg.ste:
                real = _codec_roundtrip(coder, _to_u8(c), rng.choice(qs, len(idx)), cfg.data.tune)
                c = c + (_to_t(real).to(dev) - c).detach()
            loss = F.mse_loss(rec(resize_torch(c, (w, h))), x)
            if rate_scale:
                loss = loss + rate_scale * proxy_bpp(c_raw, float(np.median(qs)), tune=cfg.data.tune).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        rec.requires_grad_(True)
        rec.train()
        if cfg.com_steps:
            log(f"iteration {t}: ComCNN {cfg.com_steps} steps, loss {float(loss.detach()):.5f}")

    for t in range(1, cfg.outer + 1):
        # Algorithm 1 trains RecCNN first; from a trained RecCNN ("com-rec") ComCNN goes first
        # and RecCNN then adapts to the new compact images before validation
        phases = (com_phase, rec_phase) if cfg.order == "com-rec" else (rec_phase, com_phase)
        for phase in phases:
            phase(t)
        ours, base = evaluate()
        history.append({"iteration": t, "val_psnr": ours, "val_psnr_bicubic_codec": base,
                        "val_bpp": cfg.val_bpp})
        log(f"iteration {t}: validation {ours:.3f} dB vs bicubic+codec {base:.3f} dB ({ours - base:+.3f})")
        os.makedirs(run_dir, exist_ok=True)
        torch.save({"com": com.state_dict(), "rec": rec.state_dict(), "t": t}, os.path.join(run_dir, "last.pt"))
        if best is None or ours - base > best[0]:
            best = (ours - base, t, copy.deepcopy(com.state_dict()), copy.deepcopy(rec.state_dict()))
            # kept on disk too: with --no-publish (or a refused publish) the best pair is not lost
            torch.save({"com": best[2], "rec": best[3], "t": t, "gain": best[0]}, os.path.join(run_dir, "best.pt"))
    seconds = time.perf_counter() - t_start
    # the best validated iteration is what publishes (the last one when there is only one)
    gain, best_t, com_sd, rec_sd = best
    com.load_state_dict(com_sd)
    rec.load_state_dict(rec_sd)
    if best_t != cfg.outer:
        log(f"iteration {best_t} validated best ({gain:+.3f} dB); it is the one kept")
    result = {"history": history, "seconds": seconds, "gain": gain, "best_iteration": best_t, "published": False}
    if publish and gain <= 0:
        log(f"not publishing: the pipeline is {gain:+.2f} dB against bicubic downsampling with the same codec")
    elif publish and start_gain is not None and gain <= start_gain:
        log(f"not publishing: {gain:+.2f} dB is no better than where training started ({start_gain:+.2f} dB)")
    elif publish:
        result["published"] = True
        prov = {
            "config": os.path.relpath(cfg.path) if cfg.path else None,
            "algorithm": "paper 002 Algorithm 1 (alternating), " + (
                "ComCNN through a differentiable JPEG" if cfg.emulator == "diffjpeg" else
                "with straight-through real codec" if cfg.ste
                                                                   else "as published"),
            "data": {"roots": [os.path.basename(r) for r in cfg.data.roots], "crops": int(len(crops)),
                     "crop": cfg.crop, "qualities": [float(qs.min()), float(np.median(qs)), float(qs.max())]},
            "steps": {"init": cfg.init_steps, "outer": cfg.outer, "rec": cfg.rec_steps, "com": cfg.com_steps,
                      "order": cfg.order, "kept_iteration": best_t},
            "init_post": cfg.init_post, "rate_weight": cfg.rate_weight,
            "batch": cfg.batch, "loss": "mse", "device": device, "time_s": round(seconds, 1), "seed": cfg.seed,
            "validation": {"metric": ("psnr_gain_db_vs_bicubic_downsample_same_codec_quality" if cfg.val_bpp is None
                                      else f"psnr_gain_db_vs_bicubic_downsample_same_bpp_{cfg.val_bpp}"),
                           "dataset": f"every {cfg.data.holdout_every}th training image held out, "
                                      f"{cfg.data.val_crop}px crops", "score": round(gain, 4),
                           "history": history},
        }
        tag = codec_settings(cfg)
        if tag:  # the encoder settings of the real codec in the loop; find_default prefers the current ones
            prov["data"]["codec_settings"] = tag
        slot = {"method": "comcnn", "codec": cfg.codec, "scale": cfg.scale, "bpp": cfg.bpp_range}
        com.eval()
        rec.eval()
        zoo.publish(cfg.pre.name, cfg.pre.arch, com.state_dict(), {"role": "pre", **slot}, prov,
                    cfg.pre.container_id, weights_dir=weights_dir, config=cfg.pre.arch_config, dtype=zoo.SHIP_DTYPE)
        # the RecCNN follows its own ComCNN (zoo.find_default's ``pre``)
        post_prov = {**prov, "data": {**prov["data"], "pre": cfg.pre.name}}
        zoo.publish(cfg.post.name, cfg.post.arch, rec.state_dict(), {"role": "post", **slot}, post_prov,
                    cfg.post.container_id, weights_dir=weights_dir, config=cfg.post.arch_config, dtype=zoo.SHIP_DTYPE)
    return result


__all__ = ["JointConfig", "load_joint_config", "train_joint"]
