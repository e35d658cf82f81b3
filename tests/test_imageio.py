"""Reading input images with lbcodec's policy, and writing decoded images."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import smooth_image
from lbcodec import imageio
from lbcodec.errors import InputError


def encode_pil(im: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose IHDR declares width x height (the IDAT holds one row)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + bytes(3 * min(width, 16)))
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def test_rgb_png_exact():
    img = smooth_image()
    got = imageio.read_image(encode_pil(Image.fromarray(img)))
    assert np.array_equal(got.pixels, img)
    assert got.alpha is None and got.notes == []
    assert (got.width, got.height) == (64, 48)


def test_gray_png_exact():
    img = smooth_image(channels=1)
    got = imageio.read_image(encode_pil(Image.fromarray(img[:, :, 0])))
    assert got.pixels.shape == (48, 64, 1) and got.pixels.dtype == np.uint8
    assert np.array_equal(got.pixels, img)


def test_palette_png_converted_to_rgb():
    rgb = smooth_image()
    pal = Image.fromarray(rgb).quantize(colors=16)
    data = encode_pil(pal)
    assert Image.open(io.BytesIO(data)).mode == "P"
    got = imageio.read_image(data)
    assert got.pixels.shape == (48, 64, 3) and got.alpha is None
    assert np.array_equal(got.pixels, np.asarray(pal.convert("RGB")))
    assert len(np.unique(got.pixels.reshape(-1, 3), axis=0)) <= 16


def test_palette_png_with_transparency_keeps_alpha():
    pal = Image.fromarray(smooth_image()).quantize(colors=8)
    data = encode_pil(pal, transparency=0)
    got = imageio.read_image(data)
    idx = np.asarray(pal)
    assert got.alpha is not None
    assert np.array_equal(got.alpha == 0, idx == 0)
    assert (got.alpha[idx != 0] == 255).all()


def test_la_png():
    gray = smooth_image(channels=1)[:, :, 0]
    alpha = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))
    im = Image.merge("LA", [Image.fromarray(gray), Image.fromarray(alpha)])
    got = imageio.read_image(encode_pil(im))
    assert got.pixels.shape == (48, 64, 1)
    assert np.array_equal(got.pixels[:, :, 0], gray)
    assert np.array_equal(got.alpha, alpha)


def test_rgba_png():
    rgb = smooth_image()
    alpha = np.tile(np.linspace(0, 255, 48).astype(np.uint8)[:, None], (1, 64))
    im = Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")
    got = imageio.read_image(encode_pil(im))
    assert np.array_equal(got.pixels, rgb)
    assert np.array_equal(got.alpha, alpha)
    assert got.notes == []


def test_opaque_alpha_dropped_with_note():
    rgb = smooth_image()
    im = Image.fromarray(np.dstack([rgb, np.full((48, 64), 255, np.uint8)]), mode="RGBA")
    got = imageio.read_image(encode_pil(im))
    assert got.alpha is None
    assert np.array_equal(got.pixels, rgb)
    assert any("opaque" in n for n in got.notes)


def test_16bit_png_converted_with_note():
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (48, 1))
    im = Image.fromarray(ramp)
    assert im.mode.startswith("I;16")
    data = encode_pil(im)
    assert data[24] == 16  # bit depth in IHDR
    got = imageio.read_image(data)
    assert got.pixels.dtype == np.uint8 and got.pixels.shape == (48, 64, 1)
    assert got.pixels[0, 0, 0] == 0 and got.pixels[0, -1, 0] == 255
    expected = np.rint(ramp / 65535 * 255).astype(np.uint8)
    assert np.abs(got.pixels[:, :, 0].astype(int) - expected).max() <= 1
    assert any("16-bit" in n for n in got.notes)


def _png_16bit(samples: np.ndarray, color_type: int) -> bytes:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB): ``samples`` is (H, W, C) integers."""
    h, w = samples.shape[:2]
    rows = samples.astype(">u2").reshape(h, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def _pgm_16bit(samples: np.ndarray) -> bytes:
    h, w = samples.shape
    return f"P5 {w} {h} 65535\n".encode() + samples.astype(">u2").tobytes()


@pytest.mark.parametrize("fmt", ["png", "tiff", "pgm"])
def test_dark_16bit_gray_scaled_by_bit_depth_not_by_values(fmt):
    # a 16-bit image whose samples are all <= 255 is nearly black, not an 8-bit image
    dark = np.tile(np.arange(0, 256, 4, dtype=np.uint16), (8, 1))  # 8x64, values 0..252
    if fmt == "pgm":
        data = _pgm_16bit(dark)
    else:
        data = encode_pil(Image.fromarray(dark), fmt.upper())
    got = imageio.read_image(data)
    assert got.pixels.shape == (8, 64, 1)
    expected = np.rint(dark / 65535 * 255).astype(np.uint8)  # 0 or 1
    assert np.array_equal(got.pixels[:, :, 0], expected)
    assert got.pixels.max() <= 1
    assert any("16-bit" in n for n in got.notes)


def test_16bit_png_gray_and_rgb_scaled_alike():
    values = np.array([[0, 200, 257, 1000, 32768, 65535]], dtype=np.uint16)  # 1x6
    gray = imageio.read_image(_png_16bit(values[:, :, None], color_type=0))
    rgb = imageio.read_image(_png_16bit(np.repeat(values[:, :, None], 3, axis=2), color_type=2))
    assert gray.pixels.shape == (1, 6, 1) and rgb.pixels.shape == (1, 6, 3)
    exact = values / 65535 * 255
    assert np.abs(gray.pixels[:, :, 0] - exact).max() <= 1
    for c in range(3):
        assert np.abs(rgb.pixels[:, :, c] - exact).max() <= 1  # Pillow reduces 16-bit RGB by the bit depth too
    assert int(gray.pixels[0, 1, 0]) == 1 and int(rgb.pixels[0, 1, 0]) <= 1  # 200/65535 is dark, not 200/255
    assert any("16-bit" in n for n in rgb.notes)


@pytest.mark.parametrize(
    "size,limit,expected",
    [
        ((128, 128), 100, "128x128 = 16,384 pixels, over the limit of 100 pixels"),
        ((10, 10), 1, "10x10 = 100 pixels, over the limit of 1 pixel;"),
        ((1500, 1000), 1_000_000, "1500x1000 = 1,500,000 pixels (1.5 megapixels), over the limit of "
                                  "1,000,000 pixels (1.0 megapixels)"),
    ],
)
def test_over_the_limit_message_counts_pixels(size, limit, expected):
    with pytest.raises(InputError) as info:
        imageio.read_image(png_with_declared_size(*size), max_pixels=limit)
    assert expected in str(info.value)
    assert " 0 megapixels" not in str(info.value) and "--max-pixels" in str(info.value)


def test_exif_orientation_applied():
    # stored 40 wide x 20 high, left half dark, right half bright; orientation 6 = rotate 90 CW to view
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, 20:] = 230
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode_pil(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())
    got = imageio.read_image(data)
    assert got.pixels.shape == (40, 20, 3)
    assert got.pixels[:15].mean() < 40  # the dark left half is now on top
    assert got.pixels[25:].mean() > 190


def test_cmyk_and_bilevel_converted():
    cmyk = Image.fromarray(smooth_image()).convert("CMYK")
    got = imageio.read_image(encode_pil(cmyk, "JPEG", quality=95))
    assert got.pixels.shape == (48, 64, 3)
    bilevel = Image.fromarray(smooth_image(channels=1)[:, :, 0]).convert("1")
    got = imageio.read_image(encode_pil(bilevel))
    assert got.pixels.shape == (48, 64, 1)
    assert set(np.unique(got.pixels)) <= {0, 255}


@pytest.mark.parametrize(
    "data,match",
    [
        (b"", "empty"),
        (b"hello, this is a text file\n" * 20, "not an image"),
        (b"\x89PNG\r\n\x1a\n", None),
        (b"\x00" * 100, None),
    ],
    ids=["empty", "text", "png-signature-only", "zeros"],
)
def test_bad_inputs(data, match):
    with pytest.raises(InputError, match=match):
        imageio.read_image(data)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_png(keep):
    data = encode_pil(Image.fromarray(smooth_image(noise=30)))
    with pytest.raises(InputError):
        imageio.read_image(data[: int(len(data) * keep)])


#: Pillow's own decompression-bomb limit in a fresh process (imageio may have changed it in this one)
PILLOW_DEFAULT_MAX_PIXELS = int(1024 * 1024 * 1024 // 4 // 3)


@pytest.fixture
def fresh_pillow(monkeypatch):
    """Pillow's global state as in a fresh `lbcodec` process."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", PILLOW_DEFAULT_MAX_PIXELS)


@pytest.mark.parametrize("fresh", [False, True], ids=["warm", "fresh-process"])
def test_huge_declared_size_refused_quickly(request, fresh):
    if fresh:
        request.getfixturevalue("fresh_pillow")
    else:
        imageio.read_image(encode_pil(Image.fromarray(smooth_image(4, 4))))  # any earlier read
    data = png_with_declared_size(20000, 20000)
    assert len(data) < 200
    t0 = time.perf_counter()
    with pytest.raises(InputError) as info:
        imageio.read_image(data)
    assert time.perf_counter() - t0 < 0.5
    assert "\n" not in str(info.value)


def test_huge_declared_size_message_after_earlier_reads():
    imageio.read_image(encode_pil(Image.fromarray(smooth_image(4, 4))))
    with pytest.raises(InputError) as info:
        imageio.read_image(png_with_declared_size(20000, 20000))
    assert "20000x20000 = 400,000,000 pixels (400 megapixels), over the limit of 150,000,000 pixels" in str(info.value)
    assert "--max-pixels" in str(info.value)




def test_huge_declared_size_message_in_fresh_process(fresh_pillow):
    with pytest.raises(InputError, match="megapixels"):
        imageio.read_image(png_with_declared_size(20000, 20000))


def test_max_pixels_can_be_raised_past_pillows_limit_in_fresh_process(fresh_pillow):
    # the limit check passes (400 Mpx <= 500 Mpx); what remains is the bad pixel data
    with pytest.raises(InputError) as info:
        imageio.read_image(png_with_declared_size(20000, 20000), max_pixels=500_000_000)
    assert "decompression bomb" not in str(info.value)


def test_read_image_leaves_pillow_global_alone(fresh_pillow):
    imageio.read_image(encode_pil(Image.fromarray(smooth_image(4, 4))))
    assert Image.MAX_IMAGE_PIXELS == PILLOW_DEFAULT_MAX_PIXELS


def test_max_pixels_argument():
    data = encode_pil(Image.fromarray(smooth_image(50, 50)))
    with pytest.raises(InputError, match="2,500 pixels, over the limit of 1,000 pixels"):
        imageio.read_image(data, max_pixels=1000)
    assert imageio.read_image(data, max_pixels=2500).pixels.shape == (50, 50, 3)
    with pytest.raises(InputError):
        imageio.read_image(data, max_pixels=2499)


def test_declared_size_under_limit_but_bad_data():
    # a header within the limit but data missing: a clean InputError, not a crash
    with pytest.raises(InputError):
        imageio.read_image(png_with_declared_size(300, 300))


@pytest.mark.parametrize(
    "path,fmt",
    [("a.png", "PNG"), ("A.PNG", "PNG"), ("x.tif", "TIFF"), ("x.tiff", "TIFF"), ("x.bmp", "BMP"),
     ("x.ppm", "PPM"), ("x.webp", "WEBP"), ("x.jpg", "JPEG"), ("-", "PNG"), ("dir.v1/out.png", "PNG")],
)
def test_format_for_path(path, fmt):
    assert imageio.format_for_path(path) == fmt


@pytest.mark.parametrize("path", ["out", "out.lbc", "out.gif"])
def test_format_for_path_unknown(path):
    with pytest.raises(InputError, match="output format"):
        imageio.format_for_path(path)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "BMP", "PPM", "WEBP"])
@pytest.mark.parametrize("channels", [3, 1])
def test_write_lossless_formats_round_trip(fmt, channels):
    img = smooth_image(channels=channels)
    data = imageio.write_image_bytes(img, None, fmt)
    got = imageio.read_image(data)
    if fmt in ("WEBP", "PPM") and channels == 1:
        assert np.array_equal(got.pixels[:, :, :1], img)  # WebP has no gray mode; a PPM is always a pixmap
    else:
        assert np.array_equal(got.pixels, img)


@pytest.mark.parametrize("channels", [3, 1])
def test_write_png_with_alpha_round_trip(channels):
    img = smooth_image(channels=channels)
    alpha = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    got = imageio.read_image(imageio.write_image_bytes(img, alpha, "PNG"))
    assert np.array_equal(got.pixels, img)
    assert np.array_equal(got.alpha, alpha)


def test_write_jpeg_drops_alpha():
    img = smooth_image()
    data = imageio.write_image_bytes(img, np.zeros((48, 64), np.uint8), "JPEG")
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG" and im.mode == "RGB" and im.size == (64, 48)
