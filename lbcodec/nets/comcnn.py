"""ComCNN: the compact-representation network of ComCNN + RecCNN (paper 002)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..resample import bicubic_weight
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

    Residual variant (``residual=True``, beyond the paper): the output is a fixed
    bicubic (a = -0.5, antialiased, as PIL) downsampling of the input plus the three
    layers' output, clamped to [0, 1]; the last layer starts at zero, so the untrained
    net *is* bicubic downsampling and training only moves it where that pays, instead
    of first having to learn bicubic downsampling approximately (an approximation that
    adds noise the codec then pays bits for).

    Args:
        in_channels: image channels c (3 for RGB, 1 for gray; paper: gray).
        width: filters of the two hidden layers (paper: 64).
        batch_norm: BN after the stride-2 conv (the paper's Fig. 3; True).
        residual: add the layers to a fixed bicubic downsampling (False: the paper).

    Shape: ``N x C x H x W`` float32 in [0, 1] -> ``N x C x ceil(H/2) x ceil(W/2)``
    float32 in (0, 1).
    """

    scale_out: float = 0.5
    tile_align: int = 2
    #: 1 (conv1) + 1 (stride-2 conv, input pixels) + 2 (conv3 at half size).
    receptive_radius: int = 4

    def __init__(self, in_channels: int = 3, width: int = 64, batch_norm: bool = True,
                 residual: bool = False) -> None:
        super().__init__()
        self.config: dict[str, Any] = dict(
            in_channels=in_channels, width=width, batch_norm=batch_norm, residual=residual
        )
        self.body = nn.Sequential(
            conv_block(in_channels, width, 3),
            conv_block(width, width, 3, stride=2, bn=batch_norm),
            conv_block(width, in_channels, 3, relu=False),
        )
        self.residual = residual
        if residual:
            last = self.body[2][0]  # conv_block: Conv2d first
            nn.init.zeros_(last.weight)
            if last.bias is not None:
                nn.init.zeros_(last.bias)
            # not persistent: the kernel is a constant, so weights files stay those of the paper's net
            self.register_buffer("down_kernel", bicubic_half_kernel(), persistent=False)

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
        if not self.residual:
            return torch.sigmoid(self.body(x))
        return (downsample_half(x, self.down_kernel) + self.body(x)).clamp(0, 1)


def bicubic_half_kernel() -> Tensor:
    """The 8 taps of PIL's antialiased bicubic filter for a factor-2 reduction."""
    taps = [bicubic_weight((i - 3.5) / 2) for i in range(8)]
    total = math.fsum(taps)
    return torch.tensor([t / total for t in taps], dtype=torch.float32)


def downsample_half(x: Tensor, kernel: Tensor) -> Tensor:
    """Separable factor-2 bicubic reduction, edge pixels replicated: H x W -> ceil(H/2) x ceil(W/2)."""
    n, c, h, w = x.shape
    k = kernel.to(x)
    x = F.pad(x, (3, 3 + w % 2, 3, 3 + h % 2), mode="replicate")
    x = F.conv2d(x.reshape(n * c, 1, *x.shape[2:]), k.view(1, 1, 1, 8), stride=(1, 2))
    x = F.conv2d(x, k.view(1, 1, 8, 1), stride=(2, 1))
    return x.reshape(n, c, *x.shape[2:])
