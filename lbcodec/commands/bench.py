"""`lbcodec bench`: rate-distortion and speed benchmark."""

from __future__ import annotations

import math
import os
import re
import sys

import click

from ..pipeline import ENCODE_METHODS
from .common import CODEC_NAMES, Ctx, as_usage_error, precision_option, quiet_option, reports_errors


def _csv(kind, choices=None):
    def convert(ctx, param, value):
        if value is None:
            return None
        items = [v.strip() for v in value.split(",") if v.strip()]
        if kind is float:
            try:
                vals = [float(v) for v in items]
            except ValueError:
                raise click.BadParameter(f"not a list of numbers: {value!r}") from None
            if any(not math.isfinite(v) or v <= 0 for v in vals) or len(set(vals)) != len(vals):
                raise click.BadParameter(f"give distinct positive numbers: {value!r}")
            return vals
        bad = [v for v in items if choices and v not in choices]
        if bad:
            raise click.BadParameter(f"unknown: {', '.join(bad)}; choose from {', '.join(choices)}")
        return items

    return convert


def _check_posts(posts: list[str]) -> None:
    from .. import zoo
    from ..bench import ENSEMBLE_SUFFIX
    from ..filters import POST_NETS

    known = {"auto", "none", *POST_NETS, *(e["name"] for e in zoo.list_models())}
    for p in posts:
        base = p.removesuffix(ENSEMBLE_SUFFIX)
        if base not in known:
            raise click.BadParameter(f"unknown post-filter {p!r}: use auto, none, one of {', '.join(POST_NETS)} or a "
                                     "model name from `lbcodec models` (+x8 for the self-ensemble)",
                                     param_hint="--posts")


_KODAK_NAME = re.compile(r"^kodim\d\d\.png$", re.IGNORECASE)


@click.command(short_help="Rate-distortion and speed benchmark over images.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--codecs", "codec_list", default="jpeg", callback=_csv(str, CODEC_NAMES), show_default=True,
              help="Comma-separated codecs.")
@click.option("--methods", default="none,downsample", callback=_csv(str, ENCODE_METHODS), show_default=True,
              help="Comma-separated pre-methods; auto keeps, per image, the best of none, downsample and comcnn "
                   "(as `encode --method auto`).")
@click.option("--pre", default=None, metavar="MODEL",
              help="Pre-filter model (a name from `lbcodec models`) for the method it serves (comcnn or "
                   "modifynet, which must be in --methods) instead of the slot's default; rows and labels name it.")
@click.option("--posts", default="auto", callback=_csv(str), show_default=True,
              help="Comma-separated post-filters: auto, none, network or model names; a name ending in +x8 "
                   "decodes with the x8 self-ensemble.")
@click.option("--bpp", "bpps", default=None, callback=_csv(float),
              help="Comma-separated target bpps (whole file; default 0.1,0.2,0.3 unless --quality is given).")
@click.option("--quality", "qualities", default=None, callback=_csv(float),
              help="Comma-separated codec qualities (e.g. JPEG QF 5,10), no rate control; rows keyed qQ.")
@click.option("--match-rate", is_flag=True,
              help="With --quality: methods other than none get the byte size of the plain codec at that "
                   "quality on the same image (rows keyed size(qQ)).")
@click.option("--scale", type=click.IntRange(2, 4), default=None,
              help="Scale for downsample/comcnn and auto's resizing methods (default 2).")
@click.option("--subsampling", type=click.Choice(["420", "444"]), default="420", show_default=True,
              help="Chroma subsampling where the codec has the choice.")
@click.option("--tune", type=click.Choice(["psnr", "ssim"]), default="psnr", show_default=True,
              help="Encoder objective where the codec has one (jpeg, heif, avif).")
@click.option("--gray", is_flag=True, help="Convert the images to gray first (MATLAB rgb2gray weights).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N images.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@precision_option
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch threads per worker (default: cores / jobs with -j > 1). Rows record it: CNN outputs can "
                   "differ by 1 in a few pixels between thread counts, so reproduce a row with `lbcodec decode "
                   "--threads` the same number.")
@click.option("-o", "--output", "out_dir", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Folder for bench.jsonl (resumable), summary.json, summary.md, images.csv and the plots.")
@click.option("--timing", type=click.Choice(["basic", "full", "none"]), default="basic", show_default=True,
              help="Extra timed passes per row: basic = one encode at the quality found (speed without rate "
                   "control); full = also the pre-filter and the bare codec alone; none = no extra pass.")
@click.option("--memory", is_flag=True,
              help="Measure peak memory instead: one encode+decode per pipeline, each in a fresh process "
                   "(memory.jsonl); then rewrite the summary.")
@click.option("--anchors", type=click.Choice(["auto", "kodak", "none"]), default="auto", show_default=True,
              help="Published reference curves in the plots: auto draws the Kodak anchors when all images are kodimNN.")
@click.option("--title", default=None, help="Title of the summary and plots (default: the output folder name).")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots (they need matplotlib).")
@quiet_option
@click.pass_obj
@reports_errors
def bench(obj: Ctx, paths, codec_list, methods, pre, posts, bpps, qualities, match_rate, scale, subsampling, tune, gray,
          limit, jobs, threads, out_dir, timing, memory, anchors, title, no_plots):
    """Encode and decode every image of PATHS (folders or image files) with every
    pipeline (codec x method x post-filter) at every target.

    Writes the raw rows (bench.jsonl: rerun the same command to resume), a summary
    as JSON (with library versions and model hashes) and markdown (means, BD-rate
    against the plain codecs, speed), images.csv, and PSNR-bpp / MS-SSIM-bpp plots.

    \b
    Examples:
      lbcodec bench ../shared/data/kodak --codecs jpeg,webp --bpp 0.1,0.2,0.3 -j 2 -o results/kodak
      lbcodec bench ../shared/data/live1 --methods none --posts none,arcnn --quality 10,20 -o results/live1
      lbcodec bench ../shared/data/kodak --codecs jpeg --bpp 0.1,0.2 --memory -o results/kodak
    """
    from ..bench import (
        collect_images,
        load_rows,
        make_jobs,
        markdown_table,
        measure_memory,
        memory_jobs,
        pending,
        write_outputs,
    )

    if match_rate and not qualities:
        raise click.UsageError("--match-rate needs --quality")
    if not bpps and not qualities:
        bpps = [0.1, 0.2, 0.3]
    _check_posts(posts)
    if pre is not None:  # a pre-filter of one of --methods at the bench's scale; another codec's is noted
        from ..bench import check_pre

        notes: list[str] = []
        as_usage_error("--pre", check_pre, pre, codec_list, methods, scale, notes)
        for note in notes:
            obj.log(f"note: {note}")
    try:
        images = collect_images(paths)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    images = images[:limit] if limit else images
    if not images:
        raise click.ClickException(f"no images in {', '.join(paths)}")
    # --pre was checked above; what is left to refuse is --methods auto with --quality targets
    job_list = as_usage_error("--methods", make_jobs, images, codec_list, methods, bpps or (), posts, scale,
                              qualities=qualities or (), match_rate=match_rate, gray=gray, subsampling=subsampling,
                              tune=tune, pre=pre)
    os.makedirs(out_dir, exist_ok=True)
    jsonl = os.path.join(out_dir, "bench.jsonl")
    mem_jsonl = os.path.join(out_dir, "memory.jsonl")
    settings = {
        "command": "lbcodec bench " + " ".join(_bench_args(sys.argv[1:])),
        "paths": list(paths), "codecs": codec_list, "methods": methods, "posts": posts, "bpp": bpps or [],
        "quality": qualities or [], "match_rate": match_rate, "scale": scale, "subsampling": subsampling, "tune": tune,
        "gray": gray, "limit": limit, "jobs": jobs, "threads": threads, "timing": timing,
        "title": title or os.path.basename(os.path.abspath(out_dir)),
    }
    if pre is not None:
        settings["pre"] = pre
    if memory:
        n = len(memory_jobs(job_list))
        obj.log(f"bench --memory: {n} pipelines, one encode+decode each in a fresh process")
        measure_memory(job_list, mem_jsonl, threads=threads, on_row=lambda r: obj.log(
            f"  {r['pipeline_id']}: peak {r['peak_mb'] or 0:.0f} MB (baseline {r['baseline_mb'] or 0:.0f} MB)"
            + (f" FAILED: {r['error']}" if not r["ok"] else "")))
        rows = [r for r in load_rows(jsonl) if r["key"] in {j.key for j in job_list}]
    else:
        todo = pending(job_list, jsonl)
        obj.log(f"bench: {len(job_list)} encodes ({len(images)} images), {todo} to do, into {out_dir}")
        rows = _run_with_progress(obj, job_list, jsonl, jobs, todo, timing, threads)
    mem_rows = load_rows(mem_jsonl)
    use_anchors = anchors == "kodak" or (anchors == "auto" and all(_KODAK_NAME.match(os.path.basename(p))
                                                                   for p in images))
    from ..anchors import DEFAULT_KEYS

    doc = write_outputs(out_dir, rows, settings, mem_rows, DEFAULT_KEYS if use_anchors else (), plots=not no_plots)
    if not no_plots and rows and not doc["plots"]:
        obj.log("note: no plots (matplotlib missing, or no target reached by every image)")
    click.echo(markdown_table(doc["summary"]))


def _run_with_progress(obj: Ctx, job_list, jsonl: str, jobs: int, todo: int, timing: str, threads: int | None):
    from ..bench import run_bench

    total = len(job_list)
    if sys.stderr.isatty() and not obj.quiet:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                      transient=True) as prog:
            task = prog.add_task("bench", total=total, completed=total - todo)
            return run_bench(job_list, jsonl, jobs, on_row=lambda r: prog.advance(task), timing=timing,
                             threads=threads)
    step = max(1, todo // 20)
    count = [0]

    def on_row(r):
        count[0] += 1
        if count[0] % step == 0 or count[0] == todo:
            obj.log(f"bench: {total - todo + count[0]}/{total} done")

    return run_bench(job_list, jsonl, jobs, on_row=on_row, timing=timing, threads=threads)


def _bench_args(argv: list[str]) -> list[str]:
    """The bench's own arguments from a command line: what follows the ``bench`` command word, so
    ``python -m lbcodec -q bench X`` is recorded as ``lbcodec bench X`` (a global option before the
    command word is not the bench's); the whole line when it has no such word (tests)."""
    return argv[argv.index("bench") + 1:] if "bench" in argv else argv
