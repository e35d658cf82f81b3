"""Run networks on images of any size in bounded memory, and x8 self-ensemble.

Array contract of this module:

* images as arrays (:func:`image_to_tensor`, :func:`tensor_to_image`):
  ``H x W x C`` (or ``H x W`` for gray) ``uint8`` numpy arrays, values 0..255;
* images as tensors: ``N x C x H x W`` (or ``C x H x W``) tensors, either
  ``float32`` with values in [0, 1] or ``uint8`` with values 0..255 (converted
  tile by tile to float32 / 255, so a large image is never held as float).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn


def image_to_tensor(img: np.ndarray) -> Tensor:
    """``H x W x C`` or ``H x W`` uint8 array -> ``1 x C x H x W`` uint8 tensor.

    The result shares memory with ``img`` when it can (no float copy is made;
    :func:`run_tiled` converts tile by tile).
    """
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise ValueError(f"expected an H x W [x C] uint8 array, got {img.dtype} {img.shape}")
    if img.ndim == 2:
        img = img[:, :, None]
    if not img.flags.writeable:
        img = img.copy()
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).unsqueeze(0)


def tensor_to_image(t: Tensor) -> np.ndarray:
    """``1 x C x H x W`` or ``C x H x W`` float tensor in [0, 1] -> uint8 array.

    Values are clamped to [0, 1] and rounded. Returns ``H x W x C``, or
    ``H x W`` when C == 1 (the inverse of :func:`image_to_tensor`).
    """
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected a batch of one image, got {tuple(t.shape)}")
        t = t[0]
    arr = (t.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)
    arr_np = arr.cpu().numpy()
    return arr_np[:, :, 0] if arr_np.shape[2] == 1 else arr_np


def _device_of(net: nn.Module, default: torch.device) -> torch.device:
    param = next(net.parameters(), None)
    return param.device if param is not None else default


def _spans(size: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """``(start, stop, ctx_start, ctx_stop)`` of each tile along one axis."""
    return [
        (s, min(s + tile, size), max(0, s - overlap), min(size, s + tile + overlap))
        for s in range(0, size, tile)
    ]


def run_tiled(net: nn.Module, x: Tensor, tile: int = 512, overlap: int | None = None,
              on_tile: Callable[[int, int], None] | None = None) -> Tensor:
    """Run a fully-convolutional ``net`` over overlapping tiles of ``x``.

    Each tile is cut with ``overlap`` pixels of context on every side (fewer
    at the image border, where the net pads exactly as on the whole image),
    run through ``net`` on the net's device, and its centre is written into a
    preallocated output. Memory for activations is bounded by the tile size,
    whatever the image size. With ``overlap >= net.receptive_radius`` (the
    default) the result equals the whole-image output up to float rounding.

    Tile size and overlap are rounded to multiples of the net's alignment
    (``tile_align``, and 2 for ``scale_out == 0.5``) so that strided layers and
    8x8 blocks see the same pixel grid as on the whole image.

    Args:
        net: a registered lbcodec network (needs ``scale_out``,
            ``receptive_radius``, optionally ``tile_align``). Run in eval mode
            under ``torch.inference_mode()``; its training flag is restored.
        x: ``N x C x H x W`` or ``C x H x W`` tensor, float in [0, 1] or uint8
            in 0..255 (see module docstring), on any device.
        tile: output-aligned tile side in input pixels.
        overlap: context pixels per side; default ``net.receptive_radius``.
            Nets with global context (``receptive_radius is None``) need an
            explicit overlap (approximate) unless the image fits one tile.
        on_tile: called as ``on_tile(done, total)`` after each tile (progress).

    Returns:
        float32 tensor on ``x.device``, same rank as ``x``, shape
        ``N x C' x ceil(H * scale_out) x ceil(W * scale_out)``; not clamped.
    """
    squeeze = x.dim() == 3
    if squeeze:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"expected N x C x H x W or C x H x W, got {tuple(x.shape)}")
    n, _, h, w = x.shape
    step = round(1 / net.scale_out)  # input pixels per output pixel
    align = math.lcm(step, int(getattr(net, "tile_align", 1)))
    tile = max(align, tile // align * align)
    if overlap is None:
        overlap = net.receptive_radius
        if overlap is None:
            if h > tile or w > tile:
                raise ValueError(
                    f"{type(net).__name__} has global context (receptive_radius None): "
                    "pass overlap= for approximate tiling, or a tile >= the image"
                )
            overlap = 0
    overlap = -(-int(overlap) // align) * align
    device = _device_of(net, x.device)
    scale = 1 / 255 if x.dtype == torch.uint8 else 1.0

    out: Tensor | None = None
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            ys, xs = _spans(h, tile, overlap), _spans(w, tile, overlap)
            done = 0
            for y0, y1, ya, yb in ys:
                for x0, x1, xa, xb in xs:
                    patch = x[:, :, ya:yb, xa:xb].to(device=device, dtype=torch.float32)
                    # channels-last runs oneDNN's convolutions about 1.5x faster on CPU
                    patch = patch.contiguous(memory_format=torch.channels_last)
                    y = net(patch * scale if scale != 1.0 else patch)
                    expected = (-(-(yb - ya) // step), -(-(xb - xa) // step))
                    if tuple(y.shape[-2:]) != expected:
                        raise ValueError(f"net output {tuple(y.shape)} != expected {expected}")
                    if out is None:  # a normal tensor, so callers may modify it in place
                        shape = (n, y.shape[1], -(-h // step), -(-w // step))
                        with torch.inference_mode(False):
                            out = torch.empty(shape, dtype=torch.float32, device=x.device)
                    oy0, oy1, ox0, ox1 = y0 // step, -(-y1 // step), x0 // step, -(-x1 // step)
                    ry, rx = (y0 - ya) // step, (x0 - xa) // step
                    centre = y[:, :, ry : ry + oy1 - oy0, rx : rx + ox1 - ox0]
                    out[:, :, oy0:oy1, ox0:ox1] = centre.to(out.device)
                    done += 1
                    if on_tile is not None:
                        on_tile(done, len(ys) * len(xs))
    finally:
        net.train(was_training)
    assert out is not None  # H, W >= 1
    return out[0] if squeeze else out


def self_ensemble(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """x8 geometric self-ensemble (paper 003, Sec. 4.2, after EDSR+).

    Applies ``fn`` to the 8 dihedral transforms of ``x`` (4 rotations by 90
    degrees, with and without a horizontal flip), undoes each transform on the
    output and averages. ``fn`` must accept any ``H x W`` and return a tensor
    whose last two axes transform like its input's (any fully-convolutional
    net, or ``functools.partial(run_tiled, net, tile=...)``).

    Args:
        fn: maps ``... x H x W`` tensors to ``... x H' x W'`` tensors.
        x: ``... x H x W`` tensor (e.g. ``N x C x H x W`` float32 in [0, 1]).

    Returns:
        float32 tensor, the mean of the 8 inverse-transformed outputs.
    """
    acc: Tensor | None = None
    for flip in (False, True):
        xf = x.flip(-1) if flip else x
        for k in range(4):
            y = torch.rot90(fn(torch.rot90(xf, k, dims=(-2, -1))), -k, dims=(-2, -1))
            if flip:
                y = y.flip(-1)
            acc = y.to(torch.float32, copy=True) if acc is None else acc.add_(y)
    assert acc is not None
    return acc / 8
