"""Modify-Net: the VDSR-like pre-filter of paper 001."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from .reccnn import RecCNN


class ModifyNet(RecCNN):
    """20-layer conv + ReLU pre-filter that makes an image easier for the codec.

    Paper 001, Sec. 3.1 (after VDSR): 20 conv layers with zero padding; the
    first has 64 filters of 3x3 x c, the middle ones 64 of 3x3x64, the last a
    single 3x3x64 filter per channel with no ReLU; the net predicts a residual
    added to the input (VDSR global residual, Sec. II). The paper works on
    Y, Cb, Cr; lbcodec feeds RGB (``in_channels=3``) or gray (1). It runs before
    the encoder; the decoder is the plain standard decoder. Trained through
    :class:`lbcodec.nets.jpegnet.JPEGNet` (Sec. 3.2).

    Same layer stack as :class:`RecCNN` without batch norm.

    Args:
        in_channels: image channels c (3 for RGB, 1 for gray).
        width: filters per hidden layer (paper: 64).
        depth: number of conv layers, >= 2 (paper: 20).
        kernel: odd spatial size of every conv (paper: 3).
        residual: return ``x + F(x)`` (paper/VDSR: True) or ``F(x)``.

    Shape: ``N x C x H x W`` float32 in [0, 1] -> same shape (not clamped).
    """

    def __init__(
        self,
        in_channels: int = 3,
        width: int = 64,
        depth: int = 20,
        kernel: int = 3,
        residual: bool = True,
    ) -> None:
        super().__init__(in_channels, width, depth, kernel, batch_norm=False, residual=residual)
        del self.config["batch_norm"]

    @classmethod
    def config_from_state_dict(cls, sd: Mapping[str, Tensor]) -> dict[str, Any]:
        config = RecCNN.config_from_state_dict(sd)
        if config.pop("batch_norm"):
            raise ValueError("modifynet has no batch norm, but the state dict does")
        return config

    def fuse_bn(self) -> ModifyNet:
        """No batch norm to fold; returns self."""
        return self
