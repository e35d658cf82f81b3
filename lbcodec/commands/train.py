"""`lbcodec train`: train a network from a config file."""

from __future__ import annotations

import json
import os
import time

import click

from .common import Ctx


@click.command(short_help="Train a network from a config file (codec in the loop).")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Override the config's step count.")
@click.option("--runs", "runs_dir", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Checkpoints go to RUNS/<name>/ (resumed when present).")
@click.option("--cache", "cache_dir", default="data-cache", show_default=True, type=click.Path(file_okay=False),
              help="Folder of cached training patches.")
@click.option("--publish/--no-publish", default=True, show_default=True,
              help="Write the best weights and their manifest entry into the registry at the end.")
@click.option("--device", default=None, help="torch device (default: cuda if present, else cpu).")
@click.pass_obj
def train(obj: Ctx, config, steps, runs_dir, cache_dir, publish, device):
    """Train the network that CONFIG describes, with the real codec in the loop.

    Stop it at any moment (Ctrl-C) and run the same command again: it resumes
    from its last checkpoint.

    \b
    Example:
      lbcodec train configs/srcnn-jpeg-ds2.json
    """
    from ..training.config import load_config
    from ..training.data import get_patches
    from ..training.trainer import baseline_gains, publish_result, shipped_gain, why_not_publish
    from ..training.trainer import train as run_train

    with open(config) as f:
        raw = json.load(f)
    if raw.get("kind") == "joint":
        import torch

        from ..training.joint import load_joint_config, train_joint

        jcfg = load_joint_config(raw, config)
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        res = train_joint(jcfg, obj.log, os.path.join(runs_dir, jcfg.pre.name), dev, publish=publish)
        obj.log(f"{jcfg.pre.name} + {jcfg.post.name}: validation gain {res['gain']:+.3f} dB "
                f"({res['seconds']:.0f} s)" + (", published" if res.get("published") else ", not published"))
        return
    if raw.get("kind") == "modifynet":
        import torch

        from ..training.modify import load_modify_config, train_modify

        mcfg = load_modify_config(raw, config)
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        res = train_modify(mcfg, obj.log, dev, publish=publish)
        obj.log(f"{mcfg.name}: validation MS-SSIM gain {res['score']:+.4f} ({res['seconds']:.0f} s)"
                + (", published" if res.get("published") else ", not published"))
        return
    cfg = load_config(config)
    from .. import zoo

    for name in cfg.compare_with:  # fail now, not after an hour of training
        zoo.get_entry(name)
    t0 = time.perf_counter()
    last = [0.0]

    def data_progress(i, n):
        if not obj.quiet and (time.perf_counter() - last[0] > 5 or i == n):
            last[0] = time.perf_counter()
            obj.log(f"degrading training images through {cfg.codec}: {i}/{n}")

    ps = get_patches(cfg, cache_dir, data_progress)
    obj.log(f"{cfg.name}: {len(ps)} patches, {len(ps.val_inputs)} validation images "
            f"({time.perf_counter() - t0:.0f} s)")
    import torch

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")

    def progress(p):
        if obj.quiet:
            return
        if p.val_gain is not None or p.step % 100 == 0:
            val = f"  val {p.val_gain:+.3f} dB (best {p.best_gain:+.3f})" if p.val_gain is not None else ""
            obj.log(f"{cfg.name} step {p.step}/{p.steps}  loss {p.loss:.5f}{val}  {p.elapsed:.0f} s")

    result, best = run_train(cfg, ps, os.path.join(runs_dir, cfg.name), steps, dev, progress)
    obj.log(f"{cfg.name}: best validation gain {result.best_gain:+.3f} dB at step {result.best_step}")
    baselines = baseline_gains(cfg, ps, dev)
    for name, gain in baselines.items():
        obj.log(f"{cfg.name}: baseline {name} on the same validation images: {gain:+.3f} dB")
    shipped = shipped_gain(cfg, best, ps, dev)
    obj.log(f"{cfg.name}: with the weights rounded to {zoo.SHIP_DTYPE} as shipped: {shipped:+.3f} dB")
    reason = why_not_publish(shipped, baselines)
    if publish and reason:
        obj.log(f"{cfg.name}: not published: {reason}")
    elif publish:
        entry = publish_result(cfg, result, best, ps, dev, baselines=baselines, shipped=shipped)
        obj.log(f"published {entry['name']} ({entry['file']}, sha256 {entry['sha256'][:12]}...)")
