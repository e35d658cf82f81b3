"""A seeded, resumable training loop for post-filters, and publishing into the registry.

Determinism: the batch of step ``s`` is drawn from ``default_rng([seed, s])`` and the
learning rate is a pure function of ``s`` and the step count (cosine from ``lr`` to
``lr_final``), so a run stopped at any checkpoint and resumed makes the same batches as an
unbroken run. Not so under a ``time_budget``, whose step count depends on the machine's
speed, nor on CUDA, where cuDNN picks its fastest (not bit-reproducible) kernels.
Checkpoints (``runs/<name>/last.pt``, torch.save, never shipped) are written atomically
at every validation.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import Config, configs_folder
from .data import PatchSet, codec_settings, pre_model


@dataclass
class Progress:
    step: int
    steps: int
    loss: float
    val_gain: float | None
    best_gain: float | None
    elapsed: float


@dataclass
class TrainResult:
    best_gain: float
    best_step: int
    steps: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    entry: dict | None = None
    #: where the steps ran ("cpu", "cuda (NVIDIA H100 80GB HBM3)"), possibly another machine
    trained_on: str = "cpu"
    #: when the steps ran on a patch pack (:mod:`lbcodec.training.pack`): what it held
    pack: dict | None = None


def lr_at(step: int, steps: int, lr: float, lr_final: float) -> float:
    t = min(1.0, step / max(1, steps))
    return lr_final + 0.5 * (lr - lr_final) * (1 + math.cos(math.pi * t))


def zero_init_last(net) -> None:
    """Zero the last convolution of a residual net so that it starts as the identity.

    Beyond the paper (which initialises every layer as He et al.): a 20-layer residual
    net with batch norm otherwise starts far from the identity and, in a short CPU run,
    ends worse than its own input.
    """
    import torch

    last = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    torch.nn.init.zeros_(last.weight)
    if last.bias is not None:
        torch.nn.init.zeros_(last.bias)


def he_init(net, kind: str = "he") -> None:
    """He et al. initialisation of every conv but the last, which is zeroed (see TrainConfig.init)."""
    import torch

    if kind != "he":
        raise ValueError(f"unknown init {kind!r} (None or 'he')")
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        for m in convs[:-1]:
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                m.bias.zero_()
    zero_init_last(net)


def _batch(ps: PatchSet, seed: int, step: int, size: int):
    import torch

    rng = np.random.default_rng([seed, step])
    idx = rng.integers(0, len(ps), size=size)
    x, y = ps.inputs[idx], ps.targets[idx]
    k, flip = int(rng.integers(0, 4)), bool(rng.integers(0, 2))
    x, y = np.rot90(x, k, axes=(1, 2)), np.rot90(y, k, axes=(1, 2))
    if flip:
        x, y = x[:, :, ::-1], y[:, :, ::-1]
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).float().div_(255.0)  # noqa: E731
    return to_t(x), to_t(y)


def msssim_window(side: int) -> int:
    """The largest odd SSIM window (at most 7) that five-scale MS-SSIM allows on ``side``-pixel
    patches: its coarsest scale is side / 16 and must exceed the window (pytorch-msssim asserts
    side > (win - 1) * 16), so 96-pixel patches get 5 and 48-pixel ones 3."""
    for win in (7, 5, 3):
        if side > (win - 1) * 16:
            return win
    raise ValueError(f"MS-SSIM needs patches larger than 32 pixels, got {side}")


def _loss_fn(name: str, msssim_weight: float):
    import torch.nn.functional as F

    if name == "l1":
        return F.l1_loss
    if name == "mse":
        return F.mse_loss
    if name == "l1+msssim":
        from pytorch_msssim import ms_ssim

        def loss(a, b):
            win = msssim_window(min(a.shape[-2:]))
            return F.l1_loss(a, b) + msssim_weight * (1 - ms_ssim(a.clamp(0, 1), b, data_range=1.0, win_size=win))

        return loss
    raise ValueError(f"unknown loss {name!r}")


def validate(net, ps: PatchSet, device) -> float:
    """Mean PSNR gain (dB) of the net's output over its input on the validation images."""
    import torch

    from ..metrics import psnr

    gains = []
    net.eval()
    with torch.inference_mode():
        for a, b in zip(ps.val_inputs, ps.val_targets):
            x = torch.from_numpy(a.transpose(2, 0, 1)[None].copy()).float().div(255).to(device)
            y = net(x).clamp(0, 1).mul(255).round().byte().cpu().numpy()[0].transpose(1, 2, 0)
            gains.append(psnr(b, y) - psnr(b, a))
    net.train()
    return float(np.mean(gains))


def train(
    cfg: Config,
    ps: PatchSet,
    run_dir: str,
    steps: int | None = None,
    device: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    time_budget: float | None = None,
) -> tuple[TrainResult, dict]:
    """Train (or resume) ``cfg``'s network; return the result and the best state dict.

    ``time_budget`` (seconds, for a lent machine with a hard time limit): after
    :data:`WARMUP_STEPS` + :data:`CALIBRATION_STEPS` steps the step count is cut to what fits
    the budget at the measured speed (:func:`settle_steps`), so that the learning rate still
    anneals to ``lr_final``; the first steps ran on the schedule of the configured count (for a
    settled count of a few thousand steps the two differ by well under 1 % there). Past 1.1 x
    the budget the run stops at once (``stopped_early`` in the checkpoint). A checkpoint records
    a settled count (``settled``), and a resumed run without ``steps`` keeps it; an unsettled
    resume under a budget calibrates again. A slim checkpoint (:func:`write_slim`, no optimizer
    state) can be published but not trained further.
    """
    import torch

    from .. import nets, zoo

    tc = cfg.train
    steps_override = steps
    steps = steps or tc.steps
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if tc.threads:
        torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)
    net = nets.build(cfg.arch, **cfg.arch_config).to(dev)
    if tc.init is not None:
        he_init(net, tc.init)
    if cfg.init_from:
        sd = zoo.load_state_dict(cfg.init_from)
        if cfg.grow:
            sd = nets.grow_state_dict(cfg.arch, sd, net.config, seed=tc.seed)  # with the defaults filled in
        net.load_state_dict(sd, strict=True)
    opt = torch.optim.Adam(net.parameters(), lr=tc.lr)
    loss_fn = _loss_fn(tc.loss, tc.msssim_weight)
    os.makedirs(run_dir, exist_ok=True)
    ckpt_path = os.path.join(run_dir, "last.pt")
    start, best_gain, best_step, history, spent = 0, -math.inf, 0, [], 0.0
    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    trained_on = _device_name(dev)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch sizes: let cuDNN pick its fastest kernels
    pack = ps.meta.get("pack")
    settled = stopped_early = False
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=dev, weights_only=True)
        net.load_state_dict(ck["model"])
        start, best_gain, best_step = int(ck["step"]), float(ck["best_gain"]), int(ck["best_step"])
        best_state, spent = ck["best_state"], float(ck["seconds"])
        history = [dict(zip(("step", "loss", "val_gain"), h)) for h in ck["history"].tolist()]
        if steps_override is None and ck.get("settled"):
            steps, settled = int(ck["steps"]), True
        stopped_early = bool(ck.get("stopped_early"))
        trained_on, pack = ck.get("trained_on", trained_on), ck.get("pack", pack)
        ck_amp = ck.get("amp")  # absent in checkpoints written before the field existed
        if ck_amp is not None and (ck_amp or None) != tc.amp:  # also when finished: the provenance says amp
            was, now = ck_amp or "absent (float32)", tc.amp or "absent (float32)"
            raise ValueError(f"{ckpt_path} was trained with train.amp {was} but the config says {now}: resuming or "
                             "publishing would mix the two up; put the config's amp back or start a new run folder")
        if "opt" in ck:
            opt.load_state_dict(ck["opt"])
        elif start < steps:
            raise ValueError(f"{ckpt_path} is a slim checkpoint (no optimizer state) at step {start} of {steps}: "
                             "it can be published, not trained further")
    calibrate = time_budget is not None and not settled
    t0 = time.perf_counter()
    net.train()
    running = None
    step = start
    while step < steps:
        if calibrate and step in (start + WARMUP_STEPS, start + WARMUP_STEPS + CALIBRATION_STEPS):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            now = time.perf_counter()
            if step == start + WARMUP_STEPS:
                t_cal = now
            else:  # steady speed, past cuDNN's kernel search and the other jobs' start
                per_step = (now - t_cal) / CALIBRATION_STEPS
                steps = settle_steps(step, steps, tc.val_every, per_step, time_budget - (now - t0))
                calibrate, settled = False, True
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, tc.lr, tc.lr_final)
        x, y = _batch(ps, tc.seed, step, tc.batch)
        x, y = x.to(dev), y.to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=tc.amp == "bf16"):
            out = net(x)
        loss = loss_fn(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lv = float(loss.detach())
        running = lv if running is None else 0.98 * running + 0.02 * lv
        done = step + 1
        step = done
        over = time_budget is not None and time.perf_counter() - t0 > 1.1 * time_budget
        if over:
            steps, settled, stopped_early = done, True, True
        val = None
        if done % tc.val_every == 0 or done == steps:
            val = validate(net, ps, dev)
            history.append({"step": done, "loss": running, "val_gain": val})
            if val > best_gain:
                best_gain, best_step = val, done
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            elapsed = spent + time.perf_counter() - t0
            tmp = ckpt_path + ".tmp"
            torch.save({
                "model": net.state_dict(), "opt": opt.state_dict(), "step": done, "steps": steps,
                "best_gain": best_gain, "best_step": best_step, "best_state": best_state, "seconds": elapsed,
                "history": torch.tensor([[h["step"], h["loss"], h["val_gain"]] for h in history]),
                "trained_on": trained_on, "pack": pack, "settled": settled, "stopped_early": stopped_early,
                "amp": tc.amp or "",
            }, tmp)
            os.replace(tmp, ckpt_path)
        if on_progress:
            on_progress(Progress(done, steps, running, val, best_gain if best_gain > -math.inf else None,
                                 spent + time.perf_counter() - t0))
    seconds = spent + time.perf_counter() - t0
    return TrainResult(best_gain, best_step, steps, seconds, history, trained_on=trained_on, pack=pack), best_state


def amp_note(amp: str | None, device_type: str) -> str | None:
    """A note when ``train.amp`` will be slow: bfloat16 on a CPU without it in hardware is emulated.
    Measured on RecCNN 20 x 64, batch 8 of 96-pixel patches, 2 threads: 2.2x *faster* than float32
    with AVX512-BF16, but about 15x slower on an AVX2-only CPU (124 s against 8 s a step)."""
    from ..precision import native_bf16

    if amp == "bf16" and device_type == "cpu" and not native_bf16():
        return ("train.amp bf16 on a CPU without native bfloat16 (AVX512-BF16 or AMX on x86, BF16 on Arm): "
                "it is emulated here, many times slower than float32; drop amp from the config to train in float32")
    return None


def settle_steps(step: int, steps: int, val_every: int, per_step: float, remaining: float) -> int:
    """The step count a time-budgeted run settles on at ``step``: what ``remaining`` seconds
    hold at ``per_step`` seconds a step, rounded down to a multiple of ``val_every`` (so the
    run ends on a validation), never below the next validation nor above ``steps``."""
    fit = (step + int(max(0.0, remaining) / per_step)) // val_every * val_every
    next_val = step + val_every - step % val_every
    return min(steps, max(next_val, fit))


#: A ``time_budget`` run times steps WARMUP_STEPS to WARMUP_STEPS + CALIBRATION_STEPS, then
#: settles its step count.
WARMUP_STEPS = 50
CALIBRATION_STEPS = 200


def _device_name(dev) -> str:
    import torch

    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return dev.type


def write_slim(run_dir: str, path: str) -> None:
    """Copy ``run_dir``'s checkpoint without the optimizer state and the last weights (the
    best ones stay): what a publishing run needs, a third of the bytes, to bring back from
    a lent machine. Put it at ``runs/<name>/last.pt`` and ``lbcodec train`` publishes it."""
    import torch

    ck = torch.load(os.path.join(run_dir, "last.pt"), map_location="cpu", weights_only=True)
    ck.pop("opt", None)
    ck["model"] = ck["best_state"]
    tmp = path + ".tmp"
    torch.save(ck, tmp)
    os.replace(tmp, path)


def rescore(cfg: Config, result: TrainResult, best_state: dict, ps: PatchSet, device: str) -> TrainResult:
    """``result`` scored on ``ps``'s validation images. A run trained on a pack (on a lent
    machine) chose its best step on the pack's few validation images; publishing it here
    scores the same weights (float32) on the whole validation set, and the pack's number
    stays in ``result.pack["val_gain"]``."""
    import dataclasses

    pack = dict(result.pack or {}, val_gain=round(result.best_gain, 4))
    return dataclasses.replace(result, best_gain=state_gain(cfg, best_state, ps, device), pack=pack)


def require_models(cfg: Config, weights_dir: str | None = None, init: bool = True) -> None:
    """Fail before training, not after an hour of it, when a model the config starts from
    (``init_from``, unless ``init`` is False) or is compared with (``compare_with``) is not
    installed. The error names the config that trains the missing model, if the repo has one: a
    model no longer shipped keeps its config in ``configs/experiments``, and training it into a
    copy of the weights folder (``LBCODEC_WEIGHTS_DIR``) brings it back."""
    from .. import zoo

    wanted = ([("init_from", cfg.init_from)] if init and cfg.init_from else [])
    wanted += [("compare_with", n) for n in cfg.compare_with]
    for field_name, name in wanted:
        try:
            zoo.get_entry(name, weights_dir)
        except zoo.ZooError:
            hint = ""
            root = configs_folder(cfg.path) if cfg.path else None
            found = config_of(name, Path(root)) if root else None
            if found is not None:
                retired = found.parent.name == "experiments"
                hint = (f"; {'it is no longer shipped: ' if retired else ''}train {found} with "
                        "LBCODEC_WEIGHTS_DIR pointing at a copy of the weights folder to install it")
            raise zoo.ZooError(f"{field_name} model {name!r} is not installed{hint}") from None


def config_of(name: str, root: Path) -> Path | None:
    """The config file under ``root`` (a ``configs`` folder) that trains model ``name`` (its
    ``name``, or a joint config's ``pre``/``post`` name): a top-level one before one in a
    subfolder such as ``experiments``; None if there is none."""
    for path in sorted(root.rglob("*.json"), key=lambda p: (len(p.relative_to(root).parts), str(p))):
        try:
            with open(path) as f:
                raw = json.load(f)
        except (OSError, ValueError):
            continue
        if not isinstance(raw, dict):
            continue
        names = {raw.get("name")} | {raw[k].get("name") for k in ("pre", "post") if isinstance(raw.get(k), dict)}
        if name in names:
            return path
    return None


def baseline_gains(cfg: Config, ps: PatchSet, device: str, weights_dir: str | None = None) -> dict[str, float]:
    """Validation gain of each ``cfg.compare_with`` model on ``ps``'s validation images: the same
    number the new model is scored by, so the two can be compared (a joint-trained RecCNN's own
    score, for example, measures something else)."""
    from .. import zoo

    gains = {}
    for name in cfg.compare_with:
        net = zoo.load_model(name, weights_dir).to(device)
        gains[name] = round(validate(net, ps, device), 4)
    return gains


def shipped_gain(cfg: Config, best_state: dict, ps: PatchSet, device: str) -> float:
    """Validation gain of ``best_state`` as it ships (rounded to ``zoo.SHIP_DTYPE``, widened back)."""
    from .. import zoo

    return state_gain(cfg, zoo.as_stored(best_state, zoo.SHIP_DTYPE), ps, device)


def state_gain(cfg: Config, state: dict, ps: PatchSet, device: str) -> float:
    """Validation gain of ``cfg``'s network with the weights ``state``."""
    from .. import nets

    net = nets.build(cfg.arch, **cfg.arch_config).to(device)
    net.load_state_dict(state)
    return validate(net, ps, device)


def why_not_publish(best_gain: float, baselines: dict[str, float]) -> str | None:
    """The reason not to publish a model with this validation gain, or None to publish."""
    if best_gain <= 0:
        return "no validation gain over the plain decode"
    beaten_by = [f"{n} ({g:+.3f} dB)" for n, g in baselines.items() if g >= round(best_gain, 4)]
    if beaten_by:
        return "not better on the same validation images than " + ", ".join(beaten_by)
    return None


def publish_result(cfg: Config, result: TrainResult, best_state: dict, ps: PatchSet, device: str,
                   weights_dir: str | None = None, baselines: dict[str, float] | None = None,
                   shipped: float | None = None) -> dict:
    """Write the safetensors file and its manifest entry (hash, provenance, validation) in one step.

    ``shipped``: the validation gain of the weights as stored (:func:`shipped_gain`); when given
    it is the recorded score, beside the float32 one."""
    from .. import zoo

    tc = cfg.train
    provenance = {
        "config": os.path.relpath(cfg.path) if cfg.path else None,
        "data": {
            "roots": [os.path.basename(r) for r in cfg.data.roots],
            "train_images": ps.meta.get("train_images"),
            "val_images": ps.meta.get("val_images"),
            "patches": len(ps),
            **({"seeds": [tc.seed, *cfg.data.extra_seeds]} if cfg.data.extra_seeds else {}),
            "patch": cfg.data.patch,
            "bpps": cfg.data.bpps,
            "degradation": f"lbcodec encode --codec {cfg.codec} --method {cfg.method} --scale {cfg.scale} "
                           "--bpp <target> under rate control, decoded with no post-filter",
        },
        "steps": result.steps,
        "best_step": result.best_step,
        "batch": tc.batch,
        "loss": tc.loss,
        "lr": [tc.lr, tc.lr_final],
        "seed": tc.seed,
        "device": result.trained_on,
        "time_s": round(result.seconds, 1),
        "init_from": cfg.init_from,
        **({"grown": "Net2Net growth of init_from to this size (lbcodec.nets.grow_state_dict)"} if cfg.grow else {}),
        "init": tc.init,
        **({"amp": f"{tc.amp} autocast (forward and backward); weights and validation float32"} if tc.amp else {}),
        "validation": {
            "metric": "psnr_gain_db",
            "dataset": f"every {cfg.data.holdout_every}th training image held out, {cfg.data.val_crop}px crops, "
                       f"bpp {cfg.data.val_bpps}",
            "score": round(result.best_gain, 4),
        },
    }
    if result.pack:  # the steps saw only the pack's patches
        provenance["data"]["pack"] = dict(result.pack)
        provenance["data"]["patches"] = result.pack["patches"]
        provenance["validation"]["best_step_chosen_on"] = f"{result.pack['val_images']} of the validation images (the pack's)"
        provenance["validation"]["scored_on"] = (
            f"all {len(ps.val_inputs)} validation images" if "val_gain" in result.pack
            else f"the pack's {result.pack['val_images']} validation images only")
    if shipped is not None:
        provenance["validation"]["score"] = round(shipped, 4)
        provenance["validation"]["score_float32"] = round(result.best_gain, 4)
    if baselines:
        provenance["validation"]["baselines"] = dict(baselines)
    tag = codec_settings(cfg)
    if tag:  # the encoder settings the patches were made with; find_default prefers the current ones
        provenance["data"]["codec_settings"] = tag
    # the pre-filter the inputs came through (as the patches recorded it; caches made before they
    # did: the slot's default now); the slot's default post follows it
    pre = ps.meta.get("pre") or pre_model(cfg)
    if pre is not None:
        provenance["data"]["pre"] = pre["name"]
    return zoo.publish(cfg.name, cfg.arch, best_state, cfg.slot, provenance, cfg.container_id,
                       weights_dir=weights_dir, config=cfg.arch_config, dtype=zoo.SHIP_DTYPE)
