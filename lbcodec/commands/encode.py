"""`lbcodec encode`: image -> .lbc (one file, or a batch into a folder)."""

from __future__ import annotations

import functools
import os

import click
from click.core import ParameterSource

from ..pipeline import AUTO_METHOD, ENCODE_METHODS, SCALED_METHODS
from .common import (
    CODEC_NAMES,
    Ctx,
    FiniteFloatRange,
    SingleJson,
    as_usage_error,
    batch_options,
    check_paths,
    check_post_option,
    fraction_progress,
    inputs_argument,
    is_batch,
    own_chroma_words,
    quiet_option,
    read_input,
    refuse_terminal,
    reports_errors,
    run_batch_command,
    set_threads,
    write_output,
)


def encode_file(src: str, dst: str, force: bool, *, params: dict, max_pixels: int | None):
    """Batch worker: encode image file ``src`` into ``dst`` (atomic write)."""
    from ..api import encode_image
    from ..batch import Done
    from ..fileio import write_atomic
    from ..imageio import DEFAULT_MAX_PIXELS, read_image

    with open(src, "rb") as f:
        img = read_image(f.read(), max_pixels or DEFAULT_MAX_PIXELS)
    res = encode_image(img.pixels, alpha=img.alpha, **params)
    write_atomic(dst, res.data, force=force)
    return Done(res.bpp, tuple(img.notes + res.notes))


@click.command(short_help="Compress images into .lbc files.")
@inputs_argument
@click.option("-o", "--output", "dst", required=True, type=click.Path(allow_dash=True),
              help="Output .lbc file, or - for stdout; with several inputs, a folder (OUTDIR/).")
@click.option("-c", "--codec", type=click.Choice(CODEC_NAMES), default="jpeg", show_default=True,
              help="Standard codec at the core.")
@click.option("-m", "--method", type=click.Choice(ENCODE_METHODS), default="downsample", show_default=True,
              help="Pre-filter before the codec; auto codes the image with none, downsample and comcnn (where the "
                   "codec has a trained ComCNN), decodes each and keeps the file closest to the original (RGB "
                   "PSNR, decoded without --ensemble): best quality at the budget, at the cost of an encode and a decode "
                   "per method.")
@click.option("--scale", type=click.IntRange(1, 4), default=None,
              help="Downsampling factor for downsample/comcnn, and for auto's resizing methods (2, 3 or 4; default 2).")
@click.option("--bpp", type=FiniteFloatRange(min=0, min_open=True), default=None,
              help="Upper bound on whole-file bits per pixel (default 0.2 if no target is given).")
@click.option("--quality", type=FiniteFloatRange(0, 100), default=None, help="Codec quality 0-100 (no rate control).")
@click.option("--size", "size_bytes", type=click.IntRange(min=1), default=None, help="Upper bound on the file size in bytes.")
@click.option("--subsampling", type=click.Choice(["420", "444"]), default="420", show_default=True,
              help="Chroma subsampling, where the codec has the choice (jpeg, avif, heif); webp is always 420, "
                   "jpeg2000 and jpegxl keep full-resolution chroma (a note says so when it is given for them).")
@click.option("--tune", type=click.Choice(["psnr", "ssim"]), default="psnr", show_default=True,
              help="Encoder objective where the codec has one (jpeg, heif, avif): psnr, or the library's own tuning (jpeg: the standard's quantization tables).")
@click.option("--pre", default=None, metavar="MODEL",
              help="Pre-filter model for --method comcnn/modifynet (a name from `lbcodec models`) instead of the "
                   "slot's default; --post auto (or a network family) then picks the post-filter trained on its "
                   "outputs.")
@click.option("--post", default="auto", show_default=True, callback=check_post_option,
              help="Post-filter the decoder will apply: auto, none, or a network/model name.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None, help="Refuse inputs larger than this.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for the CNN pre-filters and the codec library (per worker with --jobs; default cores/jobs).")
@click.option("-f", "--force", is_flag=True, help="Replace existing output files (a batch skips them otherwise).")
@batch_options
@quiet_option
@click.pass_context
@reports_errors
def encode(ctx: click.Context, inputs, dst, codec, method, scale, bpp, quality, size_bytes, subsampling, tune, pre,
           post, max_pixels, threads, force, recursive, jobs, fail_fast, as_json):
    """Compress SRC (PNG, JPEG, TIFF, BMP, ... or - for stdin) into a .lbc file.

    With several SRCs, a folder (-r: with its subfolders) or a quoted glob,
    -o names a folder: each image goes to OUTDIR/<its path>.lbc; existing
    outputs are skipped unless --force.

    \b
    Examples:
      lbcodec encode in.png -o out.lbc --bpp 0.2 --method downsample --codec jpeg
      lbcodec encode photos/ -r -o lbc/ --bpp 0.2 --jobs 2
    """
    from ..api import default_scale, encode_image
    from ..imageio import DEFAULT_MAX_PIXELS, read_image

    obj: Ctx = ctx.ensure_object(Ctx)
    if sum(x is not None for x in (bpp, quality, size_bytes)) > 1:
        raise click.UsageError("give only one of --bpp, --quality and --size")
    if bpp is None and quality is None and size_bytes is None:
        bpp = 0.2
    if scale is not None and method not in SCALED_METHODS and scale != 1:
        raise click.UsageError(f"--scale applies to downsample, comcnn and auto, not to method {method!r}")
    if method in SCALED_METHODS and scale == 1:
        raise click.UsageError(f"method {method!r} needs --scale 2, 3 or 4 (or use --method none)")
    if method == AUTO_METHOD and quality is not None:
        raise click.UsageError("--method auto needs --bpp or --size: at one --quality the methods make files of "
                               "different sizes")
    if method == AUTO_METHOD and pre is not None:
        raise click.UsageError("--pre names a comcnn or modifynet model: it cannot go with --method auto, which "
                               "runs each method's default")
    params = {"codec": codec, "method": method, "scale": scale if scale is not None else default_scale(method),
              "subsampling": subsampling, "tune": tune, "bpp": bpp, "quality": quality, "size": size_bytes, "post": post,
              "pre": pre}
    if pre is not None:
        from ..filters import check_pre

        # another codec's model is allowed: encode notes it then
        as_usage_error("--pre", check_pre, pre, method, codec, params["scale"], [])
    if ctx.get_parameter_source("subsampling") not in (None, ParameterSource.DEFAULT):
        own = own_chroma_words(codec)
        if own is not None:  # no choice: the header still records the option; the bytes do not change
            obj.log(f"note: {codec} has no chroma subsampling choice (its chroma is {own}): --subsampling "
                    f"{subsampling} has no effect")
    if is_batch(inputs, dst):
        from ..batch import ENCODE_INPUTS

        fn = functools.partial(encode_file, params=params, max_pixels=max_pixels)
        run_batch_command(obj, "encode", inputs, dst, exts=ENCODE_INPUTS, ext=".lbc", fn=fn, recursive=recursive,
                          jobs=jobs, force=force, fail_fast=fail_fast, as_json=as_json, threads=threads)
        return
    (src,) = inputs
    if as_json and dst == "-":
        raise click.UsageError("--json prints on stdout: it cannot go with -o -")
    refuse_terminal(dst)
    with SingleJson(as_json, src, dst) as rec:
        check_paths(src, dst, force)
        set_threads(threads)
        data = read_input(src)
        rec.bytes_in = len(data)
        img = read_image(data, max_pixels or DEFAULT_MAX_PIXELS)
        for note in img.notes:
            obj.log(f"note: {note}")
        if method == AUTO_METHOD:
            with fraction_progress(obj, f"encode {src}: method auto") as progress:
                res = encode_image(img.pixels, alpha=img.alpha, progress=progress, **params)
        else:
            res = encode_image(img.pixels, alpha=img.alpha, **params)
        for note in res.notes:
            obj.log(f"note: {note}")
        ext = os.path.splitext(dst)[1].lower() if dst != "-" else ""
        if ext and ext != ".lbc":
            obj.log(f"note: the output is an lbcodec container, not {ext[1:]}; the usual extension is .lbc")
        write_output(dst, res.data, force)
    p = res.header.pipeline
    target = f" (target {bpp:g})" if bpp is not None else (f" (limit {size_bytes} bytes)" if size_bytes else "")
    obj.log(
        f"{dst}: {res.header.width}x{res.header.height}, {len(res.data)} bytes, {res.bpp:.4f} bpp{target}; "
        f"{p.codec} quality {p.quality:g}, method {'auto: ' if method == AUTO_METHOD else ''}{p.method}"
        + (f" ({res.pre_model})" if pre is not None else "")
        + (f" x1/{p.scale}" if p.scale > 1 else "")
        + f", {res.probes} probe{'s' if res.probes != 1 else ''}, {rec.seconds:.2f} s"
    )
    rec.done(len(res.data), res.bpp)
