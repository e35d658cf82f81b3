"""Tiled inference equals whole-image inference; self-ensemble inverts its transforms."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from conftest import TINY
from torch import nn

from lbcodec import nets
from lbcodec.nets.tiling import (
    image_to_tensor,
    run_tiled,
    self_ensemble,
    tensor_to_image,
)

TILEABLE = ["srcnn", "arcnn", "reccnn", "comcnn", "modifynet", "jpegnet", "shufflecnn"]


def tiny(name: str, channels: int = 3) -> nn.Module:
    """A tiny net in eval mode; batch norms get non-trivial statistics."""
    torch.manual_seed(0)
    net = nets.build(name, in_channels=channels, **TINY[name])
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


@pytest.mark.parametrize("name", TILEABLE)
@pytest.mark.parametrize("tile", [32, 21])
def test_tiled_equals_whole(name: str, tile: int) -> None:
    net = tiny(name)
    x = torch.rand(1, 3, 70, 53, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = net(x)
    tiled = run_tiled(net, x, tile=tile)
    assert tiled.shape == whole.shape
    torch.testing.assert_close(tiled, whole, atol=1e-4, rtol=0)


def test_uint8_and_chw_inputs() -> None:
    net = tiny("comcnn", channels=1)
    img = np.random.default_rng(0).integers(0, 256, (37, 30), dtype=np.uint8)
    x = image_to_tensor(img)
    assert x.shape == (1, 1, 37, 30) and x.dtype == torch.uint8
    with torch.no_grad():
        whole = net(x.float() / 255)
    torch.testing.assert_close(run_tiled(net, x, tile=16), whole, atol=1e-4, rtol=0)
    torch.testing.assert_close(run_tiled(net, x[0], tile=16), whole[0], atol=1e-4, rtol=0)


def test_training_flag_restored() -> None:
    net = tiny("reccnn").train()
    run_tiled(net, torch.rand(1, 3, 9, 9), tile=8)
    assert net.training


def test_global_context_net_needs_explicit_overlap() -> None:
    net = tiny("attention")
    x = torch.rand(1, 3, 20, 18)
    with torch.no_grad():
        whole = net(x)
    torch.testing.assert_close(run_tiled(net, x, tile=32), whole)  # one tile: exact
    with pytest.raises(ValueError, match="global context"):
        run_tiled(net, x, tile=8)
    assert run_tiled(net, x, tile=8, overlap=4).shape == whole.shape  # approximate


def test_image_round_trip() -> None:
    rng = np.random.default_rng(1)
    for shape in [(5, 7, 3), (5, 7)]:
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        t = image_to_tensor(img).float() / 255
        np.testing.assert_array_equal(tensor_to_image(t), img)


def test_self_ensemble_of_equivariant_maps() -> None:
    x = torch.rand(2, 3, 6, 5)
    torch.testing.assert_close(self_ensemble(lambda t: t, x), x)
    torch.testing.assert_close(self_ensemble(lambda t: t * 2 + 1, x), x * 2 + 1)


def test_self_ensemble_averages_a_net_and_composes_with_tiling() -> None:
    net = tiny("srcnn")
    x = torch.rand(1, 3, 19, 14)
    with torch.no_grad():
        direct = self_ensemble(net, x)
    tiled = self_ensemble(partial(run_tiled, net, tile=8), x)
    assert tiled.shape == x.shape
    torch.testing.assert_close(tiled, direct, atol=1e-4, rtol=0)
    # a half-size net too: the output axes rotate with the input's
    assert self_ensemble(tiny("comcnn"), x).shape == (1, 3, 10, 7)


@pytest.mark.parametrize("tile", [32, 21])
def test_tiled_equals_whole_residual_comcnn(tile: int) -> None:
    """The residual ComCNN's fixed 8-tap bicubic path stays inside the receptive radius."""
    torch.manual_seed(0)
    net = nets.build("comcnn", in_channels=3, **TINY["comcnn"], residual=True).eval()
    torch.nn.init.normal_(net.body[2][0].weight, std=0.05)  # the trainable part too, not only bicubic
    x = torch.rand(1, 3, 70, 53, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = net(x)
    tiled = run_tiled(net, x, tile=tile)
    assert tiled.shape == whole.shape == (1, 3, 35, 27)
    torch.testing.assert_close(tiled, whole, atol=1e-4, rtol=0)
