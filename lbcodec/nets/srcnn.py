"""SRCNN-style three-layer enhancer, and the conv-stack pieces its family shares.

SRCNN (paper 000), AR-CNN (004), RecCNN (002) and Modify-Net (001) are all
plain stacks of 'same'-padded convolutions; they build their layers with
:func:`conv_block` so that state-dict keys read ``body.<i>.0.weight``, and
:func:`fuse_bn` folds batch norm into those convolutions for inference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn


def conv_block(
    cin: int, cout: int, kernel: int, *, stride: int = 1, bn: bool = False, relu: bool = True
) -> nn.Sequential:
    """``Conv2d -> BatchNorm2d|Identity -> ReLU|Identity``, zero 'same' padding.

    The conv has a bias only when no batch norm follows, so a net built with
    ``bn=False`` has exactly the keys of a BN net after :func:`fuse_bn`.
    """
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=not bn),
        nn.BatchNorm2d(cout) if bn else nn.Identity(),
        nn.ReLU(inplace=True) if relu else nn.Identity(),
    )


@torch.no_grad()
def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,  # type: ignore[arg-type]
        stride=conv.stride,  # type: ignore[arg-type]
        padding=conv.padding,  # type: ignore[arg-type]
        dilation=conv.dilation,  # type: ignore[arg-type]
        groups=conv.groups,
        bias=True,
    ).to(conv.weight)
    fused.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return fused


def fuse_bn(module: nn.Module) -> nn.Module:
    """Fold every ``Conv2d`` directly followed by ``BatchNorm2d`` (inside an
    ``nn.Sequential``) into one biased conv, replacing the BN by ``Identity``.

    Uses the running statistics, so the result equals the eval-mode output of
    the original. Works in place and returns ``module``.
    """
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                seq[i] = _fold(conv, bn)
                seq[i + 1] = nn.Identity()
    return module


def stack_weights(sd: Mapping[str, Tensor], prefix: str = "body") -> list[Tensor]:
    """Conv weights ``<prefix>.<i>.0.weight`` for i = 0, 1, ... in order."""
    weights = []
    while f"{prefix}.{len(weights)}.0.weight" in sd:
        weights.append(sd[f"{prefix}.{len(weights)}.0.weight"])
    if not weights:
        raise ValueError(f"no '{prefix}.0.0.weight' in state dict: not a conv stack")
    return weights


class SRCNN(nn.Module):
    """Three-layer SRCNN-style enhancer (9-1-5) for decoded, upsampled images.

    Paper 000 (VCIP 2016), Sec. II-C, Eq. (4)-(6): ``F_i = max(0, W_i * Y + B_i)``
    for i = 1, 2 and a linear third layer; "9-1-5" with 64 and 32 filters is
    the SRCNN setting also quoted in paper 004, Sec. 4.1.2.

    Args:
        in_channels: image channels c (3 for RGB, 1 for gray); output has the same.
        kernels: spatial size f_i of each layer (odd); one more than ``widths``.
        widths: filters n_i of the hidden layers.
        residual: if True (default) return ``x + F(x)``; paper 000 outputs
            ``F(x)`` directly (``residual=False``). Residual trains faster.

    Shape: ``N x C x H x W`` float32 in [0, 1] -> same shape (not clamped).
    """

    scale_out: float = 1.0
    tile_align: int = 1

    def __init__(
        self,
        in_channels: int = 3,
        kernels: Sequence[int] = (9, 1, 5),
        widths: Sequence[int] = (64, 32),
        residual: bool = True,
    ) -> None:
        super().__init__()
        kernels, widths = [int(k) for k in kernels], [int(w) for w in widths]
        if len(kernels) != len(widths) + 1:
            raise ValueError(f"need len(kernels) == len(widths) + 1, got {kernels}, {widths}")
        if any(k % 2 == 0 for k in kernels):
            raise ValueError(f"kernels must be odd, got {kernels}")
        self.config: dict[str, Any] = dict(
            in_channels=in_channels, kernels=kernels, widths=widths, residual=residual
        )
        chans = [in_channels, *widths, in_channels]
        self.body = nn.Sequential(
            *(
                conv_block(chans[i], chans[i + 1], k, relu=i < len(kernels) - 1)
                for i, k in enumerate(kernels)
            )
        )
        self.residual = residual

    @property
    def receptive_radius(self) -> int:
        return sum(k // 2 for k in self.config["kernels"])

    @classmethod
    def config_from_state_dict(cls, sd: Mapping[str, Tensor]) -> dict[str, Any]:
        ws = stack_weights(sd)
        return dict(
            in_channels=int(ws[0].shape[1]),
            kernels=[int(w.shape[-1]) for w in ws],
            widths=[int(w.shape[0]) for w in ws[:-1]],
        )

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        return x + y if self.residual else y
