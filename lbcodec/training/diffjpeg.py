"""A differentiable JPEG (baseline, 4:2:0, the real encoder's tables) for training pre-filters through it.

Forward pass = what libjpeg does, up to chroma resampling details: RGB -> YCbCr (JFIF),
2x2 average chroma subsampling, 8x8 DCT, division by the quantization tables that
``codecs.jpeg`` writes at the quality, rounding, de-quantization, inverse DCT, chroma upsampling, YCbCr -> RGB,
clipping. Rounding and clipping pass gradients straight through (identity), the usual
straight-through estimator. :func:`rate_proxy` is a differentiable stand-in for the
entropy-coded size: the sum of log2(1 + |quantized coefficient|); :func:`proxy_bpp` pads any
size and divides by the pixels, and :func:`calibrate_rate` measures real bits per proxy bit
against a real codec, so that the proxy can stand in for a file's bpp in a loss.

Array contract: ``N x 3 x H x W`` float tensors in [0, 1], H and W multiples of 16.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..codecs.jpeg import tables


def chroma_table(quality: float, tune: str = "psnr") -> np.ndarray:
    """The chroma quantization table the real JPEG encoder writes at ``quality`` (natural order)."""
    return tables(quality, tune)[1].astype(np.float64)


def _dct_matrix():
    import torch

    m = np.zeros((8, 8))
    for k in range(8):
        for n in range(8):
            m[k, n] = (math.sqrt(1 / 8) if k == 0 else math.sqrt(2 / 8)) * math.cos(math.pi * (2 * n + 1) * k / 16)
    return torch.from_numpy(m).float()


def _ste_round(x):
    return x + (x.round() - x).detach()


def _blocks(x):
    n, h, w = x.shape
    return x.reshape(n, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4)


def _unblocks(b):
    n, bh, bw, _, _ = b.shape
    return b.permute(0, 1, 3, 2, 4).reshape(n, bh * 8, bw * 8)


def _code_plane(plane, table, d, soft: bool = False):
    """plane: N x H x W in 0..255 (level-shifted inside); returns (decoded plane, rate proxy per image).

    The rate proxy is sum log2(1 + |y|) over the quantized coefficients y. With ``soft`` it is
    taken on the unrounded ``coef / q`` instead: the rounded proxy has zero gradient at every
    coefficient that quantizes to 0 (most of them at low rates), so a filter trained against
    it is never paid for pushing a coefficient under the rounding threshold, which is where
    smoothing saves bits. The soft proxy also costs the DC coefficients as JPEG codes them, as
    differences between successive blocks, so that shifting a plane's mean is not a saving."""
    import torch

    q = torch.from_numpy(table.reshape(8, 8)).float().to(plane)
    coef = d @ _blocks(plane - 128.0) @ d.T
    y = _ste_round(coef / q)
    if not soft:
        rate = torch.log2(1 + y.abs()).flatten(1).sum(1)
    else:
        c = coef / q
        ac = torch.log2(1 + c.abs()).flatten(1).sum(1) - torch.log2(1 + c[..., 0, 0].abs()).flatten(1).sum(1)
        # JPEG codes each block's DC as the difference to the previous block's; here in raster
        # order over the plane's blocks (exact for chroma; 4:2:0 luma is coded 2 x 2 blocks per MCU)
        dc = c[..., 0, 0].flatten(1)
        rate = ac + torch.log2(1 + torch.diff(dc, dim=1, prepend=torch.zeros_like(dc[:, :1])).abs()).sum(1)
    rec = _unblocks(d.T @ (y * q) @ d) + 128.0
    return rec, rate


def diff_jpeg(x, quality: float, soft: bool = False, tune: str = "psnr"):
    """(decoded image in [0, 1], rate proxy in bits per image) of a batch coded at ``quality``
    with the tables of the real encoder's ``tune`` (``soft``: the rate proxy on unrounded
    coefficients, see :func:`_code_plane`)."""
    import torch
    import torch.nn.functional as F

    d = _dct_matrix().to(x)
    v = x * 255.0
    r, g, b = v[:, 0], v[:, 1], v[:, 2]
    yy = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128.0
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128.0
    cb = F.avg_pool2d(cb[:, None], 2)[:, 0]
    cr = F.avg_pool2d(cr[:, None], 2)[:, 0]
    luma, chroma = tables(quality, tune)
    ly, ry = _code_plane(yy, luma, d, soft)
    lcb, rcb = _code_plane(cb, chroma, d, soft)
    lcr, rcr = _code_plane(cr, chroma, d, soft)
    up = lambda c: F.interpolate(c[:, None], scale_factor=2, mode="bilinear", align_corners=False)[:, 0]  # noqa: E731
    lcb, lcr = up(lcb) - 128.0, up(lcr) - 128.0
    out = torch.stack([ly + 1.402 * lcr, ly - 0.344136 * lcb - 0.714136 * lcr, ly + 1.772 * lcb], 1) / 255.0
    out = out + (out.clamp(0, 1) - out).detach()
    return out, ry + rcb + rcr


def rate_proxy(x, quality: float, soft: bool = False, tune: str = "psnr"):
    return diff_jpeg(x, quality, soft, tune)[1]


# -- the proxy as a rate estimate (joint ComCNN training, Modify-Net) ----------------------


def pad16(c):
    """Replicate-pad an N x C x H x W batch to multiples of 16 (the differentiable JPEG's MCU)."""
    h, w = c.shape[2:]
    ph, pw = -h % 16, -w % 16
    if ph or pw:
        import torch.nn.functional as F

        c = F.pad(c, (0, pw, 0, ph), mode="replicate")
    return c


def proxy_bpp(c, quality: float, soft: bool = False, tune: str = "psnr"):
    """Differentiable JPEG coefficient cost of compact images ``c``, bits per compact pixel."""
    h, w = c.shape[2:]
    return rate_proxy(pad16(c).clamp(0, 1), quality, soft, tune) / (h * w)


def calibrate_rate(coder, crops: np.ndarray, scale: int, quality: float, log: Callable[[str], None],
                   soft: bool = False, tune: str = "psnr") -> float:
    """Real bits per proxy bit, on bicubic-downsampled training crops at ``quality``.

    Crops are tiled k x k (k = 4 from 16 crops on, fewer below) into mosaics and the size
    of a flat image of the same size is subtracted, so that headers and tables do not count
    as coefficient bits."""
    import torch

    from ..resample import resize_bicubic_u8

    if len(crops) == 0:
        raise ValueError("the rate calibration needs training crops")
    k = max(1, min(4, math.isqrt(min(len(crops), 64))))
    n = (min(len(crops), 64) // (k * k)) * k * k
    h, w, ch = crops.shape[1:]
    mosaics = crops[:n].reshape(-1, k, k, h, w, ch).transpose(0, 1, 3, 2, 4, 5).reshape(-1, k * h, k * w, ch)
    compact = np.stack([resize_bicubic_u8(im, (-(-k * w // scale), -(-k * h // scale))) for im in mosaics])
    flat = np.full_like(compact[0], 128)
    header = len(coder.encode(flat, quality, tune=tune))
    px = compact.shape[1] * compact.shape[2]
    real = float(np.mean([(len(coder.encode(im, quality, tune=tune)) - header) * 8 / px for im in compact]))
    proxy = float(proxy_bpp(torch.from_numpy(compact.transpose(0, 3, 1, 2).copy()).float() / 255.0, quality, soft, tune).mean())
    log(f"rate proxy{' (soft)' if soft else ''}: {proxy:.3f} proxy bits vs {real:.3f} real bits per compact pixel at quality {quality:.1f}")
    return real / max(proxy, 1e-9)
