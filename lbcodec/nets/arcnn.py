"""AR-CNN: compression artifacts reduction network (paper 004, ICCV 2015)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .srcnn import SRCNN

#: The deeper five-layer AR-CNN "9-7-3-1-5" of paper 004, Sec. 4.2
#: (extra feature-enhancement layer f1'' = 3, n1'' = 16): ``ARCNN(**DEEPER)``.
DEEPER: dict[str, Any] = dict(kernels=[9, 7, 3, 1, 5], widths=[64, 32, 16, 16])


class ARCNN(SRCNN):
    """AR-CNN 9-7-1-5: feature extraction, feature enhancement, mapping, reconstruction.

    Paper 004, Sec. 3.2 (Formulation) and Sec. 4.1 network settings:
    f1 = 9, f1' = 7, f2 = 1, f3 = 5, n1 = 64, n1' = 32, n2 = 16, n3 = c;
    ReLU after every layer but the last. Sec. 4.2's deeper 9-7-3-1-5 is
    :data:`DEEPER`. The paper trains on 32x32 crops without padding; here
    every conv is zero 'same'-padded so the output has the input's size.

    Args:
        in_channels: image channels c (3 for RGB, 1 for gray; the paper uses Y).
        kernels: spatial size of each layer (odd); one more than ``widths``.
        widths: filters of the hidden layers.
        residual: if True (default) return ``x + F(x)``; the paper outputs
            ``F(x)`` (``residual=False``). Residual trains faster.

    Shape: ``N x C x H x W`` float32 in [0, 1] -> same shape (not clamped).
    """

    def __init__(
        self,
        in_channels: int = 3,
        kernels: Sequence[int] = (9, 7, 1, 5),
        widths: Sequence[int] = (64, 32, 16),
        residual: bool = True,
    ) -> None:
        super().__init__(in_channels, kernels, widths, residual)
