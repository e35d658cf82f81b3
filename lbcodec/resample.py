"""Bicubic resampling (Pillow's, which antialiases when shrinking like MATLAB's imresize).

Array contract: ``img`` is ``(H, W, C)``, uint8 or float32 in [0, 255]; results
are float32 ``(h, w, C)`` in about [0, 255] (bicubic overshoots; not clipped),
or uint8 from the ``*_u8`` helpers. Done one channel at a time in Pillow's
32-bit float mode, so memory is a few bytes per pixel.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def bicubic_weight(x: float, a: float = -0.5) -> float:
    """Pillow's bicubic filter (Keys, a = -0.5) at distance ``x``, in input pixels of the filter's scale."""
    x = abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def resize_bicubic(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``img`` to ``size`` = (width, height) with bicubic interpolation."""
    w, h = size
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[1] == w and img.shape[0] == h:
        return img.astype(np.float32)
    out = np.empty((h, w, img.shape[2]), np.float32)
    for c in range(img.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(img[:, :, c], dtype=np.float32), mode="F")
        out[:, :, c] = np.asarray(plane.resize((w, h), Image.Resampling.BICUBIC))
    return out


def to_u8(img: np.ndarray, inplace: bool = False) -> np.ndarray:
    """Round and clip a float image in [0, 255] to uint8 (``inplace``: reuse ``img``'s memory)."""
    if inplace and img.dtype.kind == "f":
        np.rint(img, out=img)
        np.clip(img, 0, 255, out=img)
        return img.astype(np.uint8)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def resize_bicubic_u8(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return to_u8(resize_bicubic(img, size))
