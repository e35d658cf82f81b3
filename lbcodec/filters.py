"""The pre- and post-filter slots of a pipeline.

``prefilter`` turns the original image into the *compact* image that the standard
codec encodes (identity, bicubic downsampling, ComCNN, Modify-Net);
``reconstruct`` turns the decoded compact image back into an image of the
original size (identity or bicubic upsampling, then a restoration network).
``choose_post`` picks the post-filter that ``encode`` records in the header.

Networks plug in here: until a trained model exists for a slot, the
post-filter is none (bicubic only) and the CNN pre-filters are refused.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .pipeline import POST_NONE_ID, RESIZING_METHODS, Pipeline, compact_size
from .resample import resize_bicubic, resize_bicubic_u8, to_u8

POST_CHOICES = ("auto", "none")


def prefilter(method: str, pixels: np.ndarray, scale: int, codec: str, notes: list[str]) -> np.ndarray:
    """Original uint8 HxWxC -> compact uint8 image for the codec."""
    h, w = pixels.shape[:2]
    if method == "none":
        return pixels
    if method == "downsample":
        return resize_bicubic_u8(pixels, compact_size(w, h, scale))
    raise InputError(f"method {method!r} needs a trained network, and none is installed yet")


def choose_post(post: str, method: str, codec: str, scale: int, notes: list[str]) -> tuple[int, bytes]:
    """(container id, 4-byte hash prefix) of the post-filter ``encode`` records."""
    if post in ("auto", "none"):
        return POST_NONE_ID, b""
    raise InputError(f"unknown post-filter {post!r}; choose from {', '.join(POST_CHOICES)}")


def reconstruct(
    pipe: Pipeline, compact: np.ndarray, size: tuple[int, int], post: str | None, notes: list[str]
) -> np.ndarray:
    """Decoded compact uint8 image -> uint8 image of ``size`` = (width, height)."""
    if post not in (None, "none", "auto"):
        raise InputError(f"unknown post-filter {post!r}; choose from {', '.join(POST_CHOICES)}")
    if pipe.method in RESIZING_METHODS:
        return to_u8(resize_bicubic(compact, size))
    return compact
