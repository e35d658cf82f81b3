"""`lbcodec decode`: .lbc -> image (one file, or a batch into a folder)."""

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


def decode_file(src: str, dst: str, force: bool, *, fmt: str, post: str | None, ensemble: bool):
    """Batch worker: decode .lbc file ``src`` into image file ``dst`` (Pillow format ``fmt``)."""
    from ..api import decode_image
    from ..batch import Done
    from ..fileio import write_atomic
    from ..imageio import alpha_note, write_image_bytes

    with open(src, "rb") as f:
        data = f.read()
    res = decode_image(data, post=post, ensemble=ensemble)
    write_atomic(dst, write_image_bytes(res.pixels, res.alpha, fmt), force=force)
    return Done(len(data) * 8 / res.header.pixels, tuple(res.notes + alpha_note(res.alpha, fmt)))


@click.command(short_help="Decompress .lbc files into images.")
@inputs_argument
@click.option("-o", "--output", "dst", required=True, type=click.Path(allow_dash=True),
              help="Output image; the format follows the extension (png, tif, bmp, ppm, webp); - writes PNG to "
                   "stdout; with several inputs, a folder (OUTDIR/).")
@click.option("--post", default=None, callback=check_post_option,
              help="Override the post-filter recorded in the file: none, auto, a network (srcnn, arcnn, reccnn, "
                   "attention, shufflecnn) or a model name.")
@click.option("--ensemble", is_flag=True, help="x8 geometric self-ensemble of the post-filter (8x slower).")
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
def decode(obj: Ctx, inputs, dst, post, ensemble, threads, fmt, force, recursive, jobs, fail_fast, as_json):
    """Decompress SRC (.lbc, or - for stdin) into an image file.

    With several SRCs, a folder (-r: with its subfolders) or a quoted glob,
    -o names a folder: each file goes to OUTDIR/<its path>.png (--format);
    existing outputs are skipped unless --force.

    \b
    Examples:
      lbcodec decode out.lbc -o restored.png
      lbcodec decode lbc/ -r -o decoded/ --jobs 2
    """
    from ..api import decode_image
    from ..imageio import alpha_note, write_image_bytes

    if is_batch(inputs, dst):
        from ..batch import DECODE_INPUTS

        fn = functools.partial(decode_file, fmt=output_format(f"x.{fmt or 'png'}"), post=post, ensemble=ensemble)
        run_batch_command(obj, "decode", inputs, dst, exts=DECODE_INPUTS, ext=f".{fmt or 'png'}", fn=fn,
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
        with fraction_progress(obj, f"decode {src}: post-filter") as progress:
            res = decode_image(data, post=post, ensemble=ensemble, progress=progress)
        for note in res.notes + alpha_note(res.alpha, fmt):
            obj.log(f"note: {note}")
        out = write_image_bytes(res.pixels, res.alpha, fmt)
        write_output(dst, out, force)
    obj.log(f"{dst}: {res.header.width}x{res.header.height}, {rec.seconds:.2f} s")
    rec.done(len(out), len(data) * 8 / res.header.pixels)
