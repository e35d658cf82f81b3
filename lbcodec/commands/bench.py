"""`lbcodec bench`: rate-distortion and speed benchmark."""

from __future__ import annotations

import json
import os
import sys

import click

from ..pipeline import METHODS
from .common import CODEC_NAMES, Ctx, reports_errors


def _csv(kind, choices=None):
    def convert(ctx, param, value):
        if value is None:
            return None
        items = [v.strip() for v in value.split(",") if v.strip()]
        if kind is float:
            try:
                return [float(v) for v in items]
            except ValueError:
                raise click.BadParameter(f"not a list of numbers: {value!r}") from None
        bad = [v for v in items if choices and v not in choices]
        if bad:
            raise click.BadParameter(f"unknown: {', '.join(bad)}; choose from {', '.join(choices)}")
        return items

    return convert


@click.command(short_help="Rate-distortion and speed benchmark over a folder.")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--codecs", "codec_list", default="jpeg", callback=_csv(str, CODEC_NAMES), show_default=True,
              help="Comma-separated codecs.")
@click.option("--methods", default="none,downsample", callback=_csv(str, METHODS), show_default=True,
              help="Comma-separated pre-methods.")
@click.option("--posts", default="auto", callback=_csv(str), show_default=True,
              help="Comma-separated post-filters (auto, none, names).")
@click.option("--bpp", "bpps", default="0.1,0.2,0.3", callback=_csv(float), show_default=True,
              help="Comma-separated target bpps.")
@click.option("--scale", type=click.IntRange(2, 4), default=None, help="Scale for downsample/comcnn (default 2).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N images.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("-o", "--output", "out_dir", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Folder for bench.jsonl (resumable), summary.json and summary.md.")
@click.pass_obj
@reports_errors
def bench(obj: Ctx, folder, codec_list, methods, posts, bpps, scale, limit, jobs, out_dir):
    """Encode and decode every image of FOLDER with every pipeline at every target.

    Writes the raw rows (JSONL, resumable: rerun to continue), a summary as JSON
    (with library versions) and a markdown table.

    \b
    Example:
      lbcodec bench ../shared/data/kodak --codecs jpeg,webp --bpp 0.1,0.2,0.3 -j 2 -o results/kodak
    """
    from ..bench import (
        environment,
        list_images,
        make_jobs,
        markdown_table,
        run_bench,
        summarize,
    )

    images = list_images(folder)[:limit] if limit else list_images(folder)
    if not images:
        raise click.ClickException(f"no images in {folder!r}")
    job_list = make_jobs(images, codec_list, methods, bpps, posts, scale)
    os.makedirs(out_dir, exist_ok=True)
    jsonl = os.path.join(out_dir, "bench.jsonl")
    obj.log(f"bench: {len(job_list)} encodes ({len(images)} images) into {out_dir}")
    show = sys.stderr.isatty() and not obj.quiet
    if show:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeRemainingColumn,
        )

        with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), transient=True) as prog:
            task = prog.add_task("bench", total=len(job_list))
            from ..bench import load_rows

            prog.update(task, completed=len({r["key"] for r in load_rows(jsonl)} & {j.key for j in job_list}))
            rows = run_bench(job_list, jsonl, jobs, on_row=lambda r: prog.advance(task))
    else:
        rows = run_bench(job_list, jsonl, jobs)
    summary = summarize(rows)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump({"environment": environment(), "folder": folder, "summary": summary}, f, indent=1)
    table = markdown_table(summary)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(table + "\n")
    click.echo(table)
