"""`lbcodec compare`: PSNR and MS-SSIM."""

from __future__ import annotations

import json
import math

import click

from .common import read_input, reports_errors


def _load_any(path: str):
    """Pixels of an image file or of a decoded .lbc file (and the .lbc's size)."""
    from ..container import MAGIC

    data = read_input(path)
    if data[: len(MAGIC)] == MAGIC:
        from ..api import decode_image

        res = decode_image(data)
        return res.pixels, len(data)
    from ..imageio import read_image

    return read_image(data).pixels, None


@click.command(short_help="PSNR and MS-SSIM between two images.")
@click.argument("a", type=click.Path(exists=True, dir_okay=False))
@click.argument("b", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@reports_errors
def compare(a, b, as_json):
    """Compare reference A with B (images, or .lbc files, which are decoded first).

    Prints RGB PSNR, BT.601 Y PSNR and MS-SSIM (pytorch-msssim), and the bpp
    when B is a .lbc file. MS-SSIM needs both sides of at least 161 pixels (n/a
    otherwise); identical images have an infinite PSNR (null in --json, with
    "identical": true).

    \b
    Example:
      lbcodec compare photo.png photo.lbc
    """
    from ..metrics import ms_ssim, psnr, psnr_y

    pa, _ = _load_any(a)
    pb, nbytes = _load_any(b)
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
