"""JPEG-Net: a differentiable JPEG emulator on 8x8 blocks (paper 001); training only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn


class JPEGNet(nn.Module):
    """Emulates JPEG encode + decode at one fixed quality, block by block.

    Paper 001, Sec. 3.1: "three convolution layers and three deconvolution
    layers", input and output 3-channel 8x8, because "JPEG encoder quantizes an
    image with 8x8 blocks, and it does not use the data out of the block".
    Sec. 3.2: trained with MSE against real JPEG output at a fixed quality,
    then frozen while Modify-Net trains through it (2-3 alternating stages).
    It is never used at encode/decode time.

    The paper gives no kernel sizes or widths; ours form an 8 -> 4 -> 2 -> 1
    encoder (two 3x3 stride-2 convs, one 2x2 stride-2 conv, like a per-block
    transform to a code) and a mirrored 1 -> 2 -> 4 -> 8 decoder of transposed
    convs (2x2/2, 4x4/2, 4x4/2), ReLU between layers, none at the end.

    Images of any size are cut into 8x8 blocks (edge-replicated up to a
    multiple of 8, as JPEG pads), each block is processed alone, and the
    result is reassembled and cropped.

    Args:
        in_channels: image channels (3 for RGB, 1 for gray).
        widths: channels after each of the three convs (default 64, 128, 256).
        residual: return ``block + F(block)`` (default; our choice, JPEG output
            is close to its input) or ``F(block)``.

    Shape: ``N x C x H x W`` float32 in [0, 1] -> same shape (not clamped).
    """

    block: int = 8
    scale_out: float = 1.0
    tile_align: int = 8
    receptive_radius: int = 0  # blocks are independent; tiles must align to 8

    def __init__(
        self,
        in_channels: int = 3,
        widths: Sequence[int] = (64, 128, 256),
        residual: bool = True,
    ) -> None:
        super().__init__()
        w0, w1, w2 = (int(w) for w in widths)
        self.config: dict[str, Any] = dict(
            in_channels=in_channels, widths=[w0, w1, w2], residual=residual
        )
        self.enc = nn.Sequential(
            nn.Conv2d(in_channels, w0, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(w0, w1, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(w1, w2, 2, stride=2), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(w2, w1, 2, stride=2), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(w1, w0, 4, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(w0, in_channels, 4, stride=2, padding=1),
        )  # fmt: skip
        self.residual = residual

    @classmethod
    def config_from_state_dict(cls, sd: Mapping[str, Tensor]) -> dict[str, Any]:
        convs = [sd[f"enc.{i}.weight"] for i in (0, 2, 4)]
        return dict(
            in_channels=int(convs[0].shape[1]),
            widths=[int(w.shape[0]) for w in convs],
        )

    def forward_blocks(self, blocks: Tensor) -> Tensor:
        """``B x C x 8 x 8`` blocks -> emulated JPEG blocks, same shape."""
        y = self.dec(self.enc(blocks))
        return blocks + y if self.residual else y

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        b = self.block
        ph, pw = -h % b, -w % b
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        hb, wb = x.shape[-2] // b, x.shape[-1] // b
        blocks = x.reshape(n, c, hb, b, wb, b).permute(0, 2, 4, 1, 3, 5).reshape(-1, c, b, b)
        y = self.forward_blocks(blocks)
        y = y.reshape(n, hb, wb, c, b, b).permute(0, 3, 1, 4, 2, 5).reshape(n, c, hb * b, wb * b)
        return y[..., :h, :w]
