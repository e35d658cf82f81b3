"""`lbcodec restore`: plain standard files through a restoration CNN (one file, or a batch)."""

from __future__ import annotations

import functools

import click

from .common import (
    IMAGE_FORMATS,
    Ctx,
    SingleJson,
    batch_options,
    check_paths,
    check_post_option,
    fraction_progress,
    image_extensions,
    inputs_argument,
    is_batch,
    output_format,
    precision_option,
    quiet_option,
    read_input,
    refuse_terminal,
    reports_errors,
    run_batch_command,
    set_threads,
    write_output,
)


def restore_file(src: str, dst: str, force: bool, *, fmt: str, post: str, ensemble: bool,
                 max_pixels: int | None = None):
    """Batch worker: restore standard image file ``src`` into image file ``dst`` (Pillow format ``fmt``)."""
    from ..batch import Done
    from ..fileio import write_atomic
    from ..imageio import DEFAULT_MAX_PIXELS, alpha_note, write_image_bytes
    from ..restore import restore_image

    with open(src, "rb") as f:
        data = f.read()
    res = restore_image(data, post=post, ensemble=ensemble, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
    write_atomic(dst, write_image_bytes(res.pixels, res.alpha, fmt), force=force)
    return Done(res.bpp, tuple(res.notes + alpha_note(res.alpha, fmt)))


@click.command(short_help="Restore plain JPEG/JPEG 2000/WebP/AVIF/HEIF/JPEG XL files with a CNN.")
@inputs_argument
@click.option("-o", "--output", "dst", required=True, type=click.Path(allow_dash=True),
              help="Output image (png, tif, bmp, ppm); - writes PNG to stdout; with several inputs, a folder "
                   "(OUTDIR/).")
@click.option("--post", default="auto", show_default=True, callback=check_post_option,
              help="auto, none, a network or a model name.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse inputs larger than this (default 150 megapixels), from their header, before decoding.")
@click.option("--ensemble", is_flag=True, help="x8 geometric self-ensemble (8x slower).")
@precision_option
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for the networks and the codec library (per worker with --jobs; default cores/jobs).")
@click.option("--format", "fmt", type=click.Choice(IMAGE_FORMATS), default=None,
              help="Image format of batch outputs (default png) and of -o -; with -o FILE the extension decides.")
@click.option("-f", "--force", is_flag=True, help="Replace existing output files (a batch skips them otherwise).")
@batch_options
@quiet_option
@click.pass_obj
@reports_errors
def restore(obj: Ctx, inputs, dst, post, max_pixels, ensemble, threads, fmt, force, recursive, jobs, fail_fast,
            as_json):
    """Remove compression artifacts from a standard image file made by any encoder.

    The codec is recognised from the file's bytes; for JPEG the quality is
    estimated from the quantization tables. With several SRCs, a folder (-r:
    with its subfolders) or a quoted glob, -o names a folder: each file goes
    to OUTDIR/<its path>.png (--format); existing outputs are skipped unless
    --force.

    \b
    Examples:
      lbcodec restore photo.jpg -o photo-restored.png
      lbcodec restore 'camera/*.jpg' -o restored/ --jobs 2
    """
    from ..imageio import DEFAULT_MAX_PIXELS, alpha_note, write_image_bytes
    from ..restore import restore_image

    if is_batch(inputs, dst):
        from ..batch import RESTORE_INPUTS

        fn = functools.partial(restore_file, fmt=output_format(f"x.{fmt or 'png'}"), post=post, ensemble=ensemble,
                               max_pixels=max_pixels)
        run_batch_command(obj, "restore", inputs, dst, exts=RESTORE_INPUTS, ext=f".{fmt or 'png'}", fn=fn,
                          recursive=recursive, jobs=jobs, force=force, fail_fast=fail_fast, as_json=as_json,
                          threads=threads, file_exts=image_extensions())
        return
    (src,) = inputs
    if as_json and dst == "-":
        raise click.UsageError("--json prints on stdout: it cannot go with -o -")
    refuse_terminal(dst)
    fmt = output_format(dst, fmt)
    with SingleJson(as_json, src, dst) as rec:
        check_paths(src, dst, force)
        set_threads(threads)
        data = read_input(src)
        rec.bytes_in = len(data)
        with fraction_progress(obj, f"restore {src}") as progress:
            res = restore_image(data, post=post, ensemble=ensemble, progress=progress,
                                max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
        for note in res.notes + alpha_note(res.alpha, fmt):
            obj.log(f"note: {note}")
        out = write_image_bytes(res.pixels, res.alpha, fmt)
        write_output(dst, out, force)
    how = f"restored with {res.model}" if res.model else "decoded without a post-filter"
    obj.log(f"{dst}: {res.codec} {how}, {rec.seconds:.2f} s")
    rec.done(len(out), res.bpp)
