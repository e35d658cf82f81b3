"""ShuffleCNN: a residual restoration CNN run on the pixel-unshuffled image.

Beyond the papers. Their post-filters (SRCNN, AR-CNN, RecCNN, the attention net)
convolve at full resolution, so a 12-layer 3x3 stack sees only 12 pixels each
way: less than one 16x16 JPEG macroblock, far less than a 64x64 HEVC/AV1 block
at low rate. FFDNet (Zhang, Zuo and Zhang, TIP 2018) instead folds each 2x2
block of pixels into channels (``pixel_unshuffle``), convolves at half
resolution and unfolds the result. Each 3x3 layer then reaches twice as far
for a quarter of the work, so a wider and deeper stack (16 x 64) costs less
than RecCNN 12x48 and sees 33 pixels each way instead of 12.

Layout: ``pixel_unshuffle(f)`` -> conv ``c*f^2 -> width`` + ReLU ->
``depth - 2`` x (conv ``width -> width`` + ReLU) -> conv ``width -> c*f^2`` ->
``pixel_shuffle(f)``, added to the input (residual). Odd sizes are padded by
edge replication to a multiple of ``f`` and the output is cropped back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from .reccnn import RecCNN

__all__ = ["ShuffleCNN"]


class ShuffleCNN(RecCNN):
    """Residual conv stack on the ``factor x factor`` pixel-unshuffled image.

    A :class:`RecCNN` without batch norm (the same ``body`` keys) on ``c * f^2``
    folded channels; its residual, added before the unfold, is the input itself
    after it.

    Args:
        in_channels: image channels c (3 for RGB).
        width: filters per hidden layer.
        depth: number of conv layers, >= 2.
        kernel: odd spatial size of every conv.
        factor: unshuffle factor f (2: FFDNet).
        residual: return ``x + F(x)`` or ``F(x)``.

    Shape: ``N x C x H x W`` float32 in [0, 1] -> same shape (not clamped).
    """

    def __init__(
        self,
        in_channels: int = 3,
        width: int = 64,
        depth: int = 16,
        kernel: int = 3,
        factor: int = 2,
        residual: bool = True,
    ) -> None:
        if factor < 1:
            raise ValueError(f"need factor >= 1, got {factor}")
        super().__init__(in_channels * factor * factor, width, depth, kernel, batch_norm=False, residual=residual)
        self.config = dict(
            in_channels=in_channels, width=width, depth=depth, kernel=kernel, factor=factor, residual=residual
        )
        self.factor = factor

    @property
    def tile_align(self) -> int:  # type: ignore[override]
        return self.factor

    @property
    def receptive_radius(self) -> int:
        # an output pixel sees depth * (kernel // 2) folded pixels each way, plus its own block
        return self.factor * super().receptive_radius + self.factor - 1

    @classmethod
    def config_from_state_dict(cls, sd: Mapping[str, Tensor]) -> dict[str, Any]:
        """Width, depth and kernel (``in_channels`` and ``factor`` share one shape: give them)."""
        config = RecCNN.config_from_state_dict(sd)
        if config["batch_norm"]:
            raise ValueError("shufflecnn has no batch norm, but the state dict does")
        return {k: config[k] for k in ("width", "depth", "kernel")}

    def fuse_bn(self) -> ShuffleCNN:
        """No batch norm to fold; returns self."""
        return self

    def forward(self, x: Tensor) -> Tensor:
        f = self.factor
        h, w = x.shape[-2:]
        ph, pw = -h % f, -w % f
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        # pixel_shuffle is a permutation, so the folded residual unfolds to the input itself
        y = F.pixel_shuffle(super().forward(F.pixel_unshuffle(xp, f)), f)
        return y[..., :h, :w] if ph or pw else y
