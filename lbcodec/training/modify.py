"""Paper 001: Modify-Net, a pre-filter trained so that JPEG's output looks better.

Two emulators of the non-differentiable JPEG encoder:

- ``jpegnet`` (the paper, Sec. 3.2): stage 1 trains JPEG-Net on (original -> real JPEG)
  8x8 blocks at a fixed quality; Modify-Net is then trained through the frozen JPEG-Net
  (MSE to the original); stages 2 and 3 retrain JPEG-Net on (Modify-Net output -> its
  real JPEG) and Modify-Net again.
- ``diffjpeg`` (beyond the paper): :mod:`.diffjpeg`, the real DCT, the real encoder's tables (``codecs.jpeg.tables``) at
  the qualities rate control picks, straight-through rounding. Loss: 1 - MS-SSIM plus a
  hinge on the rate proxy, ``w * relu(R(M(x)) / R(x) - 1)``, so the filter is pushed not
  to spend more bits than the original would: the comparison that matters is at the
  same bpp, where rate control would otherwise lower the quality.

Validation (both): held-out crops, real JPEG under rate control at ``val_bpp`` for the
plain image and for Modify-Net's output; score = mean MS-SSIM gain.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .config import DataConfig, refuse_extra_seeds, resolve_data


@dataclass(frozen=True)
class ModifyConfig:
    name: str
    container_id: int
    arch_config: dict
    data: DataConfig
    emulator: str = "diffjpeg"  # diffjpeg | jpegnet
    jpegnet_config: dict | None = None
    stages: int = 3
    jpegnet_steps: int = 600
    steps: int = 1500
    batch: int = 8
    crop: int = 112
    lr: float = 2e-4
    lr_final: float = 1e-5
    rate_weight: float = 1.0
    #: "hinge" (w * relu(R(M(x)) / R(x) - 1): never spend more bits than the original) or
    #: "lagrangian" (beyond: w * estimated real bpp of M(x), the proxy calibrated against real
    #: JPEG, w in MS-SSIM per bpp): saving bits pays, as it does under rate control
    rate_mode: str = "hinge"
    #: "rounded" (sum log2(1 + |y|) of the quantized coefficients) or "soft" (the same on the
    #: unrounded coefficients: it also pays for pushing a coefficient under the rounding
    #: threshold, where the rounded proxy has no gradient; see diffjpeg._code_plane)
    rate_proxy: str = "rounded"
    #: None: torch's default init; "he": He init with a zeroed last conv, so Modify-Net starts
    #: as the identity (validation gain exactly 0) and training can only be kept if it helps
    init: str | None = None
    #: beyond the paper: before the rate-distortion training, regress Modify-Net onto a
    #: Gaussian blur of this sigma (pixels) for ``init_blur_steps`` steps, so that it starts
    #: as a smoothing pre-filter (which alone gains MS-SSIM and PSNR under rate control:
    #: JPEG at the same bpp then runs at a higher quality) instead of the identity
    init_blur: float | None = None
    init_blur_steps: int = 300
    #: beyond the paper: weight of an MAE term (diffjpeg emulator) that anchors the decoded
    #: colours; MS-SSIM alone lets the filter shift a channel's mean (it did: +7 levels of blue)
    mae_weight: float = 0.0
    val_bpp: float = 0.3
    #: keep (and publish) only validated states whose RGB PSNR gain is at least this (dB);
    #: None: MS-SSIM alone decides
    val_min_psnr_gain: float | None = None
    val_every: int = 250
    bpp_range: list | None = None
    seed: int = 0
    path: str = ""


def load_modify_config(raw: dict, path: str) -> ModifyConfig:
    data = resolve_data(raw["data"], path)
    refuse_extra_seeds(data, "modifynet")
    keys = {k: v for k, v in raw.items() if k not in ("kind", "data", "train")}
    return ModifyConfig(data=DataConfig(**data), path=os.path.abspath(path), **keys, **raw.get("train", {}))


def _t(a):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).float().div_(255.0)


def _u8(t):
    return (t.detach().clamp(0, 1) * 255).round().byte().cpu().numpy().transpose(0, 2, 3, 1)


def gaussian_blur(sigma: float):
    """A depthwise Gaussian blur of ``sigma`` pixels on N x C x H x W tensors (reflect padding;
    replicate where the image is not larger than the kernel radius, which reflect cannot pad)."""
    import torch
    import torch.nn.functional as F

    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k = torch.from_numpy(k / k.sum()).float()

    def blur(x):
        c = x.shape[1]
        x = F.pad(x, (r, r, r, r), mode="reflect" if r < min(x.shape[2:]) else "replicate")
        x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1).to(x), groups=c)
        return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1).to(x), groups=c)

    return blur


def train_modify(cfg: ModifyConfig, log: Callable[[str], None], device: str = "cpu",
                 weights_dir: str | None = None, publish: bool = True) -> dict:
    import torch
    import torch.nn.functional as F
    from pytorch_msssim import ms_ssim

    from .. import nets, zoo
    from ..api import decode_image, encode_image
    from ..codecs import get_codec
    from ..metrics import ms_ssim as ms_ssim_np
    from ..metrics import psnr as psnr_np
    from .data import crop, list_images, load_rgb, split
    from .diffjpeg import diff_jpeg

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    jpeg = get_codec("jpeg")
    train_paths, val_paths = split(list_images(cfg.data.roots), cfg.data.holdout_every)
    if cfg.data.max_images:
        n = min(cfg.data.max_images, len(train_paths))
        train_paths = [train_paths[i] for i in sorted(rng.choice(len(train_paths), n, replace=False))]
    loaded = [load_rgb(p) for p in train_paths]
    crops = np.stack([crop(im, cfg.crop, rng) for im in loaded if min(im.shape[:2]) >= cfg.crop])

    qs_all = []
    from ..errors import BudgetError

    for im in loaded[:: max(1, len(loaded) // 24)]:
        for b in cfg.data.bpps:
            try:
                qs_all.append(encode_image(crop(im, 512, rng), codec="jpeg", method="none", bpp=b, post="none",
                                          tune=cfg.data.tune).quality)
            except BudgetError:
                pass
    del loaded
    qs = np.asarray(qs_all or [10.0])
    val = [crop(load_rgb(p), cfg.data.val_crop, np.random.default_rng(12345)) for p in val_paths]
    val = [v for v in val if min(v.shape[:2]) >= 161]  # MS-SSIM needs five scales
    log(f"{len(crops)} crops of {cfg.crop}px, {len(val)} validation images; jpeg qualities for bpp "
        f"{cfg.data.bpps}: {qs.min():.0f}-{qs.max():.0f} (median {np.median(qs):.0f}); emulator {cfg.emulator}")
    net = nets.build("modifynet", **cfg.arch_config).to(device)
    if cfg.init is not None:
        from .trainer import he_init

        he_init(net, cfg.init)
    if cfg.rate_mode not in ("hinge", "lagrangian"):
        raise ValueError(f"unknown rate_mode {cfg.rate_mode!r} (hinge or lagrangian)")
    if cfg.rate_proxy not in ("rounded", "soft"):
        raise ValueError(f"unknown rate_proxy {cfg.rate_proxy!r} (rounded or soft)")
    if cfg.emulator not in ("diffjpeg", "jpegnet"):  # before the blur start spends any time
        raise ValueError(f"unknown emulator {cfg.emulator!r}")
    if cfg.init_blur and (cfg.init_blur < 0 or cfg.init_blur_steps < 1):
        raise ValueError(f"init_blur needs a positive sigma and init_blur_steps >= 1, got {cfg.init_blur}, "
                         f"{cfg.init_blur_steps}")
    soft = cfg.rate_proxy == "soft"
    bits_per_proxy = 1.0
    if cfg.rate_mode == "lagrangian":
        from .diffjpeg import calibrate_rate

        bits_per_proxy = calibrate_rate(jpeg, crops, 1, float(np.median(qs)), log, soft, cfg.data.tune)
    best = {"score": -float("inf"), "state": None, "step": 0}

    def keep_best(v: float, step, psnr_gain: float) -> None:
        if cfg.val_min_psnr_gain is not None and not psnr_gain >= cfg.val_min_psnr_gain:
            return
        if np.isfinite(v) and v > best["score"]:
            best.update(score=v, step=step, psnr_gain=psnr_gain,
                        state={k: t.detach().clone() for k, t in net.state_dict().items()})

    def validate() -> tuple[float, float]:
        """Mean (MS-SSIM gain, RGB PSNR gain) of Modify-Net + JPEG over plain JPEG at ``val_bpp``."""
        gains, pgains = [], []
        net.eval()
        with torch.inference_mode():
            for img in val:
                mod = _u8(net(_t(img[None]).to(device)))[0]
                try:
                    a = encode_image(img, codec="jpeg", method="none", bpp=cfg.val_bpp, post="none", tune=cfg.data.tune)
                    b = encode_image(mod, codec="jpeg", method="none", bpp=cfg.val_bpp, post="none", tune=cfg.data.tune)
                except BudgetError:
                    continue
                da, db = decode_image(a.data).pixels, decode_image(b.data).pixels
                gains.append(ms_ssim_np(img, db) - ms_ssim_np(img, da))
                pgains.append(psnr_np(img, db) - psnr_np(img, da))
        net.train()
        if not gains:
            return float("nan"), float("nan")
        return float(np.nanmean(gains)), float(np.mean(pgains))

    def record(step, entry: dict) -> tuple[float, float]:
        """Validate; add the result to ``entry`` and to the history; keep the state if it is the best."""
        v, pv = validate()
        history.append({**entry, "val_msssim_gain": v, "val_psnr_gain": pv})
        keep_best(v, step, pv)
        return v, pv

    def batch(key):
        r = np.random.default_rng([cfg.seed, *key])
        idx = r.integers(0, len(crops), cfg.batch)
        k = int(r.integers(0, 4))
        return _t(np.rot90(crops[idx], k, axes=(1, 2))).to(device), float(r.choice(qs))

    def lr_at(s, steps):
        return cfg.lr * (cfg.lr_final / cfg.lr) ** (s / max(1, steps))

    history = []
    if cfg.init_blur:
        blur = gaussian_blur(cfg.init_blur)
        bopt = torch.optim.Adam(net.parameters(), lr=1e-3)
        for s in range(cfg.init_blur_steps):
            x, _ = batch([0, s])
            bloss = F.mse_loss(net(x), blur(x))
            bopt.zero_grad()
            bloss.backward()
            bopt.step()
        v, pv = record(0, {"step": 0, "init_blur": cfg.init_blur, "loss": float(bloss.detach())})
        log(f"modifynet start: {cfg.init_blur_steps} steps onto a Gaussian blur (sigma {cfg.init_blur}), "
            f"mse {float(bloss.detach()):.6f}, val MS-SSIM gain {v:+.4f}, PSNR gain {pv:+.2f} dB")
    if cfg.emulator == "diffjpeg":
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        for s in range(cfg.steps):
            for g in opt.param_groups:
                g["lr"] = lr_at(s, cfg.steps)
            x, q = batch([1, s])
            m = net(x).clamp(0, 1)
            out, rate = diff_jpeg(m, q, soft, cfg.data.tune)
            with torch.no_grad():
                _, rate0 = diff_jpeg(x, q, soft, cfg.data.tune)
            if cfg.rate_mode == "hinge":
                rate_term = F.relu(rate / rate0 - 1).mean()
            else:  # estimated real bits per pixel
                rate_term = bits_per_proxy * rate.mean() / (m.shape[2] * m.shape[3])
            loss = (1 - ms_ssim(out, x, data_range=1.0, win_size=7)) + cfg.rate_weight * rate_term
            if cfg.mae_weight:
                loss = loss + cfg.mae_weight * F.l1_loss(out, x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if (s + 1) % cfg.val_every == 0 or s + 1 == cfg.steps:  # validate
                v, pv = record(s + 1, {"step": s + 1, "loss": float(loss.detach())})
                log(f"modifynet step {s + 1}/{cfg.steps} loss {float(loss.detach()):.4f} "
                    f"rate ratio {float((rate / rate0).mean().detach()):.3f} val MS-SSIM gain {v:+.4f}, "
                    f"PSNR gain {pv:+.2f} dB")
    elif cfg.emulator == "jpegnet":
        emu = nets.build("jpegnet", **(cfg.jpegnet_config or {})).to(device)
        q_fixed = float(np.median(qs))
        for stage in range(1, cfg.stages + 1):
            # JPEG-Net on (input -> its real JPEG): originals at stage 1, Modify-Net outputs after
            eopt = torch.optim.Adam(emu.parameters(), lr=1e-3)
            emu.train()
            for s in range(cfg.jpegnet_steps):
                x, _ = batch([2, stage, s])
                src = x if stage == 1 else net(x).clamp(0, 1).detach()
                real = _t(np.stack([jpeg.decode(jpeg.encode(u, q_fixed, tune=cfg.data.tune), channels=3) for u in _u8(src)])).to(device)
                eloss = F.mse_loss(emu(src), real)
                eopt.zero_grad()
                eloss.backward()
                eopt.step()
            emu.requires_grad_(False)
            emu.eval()
            opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9)
            for s in range(cfg.steps // cfg.stages):
                for g in opt.param_groups:
                    g["lr"] = lr_at(s, cfg.steps // cfg.stages)
                x, _ = batch([3, stage, s])
                loss = F.mse_loss(emu(net(x).clamp(0, 1)), x)
                opt.zero_grad()
                loss.backward()
                opt.step()
            emu.requires_grad_(True)
            v, pv = record(f"stage {stage}", {"stage": stage, "jpegnet_mse": float(eloss.detach()),
                                              "loss": float(loss.detach())})
            log(f"stage {stage}: JPEG-Net mse {float(eloss.detach()):.5f}, Modify-Net mse {float(loss.detach()):.5f}, "
                f"val MS-SSIM gain {v:+.4f}, PSNR gain {pv:+.2f} dB")
    seconds = time.perf_counter() - t0
    # the best validated state, not merely the last one
    floor_failed = best["state"] is None and cfg.val_min_psnr_gain is not None
    if floor_failed:
        score = -float("inf")  # no validated state met the PSNR condition: nothing to publish
        log(f"no validated state reached an RGB PSNR gain of {cfg.val_min_psnr_gain:+.2f} dB over plain JPEG "
            f"at {cfg.val_bpp} bpp: nothing to keep or publish")
    elif best["state"] is not None:
        score = best["score"]
    else:
        score = history[-1]["val_msssim_gain"] if history else float("nan")
    if best["state"] is not None:
        net.load_state_dict(best["state"])
    published = bool(publish and score > 0)
    if publish and not published and not floor_failed:
        log(f"not publishing: MS-SSIM gain {score:+.4f} at {cfg.val_bpp} bpp is not positive")
    if published:
        pg = float(best.get("psnr_gain", np.nan))  # published: a best state was kept
        prov = {
            "config": os.path.relpath(cfg.path) if cfg.path else None,
            "algorithm": f"paper 001, emulator {cfg.emulator}",
            "data": {"roots": [os.path.basename(r) for r in cfg.data.roots], "crops": int(len(crops)),
                     "crop": cfg.crop, "qualities": [float(qs.min()), float(np.median(qs)), float(qs.max())]},
            "steps": cfg.steps, "best_step": best["step"], "batch": cfg.batch, "init": cfg.init,
            "init_blur": ({"sigma": cfg.init_blur, "steps": cfg.init_blur_steps} if cfg.init_blur else None),
            "loss": (f"1 - MS-SSIM + {cfg.rate_weight} x rate ({cfg.rate_mode}, {cfg.rate_proxy} proxy)"
                     + (f" + {cfg.mae_weight} x MAE" if cfg.mae_weight else "") if cfg.emulator == "diffjpeg"
                     else "MSE through JPEG-Net"),
            "device": device, "time_s": round(seconds, 1), "seed": cfg.seed,
            "validation": {"metric": f"ms_ssim_gain_at_{cfg.val_bpp}_bpp_vs_plain_jpeg",
                           "dataset": f"every {cfg.data.holdout_every}th training image held out, "
                                      f"{cfg.data.val_crop}px crops", "score": round(score, 5),
                           "psnr_gain_db": round(pg, 3) if np.isfinite(pg) else None,
                           "min_psnr_gain_db": cfg.val_min_psnr_gain,
                           "history": history},
        }
        net.eval()
        zoo.publish(cfg.name, "modifynet", net.state_dict(),
                    {"role": "pre", "method": "modifynet", "codec": "jpeg", "scale": 1,
                     "bpp": cfg.bpp_range or [0.15, 0.5]}, prov, cfg.container_id,
                    weights_dir=weights_dir, config=cfg.arch_config, dtype=zoo.SHIP_DTYPE)
    return {"history": history, "seconds": seconds, "score": score, "published": published}
