"""`lbcodec decode`: .lbc -> image."""

from __future__ import annotations

import time

import click

from .common import (
    Ctx,
    check_paths,
    read_input,
    reports_errors,
    set_threads,
    write_output,
)


@click.command(short_help="Decompress a .lbc file into an image.")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--output", "dst", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Output image; the format follows the extension (png, tif, bmp, ppm, webp); - writes PNG to stdout.")
@click.option("--post", default=None,
              help="Override the post-filter recorded in the file: none, auto, a network (srcnn, arcnn, reccnn, "
                   "attention) or a model name.")
@click.option("--ensemble", is_flag=True, help="x8 geometric self-ensemble of the post-filter (8x slower).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for the networks.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output file.")
@click.pass_obj
@reports_errors
def decode(obj: Ctx, src, dst, post, ensemble, threads, force):
    """Decompress SRC (.lbc, or - for stdin) into an image file.

    \b
    Example:
      lbcodec decode out.lbc -o restored.png
    """
    from ..api import decode_image
    from ..imageio import format_for_path, write_image_bytes

    check_paths(src, dst, force)
    fmt = format_for_path(dst)
    t0 = time.perf_counter()
    set_threads(threads)
    res = decode_image(read_input(src), post=post, ensemble=ensemble)
    for note in res.notes:
        obj.log(f"note: {note}")
    write_output(dst, write_image_bytes(res.pixels, res.alpha, fmt), force)
    obj.log(f"{dst}: {res.header.width}x{res.header.height}, {time.perf_counter() - t0:.2f} s")
