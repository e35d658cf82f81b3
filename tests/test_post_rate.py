"""Without resizing, a post-filter runs only on bitstreams within the rates it serves
(filters.check_rate): above them the plain decode is better, so ``auto`` records none and
``restore`` runs none; a model named by the user runs with a note. Resizing methods are never
limited. Tiny weight files made on the fly (never shipped weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lbcodec import filters, nets, zoo
from lbcodec.api import decode_image, encode_image
from lbcodec.codecs import get_codec
from lbcodec.container import unpack
from lbcodec.restore import restore_image

from conftest import photo_like

IMG = photo_like(96, 128)
TOP = 0.5  # the tiny models' slot range is [0.05, TOP] bpp and they record no training rates
CEILING = TOP * filters.RATE_SLACK


def _publish(wdir, name, arch, cid, method, scale, **config):
    torch.manual_seed(cid)
    net = nets.build(arch, **config)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    zoo.publish(name, arch, net.state_dict(),
                {"role": "post", "method": method, "codec": "jpeg", "scale": scale, "bpp": [0.05, TOP]},
                {"note": "test weights"}, cid, weights_dir=wdir, config=net.config)


@pytest.fixture()
def ranged_zoo(tmp_path, monkeypatch):
    wdir = tmp_path / "weights"
    monkeypatch.setenv(zoo.ENV_VAR, str(wdir))
    filters._load.cache_clear()
    _publish(wdir, "t-arcnn-ranged", "arcnn", 2, "none", 1, kernels=[3, 3, 1, 3], widths=[8, 8, 4])
    _publish(wdir, "t-srcnn-ranged", "srcnn", 3, "downsample", 2, kernels=[3, 1, 3], widths=[8, 4])
    yield wdir
    filters._load.cache_clear()


def _bpp(data: bytes) -> float:
    """The rate the rule looks at: the codec's bitstream over the original pixels."""
    return len(unpack(data).payload) * 8 / (IMG.shape[0] * IMG.shape[1])


def test_the_ceiling(ranged_zoo):
    assert filters.rate_ceiling(zoo.get_entry("t-arcnn-ranged")) == pytest.approx(CEILING)
    assert filters.rate_ceiling({"slot": {}}) is None  # no stated range: no ceiling
    # the training targets, where recorded, say the highest rate trained on; never below the slot's top
    trained = {"slot": {"bpp": [0.05, 0.5]}, "provenance": {"data": {"bpps": [0.1, 0.6, 0.3]}}}
    assert filters.trained_top(trained) == 0.6
    assert filters.rate_ceiling(trained) == pytest.approx(0.6 * filters.RATE_SLACK)
    low = {"slot": {"bpp": [0.05, 0.5]}, "provenance": {"data": {"bpps": [0.1, 0.3]}}}
    assert filters.rate_ceiling(low) == 0.5
    entry, notes = zoo.get_entry("t-arcnn-ranged"), []
    assert filters.check_rate(entry, "auto", "none", CEILING, notes) is entry and not notes  # inclusive
    assert filters.check_rate(entry, "auto", "none", CEILING + 1e-6, notes) is None and notes


def test_auto_records_the_post_filter_only_up_to_the_ceiling(ranged_zoo):
    seen = set()
    for q in (5, 40, 95):
        enc = encode_image(IMG, codec="jpeg", method="none", quality=q, post="auto")
        inside = _bpp(enc.data) <= CEILING
        seen.add(inside)
        assert (enc.header.pipeline.post_id == 2) == inside, (q, _bpp(enc.data))
        above = [n for n in enc.notes if "above the rates t-arcnn-ranged serves (up to 0.60 bpp)" in n]
        assert bool(above) != inside
    assert seen == {True, False}  # both sides of the ceiling were tried
    # the same for a family name
    enc = encode_image(IMG, codec="jpeg", method="none", quality=95, post="arcnn")
    assert enc.header.pipeline.post_id == 0


def test_resizing_methods_keep_their_post_filter_at_any_rate(ranged_zoo):
    enc = encode_image(IMG, codec="jpeg", method="downsample", quality=95, post="auto")
    assert _bpp(enc.data) > CEILING
    assert enc.header.pipeline.post_id == 3 and not any("above the rates" in n for n in enc.notes)


def test_rate_control_within_the_range_keeps_the_post_filter(ranged_zoo):
    enc = encode_image(IMG, codec="jpeg", method="none", bpp=TOP, post="auto")
    assert enc.header.pipeline.post_id == 2 and not any("above the rates" in n for n in enc.notes)


def test_a_named_model_runs_above_its_rates_with_a_note(ranged_zoo):
    enc = encode_image(IMG, codec="jpeg", method="none", quality=95, post="t-arcnn-ranged")
    assert _bpp(enc.data) > CEILING
    assert enc.header.pipeline.post_id == 2
    assert any("serves rates up to 0.60 bpp" in n and "may lower the quality" in n for n in enc.notes)


def test_decode_override_and_restore_follow_the_same_rule(ranged_zoo):
    enc = encode_image(IMG, codec="jpeg", method="none", quality=95, post="none")
    plain = decode_image(enc.data, post="none").pixels
    res = decode_image(enc.data, post="auto")
    assert np.array_equal(res.pixels, plain) and any("above the rates" in n for n in res.notes)
    named = decode_image(enc.data, post="t-arcnn-ranged")
    assert not np.array_equal(named.pixels, plain)  # a named model runs

    plain_hi = get_codec("jpeg").encode(IMG, 95, "420", "psnr")
    r = restore_image(plain_hi)
    assert r.model is None and any("above the rates" in n for n in r.notes)
    assert not any("no trained restoration model" in n for n in r.notes)  # a model is installed
    assert restore_image(plain_hi, post="t-arcnn-ranged").model == "t-arcnn-ranged"
    plain_lo = get_codec("jpeg").encode(IMG, 5, "420", "psnr")
    assert len(plain_lo) * 8 / IMG[..., 0].size <= CEILING
    assert restore_image(plain_lo).model == "t-arcnn-ranged"
