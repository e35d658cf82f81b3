"""Shared fixtures for the core (network-free) tests: small synthetic images only."""

from __future__ import annotations

import numpy as np
import pytest

from lbcodec.codecs import CODECS

ALL_CODECS = tuple(CODECS)
#: codecs whose quality setting is continuous (rate control can get close to a budget)
CONTINUOUS_CODECS = tuple(name for name, cls in CODECS.items() if not cls.integer_quality)
#: A tiny config for every registered network (architecture tests on CPU).
TINY: dict[str, dict] = {
    "srcnn": dict(widths=[8, 4]),
    "arcnn": dict(widths=[8, 6, 4]),
    "reccnn": dict(width=8, depth=4),
    "comcnn": dict(width=8),
    "modifynet": dict(width=8, depth=4),
    "jpegnet": dict(widths=[8, 8, 8]),
    "attention": dict(width=8, n_blocks=2, reduction=4),
    "shufflecnn": dict(width=8, depth=3),
}


def smooth_image(h: int = 48, w: int = 64, channels: int = 3, noise: float = 2.0, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus a little noise, uint8 (H, W, C)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    xs, ys = x / max(w - 1, 1), y / max(h - 1, 1)
    planes = [
        40 + 170 * xs,
        40 + 170 * ys,
        60 + 120 * (0.5 + 0.5 * np.sin(2 * np.pi * (xs + ys) / 2)),
    ]
    img = np.stack(planes[:channels], axis=-1) if channels == 3 else planes[0][:, :, None] * 0.5 + planes[1][:, :, None] * 0.5
    img = img + rng.normal(0.0, noise, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def noisy_image(h: int = 48, w: int = 64, channels: int = 3, seed: int = 1) -> np.ndarray:
    """Uniform random noise: no lossy codec can keep it exactly."""
    return np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8)


def photo_like(h: int = 192, w: int = 256, seed: int = 2) -> np.ndarray:
    """A synthetic 'photo': smooth shading, hard-edged shapes, texture and sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((h, w, 3))
    img[..., 0] = 90 + 80 * x / w + 20 * np.sin(y / 9.0)
    img[..., 1] = 70 + 100 * y / h + 15 * np.cos(x / 13.0)
    img[..., 2] = 120 + 60 * np.sin((x + y) / 40.0)
    # a few discs and rectangles with hard edges
    for cx, cy, r, col in ((60, 50, 30, (220, 60, 40)), (180, 120, 45, (30, 160, 70)), (120, 150, 20, (250, 240, 200))):
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        img[mask] = col
    img[20:70, 150:230] = (40, 40, 140)
    # fine texture (like foliage / fabric) in the lower left
    tex = 35 * np.sin(x / 1.7) * np.sin(y / 2.3)
    img[110:, :100] += tex[110:, :100, None]
    img += rng.normal(0.0, 4.0, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


@pytest.fixture(autouse=True)
def _float32_post_filters(monkeypatch):
    """Post-filters compute in float32 in every test: their default, bfloat16 where the CPU has it
    natively, would make outputs depend on the machine. Tests of bfloat16 set LBCODEC_PRECISION
    themselves; monkeypatch also undoes what a `--precision` option writes into the environment."""
    from lbcodec.precision import ENV

    monkeypatch.setenv(ENV, "fp32")


@pytest.fixture(scope="session")
def smooth_rgb() -> np.ndarray:
    return smooth_image()


@pytest.fixture(scope="session")
def smooth_gray() -> np.ndarray:
    return smooth_image(channels=1)


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    return photo_like()


@pytest.fixture(scope="session")
def _empty_weights_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("no-weights"))


@pytest.fixture
def no_weights(_empty_weights_dir, monkeypatch):
    """Point the weights registry at an empty folder: the core tests never run a network,
    whatever models are shipped in lbcodec/weights."""
    from lbcodec import zoo

    monkeypatch.setenv(zoo.ENV_VAR, _empty_weights_dir)
    return _empty_weights_dir
