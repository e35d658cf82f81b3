"""ComCNN: the compact-representation network of ComCNN + RecCNN (paper 002)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from .srcnn import conv_block, fuse_bn, stack_weights


class ComCNN(nn.Module):
    """Three-layer CNN that turns an image into a half-size compact image.

    Paper 002, Sec. III-A-1 and Fig. 3: conv 3x3x c -> 64 + ReLU; conv 3x3x64 -> 64
    with stride 2 (+ BN) + ReLU; conv 3x3x64 -> c. The compact image is what
    the standard codec encodes; the decoder upsamples it (bicubic x2) and runs
    RecCNN.

    Output range: the paper's last layer is linear. Here a sigmoid follows it,
    so the compact image always lies in (0, 1) -- the codec's input range --
    while gradients stay non-zero everywhere (a clamp would cut them off).

    Odd sizes: 'same' padding with stride 2 gives exactly
    ``ceil(H / 2) x ceil(W / 2)``. :meth:`fuse_bn` folds the BN for inference.

    Args:
        in_channels: image channels c (3 for RGB, 1 for gray; paper: gray).
        width: filters of the two hidden layers (paper: 64).
        batch_norm: BN after the stride-2 conv (the paper's Fig. 3; True).

    Shape: ``N x C x H x W`` float32 in [0, 1] -> ``N x C x ceil(H/2) x ceil(W/2)``
    float32 in (0, 1).
    """

    scale_out: float = 0.5
    tile_align: int = 2
    #: 1 (conv1) + 1 (stride-2 conv, input pixels) + 2 (conv3 at half size).
    receptive_radius: int = 4

    def __init__(self, in_channels: int = 3, width: int = 64, batch_norm: bool = True) -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(
            in_channels=in_channels, width=width, batch_norm=batch_norm
        )
        self.body = nn.Sequential(
            conv_block(in_channels, width, 3),
            conv_block(width, width, 3, stride=2, bn=batch_norm),
            conv_block(width, in_channels, 3, relu=False),
        )

    @classmethod
    def config_from_state_dict(cls, sd: Mapping[str, Tensor]) -> dict[str, Any]:
        ws = stack_weights(sd)
        if len(ws) != 3 or any(w.shape[-1] != 3 for w in ws):
            raise ValueError("comcnn: expected three 3x3 conv layers in the state dict")
        return dict(
            in_channels=int(ws[0].shape[1]),
            width=int(ws[0].shape[0]),
            batch_norm="body.1.1.running_mean" in sd,
        )

    def fuse_bn(self) -> ComCNN:
        """Fold batch norm into the stride-2 convolution (in place); returns self."""
        fuse_bn(self)
        self.config["batch_norm"] = False
        return self

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.body(x))
