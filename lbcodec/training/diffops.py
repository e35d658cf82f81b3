"""Differentiable twins of lbcodec's fixed image operations, for training through them.

:func:`resize_matrix` builds the exact linear map of Pillow's bicubic resize along one
axis (a = -0.5, support scaled when shrinking, weights normalised at the borders), so
``A_h @ X @ A_w.T`` reproduces :func:`lbcodec.resample.resize_bicubic` to float
rounding while letting gradients through.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..resample import bicubic_weight


@functools.lru_cache(maxsize=64)
def resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float32 matrix of Pillow's BICUBIC resampling along one axis."""
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    m = np.zeros((n_out, n_in), np.float64)
    for xx in range(n_out):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), n_in)
        w = np.array([bicubic_weight((x + xmin - center + 0.5) / filterscale) for x in range(xmax - xmin)])
        total = w.sum()
        if total != 0:
            w = w / total
        m[xx, xmin:xmax] = w
    return m.astype(np.float32)


def resize_torch(x, size: tuple[int, int]):
    """Bicubic resize of an ``N x C x H x W`` tensor to ``size`` = (w, h), as Pillow does it."""
    import torch

    w, h = size
    ah = torch.from_numpy(resize_matrix(x.shape[-2], h)).to(x)
    aw = torch.from_numpy(resize_matrix(x.shape[-1], w)).to(x)
    return torch.einsum("hi,ncij,wj->nchw", ah, x, aw)


def ceil_half(n: int) -> int:
    return int(math.ceil(n / 2))
