"""Quality metrics: PSNR, BT.601 Y PSNR, MS-SSIM and Bjontegaard deltas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import photo_like, smooth_image
from lbcodec import metrics


def test_psnr_identical_is_inf():
    img = smooth_image()
    assert metrics.psnr(img, img.copy()) == math.inf
    assert metrics.psnr_y(img, img.copy()) == math.inf


def test_psnr_constant_error_of_one():
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a + 1
    assert metrics.psnr(a, b) == pytest.approx(20 * math.log10(255), abs=1e-9)
    assert metrics.psnr(a, b) == pytest.approx(48.1308, abs=1e-4)
    # symmetric, and independent of the sign of the error
    assert metrics.psnr(b, a) == metrics.psnr(a, b)
    assert metrics.psnr(a, a - 1) == metrics.psnr(a, b)


def test_psnr_known_mse():
    a = np.zeros((4, 4), np.uint8)
    b = a.copy()
    b[0, 0] = 16  # mse = 256 / 16 = 16
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 16))
    assert metrics.psnr(a, b, peak=1.0) == pytest.approx(10 * math.log10(1 / 16))


def test_psnr_no_uint8_overflow():
    a = np.zeros((4, 4, 3), np.uint8)
    b = np.full((4, 4, 3), 255, np.uint8)
    assert metrics.psnr(a, b) == pytest.approx(0.0, abs=1e-12)
    assert metrics.psnr(b, a) == pytest.approx(0.0, abs=1e-12)


def test_psnr_gray_2d_and_3d_agree():
    a, b = smooth_image(channels=1, seed=1), smooth_image(channels=1, seed=2)
    assert metrics.psnr(a, b) == metrics.psnr(a[:, :, 0], b[:, :, 0])


def test_psnr_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
    with pytest.raises(ValueError):
        metrics.ms_ssim(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))


def test_rgb_to_y_bt601():
    px = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    y = metrics.rgb_to_y(px)
    assert y.shape == (1, 5)
    np.testing.assert_allclose(y[0], [16.0, 235.0, 16 + 65.481, 16 + 128.553, 16 + 24.966], atol=1e-9)
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    np.testing.assert_array_equal(metrics.rgb_to_y(gray), gray[:, :, 0])


def test_psnr_y_formula():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    af, bf = a.astype(float), b.astype(float)
    ya = 16 + (65.481 * af[..., 0] + 128.553 * af[..., 1] + 24.966 * af[..., 2]) / 255
    yb = 16 + (65.481 * bf[..., 0] + 128.553 * bf[..., 1] + 24.966 * bf[..., 2]) / 255
    expected = 10 * math.log10(255**2 / np.mean((ya - yb) ** 2))
    assert metrics.psnr_y(a, b) == pytest.approx(expected, rel=1e-12)
    assert metrics.psnr_y(a, b) != pytest.approx(metrics.psnr(a, b), abs=0.1)


def test_psnr_y_blue_error_only():
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a.copy()
    b[..., 2] += 10  # Y changes by 24.966 / 255 * 10
    dy = 24.966 / 255 * 10
    assert metrics.psnr_y(a, b) == pytest.approx(10 * math.log10(255**2 / dy**2))


def test_ms_ssim_identical_is_one():
    img = photo_like()
    assert metrics.ms_ssim(img, img.copy()) == pytest.approx(1.0, abs=1e-6)


def test_ms_ssim_decreases_with_noise():
    img = photo_like()
    rng = np.random.default_rng(0)
    noisy = [np.clip(img + rng.normal(0, s, img.shape), 0, 255).astype(np.uint8) for s in (3, 15, 40)]
    scores = [metrics.ms_ssim(img, n) for n in noisy]
    assert all(0 < s < 1 for s in scores)
    assert scores[0] > scores[1] > scores[2]


@pytest.mark.parametrize("shape", [(48, 64, 3), (160, 300, 3), (300, 160, 1), (160, 160)])
def test_ms_ssim_nan_for_small_images(shape):
    img = np.zeros(shape, np.uint8)
    assert math.isnan(metrics.ms_ssim(img, img))


def test_ms_ssim_gray_at_minimum_size():
    img = smooth_image(161, 161, channels=1)
    assert metrics.ms_ssim(img, img) == pytest.approx(1.0, abs=1e-6)


RATES = [0.1, 0.2, 0.4, 0.8]
PSNRS = [28.0, 30.5, 33.2, 36.0]


def test_bd_rate_self_is_zero():
    assert metrics.bd_rate(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)
    assert metrics.bd_psnr(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)


def test_bd_rate_half_rates_is_minus_fifty():
    half = [r / 2 for r in RATES]
    assert metrics.bd_rate(RATES, PSNRS, half, PSNRS) == pytest.approx(-50.0, abs=1e-6)
    assert metrics.bd_rate(half, PSNRS, RATES, PSNRS) == pytest.approx(100.0, abs=1e-6)


def test_bd_psnr_shifted_curve():
    better = [p + 1.0 for p in PSNRS]
    assert metrics.bd_psnr(RATES, PSNRS, RATES, better) == pytest.approx(1.0, abs=1e-9)
    # a better curve needs fewer bits
    assert metrics.bd_rate(RATES, PSNRS, RATES, better) < -5.0


def test_bd_no_overlap_is_nan():
    far = [p + 20 for p in PSNRS]
    assert math.isnan(metrics.bd_rate(RATES, PSNRS, RATES, far))
    assert math.isnan(metrics.bd_psnr(RATES, PSNRS, [r * 100 for r in RATES], PSNRS))
