"""The library API: encode_image / decode_image / inner_bitstream."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image, features

from conftest import ALL_CODECS, smooth_image
from lbcodec import container as ctr
from lbcodec.api import decode_image, encode_image, inner_bitstream
from lbcodec.codecs import get_codec
from lbcodec.errors import BudgetError, CorruptContainerError, InputError
from lbcodec.metrics import psnr
from lbcodec.pipeline import Pipeline

pytestmark = pytest.mark.usefixtures("no_weights")


@pytest.fixture(scope="module")
def img():
    return smooth_image()


def gradient_alpha(h: int = 48, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    a = (x * 255 // (w - 1) + (y % 3)).clip(0, 255).astype(np.uint8)
    a[0, 0], a[-1, -1] = 0, 255
    return a


def test_defaults_are_downsample_by_two(img):
    res = encode_image(img, quality=50)
    p = res.header.pipeline
    assert (p.method, p.scale, p.codec, p.subsampling, p.post_id) == ("downsample", 2, "jpeg", "420", 0)
    assert res.probes == 1
    assert res.bpp == pytest.approx(len(res.data) * 8 / (64 * 48))
    assert ctr.unpack(res.data).header == res.header


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"bpp": 1.0, "quality": 50}, {"bpp": 1.0, "size": 500}, {"quality": 50, "size": 500}, {"bpp": 1, "quality": 5, "size": 9}],
)
def test_exactly_one_target(img, kwargs):
    with pytest.raises(ValueError, match="exactly one"):
        encode_image(img, **kwargs)


def test_each_target_alone(img):
    assert encode_image(img, quality=60).quality == 60.0
    assert len(encode_image(img, size=600).data) <= 600
    assert len(encode_image(img, bpp=1.5).data) * 8 <= 1.5 * 64 * 48


def test_integer_codec_quality_is_rounded_in_header(img):
    res = encode_image(img, codec="avif", quality=42.6)
    assert res.quality == 43.0 and res.header.pipeline.quality == 43.0
    for codec in ("webp", "jpeg"):  # continuous qualities are kept
        res = encode_image(img, codec=codec, quality=42.6)
        assert res.header.pipeline.quality == 42.6


def test_decode_is_deterministic_and_matches_codec(img):
    res = encode_image(img, codec="webp", method="none", quality=70)
    a, b = decode_image(res.data), decode_image(res.data)
    assert np.array_equal(a.pixels, b.pixels)
    payload, _ = inner_bitstream(res.data)
    assert np.array_equal(a.pixels, get_codec("webp").decode(payload, channels=3))


@pytest.mark.parametrize("codec", ALL_CODECS)
@pytest.mark.parametrize("channels", [3, 1], ids=["rgba", "la"])
def test_alpha_is_lossless(codec, channels):
    pixels = smooth_image(channels=channels)
    alpha = gradient_alpha()
    res = encode_image(pixels, alpha=alpha, codec=codec, quality=50)
    assert res.header.has_alpha
    out = decode_image(res.data)
    assert out.alpha is not None
    assert out.alpha.dtype == np.uint8 and out.alpha.shape == (48, 64)
    assert np.array_equal(out.alpha, alpha)
    assert out.pixels.shape == pixels.shape


def test_alpha_shape_must_match(img):
    with pytest.raises(InputError, match="alpha"):
        encode_image(img, alpha=np.zeros((10, 10), np.uint8), quality=50)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((8, 8, 3), np.float32),
        np.zeros((8, 8, 4), np.uint8),
        np.zeros((8, 8, 2), np.uint8),
        np.zeros((0, 8, 3), np.uint8),
        np.zeros((8,), np.uint8),
    ],
    ids=["float", "rgba", "2ch", "empty", "1d"],
)
def test_bad_pixels(bad):
    with pytest.raises(InputError):
        encode_image(bad, quality=50)


def test_network_methods_fall_back_without_weights(img):
    # no trained model installed: comcnn -> bicubic downsampling, modifynet -> none,
    # and the header records what was really done
    res = encode_image(img, method="comcnn", scale=3, quality=50)
    assert (res.header.pipeline.method, res.header.pipeline.scale) == ("downsample", 3)
    assert any("comcnn" in n for n in res.notes)
    assert decode_image(res.data).pixels.shape == img.shape
    res = encode_image(img, method="modifynet", quality=50)
    assert (res.header.pipeline.method, res.header.pipeline.scale) == ("none", 1)
    assert any("modifynet" in n for n in res.notes)
    assert res.header.pipeline.post_id == 0


def test_bad_method_scale_combination(img):
    with pytest.raises(ValueError):
        encode_image(img, method="downsample", scale=1, quality=50)
    with pytest.raises(ValueError):
        encode_image(img, method="downsample", scale=5, quality=50)


def test_auto_post_without_weights_is_none(img):
    res = encode_image(img, quality=50)  # post="auto"
    assert res.header.pipeline.post_id == 0 and res.header.pipeline.post_hash == b""


def test_post_choices(img):
    assert encode_image(img, post="none", quality=50).header.pipeline.post_id == 0
    with pytest.raises(InputError, match="post-filter"):
        encode_image(img, post="no-such-model", quality=50)
    data = encode_image(img, quality=50).data
    ref = decode_image(data).pixels
    assert np.array_equal(decode_image(data, post="none").pixels, ref)
    with pytest.raises(InputError, match="post-filter"):
        decode_image(data, post="no-such-model")


def test_unknown_codec(img):
    with pytest.raises(ValueError, match="unknown codec"):
        encode_image(img, codec="gif", quality=50)


# -- inner bitstreams open in standard tools ------------------------------------------------------------------


def _open_with_standard_tool(codec: str, payload: bytes) -> np.ndarray:
    if codec in ("jpeg", "webp", "jpeg2000") or (codec == "avif" and features.check("avif")):
        im = Image.open(io.BytesIO(payload))
        im.load()
        return np.asarray(im.convert("RGB"))
    if codec == "heif":
        import pillow_heif

        return np.asarray(pillow_heif.open_heif(payload, convert_hdr_to_8bit=True))[:, :, :3]
    import imagecodecs

    fn = {"avif": imagecodecs.avif_decode, "jpegxl": imagecodecs.jpegxl_decode}[codec]
    return np.asarray(fn(payload))


EXPECTED_MAGIC = {
    "jpeg": (0, b"\xff\xd8\xff"),
    "jpeg2000": (0, b"\xff\x4f\xff\x51"),  # SOC + SIZ: a raw J2K codestream
    "webp": (8, b"WEBP"),
    "avif": (4, b"ftypavif"),
    "heif": (4, b"ftyphei"),
    "jpegxl": (0, b"\xff\x0a"),  # bare JPEG XL codestream
}


@pytest.mark.parametrize("method,scale", [("none", 1), ("downsample", 2)])
@pytest.mark.parametrize("codec", ALL_CODECS)
def test_inner_bitstream_opens_in_standard_tools(img, codec, method, scale):
    res = encode_image(img, codec=codec, method=method, scale=scale, quality=80)
    payload, ext = inner_bitstream(res.data)
    assert ext == get_codec(codec).extension
    off, magic = EXPECTED_MAGIC[codec]
    assert payload[off : off + len(magic)] == magic
    assert len(payload) < len(res.data)
    opened = _open_with_standard_tool(codec, payload)
    h, w = (48, 64) if method == "none" else (24, 32)
    assert opened.shape[:2] == (h, w)
    ours = get_codec(codec).decode(payload, channels=3)
    if opened.ndim == 2:
        opened = np.repeat(opened[:, :, None], 3, axis=2)
    # the same picture (decoders may differ by rounding / colour conversion)
    assert psnr(ours, opened[:, :, :3]) > 35.0
    if method == "none":
        assert psnr(img, opened[:, :, :3]) > 25.0


def test_inner_bitstream_of_corrupt_container():
    with pytest.raises(CorruptContainerError):
        inner_bitstream(b"LBC\x01garbage")


# -- decode-side consistency checks ------------------------------------------------------------------------------


def test_payload_of_wrong_size_is_corrupt(img):
    payload = get_codec("jpeg").encode(img[:24, :32], 50)
    header = ctr.Header(64, 48, 3, Pipeline("none", 1, "jpeg", 50.0))
    with pytest.raises(CorruptContainerError, match="expected 64x48"):
        decode_image(ctr.pack(header, payload))
    # the same payload is right for downsample x2
    header = ctr.Header(64, 48, 3, Pipeline("downsample", 2, "jpeg", 50.0))
    assert decode_image(ctr.pack(header, payload)).pixels.shape == (48, 64, 3)


def test_payload_of_another_codec_is_corrupt(img):
    payload = get_codec("webp").encode(img, 50)
    header = ctr.Header(64, 48, 3, Pipeline("none", 1, "jpeg", 50.0))
    with pytest.raises(CorruptContainerError, match="jpeg"):
        decode_image(ctr.pack(header, payload))


def test_bad_alpha_planes_are_corrupt(img):
    payload = get_codec("jpeg").encode(img, 50)
    header = ctr.Header(64, 48, 3, Pipeline("none", 1, "jpeg", 50.0), has_alpha=True)
    with pytest.raises(CorruptContainerError, match="decompress"):
        decode_image(ctr.pack(header, payload, b"not zlib"))
    with pytest.raises(CorruptContainerError, match="wrong size"):
        decode_image(ctr.pack(header, payload, zlib.compress(bytes(64 * 47))))


def test_odd_size_downsample_compact_is_ceil(img):
    odd = smooth_image(47, 63)
    res = encode_image(odd, method="downsample", scale=4, quality=80)
    payload, _ = inner_bitstream(res.data)
    assert get_codec("jpeg").decode(payload).shape[:2] == (12, 16)
    assert decode_image(res.data).pixels.shape == (47, 63, 3)


def test_inner_bitstream_size_is_checked_before_decoding(img, monkeypatch):
    """A small header must not hide a large inner image: its own header is read first, and a
    mismatch is refused without decoding a pixel."""
    from lbcodec.codecs.jpeg import JpegCodec

    payload = get_codec("jpeg").encode(img, 50)
    i = payload.index(b"\xff\xc0")
    big = payload[: i + 5] + (480).to_bytes(2, "big") + (640).to_bytes(2, "big") + payload[i + 9 :]
    header = ctr.Header(64, 48, 3, Pipeline("none", 1, "jpeg", 50.0))
    monkeypatch.setattr(JpegCodec, "_decode", lambda self, data: pytest.fail("decoded before the size check"))
    with pytest.raises(CorruptContainerError, match="declares 640x480, expected 64x48"):
        decode_image(ctr.pack(header, big))


def test_alpha_bomb_is_not_inflated(img):
    """An alpha plane that inflates far past width x height is refused after inflating at most one byte more."""
    import tracemalloc

    payload = get_codec("jpeg").encode(img, 50)
    header = ctr.Header(64, 48, 3, Pipeline("none", 1, "jpeg", 50.0), has_alpha=True)
    bomb = ctr.pack(header, payload, zlib.compress(bytes(64 << 20), 9))  # 64 MB of zeros in ~64 kB
    tracemalloc.start()
    try:
        with pytest.raises(CorruptContainerError, match="alpha plane has the wrong size"):
            decode_image(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak
    # a plane one byte short, or a truncated stream, is refused too
    with pytest.raises(CorruptContainerError, match="wrong size"):
        decode_image(ctr.pack(header, payload, zlib.compress(bytes(64 * 48 - 1))))
    with pytest.raises(CorruptContainerError, match="wrong size"):
        decode_image(ctr.pack(header, payload, zlib.compress(bytes(64 * 48))[:-6]))


def test_decoded_image_of_the_wrong_size_is_refused(img, monkeypatch):
    """Last line of defence: whatever the post-filter slot returns, decode_image never hands out an
    image of another size than the header's."""
    from lbcodec import filters

    data = encode_image(img, quality=50).data
    monkeypatch.setattr(filters, "reconstruct", lambda pipe, compact, *a, **k: compact)  # e.g. a pre-filter net
    with pytest.raises(CorruptContainerError, match="header says 64x48x3"):
        decode_image(data)


@pytest.mark.parametrize("kwargs", [{"bpp": float("nan")}, {"bpp": float("inf")}, {"quality": float("nan")},
                                    {"quality": float("inf")}, {"quality": float("-inf")}])
def test_non_finite_rate_targets_are_refused(img, kwargs):
    with pytest.raises(ValueError, match="finite"):
        encode_image(img, **kwargs)


# --- method auto: every method at one budget, the decode closest to the original wins -----------


@pytest.fixture(scope="module")
def photo():
    from conftest import photo_like

    return photo_like(64, 96)


def test_auto_keeps_the_method_whose_decode_is_closest(photo):
    from lbcodec.api import auto_methods

    assert auto_methods("jpeg") == ["none", "downsample"]  # no ComCNN installed: comcnn would repeat downsample
    auto = encode_image(photo, codec="jpeg", method="auto", bpp=1.0)
    singles = {m: encode_image(photo, codec="jpeg", method=m, bpp=1.0) for m in ("none", "downsample")}
    scores = {m: psnr(photo, decode_image(r.data).pixels) for m, r in singles.items()}
    assert auto.candidates == pytest.approx(scores, abs=1e-9)
    won = max(scores, key=scores.get)
    assert auto.header.pipeline.method == won
    assert auto.data == singles[won].data  # the winner's file, byte for byte: any decoder reads it
    assert auto.notes[0].startswith("method auto: none ") and auto.notes[0].endswith(f": {won}")


def test_auto_skips_a_method_that_cannot_meet_the_budget(photo):
    smallest = {m: len(encode_image(photo, method=m, quality=0, post="none").data) for m in ("none", "downsample")}
    assert smallest["downsample"] < smallest["none"]
    budget = (smallest["downsample"] + smallest["none"]) // 2
    res = encode_image(photo, method="auto", size=budget)
    assert res.header.pipeline.method == "downsample" and len(res.data) <= budget
    assert list(res.candidates) == ["downsample"]
    assert "(none cannot meet the budget)" in res.notes[0]
    with pytest.raises(BudgetError, match="method auto: no method fits the budget") as err:
        encode_image(photo, method="auto", size=smallest["downsample"] - 1)
    assert err.value.smallest == smallest["downsample"]  # the method that came closest, whatever the order
    assert f"the smallest reachable is {smallest['downsample']} bytes" in str(err.value)


def test_auto_needs_a_rate_target_and_no_named_pre_filter(photo):
    with pytest.raises(InputError, match="rate target"):
        encode_image(photo, method="auto", quality=30)
    with pytest.raises(InputError, match="default pre-filter"):
        encode_image(photo, method="auto", bpp=0.5, pre="comcnn-jpeg")
    with pytest.raises(InputError, match="unknown post"):
        encode_image(photo, method="auto", bpp=0.5, post="no-such-model")


def test_auto_reports_progress_to_the_end(photo):
    seen: list[float] = []
    encode_image(photo, method="auto", bpp=0.5, progress=seen.append)
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] == 1.0
    seen.clear()
    encode_image(photo, method="none", bpp=0.5, progress=seen.append)
    assert seen == []  # one method: nothing long to follow


def test_auto_scale_applies_to_the_resizing_methods(photo):
    x2 = len(encode_image(photo, method="downsample", scale=2, quality=0, post="none").data)
    x3 = len(encode_image(photo, method="downsample", scale=3, quality=0, post="none").data)
    assert x3 < x2
    res = encode_image(photo, method="auto", scale=3, size=x2 - 1)  # only x1/3 fits
    assert res.header.pipeline.method == "downsample" and res.header.pipeline.scale == 3


def test_auto_keeps_gray_images_and_their_alpha(photo):
    gray = photo[:, :, :1].copy()
    alpha = gradient_alpha(*gray.shape[:2])
    res = encode_image(gray, alpha=alpha, method="auto", bpp=2.0)
    dec = decode_image(res.data)
    assert dec.pixels.shape == gray.shape and np.array_equal(dec.alpha, alpha)
    assert set(res.candidates) == {"none", "downsample"}
    assert max(res.candidates.values()) == pytest.approx(psnr(gray, dec.pixels))
