"""Image quality metrics: PSNR (RGB and BT.601 Y), MS-SSIM, and BD-rate.

Array contract: uint8 (or float in [0, 255]) arrays of equal shape ``(H, W, C)``
or ``(H, W)``. MS-SSIM comes from ``pytorch_msssim`` (the implementation
CompressAI evaluates with), over RGB in [0, 1], and needs both sides >= 161 px
(five scales); smaller images get NaN.
"""

from __future__ import annotations

import math

import numpy as np

MSSSIM_MIN_SIDE = 161


def _f64(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a[:, :, None] if a.ndim == 2 else a


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB over all channels (RGB PSNR for colour images); inf when equal."""
    a, b = _f64(a), _f64(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma Y in [16, 235] (MATLAB ``rgb2ycbcr``), as the papers report; gray passes."""
    img = _f64(img)
    if img.shape[2] == 1:
        return img[:, :, 0]
    r, g, b = img[:, :, 0], img[:, :, 1], img[:, :, 2]
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of BT.601 Y (peak 255)."""
    return psnr(rgb_to_y(a), rgb_to_y(b))


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM over RGB (or gray) in [0, 1]; NaN when a side is under 161 pixels."""
    a, b = _f64(a), _f64(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if min(a.shape[:2]) < MSSSIM_MIN_SIDE:
        return math.nan
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    ta = torch.from_numpy(a.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
    tb = torch.from_numpy(b.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
    with torch.inference_mode():
        return float(_ms_ssim(ta, tb, data_range=1.0, size_average=True))


def bd_rate(rate_a, dist_a, rate_b, dist_b) -> float:
    """Bjontegaard delta rate (%) of curve B against anchor A.

    Cubic polynomial fit of log-rate as a function of distortion (PSNR), integrated
    over the overlapping distortion interval (VCEG-M33). Negative means B needs
    fewer bits for the same quality.
    """
    la, lb = np.log(np.asarray(rate_a, float)), np.log(np.asarray(rate_b, float))
    da, db = np.asarray(dist_a, float), np.asarray(dist_b, float)
    pa, pb = np.polyfit(da, la, 3), np.polyfit(db, lb, 3)
    lo, hi = max(da.min(), db.min()), min(da.max(), db.max())
    if hi <= lo:
        return math.nan
    ia, ib = np.polyint(pa), np.polyint(pb)
    avg_a = (np.polyval(ia, hi) - np.polyval(ia, lo)) / (hi - lo)
    avg_b = (np.polyval(ib, hi) - np.polyval(ib, lo)) / (hi - lo)
    return float((math.exp(avg_b - avg_a) - 1.0) * 100.0)


def bd_psnr(rate_a, dist_a, rate_b, dist_b) -> float:
    """Bjontegaard delta PSNR (dB) of curve B against anchor A (positive: B is better)."""
    la, lb = np.log(np.asarray(rate_a, float)), np.log(np.asarray(rate_b, float))
    da, db = np.asarray(dist_a, float), np.asarray(dist_b, float)
    pa, pb = np.polyfit(la, da, 3), np.polyfit(lb, db, 3)
    lo, hi = max(la.min(), lb.min()), min(la.max(), lb.max())
    if hi <= lo:
        return math.nan
    ia, ib = np.polyint(pa), np.polyint(pb)
    avg_a = (np.polyval(ia, hi) - np.polyval(ia, lo)) / (hi - lo)
    avg_b = (np.polyval(ib, hi) - np.polyval(ib, lo)) / (hi - lo)
    return float(avg_b - avg_a)
