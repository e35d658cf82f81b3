"""The .lbc container: golden bytes, round trips, and robustness against damaged files.

GOLDEN FILES: tests/golden/container_*.hex hold the exact bytes that ``pack`` writes for
fixed headers. They pin the .lbc format, version 1. If one of these tests fails because
``pack`` changed, that is a FORMAT CHANGE: old files would no longer read the same.
Do not just regenerate the golden files -- bump ``container.VERSION``, document the new
layout in docs/format.md, keep reading the old version, and only then add new golden files.
"""

from __future__ import annotations

import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lbcodec import container as ctr
from lbcodec.api import decode_image
from lbcodec.codecs import CODECS
from lbcodec.errors import CorruptContainerError
from lbcodec.pipeline import METHOD_IDS, Pipeline

GOLDEN = Path(__file__).parent / "golden"
FAKE_JPEG = b"\xff\xd8fakejpeg"
FAKE_ALPHA = b"x\x9cfake-alpha-plane"

#: name -> (header, payload, alpha)
GOLDEN_CASES = {
    "no_post": (ctr.Header(768, 512, 3, Pipeline("downsample", 2, "jpeg", 37.5)), FAKE_JPEG, b""),
    "post_hash": (
        ctr.Header(768, 512, 3, Pipeline("none", 1, "heif", 12.34, "444", post_id=7, post_hash=bytes.fromhex("deadbeef"))),
        FAKE_JPEG,
        b"",
    ),
    "alpha": (ctr.Header(64, 48, 3, Pipeline("none", 1, "webp", 50.0), has_alpha=True), FAKE_JPEG, FAKE_ALPHA),
    "gray": (ctr.Header(7, 5, 1, Pipeline("downsample", 4, "jpegxl", 0.0)), FAKE_JPEG, b""),
    "gray_alpha_post": (
        ctr.Header(200, 1, 1, Pipeline("downsample", 3, "avif", 100.0, post_id=255, post_hash=b"\x00\x01\x02\x03"), has_alpha=True),
        b"\x00" * 130,
        b"\x01",
    ),
}


def _golden(name: str) -> bytes:
    return bytes.fromhex((GOLDEN / f"container_{name}.hex").read_text())


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_bytes(name):
    header, payload, alpha = GOLDEN_CASES[name]
    # A failure here is a format change: see the module docstring before touching the files.
    assert ctr.pack(header, payload, alpha) == _golden(name)


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_files_unpack(name):
    header, payload, alpha = GOLDEN_CASES[name]
    box = ctr.unpack(_golden(name))
    assert box.header == header
    assert box.payload == payload
    assert box.alpha == alpha


def test_golden_layout_by_hand():
    # the documented layout, byte by byte, for the simplest case
    data = _golden("no_post")
    expected = (
        b"LBC\x01"
        + bytes([0x80, 0x06])  # width 768 as LEB128
        + bytes([0x80, 0x04])  # height 512
        + bytes([3, METHOD_IDS["downsample"], 2, CODECS["jpeg"].container_id])
        + struct.pack("<H", 3750)  # quality x100
        + bytes([0, 0])  # flags, post id
        + bytes([len(FAKE_JPEG)])
        + FAKE_JPEG
    )
    assert data == expected + struct.pack("<I", zlib.crc32(expected))


def test_method_ids_are_fixed():
    assert METHOD_IDS == {"none": 0, "downsample": 1, "comcnn": 2, "modifynet": 3}


def test_header_small_in_usual_case():
    # 768x512 at 0.2 bpp with a post-filter and its hash: the usual case
    header = ctr.Header(768, 512, 3, Pipeline("downsample", 2, "jpeg", 23.0, post_id=3, post_hash=b"\x12\x34\x56\x78"))
    payload = bytes(768 * 512 * 2 // 80)  # ~0.2 bpp
    data = ctr.pack(header, payload)
    box = ctr.unpack(data)
    assert box.header_size <= 32
    assert len(data) - len(payload) <= 32  # header + CRC
    assert box.header_size == len(data) - len(payload) - 4


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_container_size_matches(name):
    header, payload, alpha = GOLDEN_CASES[name]
    assert ctr.container_size(header, len(payload), len(alpha)) == len(ctr.pack(header, payload, alpha))


def test_pack_validation():
    pipe = Pipeline("none", 1, "jpeg", 50.0)
    with pytest.raises(ValueError):
        ctr.pack(ctr.Header(8, 8, 2, pipe), FAKE_JPEG)
    with pytest.raises(ValueError):
        ctr.pack(ctr.Header(0, 8, 3, pipe), FAKE_JPEG)
    with pytest.raises(ValueError):
        ctr.pack(ctr.Header(ctr.MAX_SIDE + 1, 8, 3, pipe), FAKE_JPEG)
    with pytest.raises(ValueError):  # alpha flag without alpha data
        ctr.pack(ctr.Header(8, 8, 3, pipe, has_alpha=True), FAKE_JPEG)
    with pytest.raises(ValueError):  # alpha data without the flag
        ctr.pack(ctr.Header(8, 8, 3, pipe), FAKE_JPEG, b"a")


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(method="none", scale=2, codec="jpeg", quality=5),
        dict(method="downsample", scale=1, codec="jpeg", quality=5),
        dict(method="downsample", scale=5, codec="jpeg", quality=5),
        dict(method="bogus", scale=1, codec="jpeg", quality=5),
        dict(method="none", scale=1, codec="jpeg", quality=100.5),
        dict(method="none", scale=1, codec="jpeg", quality=5, subsampling="422"),
        dict(method="none", scale=1, codec="jpeg", quality=5, post_id=1),
        dict(method="none", scale=1, codec="jpeg", quality=5, post_hash=b"abcd"),
        dict(method="none", scale=1, codec="jpeg", quality=5, post_id=256, post_hash=b"abcd"),
        dict(method="none", scale=1, codec="jpeg", quality=5, post_id=1, post_hash=b"abc"),
    ],
)
def test_pipeline_validation(kwargs):
    with pytest.raises(ValueError):
        Pipeline(**kwargs)


# -- hypothesis: round trips -------------------------------------------------------------------------

_methods = st.sampled_from([("none", 1), ("modifynet", 1)] + [(m, s) for m in ("downsample", "comcnn") for s in (2, 3, 4)])
_posts = st.one_of(st.just((0, b"")), st.tuples(st.integers(1, 255), st.binary(min_size=4, max_size=4)))


@st.composite
def headers(draw, max_side: int = ctr.MAX_SIDE):
    method, scale = draw(_methods)
    post_id, post_hash = draw(_posts)
    pipe = Pipeline(
        method=method,
        scale=scale,
        codec=draw(st.sampled_from(sorted(CODECS))),
        quality=draw(st.integers(0, 10000)) / 100,
        subsampling=draw(st.sampled_from(["420", "444"])),
        post_id=post_id,
        post_hash=post_hash,
    )
    w = draw(st.integers(1, max_side))
    h = draw(st.integers(1, min(max_side, ctr.MAX_PIXELS // w)))
    return ctr.Header(w, h, draw(st.sampled_from([1, 3])), pipe, draw(st.booleans()))


@st.composite
def containers(draw, max_payload: int = 300):
    header = draw(headers())
    payload = draw(st.binary(min_size=1, max_size=max_payload))
    alpha = draw(st.binary(min_size=1, max_size=60)) if header.has_alpha else b""
    return header, payload, alpha


@settings(max_examples=300, deadline=None)
@given(containers(max_payload=20000))
def test_round_trip_property(case):
    header, payload, alpha = case
    data = ctr.pack(header, payload, alpha)
    assert ctr.container_size(header, len(payload), len(alpha)) == len(data)
    box = ctr.unpack(data)
    assert box.header == header
    assert box.payload == payload
    assert box.alpha == alpha
    assert box.header_size == len(data) - len(payload) - 4 - (len(ctr._varint(len(alpha))) + len(alpha) if alpha else 0)


# -- damaged files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_every_truncation_is_corrupt(name):
    data = _golden(name)
    for n in range(len(data)):
        with pytest.raises(CorruptContainerError):
            ctr.unpack(data[:n])


@pytest.mark.parametrize("name", ["no_post", "post_hash", "alpha", "gray"])
def test_every_single_byte_change_is_corrupt(name):
    # exhaustive: every position, every other value
    data = _golden(name)
    for pos in range(len(data)):
        for value in range(256):
            if value == data[pos]:
                continue
            bad = data[:pos] + bytes([value]) + data[pos + 1 :]
            with pytest.raises(CorruptContainerError):
                ctr.unpack(bad)


def test_appended_bytes_are_corrupt():
    data = _golden("no_post")
    for extra in (b"\x00", b"junk", data):
        with pytest.raises(CorruptContainerError):
            ctr.unpack(data + extra)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(containers(), st.data())
def test_truncation_property(case, data_st):
    data = ctr.pack(*case)
    n = data_st.draw(st.integers(0, len(data) - 1), label="keep")
    with pytest.raises(CorruptContainerError):
        ctr.unpack(data[:n])


@settings(max_examples=300, deadline=None)
@given(containers(), st.data())
def test_byte_change_property(case, data_st):
    data = ctr.pack(*case)
    pos = data_st.draw(st.integers(0, len(data) - 1), label="pos")
    value = data_st.draw(st.integers(0, 255).filter(lambda v: v != data[pos]), label="value")
    bad = data[:pos] + bytes([value]) + data[pos + 1 :]
    with pytest.raises(CorruptContainerError):
        ctr.unpack(bad)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_corrupt(blob):
    with pytest.raises(CorruptContainerError):
        ctr.unpack(blob)


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


@settings(max_examples=1000, deadline=None)
@given(st.binary(min_size=0, max_size=80))
def test_random_body_with_valid_crc(body):
    # past the CRC check the parser itself must refuse garbage cleanly, or accept
    # only data that re-packs to exactly the same bytes (the format is canonical)
    data = _with_crc(b"LBC\x01" + body)
    try:
        box = ctr.unpack(data)
    except CorruptContainerError:
        return
    # an alpha bit with a zero-length alpha plane is a known defect: test_empty_alpha_plane_is_corrupt
    assume(not (box.header.has_alpha and not box.alpha))
    assert ctr.pack(box.header, box.payload, box.alpha) == data


@settings(max_examples=500, deadline=None)
@given(headers(), st.binary(min_size=1, max_size=40), st.binary(max_size=12))
def test_valid_header_random_tail_with_valid_crc(header, payload, tail):
    # a valid header followed by random bytes, with a correct CRC
    full = ctr.pack(header, payload, b"a" if header.has_alpha else b"")
    box = ctr.unpack(full)
    body = full[: box.header_size] + tail
    try:
        got = ctr.unpack(_with_crc(body))
    except CorruptContainerError:
        return
    # an alpha bit with a zero-length alpha plane is a known defect: test_empty_alpha_plane_is_corrupt
    assume(not (got.header.has_alpha and not got.alpha))
    assert ctr.pack(got.header, got.payload, got.alpha) == _with_crc(body)


def test_empty_alpha_plane_is_corrupt():
    header = ctr.Header(8, 8, 3, Pipeline("none", 1, "jpeg", 50.0), has_alpha=True)
    full = ctr.pack(header, FAKE_JPEG, b"a")
    body = full[:-4 - 2] + b"\x00"  # alpha length 0 instead of 1 + b"a"
    with pytest.raises(CorruptContainerError):
        ctr.unpack(_with_crc(body))


# -- absurd dimensions -----------------------------------------------------------------------------------------


def _raw_header(width: int, height: int, payload: bytes = FAKE_JPEG) -> bytes:
    body = (
        b"LBC\x01"
        + ctr._varint(width)
        + ctr._varint(height)
        + bytes([3, 0, 1, 1])
        + struct.pack("<H", 5000)
        + bytes([0, 0])
        + ctr._varint(len(payload))
        + payload
    )
    return _with_crc(body)


@pytest.mark.parametrize(
    "width,height",
    [(1 << 20, 1 << 20), ((1 << 20) + 1, 1), (1, (1 << 34)), (0, 10), (10, 0), (1 << 16, 1 << 15), ((1 << 35) - 1, (1 << 35) - 1)],
)
def test_absurd_dimensions_refused_fast(width, height):
    data = _raw_header(width, height)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(CorruptContainerError, match="absurd|size"):
            ctr.unpack(data)
        with pytest.raises(CorruptContainerError):
            decode_image(data)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 0.5
    assert peak < 1 << 20, f"allocated {peak} bytes to refuse a header"


def test_sane_dimensions_accepted_by_raw_builder():
    # the builder above makes valid files, so the refusals are about the sizes alone
    box = ctr.unpack(_raw_header(768, 512))
    assert (box.header.width, box.header.height) == (768, 512)


def test_max_pixels_argument():
    data = _raw_header(768, 512)
    ctr.unpack(data, max_pixels=768 * 512)
    with pytest.raises(CorruptContainerError):
        ctr.unpack(data, max_pixels=768 * 512 - 1)
    with pytest.raises(CorruptContainerError):
        decode_image(data, max_pixels=1000)


def test_overlong_and_noncanonical_varints_refused():
    for width_bytes in (b"\x80\x80\x80\x80\x80\x01", b"\x88\x00"):  # too long; non-canonical 8
        body = b"LBC\x01" + width_bytes + b"\x08" + bytes([3, 0, 1, 1]) + struct.pack("<H", 5000) + b"\x00\x00" + b"\x02ab"
        with pytest.raises(CorruptContainerError):
            ctr.unpack(_with_crc(body))


def test_other_version_refused():
    data = bytearray(_golden("no_post")[:-4])
    data[3] = 2
    with pytest.raises(CorruptContainerError, match="version"):
        ctr.unpack(_with_crc(bytes(data)))


def test_not_lbc_messages():
    with pytest.raises(CorruptContainerError, match="empty"):
        ctr.unpack(b"")
    with pytest.raises(CorruptContainerError, match="magic"):
        ctr.unpack(b"\x89PNG\r\n\x1a\n" + bytes(40))
