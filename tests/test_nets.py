"""Architecture tests: tiny configs, tiny inputs, CPU only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY
from torch import nn

from lbcodec import nets
from lbcodec.nets.arcnn import DEEPER


def tiny(name: str, channels: int = 3, **extra) -> nn.Module:
    torch.manual_seed(0)
    net = nets.build(name, in_channels=channels, **{**TINY[name], **extra})
    randomize_bn(net)
    return net.eval()


def randomize_bn(net: nn.Module) -> None:
    """Give batch norms non-trivial statistics, as after training."""
    gen = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


def test_every_net_has_a_tiny_config() -> None:
    assert set(TINY) == set(nets.NETS)


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(16, 16), (13, 10)])
def test_shapes(name: str, channels: int, size: tuple[int, int]) -> None:
    net = tiny(name, channels)
    x = torch.rand(2, channels, *size)
    with torch.no_grad():
        y = net(x)
    h, w = size
    expected = (h, w) if net.scale_out == 1 else ((h + 1) // 2, (w + 1) // 2)
    assert y.shape == (2, channels, *expected)
    assert y.dtype == torch.float32 and torch.isfinite(y).all()
    assert net.receptive_radius is None or net.receptive_radius >= 0


def test_comcnn_output_in_unit_range() -> None:
    y = tiny("comcnn")(torch.rand(1, 3, 9, 7) * 50 - 25)
    assert y.shape[-2:] == (5, 4) and 0 <= y.min() and y.max() <= 1


@pytest.mark.parametrize("name", sorted(TINY))
def test_from_state_dict_round_trip(name: str) -> None:
    net = tiny(name, channels=1)
    x = torch.rand(1, 1, 12, 11)
    rebuilt = nets.from_state_dict(name, net.state_dict(), **net.config).eval()
    assert rebuilt.config == net.config
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net(x))


def test_from_state_dict_reads_shapes_and_checks_config() -> None:
    net = nets.build("arcnn", **DEEPER, in_channels=1)
    rebuilt = nets.from_state_dict("arcnn", net.state_dict())
    assert rebuilt.config["kernels"] == [9, 7, 3, 1, 5]
    assert rebuilt.config["widths"] == [64, 32, 16, 16]
    assert rebuilt.receptive_radius == 10
    with pytest.raises(ValueError, match="contradicts"):
        nets.from_state_dict("arcnn", net.state_dict(), widths=[64, 32, 16])
    with pytest.raises(RuntimeError):  # right shapes, wrong family
        nets.from_state_dict("srcnn", {**net.state_dict(), "extra": torch.zeros(1)})


@pytest.mark.parametrize("name", ["reccnn", "comcnn"])
def test_fuse_bn_matches_eval_output(name: str) -> None:
    net = tiny(name)
    x = torch.rand(1, 3, 15, 14)
    with torch.no_grad():
        before = net(x)
        net.fuse_bn()
        after = net(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert net.config["batch_norm"] is False
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)
    # a fused state dict rebuilds (as a BN-free net) and loads strictly
    rebuilt = nets.from_state_dict(name, net.state_dict()).eval()
    assert rebuilt.config["batch_norm"] is False
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), before, atol=1e-5, rtol=0)


def test_registry_refuses_duplicates_and_unknown_names() -> None:
    with pytest.raises(ValueError, match="already registered"):
        nets.register("srcnn")(nn.Identity)
    assert nets.NETS["srcnn"] is nets.get_class("srcnn")
    with pytest.raises(ValueError, match="unknown network"):
        nets.build("nope")
    with pytest.raises(TypeError):
        nets.NETS["x"] = nn.Identity  # type: ignore[index]


def count_convs(net: nn.Module) -> int:
    return sum(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in net.modules())


def test_default_configs_follow_the_papers() -> None:
    assert count_convs(nets.build("srcnn")) == 3
    assert count_convs(nets.build("arcnn")) == 4
    reccnn = nets.build("reccnn")
    assert count_convs(reccnn) == 20
    assert sum(isinstance(m, nn.BatchNorm2d) for m in reccnn.modules()) == 18
    assert count_convs(nets.build("modifynet")) == 20
    assert count_convs(nets.build("comcnn")) == 3
    assert count_convs(nets.build("jpegnet")) == 6
    assert nets.build("arcnn").receptive_radius == 9
    assert nets.build("reccnn").receptive_radius == 20


def test_residual_comcnn_starts_as_pil_bicubic_downsampling() -> None:
    """Untrained, the residual ComCNN is exactly Pillow's antialiased bicubic x1/2."""
    from conftest import smooth_image

    from lbcodec.nets.comcnn import bicubic_half_kernel
    from lbcodec.resample import resize_bicubic

    assert torch.isclose(bicubic_half_kernel().sum(), torch.tensor(1.0))
    img = smooth_image(48, 64, noise=0.0)
    net = nets.build("comcnn", residual=True).eval()
    with torch.no_grad():
        y = net(torch.from_numpy(img.transpose(2, 0, 1)[None].copy()).float() / 255)[0].permute(1, 2, 0).numpy()
    ref = np.clip(resize_bicubic(img, (32, 24)) / 255, 0, 1)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y[2:-2, 2:-2], ref[2:-2, 2:-2], atol=1e-5)  # edges: replicate vs renormalised taps
    assert np.abs(y - ref).max() < 0.02


def test_residual_comcnn_shapes_range_and_weights() -> None:
    net = tiny("comcnn", residual=True)
    torch.nn.init.normal_(net.body[2][0].weight, std=1.0)
    with torch.no_grad():
        y = net(torch.rand(2, 3, 9, 7))
    assert y.shape == (2, 3, 5, 4) and 0 <= y.min() and y.max() <= 1
    sd = net.state_dict()
    assert set(sd) == set(tiny("comcnn").state_dict())  # the fixed kernel is not a weight
    rebuilt = nets.from_state_dict("comcnn", sd, residual=True).eval()
    assert rebuilt.config == net.config
    x = torch.rand(1, 3, 12, 11)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net(x))


@pytest.mark.parametrize("size", [(24, 30), (23, 29)])
def test_shufflecnn_receptive_radius_is_exact(size: tuple[int, int]) -> None:
    """A pixel just outside ``receptive_radius`` cannot change an output pixel; one just
    inside can (so tiling with that overlap is exact and not wasteful); odd sizes keep their shape."""
    torch.manual_seed(0)
    net = nets.build("shufflecnn", width=6, depth=3).eval()
    r = net.receptive_radius
    assert r == 2 * 3 * 1 + 1
    h, w = size
    x = torch.rand(1, 3, h, w)
    cy, cx = 10, 10  # an output pixel at an even (block-aligned) position
    with torch.no_grad():
        base = net(x)
        assert base.shape == x.shape
        far, near = x.clone(), x.clone()
        far[..., cy, cx + r + 1] += 0.5
        near[..., cy, cx + r] += 0.5
        assert torch.equal(net(far)[..., cy, cx], base[..., cy, cx])
        assert not torch.equal(net(near)[..., cy, cx], base[..., cy, cx])
        # the other side of the 2x2 block: an odd output pixel reaches r pixels to the left
        ox = cx + 1
        far, near = x.clone(), x.clone()
        far[..., cy, ox - r - 1] += 0.5
        near[..., cy, ox - r] += 0.5
        assert torch.equal(net(far)[..., cy, ox], base[..., cy, ox])
        assert not torch.equal(net(near)[..., cy, ox], base[..., cy, ox])


def test_shufflecnn_starts_as_identity_after_he_init() -> None:
    from lbcodec.training.trainer import he_init

    net = nets.build("shufflecnn", width=8, depth=4)
    he_init(net)
    x = torch.rand(2, 3, 17, 20)
    with torch.no_grad():
        assert torch.equal(net(x), x)


@pytest.mark.parametrize(("width", "n_blocks"), [(8, 2), (16, 5), (24, 3)])
def test_grown_attention_net_computes_what_the_small_one_does(width: int, n_blocks: int) -> None:
    torch.manual_seed(0)
    small = nets.build("attention", in_channels=3, width=8, n_blocks=2, reduction=4)
    for p in small.parameters():  # far from torch's init, so a wrong copy or split shows
        p.data.normal_(0, 0.2)
    grown = nets.grow_state_dict("attention", small.state_dict(), dict(width=width, n_blocks=n_blocks, reduction=4))
    big = nets.from_state_dict("attention", grown)
    assert (big.config["width"], big.config["n_blocks"]) == (width, n_blocks)
    x = torch.rand(2, 3, 19, 23)
    with torch.no_grad():
        want, got = small(x), big(x)
    assert (want - x).abs().max() > 0.1  # the small net does something
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    if width > 8:  # copies of a channel read their inputs with different weights, so they can learn apart
        w = grown["blocks.0.body.0.weight"][:8]  # output rows 0..7 copy the small net's rows
        assert not torch.equal(w[:, :8], w[:, 8:16])
        torch.testing.assert_close(w[:, :8] + w[:, 8:16] + (w[:, 16:24] if width == 24 else 0),
                                   small.state_dict()["blocks.0.body.0.weight"], atol=1e-6, rtol=0)


def test_grow_refuses_what_is_no_growth() -> None:
    sd = nets.build("attention", width=8, n_blocks=2, reduction=4).state_dict()
    with pytest.raises(ValueError, match="multiple of width 8"):
        nets.grow_state_dict("attention", sd, dict(width=12, n_blocks=2))
    with pytest.raises(ValueError, match=">= 2 blocks"):
        nets.grow_state_dict("attention", sd, dict(width=16, n_blocks=1))
    with pytest.raises(ValueError, match="keeps reduction 4"):
        nets.grow_state_dict("attention", sd, dict(width=16, n_blocks=2, reduction=8))
    with pytest.raises(ValueError, match="reccnn networks cannot be grown"):
        nets.grow_state_dict("reccnn", nets.build("reccnn", width=8, depth=3).state_dict(), dict(width=16))


def test_growing_float16_weights_as_shipped_is_exact() -> None:
    torch.manual_seed(0)
    small = nets.build("attention", in_channels=3, width=8, n_blocks=2, reduction=4)
    for p in small.parameters():
        p.data.normal_(0, 0.2)
    half = {k: v.half() for k, v in small.state_dict().items()}  # as the registry stores them
    small.load_state_dict({k: v.float() for k, v in half.items()})
    big = nets.from_state_dict("attention", nets.grow_state_dict("attention", half, dict(width=16, n_blocks=3)))
    x = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        torch.testing.assert_close(big(x), small(x), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="keeps in_channels 3"):
        nets.grow_state_dict("attention", half, dict(width=16, n_blocks=3, in_channels=1))
