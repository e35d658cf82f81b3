"""The post-filters' number format: LBCODEC_PRECISION, --precision, bfloat16 autocast in filters._run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from lbcodec import filters, nets, precision
from lbcodec.api import decode_image, encode_image
from lbcodec.cli import cli
from lbcodec.errors import LbcError

from conftest import photo_like
from test_pipeline_nets import tiny_zoo  # noqa: F401  (fixture)

IMG = photo_like(64, 96)


@pytest.mark.parametrize("value, native, want", [
    ("", True, "bf16"), ("", False, "fp32"), ("auto", True, "bf16"), ("auto", False, "fp32"),
    ("fp32", True, "fp32"), ("FP32", True, "fp32"), ("bf16", False, "bf16"), (" bf16 ", True, "bf16"),
])
def test_post_precision_follows_the_environment_and_the_cpu(monkeypatch, value, native, want):
    monkeypatch.setenv(precision.ENV, value)
    monkeypatch.setattr(precision, "native_bf16", lambda: native)
    assert precision.post_precision() == want


def test_unset_environment_means_auto(monkeypatch):
    monkeypatch.delenv(precision.ENV)
    assert precision.requested() == "auto"


def test_a_bad_environment_value_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv(precision.ENV, "half")
    with pytest.raises(LbcError, match="LBCODEC_PRECISION='half': expected one of auto, fp32, bf16"):
        precision.post_precision()


def test_native_bf16_is_a_bool():
    assert precision.native_bf16() in (True, False)


@pytest.mark.parametrize("avx512_bf16, amx, want", [(False, False, False), (True, False, True), (False, True, True)])
def test_native_bf16_on_x86_needs_avx512_bf16_or_amx(monkeypatch, avx512_bf16, amx, want):
    """oneDNN's own probe says yes on any AVX-512 CPU, where bfloat16 is emulated and slower."""
    import platform

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    precision.native_bf16.cache_clear()
    try:
        assert precision.native_bf16() is want
    finally:
        precision.native_bf16.cache_clear()


def _hook_convs(net, seen: list[torch.dtype]) -> None:
    """Append the dtype of every convolution's output to ``seen`` while ``net`` runs (once per net)."""
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d) and not m._forward_hooks:
            m.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))


def _conv_dtypes(net) -> list[torch.dtype]:
    """The dtypes of ``net``'s convolution outputs, recorded from now on."""
    seen: list[torch.dtype] = []
    _hook_convs(net, seen)
    return seen


def _net(arch: str, **config):
    torch.manual_seed(0)
    net = nets.build(arch, **config).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return net


@pytest.mark.parametrize("arch, config", [("reccnn", dict(width=8, depth=4)), ("arcnn", dict(widths=[8, 6, 4])),
                                          ("attention", dict(width=8, n_blocks=1, reduction=4)),
                                          ("shufflecnn", dict(width=8, depth=3))])
def test_bf16_runs_the_convolutions_in_bfloat16_and_stays_within_two_levels(arch, config):
    net = _net(arch, **config)
    seen = _conv_dtypes(net)
    ref = filters._run(net, IMG, precision="fp32")
    assert seen and set(seen) == {torch.float32}
    seen.clear()
    out = filters._run(net, IMG, precision="bf16")
    assert set(seen) == {torch.bfloat16}
    assert out.dtype == np.uint8 and out.shape == ref.shape
    diff = np.abs(out.astype(int) - ref)
    assert diff.max() <= 2 and diff.mean() < 0.2


def test_bf16_with_the_ensemble_and_a_gray_image():
    net = _net("reccnn", width=8, depth=4)
    gray = IMG[:, :, :1]
    ref = filters._run(net, gray, ensemble=True, precision="fp32")
    out = filters._run(net, gray, ensemble=True, precision="bf16")
    assert out.shape == gray.shape and np.abs(out.astype(int) - ref).max() <= 2


def test_a_net_without_a_global_residual_stays_in_float32():
    """Its output is the image itself: bfloat16 would round values near 1 to 1/256, so it is not autocast."""
    net = _net("srcnn", widths=[8, 4], residual=False)
    seen = _conv_dtypes(net)
    filters._run(net, IMG, precision="bf16")
    assert set(seen) == {torch.float32}


def _post_dtypes(monkeypatch) -> list[torch.dtype]:
    """Conv output dtypes of the post-filters the registry loads from now on."""
    seen: list[torch.dtype] = []
    load = filters._load

    def hooked(name):
        net = load(name)
        _hook_convs(net, seen)
        return net

    hooked.cache_clear = load.cache_clear  # tiny_zoo clears the cache at teardown, before monkeypatch undoes this
    monkeypatch.setattr(filters, "_load", hooked)
    return seen


@pytest.mark.parametrize("value, want", [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_decode_runs_the_post_filter_in_the_precision_asked(tiny_zoo, monkeypatch, value, want):  # noqa: F811
    data = encode_image(IMG, codec="jpeg", method="none", quality=30).data
    seen = _post_dtypes(monkeypatch)
    monkeypatch.setenv(precision.ENV, value)
    decode_image(data)
    assert seen and set(seen) == {want}


def test_pre_filters_compute_in_float32_whatever_is_asked(tiny_zoo, monkeypatch):  # noqa: F811
    """An encoder's output must not depend on the CPU it runs on."""
    monkeypatch.setenv(precision.ENV, "bf16")
    seen = _post_dtypes(monkeypatch)  # hooks every net _load returns, pre-filters included
    enc = encode_image(IMG, codec="jpeg", method="comcnn", quality=30, post="none")
    assert enc.header.pipeline.method == "comcnn" and seen and set(seen) == {torch.float32}


def test_method_auto_ranks_its_candidates_in_float32_whatever_is_asked(tiny_zoo, monkeypatch):  # noqa: F811
    """The file auto returns must not depend on the CPU (or LBCODEC_PRECISION)."""
    monkeypatch.setenv(precision.ENV, "bf16")
    seen = _post_dtypes(monkeypatch)
    res = encode_image(IMG, codec="jpeg", method="auto", bpp=1.0)
    assert res.candidates and seen and set(seen) == {torch.float32}


def test_decode_cli_precision_option(tiny_zoo, tmp_path, monkeypatch):  # noqa: F811
    src = tmp_path / "a.lbc"
    src.write_bytes(encode_image(IMG, codec="jpeg", method="none", quality=30).data)
    outs = {}
    seen = _post_dtypes(monkeypatch)
    for value in ("fp32", "bf16"):
        seen.clear()
        dst = tmp_path / f"{value}.png"
        r = CliRunner().invoke(cli, ["decode", str(src), "-o", str(dst), "--precision", value])
        assert r.exit_code == 0, r.output
        assert set(seen) == {torch.float32 if value == "fp32" else torch.bfloat16}
        outs[value] = np.asarray(Image.open(dst))
    assert outs["fp32"].shape == IMG.shape and np.abs(outs["fp32"].astype(int) - outs["bf16"]).max() <= 2
    r = CliRunner().invoke(cli, ["decode", str(src), "-o", str(tmp_path / "x.png"), "--precision", "half"])
    assert r.exit_code == 2 and "'half' is not one of" in r.output
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("command", ["decode", "restore"])
def test_a_bad_environment_value_is_a_usage_error_before_any_work(tiny_zoo, tmp_path, monkeypatch,  # noqa: F811
                                                                  command):
    src = tmp_path / "a.lbc"
    src.write_bytes(encode_image(IMG, codec="jpeg", method="none", quality=30).data)
    monkeypatch.setenv(precision.ENV, "fp16")
    r = CliRunner().invoke(cli, [command, str(src), "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines()[-1] == "Error: LBCODEC_PRECISION='fp16': expected one of auto, fp32, bf16"
    assert not (tmp_path / "x.png").exists()


def test_the_library_reports_a_bad_environment_value_in_one_line(tiny_zoo, monkeypatch):  # noqa: F811
    data = encode_image(IMG, codec="jpeg", method="none", quality=30).data
    monkeypatch.setenv(precision.ENV, "fp16")
    with pytest.raises(LbcError, match="LBCODEC_PRECISION='fp16'"):
        decode_image(data)


@pytest.mark.parametrize("value, native, says", [("auto", True, "in bf16 here (the CPU has native bfloat16"),
                                                 ("auto", False, "in fp32 here (no native bfloat16 on this CPU"),
                                                 ("fp32", True, "in fp32 here (LBCODEC_PRECISION")])
def test_models_cli_says_what_the_post_filters_compute_in(tiny_zoo, monkeypatch, value, native, says):  # noqa: F811
    monkeypatch.setenv(precision.ENV, value)
    monkeypatch.setattr(precision, "native_bf16", lambda: native)
    r = CliRunner().invoke(cli, ["models"])
    assert r.exit_code == 0 and says in r.stderr and "post-filters" not in r.stdout


def test_bench_records_the_precision(monkeypatch):
    from lbcodec import bench

    monkeypatch.setenv(precision.ENV, "bf16")
    env = bench.environment()
    assert env["precision"] == "bf16"
    assert "Post-filters in bf16." in bench.environment_markdown(env)
    env.pop("precision")  # benches from before the field: no sentence
    assert "Post-filters" not in bench.environment_markdown(env)
