"""A differentiable JPEG (baseline, 4:2:0, IJG tables) for training pre-filters through it.

Forward pass = what libjpeg does, up to chroma resampling details: RGB -> YCbCr (JFIF),
2x2 average chroma subsampling, 8x8 DCT, division by the IJG quantization tables scaled
for the quality, rounding, de-quantization, inverse DCT, chroma upsampling, YCbCr -> RGB,
clipping. Rounding and clipping pass gradients straight through (identity), the usual
straight-through estimator. :func:`rate_proxy` is a differentiable stand-in for the
entropy-coded size: the sum of log2(1 + |quantized coefficient|).

Array contract: ``N x 3 x H x W`` float tensors in [0, 1], H and W multiples of 16.
"""

from __future__ import annotations

import math

import numpy as np

from ..restore import ijg_table

_STD_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
], dtype=np.float64)


def chroma_table(quality: int) -> np.ndarray:
    q = max(1, min(100, quality))
    scale = 5000 / q if q < 50 else 200 - 2 * q
    return np.clip(np.floor((_STD_CHROMA * scale + 50) / 100), 1, 255)


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


def _code_plane(plane, table, d):
    """plane: N x H x W in 0..255 (level-shifted inside); returns (decoded plane, rate proxy per image)."""
    import torch

    q = torch.from_numpy(table.reshape(8, 8)).float().to(plane)
    coef = d @ _blocks(plane - 128.0) @ d.T
    y = _ste_round(coef / q)
    rate = torch.log2(1 + y.abs()).flatten(1).sum(1)
    rec = _unblocks(d.T @ (y * q) @ d) + 128.0
    return rec, rate


def diff_jpeg(x, quality: int):
    """(decoded image in [0, 1], rate proxy in bits per image) of a batch coded at ``quality``."""
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
    ly, ry = _code_plane(yy, ijg_table(quality), d)
    lcb, rcb = _code_plane(cb, chroma_table(quality), d)
    lcr, rcr = _code_plane(cr, chroma_table(quality), d)
    up = lambda c: F.interpolate(c[:, None], scale_factor=2, mode="bilinear", align_corners=False)[:, 0]  # noqa: E731
    lcb, lcr = up(lcb) - 128.0, up(lcr) - 128.0
    out = torch.stack([ly + 1.402 * lcr, ly - 0.344136 * lcb - 0.714136 * lcr, ly + 1.772 * lcb], 1) / 255.0
    out = out + (out.clamp(0, 1) - out).detach()
    return out, ry + rcb + rcr


def rate_proxy(x, quality: int):
    return diff_jpeg(x, quality)[1]
