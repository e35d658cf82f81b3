"""`lbcodec encode`: image -> .lbc."""

from __future__ import annotations

import time

import click

from ..pipeline import METHODS
from .common import (
    CODEC_NAMES,
    Ctx,
    check_paths,
    read_input,
    reports_errors,
    write_output,
)


@click.command(short_help="Compress an image into a .lbc file.")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--output", "dst", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Output .lbc file, or - for stdout.")
@click.option("-c", "--codec", type=click.Choice(CODEC_NAMES), default="jpeg", show_default=True,
              help="Standard codec at the core.")
@click.option("-m", "--method", type=click.Choice(METHODS), default="downsample", show_default=True,
              help="Pre-filter before the codec.")
@click.option("--scale", type=click.IntRange(1, 4), default=None,
              help="Downsampling factor for downsample/comcnn (2, 3 or 4; default 2).")
@click.option("--bpp", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Upper bound on whole-file bits per pixel (default 0.2 if no target is given).")
@click.option("--quality", type=click.FloatRange(0, 100), default=None, help="Codec quality 0-100 (no rate control).")
@click.option("--size", "size_bytes", type=click.IntRange(min=1), default=None, help="Upper bound on the file size in bytes.")
@click.option("--subsampling", type=click.Choice(["420", "444"]), default="420", show_default=True,
              help="Chroma subsampling, where the codec has the choice (jpeg, avif, heif).")
@click.option("--post", default="auto", show_default=True,
              help="Post-filter the decoder will apply: auto, none, or a network/model name.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None, help="Refuse inputs larger than this.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output file.")
@click.pass_obj
@reports_errors
def encode(obj: Ctx, src, dst, codec, method, scale, bpp, quality, size_bytes, subsampling, post, max_pixels, force):
    """Compress SRC (PNG, JPEG, TIFF, BMP, ... or - for stdin) into a .lbc file.

    \b
    Example:
      lbcodec encode in.png -o out.lbc --bpp 0.2 --method downsample --codec jpeg
    """
    from ..api import default_scale, encode_image
    from ..imageio import DEFAULT_MAX_PIXELS, read_image

    if sum(x is not None for x in (bpp, quality, size_bytes)) > 1:
        raise click.UsageError("give only one of --bpp, --quality and --size")
    if bpp is None and quality is None and size_bytes is None:
        bpp = 0.2
    if scale is not None and method not in ("downsample", "comcnn") and scale != 1:
        raise click.UsageError(f"--scale applies to downsample and comcnn, not to method {method!r}")
    if method in ("downsample", "comcnn") and scale == 1:
        raise click.UsageError(f"method {method!r} needs --scale 2, 3 or 4 (or use --method none)")
    check_paths(src, dst, force)
    t0 = time.perf_counter()
    img = read_image(read_input(src), max_pixels or DEFAULT_MAX_PIXELS)
    for note in img.notes:
        obj.log(f"note: {note}")
    res = encode_image(
        img.pixels, alpha=img.alpha, codec=codec, method=method,
        scale=scale if scale is not None else default_scale(method),
        subsampling=subsampling, bpp=bpp, quality=quality, size=size_bytes, post=post,
    )
    for note in res.notes:
        obj.log(f"note: {note}")
    write_output(dst, res.data, force)
    p = res.header.pipeline
    target = f" (target {bpp:g})" if bpp is not None else (f" (limit {size_bytes} bytes)" if size_bytes else "")
    obj.log(
        f"{dst}: {res.header.width}x{res.header.height}, {len(res.data)} bytes, {res.bpp:.4f} bpp{target}; "
        f"{p.codec} quality {p.quality:g}, method {p.method}"
        + (f" x1/{p.scale}" if p.scale > 1 else "")
        + f", {res.probes} probe{'s' if res.probes != 1 else ''}, {time.perf_counter() - t0:.2f} s"
    )
