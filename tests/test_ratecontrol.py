"""Rate control: fit_budget with fake encoders, and the real pipeline with --bpp / --size."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ALL_CODECS, CONTINUOUS_CODECS, photo_like
from lbcodec import ratecontrol as rc
from lbcodec.api import decode_image, encode_image
from lbcodec.errors import BudgetError

#: lowest + middle (+ top) probes, then interpolation with a bisection fallback
MAX_PROBES = {True: 2 + 7, False: 2 + 11}

pytestmark = pytest.mark.usefixtures("no_weights")


class FakeEncoder:
    """quality -> payload of a chosen length; records every probe."""

    def __init__(self, size_at):
        self.size_at = size_at
        self.calls: list[float] = []

    def __call__(self, q: float) -> bytes:
        self.calls.append(q)
        n = int(self.size_at(q))
        return (f"q={q!r};".encode() + bytes(n))[:n] if n >= 8 else bytes(n)


def linear(q: float) -> float:
    return 100 + 50 * q  # 100 .. 5100 bytes


def convex(q: float) -> float:
    return 200 * math.exp(q / 25)  # 200 .. ~10900 bytes


OVERHEAD = 27


def size_of(p: bytes) -> int:
    return len(p) + OVERHEAD


@pytest.mark.parametrize("integer", [True, False], ids=["int", "float"])
@pytest.mark.parametrize("curve", [linear, convex])
@pytest.mark.parametrize("budget", [int(127 + 1), 300, 777, 1234, 2600, 4000, 5126, 9000])
def test_fit_monotone(curve, integer, budget):
    enc = FakeEncoder(curve)
    if int(curve(0.0)) + OVERHEAD > budget:
        with pytest.raises(rc.BudgetTooSmall):
            rc.fit_budget(enc, size_of, budget, integer)
        return
    res = rc.fit_budget(enc, size_of, budget, integer)
    assert res.probes == len(enc.calls)
    assert res.probes <= MAX_PROBES[integer]
    assert res.quality in enc.calls
    assert res.size <= budget
    assert res.size == size_of(res.payload)
    assert res.payload == enc(res.quality)  # returned as encoded, at its quality
    step = 1.0 if integer else rc.FLOAT_STEP
    if integer:
        assert all(float(q).is_integer() for q in enc.calls)
    # as good as the search resolution allows: close to the budget, or one step more would not fit
    assert (
        res.size >= rc.CLOSE_ENOUGH * budget
        or res.quality == 100.0
        or size_of(bytes(int(curve(min(100.0, res.quality + step + 1e-9))))) > budget
    )


@pytest.mark.parametrize("integer", [True, False])
def test_budget_above_max_takes_top_quality_in_three_probes(integer):
    enc = FakeEncoder(linear)
    res = rc.fit_budget(enc, size_of, 10**6, integer)
    assert res.quality == 100.0
    assert res.probes == 3  # lowest, middle, top
    assert res.size == int(linear(100)) + OVERHEAD


@pytest.mark.parametrize("integer", [True, False])
def test_budget_too_small(integer):
    enc = FakeEncoder(linear)
    with pytest.raises(rc.BudgetTooSmall) as info:
        rc.fit_budget(enc, size_of, 100, integer)
    assert info.value.smallest == int(linear(0)) + OVERHEAD
    assert info.value.budget == 100
    assert isinstance(info.value, BudgetError)
    assert enc.calls == [0.0]  # one probe is enough to know


def test_exact_budget_is_allowed():
    enc = FakeEncoder(linear)
    budget = int(linear(40)) + OVERHEAD
    res = rc.fit_budget(enc, size_of, budget, True)
    assert res.size == budget and res.quality == 40.0


@settings(max_examples=300, deadline=None)
@given(
    a=st.integers(1, 5000),
    b=st.floats(0.0, 500.0),
    budget=st.integers(1, 60000),
    integer=st.booleans(),
)
def test_fit_monotone_property(a, b, budget, integer):
    curve = lambda q: a + b * q  # noqa: E731
    enc = FakeEncoder(curve)
    try:
        res = rc.fit_budget(enc, size_of, budget, integer)
    except rc.BudgetTooSmall as exc:
        assert size_of(bytes(int(curve(0)))) > budget
        assert exc.smallest == a + OVERHEAD
        return
    assert res.size <= budget
    assert res.probes <= MAX_PROBES[integer]
    step = 1.0 if integer else rc.FLOAT_STEP
    nxt = min(100.0, res.quality + step + 1e-9)
    assert res.size >= rc.CLOSE_ENOUGH * budget or res.quality == 100.0 or int(curve(nxt)) + OVERHEAD > budget


def _noise_size(seed: int, q: float, spread: int) -> int:
    digest = hashlib.sha256(f"{seed}:{q!r}".encode()).digest()
    return 50 + 40 * int(q) + int.from_bytes(digest[:4], "little") % spread


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 10**6), spread=st.integers(1, 3000), budget=st.integers(1, 8000), integer=st.booleans())
def test_non_monotone_never_over_budget(seed, spread, budget, integer):
    # sizes that jitter up and down with quality: the result may be sub-optimal, never over
    enc = FakeEncoder(lambda q: _noise_size(seed, q, spread))
    try:
        res = rc.fit_budget(enc, size_of, budget, integer)
    except rc.BudgetTooSmall as exc:
        assert exc.smallest > budget
        return
    assert res.size <= budget
    assert res.probes <= MAX_PROBES[integer]
    # the best fitting probe seen is returned
    seen = [size_of(enc(q)) for q in set(enc.calls)]
    assert res.size == max(s for s in seen if s <= budget)


def test_non_monotone_adversarial():
    # bigger in the middle than at the top: the search brackets below the middle and
    # never sees the top; what it returns still fits
    sizes = {0.0: 100, 100.0: 500}
    enc = FakeEncoder(lambda q: sizes.get(q, 5000))
    res = rc.fit_budget(enc, size_of, 1000, True)
    assert res.size <= 1000 and res.quality == 0.0
    assert 100.0 not in enc.calls


# -- the real pipeline ------------------------------------------------------------------------------------------

PIXELS = 256 * 192


@pytest.fixture(scope="module")
def img():
    return photo_like()


@pytest.mark.parametrize("bpp", [0.5, 1.0])
@pytest.mark.parametrize("codec", ALL_CODECS)
def test_bpp_never_over_and_close(img, codec, bpp):
    res = encode_image(img, codec=codec, method="none", bpp=bpp)
    got = len(res.data) * 8 / PIXELS
    assert got <= bpp
    assert res.bpp == pytest.approx(got)
    tolerance = 0.10 if codec in CONTINUOUS_CODECS else 0.15
    assert got >= (1 - tolerance) * bpp, f"{codec}: {got:.4f} bpp for a target of {bpp}"
    assert res.probes <= 14
    assert res.header.pipeline.quality == res.quality
    # the file decodes to the original size
    assert decode_image(res.data).pixels.shape == img.shape


@pytest.mark.parametrize("codec", ALL_CODECS)
def test_bpp_downsample(img, codec):
    res = encode_image(img, codec=codec, method="downsample", scale=2, bpp=0.5)
    got = len(res.data) * 8 / PIXELS
    assert got <= 0.5
    tolerance = 0.10 if codec in CONTINUOUS_CODECS else 0.15
    assert got >= (1 - tolerance) * 0.5


@pytest.mark.parametrize("codec", ["jpeg", "webp"])
def test_size_budget(img, codec):
    res = encode_image(img, codec=codec, method="downsample", size=2000)
    assert len(res.data) <= 2000
    assert len(res.data) >= 1700


def test_alpha_counts_against_budget(img):
    alpha = np.random.default_rng(0).integers(0, 256, img.shape[:2], dtype=np.uint8)  # ~49 kB compressed
    res = encode_image(img, alpha=alpha, codec="jpeg", method="downsample", size=60000)
    assert len(res.data) <= 60000
    with pytest.raises(BudgetError, match="smallest reachable") as info:
        encode_image(img, alpha=alpha, codec="jpeg", method="downsample", size=40000)
    # the noisy alpha plane is most of the smallest file: a larger --scale would not help, dropping alpha would
    assert "lossless alpha channel alone takes" in str(info.value) and "--scale" not in str(info.value)


@pytest.mark.parametrize("codec", ALL_CODECS)
def test_unreachable_bpp(img, codec):
    with pytest.raises(BudgetError, match="smallest reachable") as info:
        encode_image(img, codec=codec, method="downsample", scale=4, bpp=0.005)
    msg = str(info.value)
    assert "0.005 bpp" in msg and codec in msg
    assert "\n" not in msg


def test_unreachable_size_message_in_bytes(img):
    with pytest.raises(BudgetError, match=r"smallest reachable is \d+ bytes"):
        encode_image(img, codec="jpeg", method="none", size=50)


def test_unreachable_hint_suggests_larger_scale(img):
    # 400 bytes: under scale 2's smallest file (441), over scale 4's (351). At 0.01 bpp (61 bytes) no scale
    # fits (every JPEG is larger), and the message no longer suggests one
    with pytest.raises(BudgetError, match="larger --scale"):
        encode_image(img, codec="jpeg", method="downsample", scale=2, size=400)


@pytest.mark.parametrize("codec", ALL_CODECS)
def test_a_gray_image_is_told_the_gray_floor(codec):
    """The smallest bitstream the message names is the one of a gray image (jpeg2000, heif and jpegxl code
    one channel natively: their floor differs from the colour one)."""
    from lbcodec.codecs import get_codec

    floor = get_codec(codec).smallest_size(1)
    if floor is None:
        pytest.skip(f"{codec} cannot encode here")
    gray = photo_like(32, 32)[:, :, :1].copy()
    with pytest.raises(BudgetError) as info:
        encode_image(gray, codec=codec, method="none", size=30, post="none")
    assert f"and a {floor}-byte bitstream" in str(info.value), str(info.value)


class _Sized:
    """A fake codec with a draft encoder: size = base(q) bytes, the draft's files ``draft_extra`` bytes larger."""

    def __init__(self, draft_extra: int):
        self.draft_extra, self.calls = draft_extra, []

    def encode(self, img, q, subsampling="420", tune="psnr", draft=False):
        self.calls.append((q, draft))
        return bytes(max(1, int(100 + 10 * q + (self.draft_extra if draft else 0))))


def test_draft_search_falls_back_when_only_the_final_encoder_fits():
    """The draft's smallest file is over budget but the final encoder's is not: no BudgetTooSmall."""
    coder = _Sized(draft_extra=50)
    enc = lambda q: coder.encode(None, q)  # noqa: E731
    res = rc.fit_budget_drafted(lambda q: coder.encode(None, q, draft=True), enc, len, 120)
    assert res.quality == 2 and len(res.payload) == 120
    assert res.probes == len(coder.calls) and coder.calls[0] == (0.0, True)


def test_draft_search_counts_every_probe_of_a_failed_refinement():
    coder = _Sized(draft_extra=-400)  # the draft's files are far smaller: refine finds nothing nearby
    enc = lambda q: coder.encode(None, q)  # noqa: E731
    res = rc.fit_budget_drafted(lambda q: coder.encode(None, q, draft=True), enc, len, 600)
    assert res.quality == 50 and len(res.payload) == 600
    assert res.probes == len(coder.calls)


def test_avif_rate_control_keeps_a_final_speed_encode_that_fits():
    """AVIF searches at the draft speed, then keeps a fitting full-speed encode."""
    from lbcodec.codecs import get_codec

    img = photo_like(128, 160)
    res = encode_image(img, codec="avif", method="none", bpp=0.5, post="none")
    assert len(res.data) * 8 <= 0.5 * 128 * 160
    final = get_codec("avif").encode(img, res.quality)
    draft = get_codec("avif").encode(img, res.quality, draft=True)
    assert final != draft and final in res.data
