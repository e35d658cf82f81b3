"""`lbcodec restore`: plain standard files through a restoration CNN."""

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


@click.command(short_help="Restore a plain JPEG/JPEG 2000/WebP/AVIF/HEIF/JPEG XL file with a CNN.")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--output", "dst", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Output image (png, tif, bmp, ppm); - writes PNG to stdout.")
@click.option("--post", default="auto", show_default=True, help="auto, none, a network or a model name.")
@click.option("--ensemble", is_flag=True, help="x8 geometric self-ensemble (8x slower).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for the networks.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output file.")
@click.pass_obj
@reports_errors
def restore(obj: Ctx, src, dst, post, ensemble, threads, force):
    """Remove compression artifacts from a standard image file made by any encoder.

    The codec is recognised from the file's bytes; for JPEG the quality is
    estimated from the quantization tables.

    \b
    Example:
      lbcodec restore photo.jpg -o photo-restored.png
    """
    from ..imageio import format_for_path, write_image_bytes
    from ..restore import restore_image

    fmt = format_for_path(dst)
    check_paths(src, dst, force)
    set_threads(threads)
    t0 = time.perf_counter()
    res = restore_image(read_input(src), post=post, ensemble=ensemble)
    for note in res.notes:
        obj.log(f"note: {note}")
    write_output(dst, write_image_bytes(res.pixels, None, fmt), force)
    obj.log(f"{dst}: {res.codec} restored with {res.model or 'nothing'}, {time.perf_counter() - t0:.2f} s")
