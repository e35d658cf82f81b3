"""`lbcodec train`: train a network from a config file."""

from __future__ import annotations

import json
import os
import time

import click

from .common import Ctx, FiniteFloatRange, quiet_option, reports_errors


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
@click.option("--pack-to", "pack_to", default=None, type=click.Path(dir_okay=False),
              help="Do not train: write the training patches (a random subset) and a few validation images "
                   "as one lossless file, to train on another machine with --patches.")
@click.option("--pack-mb", default=28.0, show_default=True, type=FiniteFloatRange(min=1),
              help="Size cap of the --pack-to file, in MB.")
@click.option("--patches", "patches_file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Train on a file written by --pack-to instead of the patch cache (no codec needed).")
@click.option("--time-budget", default=None, type=FiniteFloatRange(min=1),
              help="Seconds of training: the step count is cut to what fits at the measured speed.")
@click.option("--export", "export_to", default=None, type=click.Path(dir_okay=False),
              help="After training, write the checkpoint without optimizer state here; put it at "
                   "RUNS/<name>/last.pt on another machine and train again there to publish it.")
@quiet_option
@click.pass_obj
@reports_errors
def train(obj: Ctx, config, steps, runs_dir, cache_dir, publish, device, pack_to, pack_mb, patches_file,
          time_budget, export_to):
    """Train the network that CONFIG describes, with the real codec in the loop.

    Stop it at any moment (Ctrl-C) and run the same command again: it resumes
    from its last checkpoint.

    \b
    Example:
      lbcodec train configs/srcnn-jpeg-ds2.json

    \b
    On another machine (a GPU with PyTorch and Pillow, no codecs):
      lbcodec train CONFIG --pack-to packs/x.pack         # here: patches as one lossless file
      lbcodec train CONFIG --patches packs/x.pack --time-budget 480 --export x.pt --no-publish
      mkdir -p runs/NAME && cp x.pt runs/NAME/last.pt     # back here, with x.pt from there:
      lbcodec train CONFIG                                # scores it on every validation image, publishes
    """
    from ..training.config import load_config
    from ..training.data import get_patches
    from ..training.trainer import baseline_gains, publish_result, require_models, shipped_gain, why_not_publish
    from ..training.trainer import train as run_train

    with open(config) as f:
        raw = json.load(f)
    if raw.get("kind") in ("joint", "modifynet") and (pack_to or patches_file or time_budget or export_to):
        raise click.UsageError("--pack-to, --patches, --time-budget and --export work with post-filter configs only")
    if pack_to and (patches_file or time_budget or export_to or steps):
        raise click.UsageError("--pack-to only packs the cached patches: it takes no --patches, --time-budget, "
                               "--export or --steps")
    for opt, path in (("--pack-to", pack_to), ("--export", export_to)):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise click.UsageError(f"{opt}: folder {os.path.dirname(path) or '.'!r} does not exist")
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

    require_models(cfg, init=not pack_to)  # fail now, not after an hour of training (packing needs no init)
    t0 = time.perf_counter()
    last = [0.0]

    def data_progress(i, n):
        if not obj.quiet and (time.perf_counter() - last[0] > 5 or i == n):
            last[0] = time.perf_counter()
            obj.log(f"degrading training images through {cfg.codec}: {i}/{n}")

    if patches_file:
        from ..training.pack import read_pack

        ps = read_pack(patches_file)
    else:
        ps = get_patches(cfg, cache_dir, data_progress)
    obj.log(f"{cfg.name}: {len(ps)} patches, {len(ps.val_inputs)} validation images "
            f"({time.perf_counter() - t0:.0f} s)")
    if pack_to:
        from ..training.pack import write_pack

        size = write_pack(ps, pack_to, int(pack_mb * 1e6), seed=cfg.train.seed)
        obj.log(f"{cfg.name}: wrote {pack_to} ({size / 1e6:.1f} MB)")
        return
    import torch

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    from ..training.trainer import amp_note

    slow = amp_note(cfg.train.amp, torch.device(dev).type)
    if slow:
        obj.log(f"note: {slow}")

    def progress(p):
        if obj.quiet:
            return
        if p.val_gain is not None or p.step % 100 == 0:
            val = f"  val {p.val_gain:+.3f} dB (best {p.best_gain:+.3f})" if p.val_gain is not None else ""
            obj.log(f"{cfg.name} step {p.step}/{p.steps}  loss {p.loss:.5f}{val}  {p.elapsed:.0f} s")

    try:
        result, best = run_train(cfg, ps, os.path.join(runs_dir, cfg.name), steps, dev, progress, time_budget)
    except ValueError as e:  # a bad loss name, a slim checkpoint asked to train on: one line, exit 1
        raise click.ClickException(str(e)) from None
    if export_to:
        from ..training.trainer import write_slim

        write_slim(os.path.join(runs_dir, cfg.name), export_to)
        obj.log(f"{cfg.name}: wrote {export_to}")
    if result.pack and "pack" not in ps.meta:  # trained on a pack elsewhere, published here
        from ..training.trainer import rescore

        obj.log(f"{cfg.name}: trained on {result.trained_on} on a pack of {result.pack['patches']} patches; "
                f"best step chosen on its {result.pack['val_images']} validation images ({result.best_gain:+.3f} dB)")
        result = rescore(cfg, result, best, ps, dev)
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
