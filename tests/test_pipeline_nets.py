"""CNN slots end to end, with tiny weight files made on the fly (never shipped weights)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lbcodec import filters, nets, zoo
from lbcodec.api import decode_image, encode_image
from lbcodec.cli import cli
from lbcodec.metrics import psnr
from lbcodec.container import pack, unpack

from conftest import photo_like


def _publish(wdir, name, arch, cid, slot, **config):
    torch.manual_seed(cid)
    net = nets.build(arch, **config)
    with torch.no_grad():  # a visible, deterministic change: perturb every weight
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return zoo.publish(name, arch, net.state_dict(), slot, {"note": "test weights"}, cid,
                       weights_dir=wdir, config=config)


@pytest.fixture()
def tiny_zoo(tmp_path, monkeypatch):
    wdir = tmp_path / "weights"
    monkeypatch.setenv(zoo.ENV_VAR, str(wdir))
    from lbcodec import filters

    filters._load.cache_clear()
    _publish(wdir, "t-srcnn", "srcnn", 1, {"role": "post", "method": "downsample", "codec": "jpeg", "scale": 2},
             kernels=[3, 1, 3], widths=[8, 4])
    _publish(wdir, "t-arcnn", "arcnn", 2, {"role": "post", "method": "none", "codec": "jpeg", "scale": 1},
             kernels=[3, 3, 1, 3], widths=[8, 8, 4])
    _publish(wdir, "t-comcnn", "comcnn", 3, {"role": "pre", "method": "comcnn", "codec": "jpeg", "scale": 2},
             width=8)
    _publish(wdir, "t-reccnn", "reccnn", 4, {"role": "post", "method": "comcnn", "codec": "jpeg", "scale": 2},
             width=8, depth=4)
    _publish(wdir, "t-modify", "modifynet", 5, {"role": "pre", "method": "modifynet", "codec": "jpeg", "scale": 1},
             width=8, depth=3)
    _publish(wdir, "t-att", "attention", 6, {"role": "post", "method": "none", "codec": "webp", "scale": 1},
             width=8, n_blocks=1, reduction=4)
    yield wdir
    filters._load.cache_clear()


IMG = photo_like(96, 128)


def test_auto_post_is_recorded_and_applied(tiny_zoo):
    enc = encode_image(IMG, codec="jpeg", method="downsample", quality=50)
    entry = zoo.get_entry("t-srcnn")
    assert enc.header.pipeline.post_id == 1
    assert enc.header.pipeline.post_hash == bytes.fromhex(entry["sha256"][:8])
    with_post = decode_image(enc.data).pixels
    bicubic = decode_image(enc.data, post="none").pixels
    assert with_post.shape == bicubic.shape == IMG.shape
    assert not np.array_equal(with_post, bicubic)
    # the post-filter is what the model computes on the bicubic output
    from lbcodec.filters import _run

    assert np.array_equal(with_post, _run(zoo.load_model("t-srcnn"), bicubic))


def test_post_none_at_encode_records_nothing(tiny_zoo):
    enc = encode_image(IMG, codec="jpeg", method="downsample", quality=50, post="none")
    assert enc.header.pipeline.post_id == 0
    assert np.array_equal(decode_image(enc.data).pixels, decode_image(enc.data, post="none").pixels)


def test_post_by_family_and_by_model_name(tiny_zoo):
    a = encode_image(IMG, codec="jpeg", method="none", quality=30, post="arcnn")
    b = encode_image(IMG, codec="jpeg", method="none", quality=30, post="t-arcnn")
    assert a.header.pipeline.post_id == b.header.pipeline.post_id == 2
    notes = []
    c = encode_image(IMG, codec="jpeg", method="none", quality=30, post="attention")
    assert c.header.pipeline.post_id == 0 and any("no trained attention" in n for n in c.notes)
    del notes


def test_unknown_post_is_a_clear_error(tiny_zoo):
    from lbcodec.errors import InputError

    with pytest.raises(InputError, match="unknown post-filter"):
        encode_image(IMG, codec="jpeg", method="none", quality=30, post="nope")


def _with_post_id(data: bytes, post_id: int, post_hash: bytes | None = None) -> bytes:
    from dataclasses import replace

    box = unpack(data)
    pipe = replace(box.header.pipeline, post_id=post_id, post_hash=post_hash or box.header.pipeline.post_hash)
    return pack(replace(box.header, pipeline=pipe), box.payload)


def test_missing_model_falls_back_to_the_slots_default_with_a_note(tiny_zoo):
    # a file whose recorded model is no longer shipped decodes with its slot's current default
    enc = encode_image(IMG, codec="jpeg", method="downsample", quality=50)
    res = decode_image(_with_post_id(enc.data, 77, b"\x01\x02\x03\x04"))  # a retired model's hash
    assert any("#77 is not installed: using t-srcnn" in n for n in res.notes)
    assert len(res.notes) == 1  # the stand-in's hash is not compared with the retired model's
    assert np.array_equal(res.pixels, decode_image(enc.data, post="auto").pixels)
    assert not np.array_equal(res.pixels, decode_image(enc.data, post="none").pixels)


def test_missing_model_without_a_default_falls_back_to_bicubic(tiny_zoo):
    enc = encode_image(IMG, codec="jpeg", method="downsample", quality=50)
    plain = decode_image(enc.data, post="none").pixels
    (tiny_zoo / "manifest.json").write_text('{"models": []}')
    res = decode_image(_with_post_id(enc.data, 77))
    assert any("#77 is not installed: bicubic only" in n for n in res.notes)
    assert np.array_equal(res.pixels, plain)


def test_hash_mismatch_is_noted(tiny_zoo):
    enc = encode_image(IMG, codec="jpeg", method="downsample", quality=50)
    box = unpack(enc.data)
    from dataclasses import replace

    other = replace(box.header, pipeline=replace(box.header.pipeline, post_hash=b"\0\0\0\0"))
    res = decode_image(pack(other, box.payload))
    assert any("differ" in n for n in res.notes)


def test_file_encoded_before_store_half_decodes_without_a_note(tiny_zoo):
    enc = encode_image(IMG, codec="jpeg", method="downsample", quality=50)
    before = decode_image(enc.data)
    from lbcodec import filters

    new = zoo.store_half("t-srcnn")
    filters._load.cache_clear()
    assert new["sha256"][:8] != enc.header.pipeline.post_hash.hex()  # the file changed ...
    after = decode_image(enc.data)
    assert not any("differ" in n for n in after.notes)  # ... but it is the model the file names
    assert not np.array_equal(after.pixels, decode_image(enc.data, post="none").pixels)
    assert np.abs(after.pixels.astype(int) - before.pixels.astype(int)).max() <= 1


def test_comcnn_pipeline_uses_both_nets(tiny_zoo):
    enc = encode_image(IMG, codec="jpeg", method="comcnn", quality=60)
    p = enc.header.pipeline
    assert (p.method, p.scale, p.post_id) == ("comcnn", 2, 4)
    assert unpack(enc.data).payload  # the compact image is a real JPEG of half size
    from lbcodec.codecs import get_codec

    assert get_codec("jpeg").decode(unpack(enc.data).payload).shape[:2] == (48, 64)
    assert decode_image(enc.data).pixels.shape == IMG.shape


def test_modifynet_output_decodes_with_a_plain_decoder(tiny_zoo):
    enc = encode_image(IMG, codec="jpeg", method="modifynet", quality=60)
    assert enc.header.pipeline.method == "modifynet" and enc.header.pipeline.post_id == 0
    from PIL import Image
    import io

    assert Image.open(io.BytesIO(unpack(enc.data).payload)).size == (128, 96)


def test_cnn_methods_fall_back_without_models(tmp_path, monkeypatch):
    monkeypatch.setenv(zoo.ENV_VAR, str(tmp_path / "empty"))
    a = encode_image(IMG, codec="jpeg", method="comcnn", quality=50)
    assert a.header.pipeline.method == "downsample" and any("no trained comcnn" in n for n in a.notes)
    b = encode_image(IMG, codec="jpeg", method="modifynet", quality=50)
    assert b.header.pipeline.method == "none" and b.header.pipeline.scale == 1


def test_attention_post_on_gray_image(tiny_zoo):
    gray = IMG[:, :, :1].copy()
    enc = encode_image(gray, codec="webp", method="none", quality=40)
    assert enc.header.pipeline.post_id == 6
    out = decode_image(enc.data)
    assert out.pixels.shape == gray.shape


def test_ensemble_runs_and_differs_little(tiny_zoo):
    enc = encode_image(IMG, codec="jpeg", method="downsample", quality=50)
    plain = decode_image(enc.data).pixels.astype(int)
    ens = decode_image(enc.data, ensemble=True).pixels.astype(int)
    assert np.abs(plain - ens).mean() < 3


@pytest.mark.parametrize("ensemble", [False, True])
def test_decode_reports_the_post_filters_progress(tiny_zoo, monkeypatch, ensemble):
    from lbcodec import filters

    monkeypatch.setattr(filters, "TILE", 32)  # 96 x 128 in 32-pixel tiles: 3 x 4 of them
    enc = encode_image(IMG, codec="jpeg", method="downsample", quality=50)
    seen = []
    out = decode_image(enc.data, ensemble=ensemble, progress=seen.append)
    # 0 as the net starts (a progress bar shows from there), then one call per tile (of every dihedral pass)
    assert seen[0] == 0.0 and len(seen) == 1 + 12 * (8 if ensemble else 1)
    assert seen == sorted(seen) and seen[1] > 0 and seen[-1] == pytest.approx(1.0)
    assert np.array_equal(out.pixels, decode_image(enc.data, ensemble=ensemble).pixels)  # same output
    seen.clear()
    decode_image(enc.data, post="none", progress=seen.append)
    assert seen == []  # no post-filter, nothing to report


def test_decode_cli_with_a_progress_bar_writes_the_same_image(tiny_zoo, tmp_path, monkeypatch):
    from lbcodec.commands import common

    enc = encode_image(IMG, codec="jpeg", method="downsample", quality=50)
    src = tmp_path / "in.lbc"
    src.write_bytes(enc.data)
    r = CliRunner().invoke(cli, ["decode", str(src), "-o", str(tmp_path / "plain.png")])
    assert r.exit_code == 0, r.output
    monkeypatch.setattr(common, "progress_wanted", lambda obj: True)  # as if a person watched a terminal
    r = CliRunner().invoke(cli, ["decode", str(src), "-o", str(tmp_path / "bar.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "bar.png").read_bytes() == (tmp_path / "plain.png").read_bytes()


def test_restore_cli_estimates_jpeg_quality_and_runs_arcnn(tiny_zoo, tmp_path):
    import imagecodecs

    src = tmp_path / "in.jpg"
    src.write_bytes(imagecodecs.jpeg8_encode(IMG, level=17))
    r = CliRunner().invoke(cli, ["restore", str(src), "-o", str(tmp_path / "out.png")])
    assert r.exit_code == 0, r.output
    assert "estimated JPEG quality 17" in r.stderr
    assert "t-arcnn" in r.stderr
    assert (tmp_path / "out.png").exists()


def test_restore_tells_lbcodec_psnr_tables_from_the_standard_ones():
    from lbcodec.codecs import get_codec
    from lbcodec.restore import jpeg_tables_family

    jpeg = get_codec("jpeg")
    for q in (5, 12, 30, 75):  # at 5 the PSNR luma table is all 255: its flat chroma tells
        assert jpeg_tables_family(jpeg.encode(IMG, q, tune="psnr")) == ("psnr", q)
        assert jpeg_tables_family(jpeg.encode(IMG, q, tune="ssim")) == ("standard", q)
    assert jpeg_tables_family(jpeg.encode(IMG[:, :, :1].copy(), 30, tune="psnr")) == ("psnr", 30)  # gray: luma only
    assert jpeg_tables_family(b"\xff\xd8\xff\xd9") is None


def test_models_cli_lists_the_registry(tiny_zoo):
    r = CliRunner().invoke(cli, ["models"])
    assert r.exit_code == 0
    for name in ("t-srcnn", "t-arcnn", "t-comcnn", "t-reccnn", "t-modify", "t-att"):
        assert name in r.stdout
    r = CliRunner().invoke(cli, ["models", "--json"])
    import json

    assert {e["name"] for e in json.loads(r.stdout)} >= {"t-srcnn", "t-att"}


def test_models_cli_names_each_validation_metric(monkeypatch):
    from lbcodec import zoo as zoo_mod

    slot = {"role": "pre", "method": "modifynet", "codec": "jpeg", "scale": 1, "bpp": [0.15, 0.5]}
    rows = [{"name": "m-ssim", "container_id": 14, "arch": "modifynet", "slot": slot,
             "provenance": {"validation": {"metric": "ms_ssim_gain_at_0.3_bpp_vs_plain_jpeg", "score": 0.0117}}},
            {"name": "m-psnr", "container_id": 2, "arch": "arcnn", "slot": {**slot, "role": "post", "method": "none"},
             "provenance": {"validation": {"metric": "psnr_gain_db", "score": 0.629}}}]
    monkeypatch.setattr(zoo_mod, "list_models", lambda weights_dir=None: rows)
    out = CliRunner().invoke(cli, ["models"]).stdout.splitlines()
    assert out[0].endswith("val +0.0117 MS-SSIM  default") and out[1].endswith("val +0.629 dB  default")


def test_models_cli_marks_defaults_and_partners(two_comcnns):
    out = {line.split()[0]: line for line in CliRunner().invoke(cli, ["models"]).stdout.splitlines()}
    assert out["t-comcnn2"].endswith("  default") and not out["t-comcnn"].endswith("  default")
    assert out["t-reccnn2"].endswith("  after t-comcnn2  default")
    assert out["t-reccnn-old"].endswith("  after t-comcnn")
    assert out["t-srcnn"].endswith("  default") and "after" not in out["t-srcnn"]


def test_altered_weights_are_refused_at_decode(tiny_zoo):
    enc = encode_image(IMG, codec="jpeg", method="downsample", quality=50)
    f = tiny_zoo / zoo.get_entry("t-srcnn")["file"]
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    from lbcodec import filters

    filters._load.cache_clear()
    with pytest.raises(zoo.ZooError):
        decode_image(enc.data)
    r = CliRunner().invoke(cli, ["info", "-"], input=enc.data)
    assert r.exit_code == 0


# -- a pre-filter is never run as a post-filter ------------------------------------------------------------------


def _jpeg_file(tmp_path, name="in.jpg", img=IMG, **save):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=30, **save)
    p = tmp_path / name
    p.write_bytes(buf.getvalue())
    return p


@pytest.mark.parametrize("name", ["t-comcnn", "t-modify"])
def test_a_pre_filter_model_is_refused_as_post_filter(tiny_zoo, tmp_path, monkeypatch, name):
    from lbcodec import filters
    from lbcodec.errors import InputError
    from lbcodec.restore import restore_image

    msg = f"model {name} is a pre-filter (role pre), not a post-filter"
    with pytest.raises(InputError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        encode_image(IMG, codec="jpeg", method="downsample", quality=50, post=name)
    data = encode_image(IMG, codec="jpeg", method="downsample", quality=50).data
    with pytest.raises(InputError, match="not a post-filter"):
        decode_image(data, post=name)
    src = _jpeg_file(tmp_path)
    with pytest.raises(InputError, match="not a post-filter"):
        restore_image(src.read_bytes(), post=name)
    # the command line: a usage error (exit status 2) and no output file
    lbc = tmp_path / "a.lbc"
    lbc.write_bytes(data)
    for args in (["decode", str(lbc), "-o", str(tmp_path / "p.png")],
                 ["restore", str(src), "-o", str(tmp_path / "r.png")]):
        r = CliRunner().invoke(cli, [*args, "--post", name])
        assert r.exit_code == 2, (args, r.output)
        assert msg in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "p.png").exists() and not (tmp_path / "r.png").exists()
    # encode checks the name before it runs the pre-filter
    monkeypatch.setattr(filters, "prefilter", lambda *a, **k: pytest.fail("pre-filtered before checking --post"))
    with pytest.raises(InputError, match="not a post-filter"):
        encode_image(IMG, codec="jpeg", method="comcnn", quality=50, post=name)
    with pytest.raises(InputError, match="unknown post-filter 'nosuch'"):
        encode_image(IMG, codec="jpeg", method="comcnn", quality=50, post="nosuch")


def test_unknown_post_on_the_command_line_is_a_usage_error(tiny_zoo, tmp_path):
    lbc = tmp_path / "a.lbc"
    lbc.write_bytes(encode_image(IMG, codec="jpeg", method="downsample", quality=50).data)
    src = _jpeg_file(tmp_path)
    for args in (["decode", str(lbc), "-o", str(tmp_path / "p.png")],
                 ["restore", str(src), "-o", str(tmp_path / "r.png")]):
        r = CliRunner().invoke(cli, [*args, "--post", "nosuch"])
        assert r.exit_code == 2, (args, r.output)
        assert "unknown post-filter 'nosuch'" in r.stderr
    assert not (tmp_path / "p.png").exists() and not (tmp_path / "r.png").exists()


@pytest.mark.parametrize("alpha", [False, True])
def test_a_recorded_pre_filter_id_is_not_run_by_decode(tiny_zoo, tmp_path, alpha):
    """A file whose header names a pre-filter as its post-filter (as `encode --post PRE-MODEL` wrote
    before it was refused) decodes with the slot's default post-filter instead, at the header's size."""
    from dataclasses import replace

    a = np.tile(np.arange(128, dtype=np.uint8), (96, 1)) if alpha else None
    enc = encode_image(IMG, alpha=a, codec="jpeg", method="downsample", quality=50)
    box = unpack(enc.data)
    comcnn = zoo.get_entry("t-comcnn")
    pipe = replace(box.header.pipeline, post_id=comcnn["container_id"], post_hash=bytes.fromhex(comcnn["sha256"][:8]))
    data = pack(replace(box.header, pipeline=pipe), box.payload, box.alpha)
    res = decode_image(data)
    assert res.pixels.shape == IMG.shape
    assert any("t-comcnn) is a pre-filter, not a post-filter: using t-srcnn" in n for n in res.notes), res.notes
    assert np.array_equal(res.pixels, decode_image(enc.data).pixels)
    src = tmp_path / "pc.lbc"
    src.write_bytes(data)
    r = CliRunner().invoke(cli, ["decode", str(src), "-o", str(tmp_path / "pc.png")])
    assert r.exit_code == 0, r.output
    from PIL import Image

    with Image.open(tmp_path / "pc.png") as im:
        assert im.size == (128, 96) and im.mode == ("RGBA" if alpha else "RGB")


def test_comcnn_at_a_scale_without_a_model_says_which_scale(tiny_zoo):
    enc = encode_image(IMG, codec="jpeg", method="comcnn", scale=3, quality=50)
    assert enc.header.pipeline.method == "downsample"
    assert any("no trained comcnn model for jpeg at scale 3 is installed (there is one for x1/2)" in n
               for n in enc.notes), enc.notes


# -- restore: the same input policy as encode --------------------------------------------------------------------


def _codec_file(codec: str, img: np.ndarray) -> bytes:
    from lbcodec.codecs import get_codec

    return get_codec(codec).encode(img, 50)


@pytest.mark.parametrize("codec", ["jpeg", "jpeg2000", "webp", "avif", "heif", "jpegxl"])
def test_restore_refuses_too_many_pixels_before_decoding(no_weights, monkeypatch, codec):
    from lbcodec.codecs import CODECS
    from lbcodec.errors import InputError
    from lbcodec.restore import restore_image

    data = _codec_file(codec, IMG)
    monkeypatch.setattr(CODECS[codec], "_decode", lambda self, d: pytest.fail("decoded before the pixel limit"))
    with pytest.raises(InputError, match="image is 128x96 = 12,288 pixels, over the limit of 10,000 pixels"):
        restore_image(data, max_pixels=10_000)


def test_restore_cli_pixel_limit_from_an_edited_jpeg_header(no_weights, tmp_path, monkeypatch):
    """A small JPEG whose SOF declares a large size is refused from its header: by --max-pixels, and
    by the default limit (lowered here, so that the test allocates nothing large without the check)."""
    from lbcodec import imageio
    from lbcodec.codecs.jpeg import JpegCodec

    data = _jpeg_file(tmp_path).read_bytes()
    i = data.index(b"\xff\xc0")
    src = tmp_path / "bomb.jpg"
    src.write_bytes(data[: i + 5] + (300).to_bytes(2, "big") + (400).to_bytes(2, "big") + data[i + 9 :])
    monkeypatch.setattr(JpegCodec, "_decode", lambda self, d: pytest.fail("decoded before the pixel limit"))
    r = CliRunner().invoke(cli, ["restore", str(src), "-o", str(tmp_path / "r.png"), "--max-pixels", "100000"])
    assert r.exit_code == 1, r.output
    assert r.stderr.strip().splitlines() == [
        "Error: image is 400x300 = 120,000 pixels, over the limit of 100,000 pixels; raise it with --max-pixels "
        "if you have the memory"]
    monkeypatch.setattr(imageio, "DEFAULT_MAX_PIXELS", 100_000)
    r = CliRunner().invoke(cli, ["restore", str(src), "-o", str(tmp_path / "r.png")])
    assert r.exit_code == 1 and "over the limit of 100,000 pixels" in r.stderr, r.output
    assert not (tmp_path / "r.png").exists()


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_restore_applies_the_exif_orientation_as_encode_does(no_weights, tmp_path, orientation):
    from PIL import Image

    from lbcodec.imageio import read_image
    from lbcodec.restore import restore_image

    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _jpeg_file(tmp_path, exif=exif.tobytes()).read_bytes()
    want = read_image(data).pixels
    res = restore_image(data, post="none")
    assert res.pixels.shape == want.shape
    assert np.abs(res.pixels.astype(int) - want.astype(int)).max() <= 2  # libjpeg-turbo in both, maybe other IDCTs
    r = CliRunner().invoke(cli, ["restore", str(tmp_path / "in.jpg"), "-o", str(tmp_path / "r.png")])
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "r.png") as im:
        assert im.size == (want.shape[1], want.shape[0])


@pytest.mark.parametrize("fmt", ["WEBP", "AVIF", "HEIF"])
def test_restore_keeps_the_alpha_channel(no_weights, tmp_path, fmt):
    import io

    from PIL import Image

    from lbcodec.imageio import read_image
    from lbcodec.restore import restore_image

    alpha = np.tile(np.arange(0, 256, 2, dtype=np.uint8), (96, 1))
    buf = io.BytesIO()
    if fmt == "HEIF":
        import pillow_heif

        rgba = np.dstack([IMG, alpha])
        pillow_heif.from_bytes(mode="RGBA", size=(128, 96), data=rgba.tobytes()).save(buf, quality=50)
    else:
        Image.fromarray(np.dstack([IMG, alpha])).save(buf, fmt, quality=50)
    data = buf.getvalue()
    res = restore_image(data, post="none")
    assert res.pixels.shape == (96, 128, 3) and res.alpha is not None
    if fmt != "HEIF":  # Pillow reads HEIF only with pillow-heif's opener registered
        assert np.array_equal(res.alpha, read_image(data).alpha)
    assert np.abs(res.alpha.astype(int) - alpha.astype(int)).max() <= 8  # lossless in WebP, near it elsewhere
    src = tmp_path / f"rgba.{fmt.lower()}"
    src.write_bytes(data)
    r = CliRunner().invoke(cli, ["restore", str(src), "-o", str(tmp_path / "r.png")])
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "r.png") as im:
        assert im.mode == "RGBA"
        assert np.array_equal(np.asarray(im)[:, :, 3], res.alpha)


def test_comcnn_records_the_partner_of_the_chosen_comcnn(tiny_zoo):
    """Two ComCNN/RecCNN pairs: encode runs the ComCNN with the best score, and records the RecCNN
    trained on its compact images, not the RecCNN with the best score (scores are not comparable)."""
    slot = {"method": "comcnn", "codec": "jpeg", "scale": 2}
    net = nets.build("comcnn", width=8)
    zoo.publish("t-comcnn2", "comcnn", net.state_dict(), {"role": "pre", **slot},
                {"data": {"roots": ["x"]}, "validation": {"score": 9.0}}, 7, weights_dir=tiny_zoo, config={"width": 8})
    rec = nets.build("reccnn", width=8, depth=4)
    for name, cid, score, pre in (("t-reccnn2", 8, 0.1, "t-comcnn2"), ("t-reccnn-best", 9, 5.0, "t-comcnn")):
        zoo.publish(name, "reccnn", rec.state_dict(), {"role": "post", **slot},
                    {"data": {"roots": ["x"], "pre": pre}, "validation": {"score": score}}, cid,
                    weights_dir=tiny_zoo, config={"width": 8, "depth": 4})
    enc = encode_image(IMG, codec="jpeg", method="comcnn", quality=50)
    assert enc.header.pipeline.post_id == 8  # t-reccnn2 follows t-comcnn2
    notes: list[str] = []
    assert filters.resolve_post("reccnn", "comcnn", "jpeg", 2, notes)["name"] == "t-reccnn2"
    assert filters.default_post("comcnn", "jpeg", 2)["name"] == "t-reccnn2"
    assert filters.default_post("none", "jpeg", 1)["name"] == "t-arcnn"  # no pre-filter: unchanged


# -- a named pre-filter model (`encode --pre`, `bench --pre`) -------------------------------------------------------


@pytest.fixture()
def two_comcnns(tiny_zoo):
    """Two ComCNNs for jpeg x1/2, each with its RecCNN: t-comcnn2 is the default (best score) and its
    partner t-reccnn2 has the best score too; t-reccnn-old is the partner of t-comcnn (low score)."""
    slot = {"method": "comcnn", "codec": "jpeg", "scale": 2}
    net = nets.build("comcnn", width=8)
    zoo.publish("t-comcnn2", "comcnn", net.state_dict(), {"role": "pre", **slot},
                {"data": {"roots": ["x"]}, "validation": {"score": 9.0}}, 7, weights_dir=tiny_zoo, config={"width": 8})
    for name, cid, score, pre in (("t-reccnn2", 8, 5.0, "t-comcnn2"), ("t-reccnn-old", 9, 0.1, "t-comcnn")):
        torch.manual_seed(cid)  # each RecCNN its own weights, so decodes tell them apart
        rec = nets.build("reccnn", width=8, depth=4)
        with torch.no_grad():
            for p in rec.parameters():
                p.add_(0.05 * torch.randn_like(p))
        zoo.publish(name, "reccnn", rec.state_dict(), {"role": "post", **slot},
                    {"data": {"roots": ["x"], "pre": pre}, "validation": {"score": score}}, cid,
                    weights_dir=tiny_zoo, config={"width": 8, "depth": 4})
    return tiny_zoo


def test_named_pre_filter_runs_and_records_its_partner(two_comcnns):
    from lbcodec.codecs import get_codec
    from lbcodec.filters import _run

    default = encode_image(IMG, codec="jpeg", method="comcnn", quality=50)
    assert default.pre_model == "t-comcnn2" and default.header.pipeline.post_id == 8  # t-reccnn2
    named = encode_image(IMG, codec="jpeg", method="comcnn", quality=50, pre="t-comcnn")
    assert named.pre_model == "t-comcnn" and named.notes == []
    assert named.header.pipeline.post_id == 9  # t-reccnn-old, the partner of t-comcnn, whatever the scores
    # the named model made the compact image the codec coded
    compact = _run(zoo.load_model("t-comcnn"), IMG)
    assert unpack(named.data).payload == get_codec("jpeg").encode(compact, 50, "420", "psnr")
    assert unpack(named.data).payload != unpack(default.data).payload
    # --post reccnn (the family) follows the named pre-filter too; a model name is kept as given
    fam = encode_image(IMG, codec="jpeg", method="comcnn", quality=50, pre="t-comcnn", post="reccnn")
    assert fam.header.pipeline.post_id == 9
    assert encode_image(IMG, codec="jpeg", method="comcnn", quality=50, post="reccnn").header.pipeline.post_id == 8
    mine = encode_image(IMG, codec="jpeg", method="comcnn", quality=50, pre="t-comcnn", post="t-reccnn2")
    assert mine.header.pipeline.post_id == 8
    # the library functions take the pre-filter too
    notes: list[str] = []
    assert filters.default_post("comcnn", "jpeg", 2, pre="t-comcnn")["name"] == "t-reccnn-old"
    assert filters.resolve_post("reccnn", "comcnn", "jpeg", 2, notes, pre="t-comcnn")["name"] == "t-reccnn-old"
    assert filters.choose_post("auto", "comcnn", "jpeg", 2, notes, pre="t-comcnn")[0] == 9 and notes == []
    # decoding needs nothing new: the header names the post-filter
    own = decode_image(named.data).pixels
    assert np.array_equal(own, decode_image(named.data, post="t-reccnn-old").pixels)
    assert not np.array_equal(own, decode_image(named.data, post="t-reccnn2").pixels)
    # and an override by auto or a family keeps the pair the header's post-filter belongs to
    for override in ("auto", "reccnn"):
        res = decode_image(named.data, post=override)
        assert np.array_equal(res.pixels, own) and res.notes == []


def test_a_pre_filter_without_a_partner_gets_an_unpaired_post_filter_with_a_note(two_comcnns):
    net = nets.build("comcnn", width=8)
    zoo.publish("t-comcnn3", "comcnn", net.state_dict(), {"role": "pre", "method": "comcnn", "codec": "jpeg", "scale": 2},
                {"data": {"roots": ["x"]}}, 10, weights_dir=two_comcnns, config={"width": 8})
    enc = encode_image(IMG, codec="jpeg", method="comcnn", quality=50, pre="t-comcnn3")
    # t-reccnn follows no ComCNN in particular: it comes before t-reccnn2 (another ComCNN's partner, best score)
    assert enc.header.pipeline.post_id == 4
    assert enc.notes == ["no post-filter trained on the outputs of t-comcnn3 is installed: using t-reccnn"]
    notes: list[str] = []
    assert filters.resolve_post("reccnn", "comcnn", "jpeg", 2, notes, pre="t-comcnn3")["name"] == "t-reccnn"
    assert len(notes) == 1


def test_pre_is_refused_for_a_model_of_a_method_without_a_pre_filter_network(two_comcnns):
    from lbcodec.errors import InputError

    net = nets.build("comcnn", width=8)
    zoo.publish("t-odd-pre", "comcnn", net.state_dict(), {"role": "pre", "method": "downsample", "codec": "jpeg",
                                                          "scale": 2}, {"data": {"roots": ["x"]}}, 11,
                weights_dir=two_comcnns, config={"width": 8})
    with pytest.raises(InputError, match="runs no pre-filter network"):
        encode_image(IMG, codec="jpeg", method="downsample", quality=50, pre="t-odd-pre")


def test_named_pre_filter_of_another_codec_runs_with_a_note(two_comcnns):
    enc = encode_image(IMG, codec="webp", method="comcnn", quality=50, pre="t-comcnn")
    assert enc.pre_model == "t-comcnn" and enc.header.pipeline.method == "comcnn"
    assert enc.notes == ["model t-comcnn was trained for jpeg/comcnn, not webp/comcnn",
                         "no trained post-filter for webp with method comcnn at scale 2 is installed: bicubic only"]


@pytest.mark.parametrize("method, scale, pre, msg", [
    ("comcnn", 2, "nosuch", "unknown pre-filter model 'nosuch': see `lbcodec models` for the trained models"),
    ("comcnn", 2, "t-reccnn", "model t-reccnn is a post-filter (role post), not a pre-filter; see `lbcodec models`"),
    ("downsample", 2, "t-comcnn", "model t-comcnn is a comcnn pre-filter: it needs --method comcnn, not downsample"),
    ("comcnn", 2, "t-modify", "model t-modify is a modifynet pre-filter: it needs --method modifynet, not comcnn"),
    ("modifynet", 1, "t-comcnn", "model t-comcnn is a comcnn pre-filter: it needs --method comcnn, not modifynet"),
    ("comcnn", 3, "t-comcnn", "model t-comcnn was trained for scale x1/2, not x1/3: use --scale 2"),
])
def test_a_pre_filter_that_cannot_serve_the_slot_is_refused(two_comcnns, tmp_path, monkeypatch, method, scale, pre,
                                                            msg):
    import re

    from lbcodec.errors import InputError

    with monkeypatch.context() as m:  # checked before any network runs
        m.setattr(filters, "_run", lambda *a, **k: pytest.fail("ran a network before checking --pre"))
        with pytest.raises(InputError, match=re.escape(msg)):
            encode_image(IMG, codec="jpeg", method=method, scale=scale, quality=50, pre=pre)
    # the command line: a usage error (exit status 2), one line, no output; a batch writes nothing either
    src = tmp_path / "in.png"
    from PIL import Image

    Image.fromarray(IMG).save(src)
    (tmp_path / "many").mkdir()
    Image.fromarray(IMG).save(tmp_path / "many" / "a.png")
    args = ["--method", method, "--pre", pre, "--quality", "50"] + (["--scale", str(scale)] if scale > 1 else [])
    for io in ([str(src), "-o", str(tmp_path / "a.lbc")], [str(tmp_path / "many"), "-o", str(tmp_path / "out")]):
        r = CliRunner().invoke(cli, ["encode", *io, *args])
        assert r.exit_code == 2, r.output
        assert f"Invalid value for '--pre': {msg}\n" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "a.lbc").exists() and not (tmp_path / "out").exists()


def test_encode_cli_pre_option_single_and_batch(two_comcnns, tmp_path):
    from PIL import Image

    (tmp_path / "in").mkdir()
    for i in range(2):
        Image.fromarray(photo_like(48, 64, seed=i)).save(tmp_path / "in" / f"im{i}.png")
    src = tmp_path / "in" / "im0.png"
    r = CliRunner().invoke(cli, ["encode", str(src), "-o", str(tmp_path / "a.lbc"), "--method", "comcnn",
                                 "--quality", "50", "--pre", "t-comcnn"])
    assert r.exit_code == 0, r.output
    assert "method comcnn (t-comcnn) x1/2" in r.stderr
    single = (tmp_path / "a.lbc").read_bytes()
    assert unpack(single).header.pipeline.post_id == 9
    # the same through the library
    from lbcodec.imageio import read_image

    img = read_image(src.read_bytes())
    assert encode_image(img.pixels, codec="jpeg", method="comcnn", quality=50, pre="t-comcnn").data == single
    # --post reccnn follows it
    r = CliRunner().invoke(cli, ["encode", str(src), "-o", str(tmp_path / "b.lbc"), "--method", "comcnn",
                                 "--quality", "50", "--pre", "t-comcnn", "--post", "reccnn"])
    assert r.exit_code == 0, r.output
    assert unpack((tmp_path / "b.lbc").read_bytes()).header.pipeline.post_id == 9
    # a batch passes it to every file
    r = CliRunner().invoke(cli, ["encode", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--method", "comcnn",
                                 "--quality", "50", "--pre", "t-comcnn"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "im0.lbc").read_bytes() == single
    assert unpack((tmp_path / "out" / "im1.lbc").read_bytes()).header.pipeline.post_id == 9
    # without --pre: the default pair
    r = CliRunner().invoke(cli, ["encode", str(tmp_path / "in"), "-o", str(tmp_path / "dflt"), "--method", "comcnn",
                                 "--quality", "50"])
    assert r.exit_code == 0, r.output
    assert {unpack(p.read_bytes()).header.pipeline.post_id for p in (tmp_path / "dflt").iterdir()} == {8}
    # another codec: allowed, with a note on stderr
    r = CliRunner().invoke(cli, ["encode", str(src), "-o", str(tmp_path / "w.lbc"), "--codec", "webp",
                                 "--method", "comcnn", "--quality", "50", "--pre", "t-comcnn"])
    assert r.exit_code == 0, r.output
    assert "note: model t-comcnn was trained for jpeg/comcnn, not webp/comcnn" in r.stderr


def test_bench_pre_option_keys_rows_and_labels(two_comcnns, tmp_path):
    from PIL import Image

    from lbcodec import bench

    (tmp_path / "imgs").mkdir()
    Image.fromarray(photo_like(48, 64)).save(tmp_path / "imgs" / "im.png")
    enc = bench._settings_key("jpeg")
    # keys: the named pre only in the jobs of the method it serves; no --pre: the keys of before
    plain = bench.make_jobs(["im.png"], ["jpeg"], ["none", "comcnn"], qualities=[50])
    named = bench.make_jobs(["im.png"], ["jpeg"], ["none", "comcnn"], qualities=[50], pre="t-comcnn")
    assert [j.key for j in plain] == [f"im.png|jpeg|none|1|auto|q50{enc}", f"im.png|jpeg|comcnn|2|auto|q50{enc}"]
    assert [j.key for j in named] == [f"im.png|jpeg|none|1|auto|q50{enc}",
                                      f"im.png|jpeg|comcnn|2|auto|q50|pre-t-comcnn{enc}"]
    assert [j.pre for j in named] == [None, "t-comcnn"]
    out = str(tmp_path / "b")
    base = ["bench", str(tmp_path / "imgs"), "--methods", "none,comcnn", "--quality", "50", "--no-plots", "-o", out]
    r = CliRunner().invoke(cli, [*base, "--pre", "t-comcnn", "--timing", "full"])
    assert r.exit_code == 0, r.output
    rows = {r["key"]: r for r in bench.load_rows(os.path.join(out, "bench.jsonl"))}
    row = rows[named[1].key]
    assert row["ok"] and row["pre"] == "t-comcnn" and row["pre_model"] == "t-comcnn"
    assert row["post_model"] == "t-reccnn-old" and row["method_used"] == "comcnn"
    assert rows[named[0].key]["pre"] is None and rows[named[0].key]["pre_model"] is None
    doc = json.loads(open(os.path.join(out, "summary.json")).read())
    labels = {s["pipeline_id"]: s["pipeline"] for s in doc["summary"]}
    assert labels["jpeg|comcnn|2|auto|pre-t-comcnn"] == "jpeg comcnn(t-comcnn) x1/2 + t-reccnn-old"
    assert doc["settings"]["pre"] == "t-comcnn"
    # the same folder without --pre: the none row is reused, comcnn runs with the default pair
    r = CliRunner().invoke(cli, base)
    assert r.exit_code == 0, r.output
    assert "2 encodes (1 images), 1 to do" in r.stderr
    rows = {r["key"]: r for r in bench.load_rows(os.path.join(out, "bench.jsonl"))}
    assert rows[plain[1].key]["pre"] is None and rows[plain[1].key]["pre_model"] == "t-comcnn2"
    assert rows[plain[1].key]["post_model"] == "t-reccnn2"
    doc = json.loads(open(os.path.join(out, "summary.json")).read())
    labels = {s["pipeline_id"]: s["pipeline"] for s in doc["summary"]}
    assert labels == {"jpeg|none|1|auto": "jpeg none + t-arcnn", "jpeg|comcnn|2|auto": "jpeg comcnn x1/2 + t-reccnn2"}
    assert "pre" not in doc["settings"]


@pytest.mark.parametrize("args, msg", [
    (["--methods", "comcnn", "--pre", "nosuch"], "unknown pre-filter model 'nosuch'"),
    (["--methods", "comcnn", "--pre", "t-reccnn"], "model t-reccnn is a post-filter (role post), not a pre-filter"),
    (["--methods", "none,downsample", "--pre", "t-comcnn"],
     "model t-comcnn is a comcnn pre-filter: it needs comcnn in --methods (not none, downsample)"),
    (["--methods", "comcnn", "--scale", "3", "--pre", "t-comcnn"],
     "model t-comcnn was trained for scale x1/2, not x1/3: use --scale 2"),
])
def test_bench_pre_option_usage_errors(two_comcnns, tmp_path, args, msg):
    from PIL import Image

    Image.fromarray(photo_like(48, 64)).save(tmp_path / "im.png")
    r = CliRunner().invoke(cli, ["bench", str(tmp_path / "im.png"), "--quality", "50", *args,
                                 "-o", str(tmp_path / "b")])
    assert r.exit_code == 2, r.output
    assert msg in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "b").exists()


def test_method_auto_tries_comcnn_where_a_comcnn_for_the_codec_is_installed(tiny_zoo):
    from lbcodec.api import auto_methods

    assert auto_methods("jpeg") == ["none", "downsample", "comcnn"]
    assert auto_methods("jpeg", 3) == ["none", "downsample"]  # t-comcnn is x1/2 only
    assert auto_methods("webp") == ["none", "downsample"]
    res = encode_image(IMG, codec="jpeg", method="auto", bpp=1.0)
    assert list(res.candidates) == ["none", "downsample", "comcnn"]
    single = encode_image(IMG, codec="jpeg", method=res.header.pipeline.method, bpp=1.0)
    assert res.data == single.data and res.pre_model == single.pre_model
    assert max(res.candidates.values()) == pytest.approx(psnr(IMG, decode_image(res.data).pixels))
