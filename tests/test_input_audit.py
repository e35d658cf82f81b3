"""Defects of an input audit: truncated plain files in restore, tiny images' budget advice, encode reading
HEIF/AVIF/JPEG XL, Netpbm outputs that follow their extension, AVIF rate control stopping short."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import photo_like, smooth_image
from lbcodec import imageio
from lbcodec import ratecontrol as rc
from lbcodec.api import encode_image
from lbcodec.cli import cli
from lbcodec.codecs import CODECS, get_codec
from lbcodec.codecs.jpeg import jpeg_truncated
from lbcodec.errors import BudgetError, InputError, LbcError, OutputError
from lbcodec.restore import restore_image

pytestmark = pytest.mark.usefixtures("no_weights")


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def data_error(result, folder: Path, before: set[str]) -> str:
    """Exit 1, one line on stderr, no new file; the line."""
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    lines = result.stderr.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.stderr, result.stderr
    assert files_in(folder) == before
    return lines[0]


def available(name: str) -> bool:
    return CODECS[name].available()


def jpeg_bytes(img: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


# -- 1. restore refuses truncated files ------------------------------------------------------------------------


def test_jpeg_truncated_finds_a_missing_end_of_image():
    img = photo_like(64, 96)
    for data in (jpeg_bytes(img), jpeg_bytes(img, progressive=True), jpeg_bytes(img, restart_marker_blocks=1)):
        assert not jpeg_truncated(data)
        assert not jpeg_truncated(data + b"trailing bytes after EOI")
        for n in (3, 200, len(data) // 2, len(data) - 10, len(data) - 2, len(data) - 1):
            assert jpeg_truncated(data[:n]), n


def test_restore_refuses_a_truncated_jpeg_as_encode_does(tmp_path):
    """libjpeg decodes a cut JPEG to grey rows with only a warning: restore exited 0 with a grey image."""
    data = jpeg_bytes(photo_like(128, 128))
    cut = data[: len(data) // 3]
    with pytest.raises(LbcError, match="truncated"):
        restore_image(cut, post="none")
    with pytest.raises(InputError, match="truncated"):  # encode's reading says the same
        imageio.read_image(cut)
    src = tmp_path / "t.jpg"
    src.write_bytes(cut)
    before = files_in(tmp_path)
    line = data_error(run("restore", str(src), "-o", str(tmp_path / "r.png"), "--post", "none"), tmp_path, before)
    assert "truncated" in line
    # the whole file still restores, and so does one with bytes after its end
    assert restore_image(data + b"\x00" * 16, post="none").pixels.shape == (128, 128, 3)


@pytest.mark.parametrize("codec", ["jpeg", "jpeg2000", "webp", "avif", "heif", "jpegxl"])
def test_restore_refuses_every_codecs_truncated_file(codec):
    if not available(codec):
        pytest.skip(f"{codec} is not available")
    data = get_codec(codec).encode(photo_like(64, 64), 60)
    assert restore_image(data, post="none").pixels.shape[:2] == (64, 64)
    for n in (len(data) // 2, len(data) - 10, len(data) - 1):
        with pytest.raises(LbcError) as info:
            restore_image(data[:n], post="none")
        assert "\n" not in str(info.value)


# -- 2. budget advice for tiny images --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (1, 64)])
@pytest.mark.parametrize("scale", [2, 4])
def test_tiny_image_budget_message_does_not_suggest_a_scale(shape, scale):
    img = np.full((*shape, 3), 90, np.uint8)
    with pytest.raises(BudgetError) as info:
        encode_image(img, codec="jpeg", method="downsample", scale=scale, bpp=0.2, post="none")
    msg = str(info.value)
    assert "smallest reachable" in msg and "header alone" in msg and "\n" not in msg
    assert "larger --scale" not in msg and "try a" not in msg
    assert "--quality" in msg
    size = int(msg.split("--size ")[1].split()[0])  # the --size it suggests does fit
    res = encode_image(img, codec="jpeg", method="downsample", scale=scale, size=size, post="none")
    assert len(res.data) <= size


def test_budget_message_when_no_file_of_the_codec_is_small_enough():
    img = photo_like(128, 128)
    with pytest.raises(BudgetError) as info:  # 102 bytes: less than any RGB JPEG with its tables
        encode_image(img, codec="jpeg", method="downsample", scale=2, bpp=0.05, post="none")
    msg = str(info.value)
    assert "even the smallest jpeg file of any image" in msg and "--scale 4" not in msg
    assert "larger --scale" not in msg and "--codec" in msg and "--quality" in msg


def test_budget_message_suggests_a_larger_scale_only_where_one_fits():
    img = photo_like()  # 256x192
    at4 = len(encode_image(img, codec="jpeg", method="downsample", scale=4, quality=0, post="none").data)
    at2 = len(encode_image(img, codec="jpeg", method="downsample", scale=2, quality=0, post="none").data)
    assert at4 < at2
    with pytest.raises(BudgetError, match="try a larger --scale"):
        encode_image(img, codec="jpeg", method="downsample", scale=2, size=(at4 + at2) // 2, post="none")
    with pytest.raises(BudgetError) as info:  # scale 4 does not fit either: not suggested
        encode_image(img, codec="jpeg", method="downsample", scale=2, size=at4 - 20, post="none")
    assert "--scale" not in str(info.value).replace("even --scale 4", "")
    # at scale 4, "another codec" names only codecs whose smallest file fits (none here: heif's and avif's
    # headers alone are larger), never the codec itself
    with pytest.raises(BudgetError) as info:
        encode_image(img, codec="jpegxl", method="downsample", scale=4, size=100, post="none")
    assert "another --codec" not in str(info.value) and "--quality" in str(info.value)


# -- 3. encode reads HEIF, AVIF and JPEG XL --------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["heif", "avif", "jpegxl"])
def test_read_image_decodes_the_files_restore_reads(codec):
    if not available(codec):
        pytest.skip(f"{codec} is not available")
    img = photo_like(64, 96)
    data = get_codec(codec).encode(img, 90)
    got = imageio.read_image(data)
    assert got.pixels.shape == img.shape and got.alpha is None
    assert np.abs(got.pixels.astype(int) - img).mean() < 6
    # the pixels restore decodes (AVIF: encode reads it with Pillow's libavif where Pillow has one)
    restored = restore_image(data, post="none").pixels
    assert np.abs(got.pixels.astype(int) - restored).mean() < (0.5 if codec == "avif" else 1e-9)
    # refused from the header, before decoding
    with pytest.raises(InputError, match="over the limit"):
        imageio.read_image(data, max_pixels=64 * 96 - 1)
    # a cut file: one line
    with pytest.raises(InputError) as info:
        imageio.read_image(data[: len(data) // 2])
    assert str(info.value).startswith("cannot decode the image") and "\n" not in str(info.value)


def test_read_image_checks_the_pixel_limit_before_decoding(monkeypatch):
    if not available("heif"):
        pytest.skip("heif is not available")
    data = get_codec("heif").encode(photo_like(64, 64), 50)

    def no_decode(self, data):
        raise AssertionError("decoded before the pixel limit was checked")

    monkeypatch.setattr(CODECS["heif"], "decode_file", no_decode)
    with pytest.raises(InputError, match="over the limit"):
        imageio.read_image(data, max_pixels=100)


def test_encode_cli_reads_heic_and_jxl(tmp_path):
    for codec, ext in (("heif", ".heic"), ("jpegxl", ".jxl")):
        if not available(codec):
            continue
        src = tmp_path / f"in{ext}"
        src.write_bytes(get_codec(codec).encode(photo_like(64, 64), 80))
        r = run("encode", str(src), "-o", str(tmp_path / f"{codec}.lbc"), "--quality", "50", "--post", "none")
        assert r.exit_code == 0, r.stderr
        assert (tmp_path / f"{codec}.lbc").read_bytes().startswith(b"LBC")
    text = tmp_path / "not.heic"
    text.write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 40)  # looks like HEIF, is not
    before = files_in(tmp_path)
    data_error(run("encode", str(text), "-o", str(tmp_path / "x.lbc")), tmp_path, before)


def test_read_image_scales_deep_heif_and_avif_with_a_note():
    import imagecodecs

    a16 = (np.linspace(0, 65535, 32 * 48 * 3).reshape(32, 48, 3)).astype(np.uint16)
    want = np.rint(a16 / 65535 * 255)
    if available("avif"):
        data = imagecodecs.avif_encode(a16 >> 6, level=90, bitspersample=10)
        pixels, _, bits = get_codec("avif").decode_file(data)
        assert bits == 10 and np.abs(pixels - want).mean() < 3  # by the depth: 0-1023 -> 0-255
    if available("heif"):
        import pillow_heif

        heif = pillow_heif.from_bytes(mode="RGB;16", size=(48, 32), data=a16.tobytes())
        buf = io.BytesIO()
        heif.save(buf, format="HEIF", quality=90)
        got = imageio.read_image(buf.getvalue())
        assert "converted 10-bit samples to 8 bits" in got.notes
        assert np.abs(got.pixels.astype(int) - want).mean() < 3


def test_restore_reads_deep_files_as_encode_does():
    import imagecodecs

    if not available("jpegxl"):
        pytest.skip("jpegxl is not available")
    a16 = (np.linspace(0, 65535, 32 * 48 * 3).reshape(32, 48, 3)).astype(np.uint16)
    data = imagecodecs.jpegxl_encode(a16, distance=1.0, lossless=False)
    res = restore_image(data, post="none")
    assert "converted 16-bit samples to 8 bits" in res.notes
    assert np.array_equal(res.pixels, imageio.read_image(data).pixels)


def _deep_gradient(bits: int, channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A (32, 48, channels) gradient at ``bits`` per sample (uint16) and its 8-bit value scaled by the depth."""
    top = (1 << bits) - 1
    a = np.linspace(0, top, 32 * 48 * channels).reshape(32, 48, channels).astype(np.uint16)
    return a, np.rint(a / top * 255)


def test_a_12_bit_jpeg_is_scaled_by_its_precision():
    """libjpeg-turbo decodes a 12-bit JPEG to 0-4095: scaled as 16-bit samples it came out almost black."""
    import imagecodecs

    a12, want = _deep_gradient(12)
    data = imagecodecs.jpeg8_encode(a12, level=95, bitspersample=12)
    for got in (imageio.read_image(data), restore_image(data, post="none")):
        assert "converted 12-bit samples to 8 bits" in got.notes
        assert abs(got.pixels.mean() - want.mean()) < 2 and np.abs(got.pixels - want).mean() < 3
    gray, want_gray = _deep_gradient(12, 1)
    got = imageio.read_image(imagecodecs.jpeg8_encode(np.ascontiguousarray(gray[:, :, 0]), level=95, bitspersample=12))
    assert got.pixels.shape == (32, 48, 1) and np.abs(got.pixels - want_gray).mean() < 3


@pytest.mark.parametrize("codec", ["jpeg2000", "jpegxl", "avif"])
@pytest.mark.parametrize("bits", [10, 12])
def test_deep_files_are_scaled_by_their_bit_depth(codec, bits):
    """Each library delivers 10- and 12-bit samples at their own depth: the adapter reads it from the header."""
    import imagecodecs

    if not available(codec):
        pytest.skip(f"{codec} is not available")
    a, want = _deep_gradient(bits)
    encode = {"jpeg2000": lambda: imagecodecs.jpeg2k_encode(a, level=50, codecformat="j2k", bitspersample=bits),
              "jpegxl": lambda: imagecodecs.jpegxl_encode(a, distance=0.5, lossless=False, bitspersample=bits),
              "avif": lambda: imagecodecs.avif_encode(a, level=95, bitspersample=bits)}
    data = encode[codec]()
    pixels, _, got_bits = get_codec(codec).decode_file(data)
    assert got_bits == bits and np.abs(pixels - want).mean() < 3
    got = imageio.read_image(data)  # Pillow's decoder (JPEG 2000, AVIF) or the adapter's (JPEG XL)
    assert f"converted {bits}-bit samples to 8 bits" in got.notes
    assert np.abs(got.pixels - want).mean() < 3


def test_avif_through_its_codec_is_turned_as_pillow_turns_it():
    """The codec path (AVIF where Pillow cannot read it) applies the EXIF orientation as encode's Pillow path."""
    if not (available("avif") and get_codec("avif").smallest_size() is not None):
        pytest.skip("avif is not available")
    from PIL import features

    if not features.check("avif"):
        pytest.skip("Pillow without AVIF")
    img = photo_like(48, 80)
    ex = Image.Exif()
    ex[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "AVIF", quality=90, exif=ex.tobytes())
    data = buf.getvalue()
    via_pillow = imageio.read_image(data)
    via_codec = imageio._read_with_codec(data, "avif", imageio.DEFAULT_MAX_PIXELS)
    assert via_pillow.pixels.shape == via_codec.pixels.shape == (80, 48, 3)
    assert np.abs(via_pillow.pixels.astype(int) - via_codec.pixels).mean() < 2


# -- 4. Netpbm outputs follow the extension ---------------------------------------------------------------------


def _netpbm(data: bytes) -> tuple[bytes, str]:
    im = Image.open(io.BytesIO(data))
    return data[:2], im.mode


def test_ppm_is_always_a_pixmap_and_pgm_always_a_graymap():
    rgb, gray = smooth_image(channels=3), smooth_image(channels=1)
    assert imageio.format_for_path("x.ppm") == "PPM"
    assert imageio.format_for_path("x.pgm") == "PGM"
    assert imageio.format_for_path("x.pnm") == "PNM"
    assert _netpbm(imageio.write_image_bytes(rgb, None, "PPM")) == (b"P6", "RGB")
    data = imageio.write_image_bytes(gray, None, "PPM")  # gray in a pixmap: R=G=B, nothing lost
    assert _netpbm(data) == (b"P6", "RGB")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.repeat(gray, 3, axis=2))
    assert _netpbm(imageio.write_image_bytes(gray, None, "PGM")) == (b"P5", "L")
    # a colour image is not turned gray behind the user's back
    with pytest.raises(OutputError, match="PGM"):
        imageio.write_image_bytes(rgb, None, "PGM")
    # ... but three equal channels are gray, written losslessly as one
    data = imageio.write_image_bytes(np.repeat(gray, 3, axis=2), None, "PGM")
    assert _netpbm(data) == (b"P5", "L") and np.array_equal(np.asarray(Image.open(io.BytesIO(data))), gray[:, :, 0])
    # .pnm: whichever the image is
    assert _netpbm(imageio.write_image_bytes(rgb, None, "PNM"))[0] == b"P6"
    assert _netpbm(imageio.write_image_bytes(gray, None, "PNM"))[0] == b"P5"
    # no alpha in any of them, with the usual note
    alpha = np.full(gray.shape[:2], 7, np.uint8)
    assert _netpbm(imageio.write_image_bytes(gray, alpha, "PGM")) == (b"P5", "L")
    assert imageio.alpha_note(alpha, "PGM") and imageio.alpha_note(alpha, "PNM")


def test_decode_cli_to_pgm_and_ppm(tmp_path):
    rgb_src, gray_src = tmp_path / "rgb.png", tmp_path / "gray.png"
    Image.fromarray(smooth_image(channels=3)).save(rgb_src)
    Image.fromarray(smooth_image(channels=1)[:, :, 0]).save(gray_src)
    for src in (rgb_src, gray_src):
        assert run("encode", str(src), "-o", str(src.with_suffix(".lbc")), "--quality", "50",
                   "--post", "none").exit_code == 0
    assert run("decode", str(tmp_path / "gray.lbc"), "-o", str(tmp_path / "g.ppm")).exit_code == 0
    assert (tmp_path / "g.ppm").read_bytes()[:2] == b"P6"
    assert run("decode", str(tmp_path / "gray.lbc"), "-o", str(tmp_path / "g.pgm")).exit_code == 0
    assert (tmp_path / "g.pgm").read_bytes()[:2] == b"P5"
    before = files_in(tmp_path)
    line = data_error(run("decode", str(tmp_path / "rgb.lbc"), "-o", str(tmp_path / "c.pgm")), tmp_path, before)
    assert "PGM" in line


# -- 5. AVIF rate control ----------------------------------------------------------------------------------------


def _plateau_sizes(ratio: float):
    """A fake integer codec: two qualities per quantizer step (as libavif's 64 quantizers over 100
    qualities), 3 % larger files per step; the draft's files ``ratio`` times the final encoder's."""
    def final(q: float) -> int:
        return int(300 * 1.03 ** (int(q) // 2))

    def encode(q: float) -> bytes:
        calls.append(("final", q))
        return bytes(final(q))

    def draft(q: float) -> bytes:
        calls.append(("draft", q))
        return bytes(int(final(q) * ratio))

    calls: list = []
    return draft, encode, final, calls


@pytest.mark.parametrize("ratio", [1.0, 1.04, 1.08, 0.95])
@pytest.mark.parametrize("budget", [500, 800, 1100])
def test_drafted_search_reaches_the_final_encoders_best_fit(ratio, budget):
    """The draft's files run a few % over the final encoder's on small images: the final fit lies several
    qualities (and plateaus) above the draft's, beyond a climb of three single steps."""
    draft, encode, final, calls = _plateau_sizes(ratio)
    res = rc.fit_budget_drafted(draft, encode, len, budget)
    best = max(final(q) for q in range(101) if final(q) <= budget)
    assert res.size == best and len(res.payload) == best
    finals = sum(1 for kind, _ in calls if kind == "final")
    assert finals <= 6, calls
    assert res.probes == len(calls)


def test_avif_bpp_does_not_stop_short_on_a_small_image():
    """photo_like 130x128 at 0.37 bpp: the search stopped at quality 67 (702 of 769 bytes) while 73 fits."""
    if not available("avif"):
        pytest.skip("avif is not available")
    img = photo_like(128, 130, seed=2)
    res = encode_image(img, codec="avif", method="downsample", bpp=0.37, post="none")
    budget = int(0.37 * 128 * 130 // 8)
    assert len(res.data) <= budget
    # no higher quality within reach gives a larger file that still fits
    for q in range(int(res.quality) + 1, int(res.quality) + 5):
        other = encode_image(img, codec="avif", method="downsample", quality=q, post="none")
        assert len(other.data) > budget or len(other.data) <= len(res.data), q
