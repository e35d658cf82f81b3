"""Networks of lbcodec, registered by name.

Every network maps float32 tensors ``N x C x H x W`` with values in ``[0, 1]``
to float32 tensors of the same layout (``C`` = ``in_channels``, RGB by default;
``H`` and ``W`` halved, rounded up, for ``comcnn``). Each class carries:

* ``receptive_radius``: pixels of input context needed on each side of an
  output pixel, in input pixels; ``None`` when a global pooling makes the net
  not exactly tileable (see :mod:`lbcodec.nets.tiling`);
* ``scale_out``: output size / input size (1, or 0.5 for ``comcnn``);
* ``tile_align``: tile offsets must be multiples of this (2 for ``comcnn``,
  the unshuffle factor for ``shufflecnn``, 8 for ``jpegnet``, else 1);
* ``config``: the keyword arguments that rebuild it with :func:`build`;
* ``config_from_state_dict(sd)``: the widths/depths read from tensor shapes.

The registry is explicit (BasicSR style): the modules are imported one by one
below and :func:`register` refuses a name twice. This package is the only one
in lbcodec that imports torch, so the CLI imports it lazily.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

import torch
from torch import nn

from .arcnn import ARCNN
from .attention import AttentionNet, grow_state_dict as _grow_attention
from .comcnn import ComCNN
from .jpegnet import JPEGNet
from .modifynet import ModifyNet
from .reccnn import RecCNN, fuse_bn
from .shufflecnn import ShuffleCNN
from .srcnn import SRCNN

__all__ = [
    "NETS",
    "build",
    "config_from_state_dict",
    "from_state_dict",
    "fuse_bn",
    "get_class",
    "grow_state_dict",
    "register",
]

_T = TypeVar("_T", bound=type)
_REGISTRY: dict[str, type[nn.Module]] = {}

#: Read-only view: registry name -> network class.
NETS: Mapping[str, type[nn.Module]] = MappingProxyType(_REGISTRY)


def register(name: str) -> Callable[[_T], _T]:
    """Class decorator that registers a network class under ``name``.

    Raises:
        ValueError: if ``name`` is already registered.
    """

    def deco(cls: _T) -> _T:
        if name in _REGISTRY:
            raise ValueError(
                f"network name {name!r} already registered by {_REGISTRY[name].__qualname__}"
            )
        _REGISTRY[name] = cls
        return cls

    return deco


# The explicit list of shipped networks (no file-name scanning).
for _name, _cls in (
    ("srcnn", SRCNN),
    ("arcnn", ARCNN),
    ("reccnn", RecCNN),
    ("comcnn", ComCNN),
    ("modifynet", ModifyNet),
    ("jpegnet", JPEGNet),
    ("attention", AttentionNet),
    ("shufflecnn", ShuffleCNN),
):
    register(_name)(_cls)


def get_class(name: str) -> type[nn.Module]:
    """Return the class registered as ``name``; ValueError if unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown network {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def build(name: str, **config: Any) -> nn.Module:
    """Build a freshly initialised network: ``build("arcnn", in_channels=1)``."""
    return get_class(name)(**config)


#: networks whose trained weights can seed a larger net of the same family (Net2Net growth)
_GROWERS: dict[str, Callable[..., dict[str, torch.Tensor]]] = {"attention": _grow_attention}


def grow_state_dict(
    name: str, state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any], seed: int = 0
) -> dict[str, torch.Tensor]:
    """Weights for network ``name`` built with ``config`` that compute what the smaller
    ``state_dict`` computes (see :func:`lbcodec.nets.attention.grow_state_dict`).

    Raises:
        ValueError: ``name`` cannot be grown, or ``config`` is no growth of ``state_dict``'s net.
    """
    if name not in _GROWERS:
        raise ValueError(f"{name} networks cannot be grown; growable: {', '.join(sorted(_GROWERS))}")
    return _GROWERS[name](state_dict, seed=seed, **config)  # the grower takes the net's own arguments


def _plain(value: Any) -> Any:
    """Normalise tuples to lists so configs compare equal to their JSON form."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def config_from_state_dict(name: str, state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """The constructor arguments that tensor shapes of ``state_dict`` determine."""
    return get_class(name).config_from_state_dict(state_dict)  # type: ignore[attr-defined]


def from_state_dict(
    name: str, state_dict: Mapping[str, torch.Tensor], **config: Any
) -> nn.Module:
    """Rebuild network ``name`` from its weights and load them strictly.

    Widths, depths, kernel sizes and channel counts are read from tensor
    shapes (CompressAI ``from_state_dict`` style). ``config`` supplies the
    options that shapes cannot tell (e.g. ``residual``); where it also names a
    shape-derived option, the two must agree.

    Raises:
        ValueError: unknown name, or ``config`` contradicts the tensor shapes.
        RuntimeError: from ``load_state_dict`` when keys or shapes mismatch.
    """
    derived = config_from_state_dict(name, state_dict)
    for key, value in config.items():
        if key in derived and _plain(derived[key]) != _plain(value):
            raise ValueError(
                f"{name}: config {key}={value!r} contradicts the weights ({derived[key]!r})"
            )
    net = build(name, **{**config, **derived})
    net.load_state_dict(dict(state_dict), strict=True)
    return net
