"""Attention post-filter: residual blocks with channel and spatial attention (paper 003)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

#: The configuration of paper 003, Sec. 3 (30 blocks); width and reduction
#: follow RCAN, which the paper's blocks come from (not stated in the paper).
PAPER: dict[str, Any] = dict(n_blocks=30, width=64, reduction=16)


class ChannelAttention(nn.Module):
    """Global average pool -> 1x1 conv (width -> hidden) -> ReLU -> 1x1 conv -> sigmoid; rescales channels."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(width, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, width, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.fc(x)


class SpatialAttention(nn.Module):
    """Channel-wise mean and max -> k x k conv -> sigmoid; rescales pixels (CBAM style)."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class AttentionBlock(nn.Module):
    """conv 3x3 -> ReLU -> conv 3x3 -> channel attention -> spatial attention, plus skip."""

    def __init__(self, width: int, hidden: int, sa_kernel: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1),
        )
        self.ca = ChannelAttention(width, hidden)
        self.sa = SpatialAttention(sa_kernel)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.sa(self.ca(self.body(x)))


class AttentionNet(nn.Module):
    """Post-filter for strong codecs at low rate: attention residual blocks.

    Paper 003, Sec. 3 and Fig. 2: a stack of residual blocks, each with channel
    attention (CA) and spatial attention (SA); the paper uses 30 blocks
    (:data:`PAPER`), MAE then MAE + MS-SSIM loss, and x8 self-ensemble at test
    time (:func:`lbcodec.nets.tiling.self_ensemble`). Layout here: head conv
    3x3 (c -> width), ``n_blocks`` :class:`AttentionBlock`, tail conv 3x3
    (width -> c), global residual ``x + F(x)``.

    CA uses a global average pool, so the output at a pixel depends on the
    whole image: ``receptive_radius`` is None (tiling is only approximate).

    Args:
        in_channels: image channels c (3 for RGB, 1 for gray).
        width: feature channels (default 32; paper config 64).
        n_blocks: attention residual blocks (default 8; paper 30).
        reduction: CA bottleneck is ``width // reduction`` channels; must divide
            ``width`` (default 8).
        sa_kernel: odd kernel of the SA conv (default 7, as in CBAM).

    Shape: ``N x C x H x W`` float32 in [0, 1] -> same shape (not clamped).
    """

    scale_out: float = 1.0
    tile_align: int = 1
    receptive_radius: int | None = None
    #: the output is the input plus the body's correction (read by lbcodec.filters for bfloat16)
    residual: bool = True

    def __init__(
        self,
        in_channels: int = 3,
        width: int = 32,
        n_blocks: int = 8,
        reduction: int = 8,
        sa_kernel: int = 7,
    ) -> None:
        super().__init__()
        if width % reduction:
            raise ValueError(f"width {width} must be a multiple of reduction {reduction}")
        hidden = width // reduction
        self.config: dict[str, Any] = dict(
            in_channels=in_channels,
            width=width,
            n_blocks=n_blocks,
            reduction=reduction,
            sa_kernel=sa_kernel,
        )
        self.head = nn.Conv2d(in_channels, width, 3, padding=1)
        self.blocks = nn.Sequential(
            *(AttentionBlock(width, hidden, sa_kernel) for _ in range(n_blocks))
        )
        self.tail = nn.Conv2d(width, in_channels, 3, padding=1)

    @classmethod
    def config_from_state_dict(cls, sd: Mapping[str, Tensor]) -> dict[str, Any]:
        head = sd["head.weight"]
        n_blocks = 0
        while f"blocks.{n_blocks}.body.0.weight" in sd:
            n_blocks += 1
        config: dict[str, Any] = dict(
            in_channels=int(head.shape[1]), width=int(head.shape[0]), n_blocks=n_blocks
        )
        if n_blocks:
            hidden = int(sd["blocks.0.ca.fc.1.weight"].shape[0])
            config["reduction"] = config["width"] // hidden
            config["sa_kernel"] = int(sd["blocks.0.sa.conv.weight"].shape[-1])
        return config

    def forward(self, x: Tensor) -> Tensor:
        return x + self.tail(self.blocks(self.head(x)))


def grow_state_dict(
    sd: Mapping[str, Tensor],
    width: int,
    n_blocks: int,
    reduction: int | None = None,
    sa_kernel: int | None = None,
    in_channels: int | None = None,
    noise: float = 0.1,
    seed: int = 0,
) -> dict[str, Tensor]:
    """Weights of a wider and deeper :class:`AttentionNet` that computes what ``sd``'s net computes.

    Net2Net-style growth, to start a larger net from a trained small one: every feature
    channel c of the small net is copied ``width / w0`` times (CA's hidden channels likewise,
    the reduction staying the same); a layer reading copied channels splits each weight among
    the copies with fractions that sum to 1 but differ by up to ``noise`` / copies, so the
    output is unchanged and the copies can still learn different things. The new blocks are
    identities (their second conv is zero, so ``x + SA(CA(0)) = x``), spread evenly between
    the old ones. SA reads the mean and max over channels, which equal copies leave unchanged
    only when every channel has the same number of copies: ``width`` must be a multiple of the
    small width.

    ``reduction``, ``sa_kernel`` and ``in_channels``, when given, must be the small net's.

    Raises:
        ValueError: if ``width`` is not a multiple of the small width, ``n_blocks`` is
            smaller than the small net's, or ``reduction`` / ``sa_kernel`` differ from its.
    """
    sd = {k: v.float() for k, v in sd.items()}  # shipped weights are float16: split them exactly
    small = AttentionNet.config_from_state_dict(sd)
    w0, b0 = small["width"], small["n_blocks"]
    if width % w0 or n_blocks < b0:
        raise ValueError(f"can grow {b0} x {w0} only to a multiple of width {w0} and >= {b0} blocks, "
                         f"not {n_blocks} x {width}")
    red, sak = small.get("reduction", 8), small.get("sa_kernel", 7)
    for key, want, have in (("reduction", reduction, red), ("sa_kernel", sa_kernel, sak),
                            ("in_channels", in_channels, small["in_channels"])):
        if want is not None and want != have:
            raise ValueError(f"growing keeps {key} {have}, not {want}")
    big = AttentionNet(small["in_channels"], width, n_blocks, red, sak)
    out = {k: v.detach().clone() for k, v in big.state_dict().items()}
    gen = torch.Generator().manual_seed(seed)
    feat = torch.arange(width) % w0  # big channel j copies small channel feat[j]
    hid = torch.arange(width // red) % (w0 // red)

    def split(w: Tensor, src: Tensor) -> Tensor:
        """Input channels (dim 1) of ``w`` copied as ``src`` says, each weight split among its copies."""
        copies = src.numel() // (int(src.max()) + 1)  # src is arange(n) % originals
        frac = torch.rand(w.shape[0], src.numel(), *w.shape[2:], generator=gen, dtype=w.dtype) - 0.5
        # fractions 1/copies + r with the r of each original channel's copies summing to 0
        r = frac.view(w.shape[0], copies, -1, *w.shape[2:])
        r = (r - r.mean(1, keepdim=True)).view_as(frac) * (2 * noise / copies)
        return w[:, src] * (1.0 / copies + r)

    def widen(prefix: str, w_src: Tensor, b_src: Tensor, rows: Tensor | None, cols: Tensor | None) -> None:
        w = w_src if rows is None else w_src[rows]
        out[f"{prefix}.weight"] = split(w, cols) if cols is not None else w.clone()
        out[f"{prefix}.bias"] = (b_src if rows is None else b_src[rows]).clone()

    widen("head", sd["head.weight"], sd["head.bias"], feat, None)
    widen("tail", sd["tail.weight"], sd["tail.bias"], None, feat)
    # the old blocks at evenly spread positions, identities between them
    places = [round(i * n_blocks / b0) for i in range(b0)] if b0 else []
    for i, j in enumerate(places):
        src, dst = f"blocks.{i}", f"blocks.{j}"
        for conv in ("body.0", "body.2"):
            widen(f"{dst}.{conv}", sd[f"{src}.{conv}.weight"], sd[f"{src}.{conv}.bias"], feat, feat)
        widen(f"{dst}.ca.fc.1", sd[f"{src}.ca.fc.1.weight"], sd[f"{src}.ca.fc.1.bias"], hid, feat)
        widen(f"{dst}.ca.fc.3", sd[f"{src}.ca.fc.3.weight"], sd[f"{src}.ca.fc.3.bias"], feat, hid)
        out[f"{dst}.sa.conv.weight"] = sd[f"{src}.sa.conv.weight"].clone()
        out[f"{dst}.sa.conv.bias"] = sd[f"{src}.sa.conv.bias"].clone()
    for j in set(range(n_blocks)) - set(places):
        out[f"blocks.{j}.body.2.weight"].zero_()
        out[f"blocks.{j}.body.2.bias"].zero_()
    return out
