"""The command line through click's CliRunner: commands, exit codes, atomic and safe output."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import ALL_CODECS, photo_like, smooth_image
from lbcodec import container as ctr
from lbcodec.cli import cli

pytestmark = pytest.mark.usefixtures("no_weights")

#: Pillow's own decompression-bomb limit in a fresh process (see test_imageio)
PILLOW_DEFAULT_MAX_PIXELS = int(1024 * 1024 * 1024 // 4 // 3)


def run(*args: str, input: bytes | None = None):
    # catch_exceptions=False: an unexpected exception (a crash with a traceback) fails the test
    # instead of passing as "exit status 1"
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr[:, :, 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr).save(buf, format="PNG")
    return buf.getvalue()


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_data_error(result, folder: Path, before: set[str], *, match: str | None = None) -> str:
    """Exit 1, exactly one line on stderr, nothing on stdout, no new file (temp files included)."""
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    lines = result.stderr.strip("\n").split("\n")
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert files_in(folder) == before
    if match is not None:
        assert match in lines[0], lines[0]
    return lines[0]


def assert_usage_error(result, folder: Path, before: set[str], *, match: str | None = None) -> None:
    """Exit 2 with one line on stderr ('Error: ...', no usage block), no traceback, no new file."""
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    errors = result.stderr.strip("\n").split("\n")
    assert len(errors) == 1 and errors[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert files_in(folder) == before
    if match is not None:
        assert match in errors[0], errors[0]


@pytest.fixture
def img() -> np.ndarray:
    return smooth_image()


@pytest.fixture
def src(tmp_path: Path, img: np.ndarray) -> Path:
    p = tmp_path / "in.png"
    p.write_bytes(png_bytes(img))
    return p


@pytest.fixture
def lbc(tmp_path: Path, src: Path) -> Path:
    out = tmp_path / "in.lbc"
    r = run("encode", str(src), "-o", str(out), "--quality", "80")
    assert r.exit_code == 0, r.stderr
    return out


# -- the commands ------------------------------------------------------------------------------------------------


def test_version():
    r = run("--version")
    assert r.exit_code == 0
    assert r.stdout.startswith("lbcodec, version ")


def test_help_lists_commands():
    r = run("--help")
    assert r.exit_code == 0
    for cmd in ("encode", "decode", "info", "extract", "compare", "codecs"):
        assert cmd in r.stdout


def test_encode_default_bpp(tmp_path):
    src = _write(tmp_path, "photo.png", png_bytes(photo_like()))
    out = tmp_path / "out.lbc"
    r = run("encode", str(src), "-o", str(out))  # no target: 0.2 bpp
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""  # stdout carries data only
    data = out.read_bytes()
    assert data.startswith(b"LBC\x01")
    assert 0.15 <= len(data) * 8 / (256 * 192) <= 0.2
    assert "out.lbc" in r.stderr and "target 0.2" in r.stderr
    assert files_in(tmp_path) == {"photo.png", "out.lbc"}


@pytest.mark.parametrize("codec", ALL_CODECS)
def test_encode_decode_every_codec(tmp_path, src, img, codec):
    out, back = tmp_path / "x.lbc", tmp_path / "x.png"
    r = run("encode", str(src), "-o", str(out), "-c", codec, "--bpp", "2")
    assert r.exit_code == 0, r.stderr
    assert len(out.read_bytes()) * 8 <= 2 * 64 * 48
    r = run("decode", str(out), "-o", str(back))
    assert r.exit_code == 0, r.stderr
    dec = np.asarray(Image.open(back))
    assert dec.shape == img.shape
    assert 10 * np.log10(255**2 / np.mean((dec.astype(float) - img) ** 2)) > 20


def test_encode_options(tmp_path, src):
    out = tmp_path / "o.lbc"
    r = run("encode", str(src), "-o", str(out), "-c", "avif", "-m", "downsample", "--scale", "3",
            "--quality", "55", "--subsampling", "444", "--post", "none")
    assert r.exit_code == 0, r.stderr
    h = ctr.unpack(out.read_bytes()).header
    assert (h.pipeline.codec, h.pipeline.method, h.pipeline.scale, h.pipeline.quality, h.pipeline.subsampling) == (
        "avif", "downsample", 3, 55.0, "444")
    out2 = tmp_path / "s.lbc"
    r = run("encode", str(src), "-o", str(out2), "-m", "none", "--size", "900")
    assert r.exit_code == 0, r.stderr
    assert len(out2.read_bytes()) <= 900


def test_encode_tune(tmp_path):
    """--tune ssim gives another heif bitstream that decodes without being told; bad values are usage errors."""
    src = tmp_path / "photo.png"
    src.write_bytes(png_bytes(photo_like(128, 160)))
    outs = {}
    for tune in ("psnr", "ssim"):
        outs[tune] = tmp_path / f"{tune}.lbc"
        r = run("encode", str(src), "-o", str(outs[tune]), "-c", "heif", "-m", "none", "--quality", "40",
                "--tune", tune, "--post", "none")
        assert r.exit_code == 0, r.stderr
        r = run("decode", str(outs[tune]), "-o", str(tmp_path / f"{tune}.png"))
        assert r.exit_code == 0, r.stderr
    assert outs["psnr"].read_bytes() != outs["ssim"].read_bytes()
    r = run("encode", str(src), "-o", str(tmp_path / "bad.lbc"), "--tune", "vmaf")
    assert r.exit_code == 2 and "vmaf" in r.stderr
    assert not (tmp_path / "bad.lbc").exists()


def test_quiet(tmp_path, src):
    r = run("-q", "encode", str(src), "-o", str(tmp_path / "q.lbc"), "--quality", "50")
    assert r.exit_code == 0
    assert r.stderr == ""


def test_gray_and_alpha_through_cli(tmp_path):
    gray = smooth_image(channels=1)[:, :, 0]
    alpha = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    (tmp_path / "la.png").write_bytes(_save(Image.merge("LA", [Image.fromarray(gray), Image.fromarray(alpha)])))
    assert run("encode", str(tmp_path / "la.png"), "-o", str(tmp_path / "la.lbc"), "--quality", "70").exit_code == 0
    assert run("decode", str(tmp_path / "la.lbc"), "-o", str(tmp_path / "la2.png")).exit_code == 0
    im = Image.open(tmp_path / "la2.png")
    assert im.mode == "LA" and im.size == (64, 48)
    assert np.array_equal(np.asarray(im)[:, :, 1], alpha)


def _save(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def test_opaque_alpha_note(tmp_path, img):
    rgba = np.dstack([img, np.full((48, 64), 255, np.uint8)])
    (tmp_path / "a.png").write_bytes(_save(Image.fromarray(rgba, mode="RGBA")))
    r = run("encode", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.lbc"), "--quality", "50")
    assert r.exit_code == 0
    assert "note: alpha channel is fully opaque" in r.stderr
    assert not ctr.unpack((tmp_path / "a.lbc").read_bytes()).header.has_alpha


def test_info_text_and_json(lbc):
    r = run("info", str(lbc))
    assert r.exit_code == 0, r.stderr
    assert "64x48" in r.stdout and "jpeg" in r.stdout and "downsample" in r.stdout
    r = run("info", str(lbc), "--json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    size = lbc.stat().st_size
    assert d["width"] == 64 and d["height"] == 48 and d["channels"] == 3
    assert d["codec"] == "jpeg" and d["method"] == "downsample" and d["scale"] == 2
    assert d["quality"] == 80.0 and d["post"] == "none" and d["alpha"] is False
    assert d["file_bytes"] == size
    assert d["header_bytes"] + d["payload_bytes"] + 4 == size
    assert d["header_bytes"] <= 32
    assert d["bpp"] == pytest.approx(size * 8 / (64 * 48))


def test_info_from_stdin(lbc):
    r = run("info", "-", "--json", input=lbc.read_bytes())
    assert r.exit_code == 0
    assert json.loads(r.stdout)["width"] == 64


def test_extract(tmp_path, lbc):
    out = tmp_path / "inner.jpg"
    r = run("extract", str(lbc), "-o", str(out))
    assert r.exit_code == 0, r.stderr
    im = Image.open(out)
    im.load()
    assert im.format == "JPEG" and im.size == (32, 24)  # the compact image of downsample x2
    assert out.read_bytes() == ctr.unpack(lbc.read_bytes()).payload
    r = run("extract", str(lbc), "-o", str(tmp_path / "inner.bin"))
    assert r.exit_code == 0
    assert "usual extension is .jpg" in r.stderr


@pytest.mark.parametrize("codec", ALL_CODECS)
def test_extract_every_codec_to_stdout(tmp_path, src, codec):
    out = tmp_path / "c.lbc"
    assert run("encode", str(src), "-o", str(out), "-c", codec, "--quality", "60").exit_code == 0
    r = run("extract", str(out), "-o", "-")
    assert r.exit_code == 0
    assert r.stdout_bytes == ctr.unpack(out.read_bytes()).payload


def test_compare(tmp_path, src, lbc):
    r = run("compare", str(src), str(lbc), "--json")
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["psnr_rgb"] > 25 and d["psnr_y"] > 25
    assert d["ms_ssim"] is None  # 64x48 is too small for MS-SSIM
    assert d["bytes"] == lbc.stat().st_size
    assert d["bpp"] == pytest.approx(lbc.stat().st_size * 8 / (64 * 48))
    assert d["identical"] is False
    r = run("compare", str(src), str(lbc))
    assert r.exit_code == 0
    assert "PSNR RGB" in r.stdout and "bpp" in r.stdout
    assert "MS-SSIM n/a" in r.stdout and "nan" not in r.stdout


def test_compare_size_mismatch(tmp_path, src):
    other = tmp_path / "small.png"
    other.write_bytes(png_bytes(smooth_image(10, 10)))
    before = files_in(tmp_path)
    assert_data_error(run("compare", str(src), str(other)), tmp_path, before, match="sizes differ")


def test_compare_identical_is_strict_json(src):
    r = run("compare", str(src), str(src), "--json")
    assert r.exit_code == 0

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    d = json.loads(r.stdout, parse_constant=refuse)
    assert d["psnr_rgb"] is None and d["identical"] is True


def test_compare_identical_text(src):
    r = run("compare", str(src), str(src))
    assert r.exit_code == 0
    assert "inf dB" in r.stdout


def test_codecs_command():
    r = run("codecs")
    assert r.exit_code == 0
    lines = r.stdout.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == list(ALL_CODECS)
    assert all(ln.split()[1] == "yes" for ln in lines)
    rows = json.loads(run("codecs", "--json").stdout)
    assert [row["name"] for row in rows] == list(ALL_CODECS)
    assert all(row["available"] for row in rows)
    assert {row["name"]: row["subsampling"] for row in rows} == {
        "jpeg": True, "jpeg2000": False, "webp": False, "avif": True, "heif": True, "jpegxl": False}
    assert {row["name"] for row in rows if row["tune"]} == {"heif", "avif", "jpeg"}


# -- stdin / stdout ---------------------------------------------------------------------------------------------


def test_stdout_and_stdin(tmp_path, src, img):
    r = run("encode", str(src), "-o", "-", "--quality", "70")
    assert r.exit_code == 0
    data = r.stdout_bytes
    assert data.startswith(b"LBC\x01")
    ctr.unpack(data)
    assert files_in(tmp_path) == {"in.png"}
    r = run("decode", "-", "-o", "-", input=data)
    assert r.exit_code == 0
    dec = np.asarray(Image.open(io.BytesIO(r.stdout_bytes)))
    assert dec.shape == img.shape
    r = run("encode", "-", "-o", str(tmp_path / "from-stdin.lbc"), "--quality", "70", input=src.read_bytes())
    assert r.exit_code == 0
    assert (tmp_path / "from-stdin.lbc").read_bytes() == data


def test_empty_stdin_is_data_error(tmp_path):
    before = files_in(tmp_path)
    assert_data_error(run("encode", "-", "-o", str(tmp_path / "o.lbc"), input=b""), tmp_path, before, match="empty")


# -- usage errors: exit 2 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,match",
    [
        (["encode", "{src}", "-o", "{out}", "--bogus"], "No such option"),
        (["encode", "{src}", "-o", "{out}", "--codec", "gif"], "gif"),
        (["encode", "{src}", "-o", "{out}", "--bpp", "0.5", "--quality", "50"], "only one of"),
        (["encode", "{src}", "-o", "{out}", "--bpp", "0.5", "--size", "500"], "only one of"),
        (["encode", "{src}", "-o", "{out}", "--quality", "101"], "quality"),
        (["encode", "{src}", "-o", "{out}", "--bpp", "0"], "bpp"),
        (["encode", "{src}", "-o", "{out}", "--scale", "5"], "scale"),
        (["encode", "{src}", "-o", "{out}", "-m", "none", "--scale", "2"], "--scale"),
        (["encode", "{src}", "-o", "{out}", "-m", "downsample", "--scale", "1"], "--scale"),
        (["encode", "{src}"], "-o"),
        (["encode", "{dir}/missing.png", "-o", "{out}"], "does not exist"),
        (["decode", "{dir}/missing.lbc", "-o", "{dir}/x.png"], "does not exist"),
        (["info", "{dir}/missing.lbc"], "does not exist"),
        (["compare", "{src}", "{dir}/missing.png"], "does not exist"),
        (["encode", "{src}", "-o", "{src}"], "is the input file"),
        (["encode", "{src}", "-o", "{dir}/./in.png", "--force"], "is the input file"),
        (["nosuchcommand"], "No such command"),
    ],
)
def test_usage_errors(tmp_path, src, args, match):
    before = files_in(tmp_path)
    digest = sha(src)
    fmt = {"src": str(src), "out": str(tmp_path / "out.lbc"), "dir": str(tmp_path)}
    r = run(*[a.format(**fmt) for a in args])
    assert_usage_error(r, tmp_path, before, match=match)
    assert sha(src) == digest


@pytest.mark.parametrize(
    "args",
    [
        ["--bpp", "nan"], ["--bpp", "inf"], ["--bpp", "NaN"], ["--bpp", "-inf"],
        ["--quality", "nan"], ["--quality", "inf"], ["--quality", "-nan"],
    ],
    ids=lambda a: " ".join(a),
)
@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_encode_non_finite_numbers_are_usage_errors(tmp_path, src, monkeypatch, args, batch):
    # refused while the options are parsed, before any file is read or encoded
    import lbcodec.api

    def no_work(*a, **k):
        raise AssertionError("encode_image called")

    monkeypatch.setattr(lbcodec.api, "encode_image", no_work)
    before = files_in(tmp_path)
    out = tmp_path / "outdir" if batch else tmp_path / "out.lbc"
    r = run("encode", str(src), *([str(src)] if batch else []), "-o", str(out), *args)
    assert_usage_error(r, tmp_path, before, match=args[0])
    assert r.stderr.count("\n") == 1  # the one error line, no usage block, no traceback


@pytest.mark.parametrize("value", ["nan", "0.1,nan", "inf", "0.2,-inf"])
@pytest.mark.parametrize("option", ["--bpp", "--quality"])
def test_bench_non_finite_numbers_are_usage_errors(tmp_path, src, monkeypatch, option, value):
    import lbcodec.bench

    def no_work(*a, **k):
        raise AssertionError("bench started")

    monkeypatch.setattr(lbcodec.bench, "collect_images", no_work)
    before = files_in(tmp_path)
    r = run("bench", str(src), option, value, "-o", str(tmp_path / "results"))
    assert_usage_error(r, tmp_path, before, match=option)


@pytest.mark.parametrize("args", [["--time-budget", "nan"], ["--time-budget", "inf"], ["--pack-mb", "nan"]])
def test_train_non_finite_numbers_are_usage_errors(tmp_path, monkeypatch, args):
    import lbcodec.training.config

    def no_work(*a, **k):
        raise AssertionError("train started")

    monkeypatch.setattr(lbcodec.training.config, "load_config", no_work)
    config = tmp_path / "c.json"
    config.write_text("{}")
    before = files_in(tmp_path)
    r = run("train", str(config), *args)
    assert_usage_error(r, tmp_path, before, match=args[0])


@pytest.mark.parametrize("method", ["none", "downsample"])
def test_encode_threads_applies_to_every_method(tmp_path, src, monkeypatch, method):
    # --threads limits the codec library whatever the pre-filter, as it does for decode
    from lbcodec import batch

    calls = []
    monkeypatch.setattr(batch, "limit_threads", calls.append)
    r = run("encode", str(src), "-o", str(tmp_path / "out.lbc"), "-m", method, "--quality", "50", "--threads", "1")
    assert r.exit_code == 0, r.stderr
    assert calls == [1]
    calls.clear()
    r = run("decode", str(tmp_path / "out.lbc"), "-o", str(tmp_path / "out.png"), "--threads", "1")
    assert r.exit_code == 0, r.stderr
    assert calls == [1]


@pytest.mark.skipif(os.name != "posix", reason="symbolic links and umask")
def test_outputs_follow_symlinks_and_umask(tmp_path, src):
    old = os.umask(0o022)
    try:
        out = tmp_path / "out.lbc"
        r = run("encode", str(src), "-o", str(out), "--quality", "50")
        assert r.exit_code == 0, r.stderr
        assert out.stat().st_mode & 0o777 == 0o644
        # a link as the output: its target is written, the link stays a link
        real, link = tmp_path / "real.png", tmp_path / "link.png"
        real.write_bytes(b"old")
        link.symlink_to(real.name)
        r = run("decode", str(out), "-o", str(link), "--force")
        assert r.exit_code == 0, r.stderr
        assert link.is_symlink() and os.readlink(link) == real.name
        assert Image.open(real).size == (64, 48) and real.stat().st_mode & 0o777 == 0o644
        assert not list(tmp_path.glob(".lbcodec-*.tmp"))
    finally:
        os.umask(old)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_encode_into_a_fifo(tmp_path, src):
    fifo = tmp_path / "pipe.lbc"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader first, so the write cannot block
    try:
        r = run("encode", str(src), "-o", str(fifo), "--quality", "50", "--force")
        assert r.exit_code == 0, r.stderr
        assert os.read(fd, 1 << 16).startswith(b"LBC\x01")
    finally:
        os.close(fd)
    assert fifo.is_fifo()


def test_decode_output_is_input(tmp_path, lbc):
    odd = tmp_path / "container.png"  # a .lbc under an image name, so the output format is known
    odd.write_bytes(lbc.read_bytes())
    before, digest = files_in(tmp_path), sha(odd)
    assert_usage_error(run("decode", str(odd), "-o", str(odd), "--force"), tmp_path, before, match="input file")
    assert sha(odd) == digest
    assert_usage_error(run("extract", str(lbc), "-o", str(lbc), "--force"), tmp_path, before, match="input file")


def test_output_is_input_via_symlink(tmp_path, src):
    link = tmp_path / "link.png"
    link.symlink_to(src)
    before, digest = files_in(tmp_path), sha(src)
    assert_usage_error(run("encode", str(src), "-o", str(link), "--force"), tmp_path, before, match="input file")
    assert sha(src) == digest and link.is_symlink()


# -- data and I/O errors: exit 1 -------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(
    "name,data,match",
    [
        ("empty.png", b"", "empty"),
        ("text.png", b"just some text, not an image\n" * 10, "not an image"),
        ("trunc.png", None, None),
        ("fake.lbc", b"LBC\x01" + bytes(30), None),
    ],
)
def test_encode_bad_input(tmp_path, name, data, match):
    if data is None:
        full = png_bytes(smooth_image(noise=30))
        data = full[: len(full) // 2]
    p = _write(tmp_path, name, data)
    before = files_in(tmp_path)
    r = run("encode", str(p), "-o", str(tmp_path / "out.lbc"))
    assert_data_error(r, tmp_path, before, match=match)
    assert p.read_bytes() == data


@pytest.mark.parametrize("cut", [0, 1, 3, 10, -5, -1])
@pytest.mark.parametrize("command", ["decode", "info", "extract", "compare"])
def test_corrupt_lbc(tmp_path, src, lbc, command, cut):
    good = lbc.read_bytes()
    bad = good[:cut] if cut > 0 else (good[:cut] if cut < 0 else b"")
    if cut == 1:
        bad = good[:20] + bytes([good[20] ^ 0x01]) + good[21:]  # one flipped bit
    p = _write(tmp_path, "bad.lbc", bad)
    before = files_in(tmp_path)
    if command == "decode":
        r = run("decode", str(p), "-o", str(tmp_path / "out.png"))
    elif command == "info":
        r = run("info", str(p), "--json")
    elif command == "extract":
        r = run("extract", str(p), "-o", str(tmp_path / "out.jpg"))
    else:  # compare decodes .lbc files (and reads anything else as an image)
        r = run("compare", str(src), str(p))
    line = assert_data_error(r, tmp_path, before)
    assert "corrupt" in line or "not an .lbc" in line or "empty" in line


def test_corrupt_lbc_every_truncation_decode(tmp_path, lbc):
    good = lbc.read_bytes()
    p = tmp_path / "t.lbc"
    for n in range(0, len(good), max(1, len(good) // 25)):
        p.write_bytes(good[:n])
        before = files_in(tmp_path)
        assert_data_error(run("decode", str(p), "-o", str(tmp_path / "o.png")), tmp_path, before)


def test_absurd_dimensions_lbc(tmp_path):
    body = (b"LBC\x01" + ctr._varint(1 << 20) + ctr._varint(1 << 20) + bytes([3, 0, 1, 1])
            + struct.pack("<H", 5000) + b"\x00\x00" + b"\x04\xff\xd8\xff\xd9")
    p = _write(tmp_path, "absurd.lbc", body + struct.pack("<I", zlib.crc32(body)))
    before = files_in(tmp_path)
    assert_data_error(run("decode", str(p), "-o", str(tmp_path / "o.png")), tmp_path, before, match="absurd")
    assert_data_error(run("info", str(p)), tmp_path, before, match="absurd")


def test_unreachable_bpp(tmp_path, src):
    before = files_in(tmp_path)
    r = run("encode", str(src), "-o", str(tmp_path / "out.lbc"), "--bpp", "0.01")
    assert_data_error(r, tmp_path, before, match="smallest reachable")


def test_existing_output_needs_force(tmp_path, src, lbc):
    out, png, jpg = tmp_path / "exists.lbc", tmp_path / "exists.png", tmp_path / "exists.jpg"
    for p in (out, png, jpg):
        p.write_bytes(b"precious")
    before = files_in(tmp_path)
    r = run("encode", str(src), "-o", str(out), "--quality", "50")
    assert_data_error(r, tmp_path, before, match="--force")
    assert out.read_bytes() == b"precious"
    for args, path in ((["decode", str(lbc), "-o", str(png)], png), (["extract", str(lbc), "-o", str(jpg)], jpg)):
        r = run(*args)
        assert_data_error(r, tmp_path, before, match="--force")
        assert path.read_bytes() == b"precious"
    r = run("decode", str(lbc), "-o", str(png), "--force")
    assert r.exit_code == 0
    assert Image.open(png).size == (64, 48)
    # --force replaces it, with nothing else left behind
    r = run("encode", str(src), "-o", str(out), "--quality", "50", "--force")
    assert r.exit_code == 0
    assert out.read_bytes().startswith(b"LBC\x01")
    assert files_in(tmp_path) == before


def test_failed_encode_with_force_keeps_existing_output(tmp_path, src):
    out = tmp_path / "exists.lbc"
    out.write_bytes(b"precious")
    before = files_in(tmp_path)
    r = run("encode", str(src), "-o", str(out), "--bpp", "0.01", "--force")
    assert_data_error(r, tmp_path, before, match="smallest reachable")
    assert out.read_bytes() == b"precious"


def test_output_folder_missing(tmp_path, src):
    before = files_in(tmp_path)
    r = run("encode", str(src), "-o", str(tmp_path / "no" / "such" / "dir" / "out.lbc"))
    assert_data_error(r, tmp_path, before, match="does not exist")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_output_folder_unwritable(tmp_path, src):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        before = files_in(tmp_path)
        r = run("encode", str(src), "-o", str(ro / "out.lbc"))
        assert_data_error(r, tmp_path, before, match="writable")
    finally:
        ro.chmod(0o700)


def test_output_folder_unwritable_simulated(tmp_path, src, monkeypatch):
    # the same check, whatever user runs the tests
    real_access = os.access
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if str(p) == str(ro) else real_access(p, mode, *a, **k))
    before = files_in(tmp_path)
    assert_data_error(run("encode", str(src), "-o", str(ro / "out.lbc")), tmp_path, before, match="writable")


def test_write_failure_leaves_no_temp_file(tmp_path, src, monkeypatch):
    # the check passes but the final rename fails (e.g. a full disk): no partial or temp file remains
    def failing_replace(a, b):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    before = files_in(tmp_path)
    r = run("encode", str(src), "-o", str(tmp_path / "out.lbc"), "--quality", "50")
    assert_data_error(r, tmp_path, before, match="No space left")
    assert not list(tmp_path.glob(".lbcodec-*.tmp"))


def test_mkstemp_failure_is_one_line(tmp_path, src, monkeypatch):
    def failing_mkstemp(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", failing_mkstemp)
    before = files_in(tmp_path)
    r = run("encode", str(src), "-o", str(tmp_path / "out.lbc"), "--quality", "50")
    assert_data_error(r, tmp_path, before, match="Permission denied")


def test_input_never_modified(tmp_path, src, lbc):
    d_src, d_lbc = sha(src), sha(lbc)
    run("encode", str(src), "-o", str(tmp_path / "a.lbc"), "--bpp", "1")
    run("encode", str(src), "-o", str(tmp_path / "a.lbc"), "--bpp", "1", "--force")
    run("decode", str(lbc), "-o", str(tmp_path / "a.png"))
    run("info", str(lbc))
    run("extract", str(lbc), "-o", str(tmp_path / "a.jpg"))
    run("compare", str(src), str(lbc))
    assert sha(src) == d_src and sha(lbc) == d_lbc
    assert not list(tmp_path.glob(".lbcodec-*.tmp"))


def test_decode_unknown_output_extension(tmp_path, lbc):
    before = files_in(tmp_path)
    r = run("decode", str(lbc), "-o", str(tmp_path / "out.gif"))
    assert r.exit_code in (1, 2)
    assert "output format" in r.stderr
    assert files_in(tmp_path) == before


# -- huge inputs ------------------------------------------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def huge_png(width: int = 20000, height: int = 20000) -> bytes:
    """A ~100-byte PNG whose IHDR declares width x height (valid CRCs, one tiny IDAT)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 49))
            + _chunk(b"IEND", b""))


@pytest.mark.parametrize("fresh", [False, True], ids=["warm", "fresh-process"])
def test_huge_image_refused_cleanly(tmp_path, monkeypatch, fresh):
    if fresh:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", PILLOW_DEFAULT_MAX_PIXELS)
    else:
        run("encode", "-", "-o", "-", "--quality", "5", input=png_bytes(smooth_image(4, 4)))
    p = _write(tmp_path, "huge.png", huge_png())
    before = files_in(tmp_path)
    r = run("encode", str(p), "-o", str(tmp_path / "out.lbc"))
    line = assert_data_error(r, tmp_path, before)
    assert "400" in line
    if not fresh:
        assert "megapixels" in line


def test_huge_image_message_in_fresh_process(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", PILLOW_DEFAULT_MAX_PIXELS)
    p = _write(tmp_path, "huge.png", huge_png())
    r = run("encode", str(p), "-o", str(tmp_path / "out.lbc"))
    assert r.exit_code == 1
    assert "megapixels" in r.stderr and "--max-pixels" in r.stderr


def test_max_pixels_option(tmp_path, src):
    before = files_in(tmp_path)
    r = run("encode", str(src), "-o", str(tmp_path / "out.lbc"), "--max-pixels", "1000")
    assert_data_error(r, tmp_path, before, match="64x48 = 3,072 pixels, over the limit of 1,000 pixels")
    r = run("encode", str(src), "-o", str(tmp_path / "out.lbc"), "--max-pixels", str(64 * 48), "--quality", "50")
    assert r.exit_code == 0


def test_encode_to_another_extension_says_it_is_a_container(tmp_path, src):
    r = run("encode", str(src), "-o", str(tmp_path / "x.png"), "--quality", "50", "--post", "none")
    assert r.exit_code == 0
    assert "not png; the usual extension is .lbc" in r.stderr
    assert (tmp_path / "x.png").read_bytes()[:3] == b"LBC"
    r = run("encode", str(src), "-o", str(tmp_path / "y.lbc"), "--quality", "50", "--post", "none")
    assert r.exit_code == 0 and "usual extension" not in r.stderr


def test_notes_for_what_is_lost_animation_frames_and_alpha_in_jpeg(tmp_path):
    frames = [Image.fromarray(smooth_image(32, 48, seed=i)) for i in range(3)]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    r = run("encode", str(gif), "-o", str(tmp_path / "a.lbc"), "--quality", "50", "--post", "none")
    assert r.exit_code == 0 and "3 frames: only the first is coded" in r.stderr
    rgba = np.dstack([smooth_image(32, 48), np.tile(np.arange(48, dtype=np.uint8) * 5, (32, 1))])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    assert run("encode", str(tmp_path / "t.png"), "-o", str(tmp_path / "t.lbc"), "--quality", "50",
               "--post", "none").exit_code == 0
    r = run("decode", str(tmp_path / "t.lbc"), "-o", str(tmp_path / "t.jpg"))
    assert r.exit_code == 0 and "JPEG has no alpha channel" in r.stderr
    r = run("decode", str(tmp_path / "t.lbc"), "-o", str(tmp_path / "t2.png"))
    assert r.exit_code == 0 and "alpha" not in r.stderr


def test_a_camera_mpo_jpeg_is_one_photo_not_an_animation(tmp_path):
    a, b = (Image.fromarray(smooth_image(32, 48, seed=i)) for i in range(2))
    a.save(tmp_path / "cam.jpg", "MPO", save_all=True, append_images=[b])  # a photo + its preview
    assert Image.open(tmp_path / "cam.jpg").n_frames == 2
    r = run("encode", str(tmp_path / "cam.jpg"), "-o", str(tmp_path / "c.lbc"), "--quality", "50", "--post", "none")
    assert r.exit_code == 0 and "frames" not in r.stderr


def test_encode_method_auto_writes_the_best_methods_file(tmp_path):
    src = _write(tmp_path, "photo.png", png_bytes(photo_like(96, 128)))
    out = tmp_path / "out.lbc"
    r = run("encode", str(src), "-o", str(out), "--method", "auto", "--bpp", "0.3")
    assert r.exit_code == 0, r.stderr
    hdr = ctr.unpack(out.read_bytes()).header
    assert hdr.pipeline.method in ("none", "downsample")
    assert "note: method auto: none " in r.stderr and f"method auto: {hdr.pipeline.method}" in r.stderr
    back = tmp_path / "back.png"
    assert run("decode", str(out), "-o", str(back)).exit_code == 0 and back.exists()


@pytest.mark.parametrize("args, message", [
    (("--quality", "30"), "--method auto needs --bpp or --size"),
    (("--pre", "comcnn-jpeg"), "cannot go with --method auto"),
    (("--scale", "1"), "needs --scale 2, 3 or 4"),
])
def test_encode_method_auto_usage_errors(tmp_path, args, message):
    src = _write(tmp_path, "photo.png", png_bytes(photo_like(48, 64)))
    r = run("encode", str(src), "-o", str(tmp_path / "out.lbc"), "--method", "auto", *args)
    assert r.exit_code == 2 and message in r.stderr
    assert files_in(tmp_path) == {"photo.png"}
