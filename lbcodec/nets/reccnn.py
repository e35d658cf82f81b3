"""RecCNN: the reconstruction network of ComCNN + RecCNN (paper 002, TCSVT 2018)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from .srcnn import conv_block, fuse_bn, stack_weights

__all__ = ["RecCNN", "fuse_bn"]


class RecCNN(nn.Module):
    """20-layer residual reconstruction CNN with batch norm.

    Paper 002, Sec. III-A-2 and Fig. 4: layer 1 is conv 3x3x c -> 64 + ReLU,
    layers 2..19 are conv 3x3x64 -> 64 + BN + ReLU, layer 20 is conv 3x3x64 -> c;
    the net predicts a residual added to its input (the decoded image,
    bicubic-upscaled), Eq. (15).

    For inference, :meth:`fuse_bn` folds each BN into the conv before it; the
    fused net is a ``RecCNN(batch_norm=False)``, so :func:`lbcodec.nets.from_state_dict`
    rebuilds from fused and unfused weights alike.

    Args:
        in_channels: image channels c (3 for RGB, 1 for gray; paper: gray).
        width: filters per hidden layer (paper: 64).
        depth: number of conv layers, >= 2 (paper: 20).
        kernel: odd spatial size of every conv (paper: 3).
        batch_norm: BN in layers 2..depth-1 (paper: True).
        residual: return ``x + F(x)`` (paper: True) or ``F(x)``.

    Shape: ``N x C x H x W`` float32 in [0, 1] -> same shape (not clamped).
    """

    scale_out: float = 1.0
    tile_align: int = 1

    def __init__(
        self,
        in_channels: int = 3,
        width: int = 64,
        depth: int = 20,
        kernel: int = 3,
        batch_norm: bool = True,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if depth < 2 or kernel % 2 == 0:
            raise ValueError(f"need depth >= 2 and an odd kernel, got {depth}, {kernel}")
        self.config: dict[str, Any] = dict(
            in_channels=in_channels,
            width=width,
            depth=depth,
            kernel=kernel,
            batch_norm=batch_norm,
            residual=residual,
        )
        self.body = nn.Sequential(
            conv_block(in_channels, width, kernel),
            *(conv_block(width, width, kernel, bn=batch_norm) for _ in range(depth - 2)),
            conv_block(width, in_channels, kernel, relu=False),
        )
        self.residual = residual

    @property
    def receptive_radius(self) -> int:
        return self.config["depth"] * (self.config["kernel"] // 2)

    @classmethod
    def config_from_state_dict(cls, sd: Mapping[str, Tensor]) -> dict[str, Any]:
        ws = stack_weights(sd)
        return dict(
            in_channels=int(ws[0].shape[1]),
            width=int(ws[0].shape[0]),
            depth=len(ws),
            kernel=int(ws[0].shape[-1]),
            batch_norm="body.1.1.running_mean" in sd,
        )

    def fuse_bn(self) -> RecCNN:
        """Fold batch norm into the convolutions (in place); returns self."""
        fuse_bn(self)
        self.config["batch_norm"] = False
        return self

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        return x + y if self.residual else y
