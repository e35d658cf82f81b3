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


def _bd_mean_gap(x_a, y_a, x_b, y_b) -> float:
    """Mean of fit_b(x) - fit_a(x) over the overlapping x range (cubic polynomial fits of y on x)."""
    x_a, y_a, x_b, y_b = (np.asarray(v, float) for v in (x_a, y_a, x_b, y_b))
    lo, hi = max(x_a.min(), x_b.min()), min(x_a.max(), x_b.max())
    if hi <= lo:
        return math.nan
    ia, ib = np.polyint(np.polyfit(x_a, y_a, 3)), np.polyint(np.polyfit(x_b, y_b, 3))
    return float((np.polyval(ib, hi) - np.polyval(ib, lo) - np.polyval(ia, hi) + np.polyval(ia, lo)) / (hi - lo))


def bd_rate(rate_a, dist_a, rate_b, dist_b) -> float:
    """Bjontegaard delta rate (%) of curve B against anchor A.

    Cubic polynomial fit of log-rate as a function of distortion (PSNR), integrated
    over the overlapping distortion interval (VCEG-M33). Negative means B needs
    fewer bits for the same quality.
    """
    gap = _bd_mean_gap(dist_a, np.log(np.asarray(rate_a, float)), dist_b, np.log(np.asarray(rate_b, float)))
    return gap if math.isnan(gap) else float((math.exp(gap) - 1.0) * 100.0)


def bd_psnr(rate_a, dist_a, rate_b, dist_b) -> float:
    """Bjontegaard delta PSNR (dB) of curve B against anchor A (positive: B is better)."""
    return _bd_mean_gap(np.log(np.asarray(rate_a, float)), dist_a, np.log(np.asarray(rate_b, float)), dist_b)


SSIM_WIN = 11


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Single-scale SSIM (Wang et al. 2004) through ``pytorch_msssim.ssim``.

    11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, valid filtering, the mean
    over pixels and channels; inputs in [0, 255] are scaled to [0, 1]. For the SSIM of
    luma pass ``rgb_to_y`` of both images. NaN when a side is under 11 pixels.
    (Some papers use other windows, e.g. AR-CNN's unweighted 8x8: numbers differ a little.)
    """
    a, b = _f64(a), _f64(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if min(a.shape[:2]) < SSIM_WIN:
        return math.nan
    import torch
    from pytorch_msssim import ssim as _ssim

    ta = torch.from_numpy(a.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
    tb = torch.from_numpy(b.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
    with torch.inference_mode():
        return float(_ssim(ta, tb, data_range=1.0, size_average=True, win_size=SSIM_WIN))


def blocking_effect_factor(img: np.ndarray, block: int = 8) -> float:
    """Blocking effect factor BEF of Yim & Bovik 2011 (IEEE TIP 20(1), Eq. 5-9), one plane.

    D_B is the mean squared difference of the neighbouring pixel pairs that straddle a
    block boundary (columns/rows k*block-1 | k*block), D_Bc that of all other
    neighbouring pairs; BEF = eta * (D_B - D_Bc) with eta = log2(block) / log2(min(H, W))
    when D_B > D_Bc, else 0. The pair counts are the real ones (the paper's
    N_V * (N_H / B - 1) when the side is a multiple of B); torchmetrics and sewar use
    H * W / B - 1 instead, which differs slightly.
    """
    y = np.asarray(img, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"blocking_effect_factor takes one plane (H, W), got {y.shape}")
    h, w = y.shape
    dh = (y[:, :-1] - y[:, 1:]) ** 2  # pairs (x, x+1), x = 0 .. W-2
    dv = (y[:-1, :] - y[1:, :]) ** 2  # pairs (y, y+1)
    hb = np.zeros(w - 1, bool)
    hb[block - 1 :: block] = True
    vb = np.zeros(h - 1, bool)
    vb[block - 1 :: block] = True
    n_b = h * hb.sum() + w * vb.sum()
    n_bc = h * (~hb).sum() + w * (~vb).sum()
    if n_b == 0 or n_bc == 0:
        return 0.0
    d_b = (dh[:, hb].sum() + dv[vb, :].sum()) / n_b
    d_bc = (dh[:, ~hb].sum() + dv[~vb, :].sum()) / n_bc
    if d_b <= d_bc:
        return 0.0
    eta = math.log2(block) / math.log2(min(h, w))
    return float(eta * (d_b - d_bc))


def psnr_b(ref: np.ndarray, test: np.ndarray, block: int = 8, peak: float = 255.0) -> float:
    """PSNR-B (Yim & Bovik 2011): PSNR with the blocking effect factor of ``test`` added to the MSE.

    PSNR-B = 10 log10(peak^2 / (MSE(ref, test) + BEF(test))). Meant for one plane (gray or
    luma: pass ``rgb_to_y`` of both images, as AR-CNN does); for several channels the
    BEF is the mean over channels. Equal to PSNR when ``test`` shows no blocking.
    """
    a, b = _f64(ref), _f64(test)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    bef = float(np.mean([blocking_effect_factor(b[:, :, c], block) for c in range(b.shape[2])]))
    mse_b = mse + bef
    return math.inf if mse_b == 0 else 10.0 * math.log10(peak * peak / mse_b)
