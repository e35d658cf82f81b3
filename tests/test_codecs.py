"""Standard-codec adapters and network-free pipelines: round trips, lossiness, monotone size, 4:4:4."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from conftest import ALL_CODECS, noisy_image, photo_like, smooth_image
from lbcodec.api import decode_image, encode_image
from lbcodec.codecs import CODEC_BY_ID, CODECS, TUNES, get_codec
from lbcodec.errors import CorruptContainerError, InputError
from lbcodec.metrics import psnr

METHODS = [("none", 1), ("downsample", 2), ("downsample", 3), ("downsample", 4)]

pytestmark = pytest.mark.usefixtures("no_weights")


def test_every_codec_is_available():
    missing = [name for name, cls in CODECS.items() if not cls.available()]
    assert not missing, f"codecs not available in this installation: {missing}"


def test_container_ids_are_fixed():
    # the ids are part of the .lbc format: renumbering breaks every existing file
    assert {name: cls.container_id for name, cls in CODECS.items()} == {
        "jpeg": 1, "jpeg2000": 2, "webp": 3, "avif": 4, "heif": 5, "jpegxl": 6,
    }
    assert {cid: cls.name for cid, cls in CODEC_BY_ID.items()} == {
        1: "jpeg", 2: "jpeg2000", 3: "webp", 4: "avif", 5: "heif", 6: "jpegxl",
    }


def test_get_codec_unknown_name():
    with pytest.raises(ValueError, match="unknown codec"):
        get_codec("gif")


# -- round trips through the whole pipeline (api) ------------------------------------------------


@pytest.mark.parametrize("channels", [3, 1], ids=["rgb", "gray"])
@pytest.mark.parametrize("method,scale", METHODS, ids=[f"{m}{s}" for m, s in METHODS])
@pytest.mark.parametrize("codec", ALL_CODECS)
def test_round_trip_pipeline(codec, method, scale, channels):
    img = smooth_image(channels=channels)
    res = encode_image(img, codec=codec, method=method, scale=scale, quality=90)
    assert res.header.width == 64 and res.header.height == 48 and res.header.channels == channels
    assert res.header.pipeline.method == method and res.header.pipeline.scale == scale
    out = decode_image(res.data)
    assert out.pixels.dtype == np.uint8
    assert out.pixels.shape == img.shape
    assert out.alpha is None
    value = psnr(img, out.pixels)
    assert 20.0 < value < float("inf"), f"{codec}/{method}x{scale}: PSNR {value:.2f} dB"


@pytest.mark.parametrize("channels", [3, 1], ids=["rgb", "gray"])
@pytest.mark.parametrize("size", [(5, 7), (1, 1), (2, 3), (13, 1)], ids=["7x5", "1x1", "3x2", "1x13"])
@pytest.mark.parametrize("method,scale", [("none", 1), ("downsample", 3)], ids=["none", "downsample3"])
@pytest.mark.parametrize("codec", ALL_CODECS)
def test_round_trip_odd_sizes(codec, method, scale, size, channels):
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([100 + 3 * x, 120 + 3 * y, 140 + 2 * (x + y)], axis=-1)[:, :, :channels]
    img = base.astype(np.uint8)
    res = encode_image(img, codec=codec, method=method, scale=scale, quality=80)
    out = decode_image(res.data)
    assert out.pixels.shape == (h, w, channels)
    assert (res.header.width, res.header.height, res.header.channels) == (w, h, channels)
    # even a 1x1 image must come back close to the original
    assert np.abs(out.pixels.astype(int) - img.astype(int)).max() < 30


# -- the adapters directly -----------------------------------------------------------------------


@pytest.mark.parametrize("channels", [3, 1], ids=["rgb", "gray"])
@pytest.mark.parametrize("codec", ALL_CODECS)
def test_adapter_round_trip_shape_and_channels(codec, channels):
    img = smooth_image(channels=channels)
    c = get_codec(codec)
    data = c.encode(img, 75)
    assert isinstance(data, bytes) and len(data) > 0
    out = c.decode(data, channels=channels)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert psnr(img, out) > 25.0
    # the gray policy: channels forces the count either way
    assert c.decode(data, channels=3).shape == (48, 64, 3)
    assert c.decode(data, channels=1).shape == (48, 64, 1)


CODECS_2D = ALL_CODECS


@pytest.mark.parametrize("codec", CODECS_2D)
def test_adapter_accepts_2d_gray(codec):
    img = smooth_image(channels=1)[:, :, 0]
    c = get_codec(codec)
    out = c.decode(c.encode(img, 75), channels=1)
    assert out.shape == (48, 64, 1)
    assert psnr(img[:, :, None], out) > 25.0


@pytest.mark.parametrize("codec", CODECS_2D)
def test_pipeline_accepts_2d_gray(codec):
    img = smooth_image(channels=1)[:, :, 0]
    res = encode_image(img, codec=codec, method="none", quality=75)
    assert res.header.channels == 1
    assert decode_image(res.data).pixels.shape == (48, 64, 1)


@pytest.mark.parametrize("quality", [0, 100])
@pytest.mark.parametrize("channels", [3, 1], ids=["rgb", "gray"])
@pytest.mark.parametrize("codec", ALL_CODECS)
def test_never_lossless(codec, quality, channels):
    img = noisy_image(channels=channels)
    c = get_codec(codec)
    out = c.decode(c.encode(img, quality), channels=channels)
    assert out.shape == img.shape
    assert not np.array_equal(out, img), f"{codec} at quality {quality} is lossless"


@pytest.mark.parametrize("codec", ALL_CODECS)
def test_size_increases_with_quality(codec):
    c = get_codec(codec)
    for img in (smooth_image(), noisy_image()):
        assert len(c.encode(img, 10)) < len(c.encode(img, 90))


@pytest.mark.parametrize("codec", ALL_CODECS)
def test_size_monotone_on_photo(codec):
    img = photo_like()
    c = get_codec(codec)
    qualities = list(range(0, 101, 10))
    sizes = [len(c.encode(img, q)) for q in qualities]
    assert all(a <= b for a, b in zip(sizes, sizes[1:])), dict(zip(qualities, sizes))
    assert sizes[0] < sizes[-1]


@pytest.mark.parametrize("codec", ALL_CODECS)
def test_quality_is_deterministic(codec):
    img = smooth_image()
    c = get_codec(codec)
    assert c.encode(img, 42.5) == c.encode(img, 42.5)


@pytest.mark.parametrize("codec", ALL_CODECS)
def test_thread_limit_keeps_the_bitstream(codec):
    """Batch workers limit the codec libraries' threads; --jobs must not change a file's bytes."""
    from lbcodec.codecs import base

    img = photo_like(256, 320)
    c = get_codec(codec)
    ref = c.encode(img, 42.5)
    try:
        for n in (1, 2, 3):
            base.set_threads(n)
            assert base.thread_kwargs() == {"numthreads": n}
            data = c.encode(img, 42.5)
            assert data == ref, n
            assert np.array_equal(c.decode(data, channels=3), c.decode(ref, channels=3))
    finally:
        base.set_threads(None)
    assert base.get_threads() is None and base.thread_kwargs() == {}
    with pytest.raises(ValueError):
        base.set_threads(0)


@pytest.mark.parametrize("codec", ["jpeg", "avif", "heif"])
def test_subsampling_444(codec):
    img = photo_like(96, 128)
    c = get_codec(codec)
    d420, d444 = c.encode(img, 60, "420"), c.encode(img, 60, "444")
    assert d420 != d444
    out = c.decode(d444, channels=3)
    assert out.shape == img.shape
    assert psnr(img, out) > 25.0
    # and through the pipeline, with the request recorded in the header
    res = encode_image(img, codec=codec, method="none", quality=60, subsampling="444")
    assert res.header.pipeline.subsampling == "444"
    assert decode_image(res.data).pixels.shape == img.shape


def test_jpeg_444_really_is_444():
    img = photo_like(96, 128)
    c = get_codec("jpeg")
    for sub, expected in (("420", 2), ("444", 0)):
        im = Image.open(io.BytesIO(c.encode(img, 60, sub)))
        assert JpegImagePlugin.get_sampling(im) == expected


def test_avif_444_really_is_444():
    img = photo_like(96, 128)
    c = get_codec("avif")
    for sub, bit in (("420", 1), ("444", 0)):
        data = c.encode(img, 60, sub)
        i = data.find(b"av1C") + 4
        assert i >= 4
        flags = data[i + 2]  # ... monochrome | chroma_subsampling_x | chroma_subsampling_y | position
        assert (flags >> 3) & 1 == bit and (flags >> 2) & 1 == bit


def test_heif_444_really_is_444():
    import pillow_heif

    img = photo_like(96, 128)
    c = get_codec("heif")
    for sub in ("420", "444"):
        assert pillow_heif.open_heif(c.encode(img, 60, sub)).info["chroma"] == int(sub)


@pytest.mark.parametrize("codec", ALL_CODECS)
def test_adapter_validation(codec):
    c = get_codec(codec)
    img = smooth_image(8, 8)
    with pytest.raises(InputError):
        c.encode(img.astype(np.float32), 50)
    with pytest.raises(InputError):
        c.encode(np.zeros((8, 8, 2), np.uint8), 50)
    with pytest.raises(InputError):
        c.encode(np.zeros((0, 8, 3), np.uint8), 50)
    for q in (-0.1, 100.5):
        with pytest.raises(ValueError):
            c.encode(img, q)
    with pytest.raises(ValueError):
        c.encode(img, 50, "422")


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 32, b"not a bitstream at all", bytes(range(256))])
@pytest.mark.parametrize("codec", ALL_CODECS)
def test_decode_garbage_is_corrupt(codec, garbage):
    with pytest.raises(CorruptContainerError):
        get_codec(codec).decode(garbage)


@pytest.mark.parametrize("codec", ALL_CODECS)
def test_decode_truncated_bitstream_is_corrupt_or_partial(codec):
    c = get_codec(codec)
    data = c.encode(smooth_image(), 80)
    # a bitstream cut to a few bytes cannot be decoded by any of the libraries
    with pytest.raises(CorruptContainerError):
        c.decode(data[:8])


@pytest.mark.parametrize("codec", ["avif", "heif", "jpeg"])
def test_tune_picks_different_encoder_settings(codec):
    """psnr (the default) and ssim give different, valid bitstreams (the error per byte: see the next test)."""
    img = photo_like(128, 160)
    c = get_codec(codec)
    assert c.has_tune
    assert c.encode(img, 40) == c.encode(img, 40, tune="psnr")
    d_psnr, d_ssim = c.encode(img, 40, tune="psnr"), c.encode(img, 40, tune="ssim")
    assert d_psnr != d_ssim
    for d in (d_psnr, d_ssim):
        assert psnr(img, c.decode(d, channels=3)) > 22.0
    # the decoder needs no setting: both come back through the pipeline
    for tune in TUNES:
        res = encode_image(img, codec=codec, method="none", quality=40, tune=tune, post="none")
        assert decode_image(res.data, post="none").pixels.shape == img.shape


@pytest.mark.parametrize("codec", ["jpeg2000", "webp", "jpegxl"])
def test_tune_is_accepted_and_ignored_where_there_is_no_choice(codec):
    img = photo_like(64, 64)
    c = get_codec(codec)
    assert not c.has_tune and c.settings_tag == ""
    assert c.encode(img, 50, tune="ssim") == c.encode(img, 50, tune="psnr")


def test_unknown_tune_is_a_value_error():
    with pytest.raises(ValueError, match="tune"):
        get_codec("jpeg").encode(photo_like(32, 32), 50, tune="vmaf")


@pytest.mark.parametrize("tune", TUNES)
@pytest.mark.parametrize("draft", [False, True])
def test_avif_444_is_444_on_every_path(tune, draft):
    img = photo_like(96, 128)
    data = get_codec("avif").encode(img, 60, "444", tune=tune, draft=draft)
    i = data.find(b"av1C") + 4
    assert i >= 4 and (data[i + 2] >> 2) & 3 == 0


def test_avif_output_does_not_depend_on_the_thread_limit():
    from lbcodec.codecs import base

    img = photo_like(96, 128)
    c = get_codec("avif")
    ref = c.encode(img, 40)
    try:
        base.set_threads(1)
        assert c.encode(img, 40) == ref
    finally:
        base.set_threads(None)


def test_heif_psnr_tuning_sets_aq_strength_and_chroma_offsets():
    from lbcodec.codecs import heif

    offs = [heif.chroma_qp_offset(q / 2) for q in range(0, 201)]
    assert offs[0] == heif.CHROMA_OFFSET_LOW_Q and offs[-1] == heif.CHROMA_OFFSET_HIGH_Q
    assert all(a >= b for a, b in zip(offs, offs[1:]))  # never less chroma bits at a higher quality
    p = heif._x265_params(30, "psnr")
    assert p["x265:aq-strength"] == str(heif.AQ_STRENGTH_PSNR)
    assert p["x265:cbqpoffs"] == p["x265:crqpoffs"] == str(heif.chroma_qp_offset(30)) == "-6"
    assert heif._x265_params(10, "psnr")["x265:cbqpoffs"] == "-2"
    assert not {"x265:aq-strength", "x265:cbqpoffs", "x265:crqpoffs"} & set(heif._x265_params(30, "ssim"))


def test_heif_chroma_offset_reaches_the_bitstream():
    from lbcodec.codecs import heif

    img = photo_like(128, 160)
    c = get_codec("heif")
    saved = heif.chroma_qp_offset
    try:
        heif.chroma_qp_offset = lambda q: 0
        flat = c.encode(img, 40)
    finally:
        heif.chroma_qp_offset = saved
    assert c.encode(img, 40) != flat


def test_avif_psnr_path_needs_pillow_aom(monkeypatch):
    from lbcodec.codecs import avif
    from lbcodec.errors import CodecUnavailableError

    assert avif.pillow_aom_available()
    monkeypatch.setattr(avif, "pillow_aom_available", lambda: False)
    with pytest.raises(CodecUnavailableError, match="tune ssim"):
        get_codec("avif").encode(photo_like(32, 32), 50)
    assert get_codec("avif").encode(photo_like(32, 32), 50, tune="ssim")


def _dqt(data: bytes) -> list[list[int]]:
    """The quantization tables of a baseline JPEG, zigzag order as stored."""
    out, i = [], data.find(b"\xff\xdb")
    while i >= 0:
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        seg = data[i + 4 : i + 2 + length]
        for k in range(0, len(seg), 65):
            out.append(list(seg[k + 1 : k + 65]))
        i = data.find(b"\xff\xdb", i + 2 + length)
    return out


def test_jpeg_writes_the_tables_of_its_tune_and_matches_libjpeg_on_the_standard_ones():
    import imagecodecs

    from lbcodec.codecs.jpeg import PSNR_CHROMA, tables

    img = photo_like(64, 80)
    c = get_codec("jpeg")
    zig = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14,
           21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60,
           61, 54, 47, 55, 62, 63]
    for tune in ("psnr", "ssim"):
        luma, chroma = tables(37.5, tune)
        stored = _dqt(c.encode(img, 37.5, tune=tune))
        assert stored == [[int(luma[z]) for z in zig], [int(chroma[z]) for z in zig]]
    luma, chroma = tables(37.5, "psnr")
    assert np.all(chroma == chroma[0]) and chroma[0] < luma[0]  # flat chroma, finer than luma's DC
    assert abs(chroma[0] / luma[0] - PSNR_CHROMA) < 0.05
    assert luma.max() / luma.min() < 2  # nearly flat luma (the standard's spans 10x)
    # the standard tables at an integer quality are libjpeg's own: the same bytes as libjpeg-turbo
    for q in (10, 50, 75):
        assert c.encode(img, q, tune="ssim") == imagecodecs.jpeg8_encode(img, level=q, optimize=True, subsampling="420")


def test_jpeg_psnr_tables_have_the_lower_error_at_the_same_bytes():
    img = photo_like(192, 256)
    got = {}
    for tune in TUNES:
        res = encode_image(img, codec="jpeg", method="none", bpp=1.0, tune=tune, post="none")
        got[tune] = psnr(img, decode_image(res.data, post="none").pixels)
    assert got["psnr"] > got["ssim"] + 0.3  # measured +0.6 dB here; Kodak 0.2-0.3 bpp +0.6-0.7


def test_jpeg_grain_at_quality_100_and_444_fits_pillows_buffer():
    """libjpeg cannot suspend with optimized Huffman tables: Pillow's output block must hold the file."""
    noise = (np.random.default_rng(0).random((256, 256, 3)) * 255).astype(np.uint8)
    c = get_codec("jpeg")
    for sub in ("444", "420"):
        data = c.encode(noise, 100, sub)
        assert len(data) > 0.4 * noise.size and c.decode(data).shape == noise.shape


def test_jpeg_quality_is_continuous_and_size_monotone():
    img = photo_like(96, 128)
    c = get_codec("jpeg")
    assert not c.integer_quality
    for tune in ("psnr", "ssim"):
        sizes = [len(c.encode(img, q, tune=tune)) for q in np.arange(2.0, 98.0, 0.7)]
        # as with libjpeg's integer qualities, Huffman optimisation can cost a byte or two either way
        assert all(b >= 0.99 * a for a, b in zip(sizes, sizes[1:])) and sizes[-1] > 4 * sizes[0]
        assert len(set(sizes)) > 60  # fractional qualities give distinct files
    gray = img[:, :, :1].copy()
    assert len(_dqt(c.encode(gray, 30))) == 1 and c.decode(c.encode(gray, 30)).shape == (96, 128, 1)


# -- image size from the headers, before decoding ----------------------------------------------------------------


@pytest.mark.parametrize("codec", ALL_CODECS)
@pytest.mark.parametrize("size", [(48, 64), (64, 64), (100, 120), (17, 33), (256, 256), (1, 1)])
@pytest.mark.parametrize("channels", [1, 3])
def test_probe_size_is_the_decoded_size(codec, size, channels):
    c = get_codec(codec)
    data = c.encode(smooth_image(*size, channels=channels), 50)
    h, w = c.decode(data).shape[:2]
    assert c.probe_size(data) == (w, h) == (size[1], size[0])


def test_probe_size_of_other_encoders_files():
    """Files lbcodec does not write itself: JP2, lossless and extended WebP, alpha everywhere."""
    import imagecodecs
    import pillow_heif

    img = smooth_image(40, 70)
    rgba = np.dstack([img, np.full(img.shape[:2], 128, np.uint8)])
    files = [("jpeg2000", imagecodecs.jpeg2k_encode(img, level=30, codecformat="jp2")),
             ("jpegxl", imagecodecs.jpegxl_encode(rgba, distance=1.0))]
    for arr in (img, rgba):
        for kw in ({"lossless": True}, {"quality": 50}):
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, "WEBP", **kw)
            files.append(("webp", buf.getvalue()))
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "AVIF", quality=50)
        files.append(("avif", buf.getvalue()))
        mode = "RGBA" if arr.shape[2] == 4 else "RGB"
        buf = io.BytesIO()
        pillow_heif.from_bytes(mode=mode, size=(70, 40), data=arr.tobytes()).save(buf, quality=50)
        files.append(("heif", buf.getvalue()))
    kinds = set()
    for codec, data in files:
        kinds.add(data[12:16] if codec == "webp" else codec)
        assert get_codec(codec).probe_size(data) == (70, 40), codec
        pixels, alpha = get_codec(codec).decode_with_alpha(data)
        assert pixels.shape == (40, 70, 3)
    assert {b"VP8 ", b"VP8L", b"VP8X"} <= kinds


@pytest.mark.parametrize("codec", ALL_CODECS)
@pytest.mark.parametrize("garbage", [b"", b"\x00" * 64, b"\xff\xd8\xff\xe0\x00\x10JFIF"])
def test_probe_size_of_garbage_is_a_clear_error(codec, garbage):
    with pytest.raises(CorruptContainerError, match=codec):
        get_codec(codec).probe_size(garbage)


def test_probe_size_reads_an_edited_jpeg_sof_without_decoding():
    data = get_codec("jpeg").encode(smooth_image(16, 16), 50)
    assert get_codec("jpeg").probe_size(patch_jpeg_sof(data, 30000, 20000)) == (30000, 20000)


def patch_jpeg_sof(data: bytes, width: int, height: int) -> bytes:
    """A JPEG whose SOF segment declares ``width`` x ``height`` (the scan data is left as it is)."""
    i = data.index(b"\xff\xc0")
    return data[: i + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[i + 9 :]


def test_avif_probe_size_without_pillows_avif(monkeypatch):
    from PIL import features

    data = get_codec("avif").encode(smooth_image(17, 33), 50)
    check = features.check
    monkeypatch.setattr(features, "check", lambda name: False if name == "avif" else check(name))
    assert get_codec("avif").probe_size(data) == (33, 17)


def test_probe_size_skips_stray_bytes_between_segments_as_libjpeg_does():
    data = get_codec("jpeg").encode(smooth_image(37, 53), 50)
    i = data.index(b"\xff\xc0")
    garbled = data[:i] + b"\x00\x00" + data[i:]
    assert get_codec("jpeg").decode(garbled).shape[:2] == (37, 53)  # libjpeg reads it
    assert get_codec("jpeg").probe_size(garbled) == (53, 37)


def test_a_cmyk_jpeg_decodes_to_rgb_as_pillow_shows_it_never_with_k_as_alpha():
    rng = np.random.default_rng(0)
    cmyk = np.dstack([rng.integers(0, 256, (24, 32), dtype=np.uint8) for _ in range(3)]
                     + [np.tile(np.linspace(0, 255, 32).astype(np.uint8), (24, 1))])
    buf = io.BytesIO()
    Image.fromarray(cmyk, "CMYK").save(buf, "JPEG", quality=95)
    colour, alpha = get_codec("jpeg").decode_with_alpha(buf.getvalue())
    assert alpha is None and colour.shape == (24, 32, 3)
    want = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    np.testing.assert_array_equal(colour, want)


def test_probe_size_of_a_missing_codec_says_it_is_missing(monkeypatch):
    from lbcodec.errors import CodecUnavailableError

    coder = get_codec("heif")
    data = coder.encode(smooth_image(16, 16), 50)
    monkeypatch.setattr(type(coder), "available", classmethod(lambda cls: False))
    with pytest.raises(CodecUnavailableError, match="not available"):
        coder.probe_size(data)
