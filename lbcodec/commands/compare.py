"""`lbcodec compare`: PSNR and MS-SSIM."""

from __future__ import annotations

import json
import math

import click

from .common import quiet_option, read_input, reports_errors


def _load_any(path: str, max_pixels: int | None):
    """Pixels of an image file or of a decoded .lbc file (and the .lbc's size)."""
    from ..container import MAGIC

    data = read_input(path)
    if data[: len(MAGIC)] == MAGIC:
        from ..api import decode_image

        res = decode_image(data)
        return res.pixels, len(data)
    from ..imageio import DEFAULT_MAX_PIXELS, read_image

    return read_image(data, max_pixels or DEFAULT_MAX_PIXELS).pixels, None


@click.command(short_help="PSNR and MS-SSIM between two images.")
@click.argument("a", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.argument("b", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse image files larger than this (default 150 megapixels), from their header, before "
                   "decoding (.lbc files are read as decode reads them).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@quiet_option
@reports_errors
def compare(a, b, max_pixels, as_json):
    """Compare reference A with B (images, or .lbc files, which are decoded first).

    Either A or B (not both) may be - to read stdin. Prints RGB PSNR, BT.601 Y
    PSNR and MS-SSIM (pytorch-msssim), and the bpp when B is a .lbc file.
    MS-SSIM needs both sides of at least 161 pixels (n/a otherwise); identical
    images have an infinite PSNR (null in --json, with "identical": true).

    \b
    Examples:
      lbcodec compare photo.png photo.lbc
      lbcodec decode photo.lbc -o - | lbcodec compare photo.png -
    """
    if a == "-" and b == "-":
        raise click.UsageError("only one of A and B can be - (stdin)")
    from ..metrics import ms_ssim, psnr, psnr_y

    pa, _ = _load_any(a, max_pixels)
    pb, nbytes = _load_any(b, max_pixels)
    if pa.shape[:2] != pb.shape[:2]:
        raise click.ClickException(f"sizes differ: {pa.shape[1]}x{pa.shape[0]} vs {pb.shape[1]}x{pb.shape[0]}")
    if pa.shape[2] != pb.shape[2]:
        import numpy as np

        pa, pb = (np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x for x in (pa, pb))
    d = {"psnr_rgb": psnr(pa, pb), "psnr_y": psnr_y(pa, pb), "ms_ssim": ms_ssim(pa, pb)}
    if nbytes is not None:
        d["bytes"] = nbytes
        d["bpp"] = nbytes * 8 / (pa.shape[0] * pa.shape[1])
    if as_json:  # JSON has no inf or nan: null, and "identical" tells an infinite PSNR from n/a
        out = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}
        out["identical"] = bool(math.isinf(d["psnr_rgb"]))
        click.echo(json.dumps(out))
        return
    ssim = "n/a (a side under 161 pixels)" if math.isnan(d["ms_ssim"]) else f"{d['ms_ssim']:.4f}"
    line = f"PSNR RGB {d['psnr_rgb']:.2f} dB   PSNR Y {d['psnr_y']:.2f} dB   MS-SSIM {ssim}"
    if nbytes is not None:
        line = f"bpp {d['bpp']:.4f}   " + line
    click.echo(line)
