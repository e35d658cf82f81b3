"""`lbcodec bench`, its summaries (BD-rate, speed, memory), the metrics it adds (SSIM, PSNR-B),
the published anchors and paper tables, and scripts/make_results.py.

Everything runs on tiny synthetic images written by the tests (no ../shared/data needed)
with the weights registry pointed at an empty folder (no network runs).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import photo_like
from PIL import Image

from lbcodec import anchors, bench, paper_tables
from lbcodec.cli import cli
from lbcodec.errors import InputError
from lbcodec.metrics import bd_psnr, bd_rate, blocking_effect_factor, psnr, psnr_b, ssim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAVE_MPL = importlib.util.find_spec("matplotlib") is not None
BPPS = "1.5,3"

#: the key suffix of codecs whose tune="psnr" encoder settings changed since the first benches
ENC = {"jpeg": bench._settings_key("jpeg")}


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def empty_weights(tmp_path_factory):
    from lbcodec import zoo

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(zoo.ENV_VAR, str(tmp_path_factory.mktemp("no-weights")))
        yield


@pytest.fixture(scope="module")
def images(tmp_path_factory, empty_weights) -> str:
    """Three 64x48 RGB PNGs."""
    d = tmp_path_factory.mktemp("imgs")
    for i in range(3):
        Image.fromarray(photo_like(48, 64, seed=i)).save(d / f"im{i}.png")
    return str(d)


@pytest.fixture(scope="module")
def bench_out(images, tmp_path_factory) -> str:
    """One bench: jpeg, methods none and downsample, two bpp targets."""
    out = str(tmp_path_factory.mktemp("bench") / "tiny")
    res = run("bench", images, "--codecs", "jpeg", "--bpp", BPPS, "-o", out)
    assert res.exit_code == 0, res.output
    return out


def _read(path) -> str:
    with open(path) as f:
        return f.read()


def _lines(path: str) -> list[str]:
    return _read(path).splitlines()


def _json(path):
    return json.loads(_read(path))


# --- the bench command ------------------------------------------------------------------------


def test_bench_writes_json_markdown_csv_and_plots(bench_out):
    doc = _json(os.path.join(bench_out, "summary.json"))
    env = doc["environment"]
    assert set(env["codecs"]) >= {"jpeg", "webp"} and "numpy" in env["packages"]
    assert env["models"] == []  # the registry is empty in these tests; entries carry sha256 prefixes
    assert doc["images"] == ["im0.png", "im1.png", "im2.png"]
    s = doc["summary"]
    assert {(x["pipeline"], x["target"]) for x in s} == {
        ("jpeg none", "1.5"), ("jpeg none", "3"), ("jpeg downsample x1/2", "1.5"), ("jpeg downsample x1/2", "3")}
    for x in s:
        assert x["images"] == 3 and x["failed"] == 0 and x["bpp"] <= x["target_value"]
        assert x["ms_ssim"] is None  # 64x48 is under MS-SSIM's 161 pixels: n/a, never a made-up number
        assert 0 < x["ssim_y"] <= 1 and x["psnr_b_y"] > 0
    assert [x["plain"] for x in s if x["method"] == "none"] == [True, True]
    assert doc["bd"] and doc["bd"][0]["anchor"] == "jpeg none" and doc["bd"][0]["vs"] == "own codec"
    assert {e["pipeline"] for e in doc["speed"]} == {"jpeg none", "jpeg downsample x1/2"}
    assert all(e["dec_mps"] > 0 and e["enc1_mps"] > 0 for e in doc["speed"])
    md = _read(os.path.join(bench_out, "summary.md"))
    for heading in ("## Rate-distortion", "## BD-rate", "## Speed"):
        assert heading in md
    assert "| jpeg none *(plain)* | 1.5 | 3 (0) |" in md
    assert len(_lines(os.path.join(bench_out, "images.csv"))) == 1 + 12
    assert len(_lines(os.path.join(bench_out, "bench.jsonl"))) == 12
    if HAVE_MPL:
        assert doc["plots"] == {"psnr_rgb": "rd_psnr.png"}  # no MS-SSIM plot: n/a on tiny images
        with Image.open(os.path.join(bench_out, "rd_psnr.png")) as im:
            assert 700 <= im.width <= 900 and im.mode == "P"
        assert os.path.getsize(os.path.join(bench_out, "rd_psnr.png")) < 60_000


def test_sigterm_stops_a_bench_with_workers_at_once(tmp_path):
    """SIGTERM ends `bench -j 2` within seconds (exit 143), not after every queued job, and leaves no worker
    behind; the rows written so far stay in bench.jsonl, whole."""
    from lbcodec import zoo

    src = tmp_path / "in"
    src.mkdir()
    n = 16
    for i in range(n):
        Image.fromarray(photo_like(16, 16, seed=i)).save(src / f"p{i:02d}.png")
    out = tmp_path / "out"
    jsonl = out / "bench.jsonl"
    env = {**os.environ, bench.DELAY_ENV: "1.5", "PYTHONPATH": ROOT, zoo.ENV_VAR: str(tmp_path / "no-weights")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lbcodec", "bench", str(src), "--codecs", "jpeg", "--methods", "none", "--posts",
         "none", "--quality", "50", "--timing", "none", "--no-plots", "-j", "2", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (jsonl.exists() and jsonl.read_text().count("\n") >= 1):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the bench did not start"
            time.sleep(0.02)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, stderr.decode()
    assert elapsed < 6, elapsed  # the queued jobs alone would take (16 - 2) / 2 * 1.5 s
    assert stderr.decode().strip().splitlines()[-1] == "interrupted" and b"Traceback" not in stderr
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert 1 <= len(rows) < n and all(r["ok"] and not r.get("crashed") for r in rows)
    deadline = time.monotonic() + 10
    while True:  # the workers are gone too (they shared the bench's process group)
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "a bench worker outlived the bench"
        time.sleep(0.05)


def test_bench_resumes_and_redoes_a_cut_line(bench_out, images, tmp_path):
    out = str(tmp_path / "copy")
    shutil.copytree(bench_out, out)
    jsonl = os.path.join(out, "bench.jsonl")
    before = _lines(jsonl)
    res = run("bench", images, "--codecs", "jpeg", "--bpp", BPPS, "-o", out)
    assert res.exit_code == 0 and "0 to do" in res.output
    assert _lines(jsonl) == before  # nothing new
    # a kill in the middle of writing the last row: half a line, no newline
    with open(jsonl, "rb") as f:
        data = f.read()
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[1]
    with open(jsonl, "wb") as f:
        f.write(data[: len(data) - 1 - len(last) // 2])
    res = run("bench", images, "--codecs", "jpeg", "--bpp", BPPS, "-o", out)
    assert res.exit_code == 0 and "1 to do" in res.output
    after = _lines(jsonl)
    assert len(after) == 12 and all(json.loads(x) for x in after)
    assert {json.loads(x)["key"] for x in after} == {json.loads(x)["key"] for x in before}
    # a crashed row (not an unreachable target) is run again too
    rows = [json.loads(x) for x in after]
    rows[0] = {**rows[0], "ok": False, "crashed": True, "error": "MemoryError: "}
    with open(jsonl, "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    res = run("bench", images, "--codecs", "jpeg", "--bpp", BPPS, "-o", out)
    assert "1 to do" in res.output
    final = {r["key"]: r for r in bench.load_rows(jsonl)}
    assert final[rows[0]["key"]]["ok"] is True


def test_bench_row_equals_encode_and_decode_by_hand(bench_out, images, tmp_path):
    row = next(r for r in bench.load_rows(os.path.join(bench_out, "bench.jsonl"))
               if r["image"] == "im1.png" and r["method"] == "downsample" and r["target"] == "1.5")
    src = os.path.join(images, "im1.png")
    lbc, png = str(tmp_path / "im1.lbc"), str(tmp_path / "im1-decoded.png")
    assert run("encode", src, "-o", lbc, "--codec", "jpeg", "--method", "downsample", "--bpp", "1.5").exit_code == 0
    assert run("decode", lbc, "-o", png).exit_code == 0
    with open(lbc, "rb") as f:
        data = f.read()
    assert len(data) == row["bytes"]
    assert hashlib.sha256(data).hexdigest()[:16] == row["lbc_sha256"]
    a = np.asarray(Image.open(src).convert("RGB"))
    b = np.asarray(Image.open(png).convert("RGB"))
    assert psnr(a, b) == row["psnr_rgb"]  # to the last digit
    res = run("compare", src, lbc, "--json")
    cmp = json.loads(res.output)
    assert (cmp["psnr_rgb"], cmp["psnr_y"], cmp["bpp"]) == (row["psnr_rgb"], row["psnr_y"], row["bpp"])


def test_quality_targets_and_rate_matching(images, tmp_path):
    out = str(tmp_path / "q")
    res = run("bench", images, "--codecs", "jpeg", "--methods", "none,downsample", "--posts", "none",
              "--quality", "20,60", "--match-rate", "--limit", "2", "-o", out)
    assert res.exit_code == 0, res.output
    rows = {r["key"]: r for r in bench.load_rows(os.path.join(out, "bench.jsonl"))}
    assert len(rows) == 8
    for img in ("im0.png", "im1.png"):
        for q in (20, 60):
            plain = rows[f"{img}|jpeg|none|1|none|q{q}{ENC['jpeg']}"]
            matched = rows[f"{img}|jpeg|downsample|2|none|size(q{q}){ENC['jpeg']}"]
            assert plain["quality"] == q and plain["target_kind"] == "quality"
            assert matched["budget_bytes"] == plain["bytes"] >= matched["bytes"]
            assert matched["target_quality"] == q and matched["target_kind"] == "size"
    s = {(x["pipeline_id"], x["target"]): x for x in _json(os.path.join(out, "summary.json"))["summary"]}
    assert s[("jpeg|none|1|none", "q20")]["target_value"] == 20
    with pytest.raises(SystemExit):
        cli.main(["bench", images, "--match-rate"], standalone_mode=True)


def test_gray_conversion_codes_one_channel(images, tmp_path):
    rgb = photo_like(48, 64, seed=0)
    g = bench.to_gray(rgb)
    assert g.shape == (48, 64, 1) and g.dtype == np.uint8
    w = np.asarray(bench.GRAY_WEIGHTS)
    assert g[5, 7, 0] == int(np.rint(rgb[5, 7].astype(float) @ w))
    out = str(tmp_path / "g")
    res = run("bench", images, "--codecs", "jpeg", "--methods", "none", "--gray", "--quality", "30", "--limit", "1",
              "-o", out)
    assert res.exit_code == 0, res.output
    (row,) = bench.load_rows(os.path.join(out, "bench.jsonl"))
    assert row["ok"] and row["channels"] == 1 and row["key"].endswith("|gray" + ENC["jpeg"])
    assert row["psnr_rgb"] == row["psnr_y"]  # one plane: both are the gray PSNR


def test_tune_ssim_is_its_own_pipeline(images, tmp_path):
    """--tune ssim: keys, pipeline ids and labels say so; the plain anchor is the ssim-tuned codec."""
    out = str(tmp_path / "t")
    res = run("bench", images, "--codecs", "heif", "--methods", "none", "--posts", "none", "--tune", "ssim",
              "--quality", "40", "--limit", "1", "-o", out)
    assert res.exit_code == 0, res.output
    (row,) = bench.load_rows(os.path.join(out, "bench.jsonl"))
    assert row["ok"] and row["tune"] == "ssim" and row["key"].endswith("|tune-ssim")
    # codecs without the choice keep psnr (no duplicate pipelines); psnr rows of heif/avif carry the settings
    jobs = bench.make_jobs(["a.png"], ["webp", "heif"], ["none"], bpps=[0.2], posts=["none"], tune="ssim")
    assert [j.tune for j in jobs] == ["psnr", "ssim"]
    (j,) = bench.make_jobs(["a.png"], ["avif"], ["none"], bpps=[0.2], posts=["none"])
    assert j.key.startswith("a.png|avif|none|1|none|0.2|enc-") and "|enc-" not in bench.make_jobs(
        ["a.png"], ["webp"], ["none"], bpps=[0.2], posts=["none"])[0].key
    doc = _json(os.path.join(out, "summary.json"))
    assert set(doc["environment"]["codec_settings"]) == {"heif", "avif", "jpeg"}
    (s,) = doc["summary"]
    assert s["pipeline_id"] == "heif|none|1|none|tune-ssim" and s["pipeline"] == "heif none [tune ssim]"
    assert s["plain"] and bench._plain_of([s], "heif", False, "420", "ssim") == s["pipeline_id"]
    assert bench._plain_of([s], "heif", False, "420", "psnr") is None
    from lbcodec.api import encode_image

    pixels = np.asarray(Image.open(os.path.join(images, row["image"])).convert("RGB"))
    for tune, same in (("ssim", True), ("psnr", False)):
        data = encode_image(pixels, codec="heif", method="none", quality=row["quality"], tune=tune, post="none").data
        assert (hashlib.sha256(data).hexdigest()[:16] == row["lbc_sha256"]) is same


def test_a_named_pre_filter_shows_in_keys_ids_and_labels_only_when_given():
    """`bench --pre`: jobs, pipeline ids and labels of rows without a named pre-filter are as before."""
    job = bench.Job("d/a.png", "jpeg", "comcnn", 2, "auto", target_bpp=0.2)
    assert job.key == "a.png|jpeg|comcnn|2|auto|0.2" + ENC["jpeg"]
    named = bench.Job("d/a.png", "jpeg", "comcnn", 2, "auto", target_bpp=0.2, pre="comcnn-jpeg", gray=True)
    assert named.key == "a.png|jpeg|comcnn|2|auto|0.2|pre-comcnn-jpeg|gray" + ENC["jpeg"]
    row = {"codec": "jpeg", "method": "comcnn", "scale": 2, "post": "auto"}
    assert bench.pipeline_id(row) == bench.pipeline_id({**row, "pre": None}) == "jpeg|comcnn|2|auto"
    assert bench.pipeline_id({**row, "pre": "comcnn-jpeg"}) == "jpeg|comcnn|2|auto|pre-comcnn-jpeg"
    assert bench.pipeline_label("jpeg", "comcnn", 2, "auto", {"reccnn-jpeg"}) == "jpeg comcnn x1/2 + reccnn-jpeg"
    assert bench.pipeline_label("jpeg", "comcnn", 2, "auto", {"reccnn-jpeg"}, pre="comcnn-jpeg") == \
        "jpeg comcnn(comcnn-jpeg) x1/2 + reccnn-jpeg"
    assert bench.pipeline_label("jpeg", "modifynet", 1, "none", pre="modifynet-jpeg") == \
        "jpeg modifynet(modifynet-jpeg)"


def test_bad_options_are_usage_errors(images, tmp_path):
    res = CliRunner().invoke(cli, ["bench", images, "--posts", "nosuchnet", "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "unknown post-filter" in res.output
    res = CliRunner().invoke(cli, ["bench", images, "--bpp", "0.1,abc", "-o", str(tmp_path / "x")])
    assert res.exit_code == 2


def test_memory_mode_measures_each_pipeline_in_a_fresh_process(bench_out, images, tmp_path):
    out = str(tmp_path / "mem")
    shutil.copytree(bench_out, out)
    res = run("bench", images, "--codecs", "jpeg", "--methods", "none", "--bpp", BPPS, "--memory", "-o", out)
    assert res.exit_code == 0, res.output
    (m,) = bench.load_rows(os.path.join(out, "memory.jsonl"))
    assert m["pipeline_id"] == "jpeg|none|1|auto" and m["ok"] is True
    assert m["peak_mb"] >= m["baseline_mb"] > 10
    speed = _json(os.path.join(out, "summary.json"))["speed"]
    assert speed[0]["peak_mb"] == m["peak_mb"]


# --- BD-rate: worked examples with known answers ---------------------------------------------------

RATES = [0.1, 0.2, 0.3, 0.5]
PSNRS = [27.0, 29.0, 30.5, 32.0]


def test_bd_rate_of_a_curve_against_itself_is_zero():
    assert bd_rate(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-9)


def test_bd_rate_of_half_the_rate_is_minus_50_percent():
    assert bd_rate(RATES, PSNRS, [r * 0.5 for r in RATES], PSNRS) == pytest.approx(-50.0, abs=1e-9)
    assert bd_rate(RATES, PSNRS, [r * 2 for r in RATES], PSNRS) == pytest.approx(100.0, abs=1e-9)


def test_bd_psnr_of_a_curve_one_db_higher_is_one_db():
    assert bd_psnr(RATES, PSNRS, RATES, [p + 1 for p in PSNRS]) == pytest.approx(1.0, abs=1e-9)


def test_bd_rate_hand_computed_example():
    """Worked by hand. Anchor: ln R = D / 10 at D = 30, 32, 34, 36 dB. Test: ln R = D / 10 + 0.01 (D - 30).

    Both are exactly cubic (linear) in D, so the fits are exact. Over the common interval
    [30, 36] the mean of ln R_test - ln R_anchor = 0.01 * mean(D - 30) = 0.01 * 3 = 0.03,
    so BD-rate = exp(0.03) - 1 = 3.0454534 %. BD-PSNR: as a function of r = ln R, the
    anchor is D = 10 r and the test D = (10 r + 3) / 1.1 (solve r = 0.11 D - 0.3), so
    D_test - D_anchor = (3 - r) / 1.1 with r from 3.0 to 3.6 (the common ln R range, the
    test's starting at 0.11 * 30 - 0.3 = 3.0, the anchor's ending at 3.6): the mean of
    3 - r over [3.0, 3.6] is -0.3, so BD-PSNR = -0.3 / 1.1 = -0.272727 dB.
    """
    d = np.array([30.0, 32.0, 34.0, 36.0])
    ra = np.exp(d / 10)
    rb = np.exp(d / 10 + 0.01 * (d - 30))
    assert bd_rate(ra, d, rb, d) == pytest.approx((math.exp(0.03) - 1) * 100, rel=1e-9)
    assert bd_rate(ra, d, rb, d) == pytest.approx(3.0454534, abs=1e-6)
    assert bd_psnr(ra, d, rb, d) == pytest.approx(-0.3 / 1.1, abs=1e-9)


def test_bd_table_needs_four_complete_points():
    def entry(pid, method, pts, failed=0):
        return [{"pipeline_id": pid, "pipeline": pid, "plain": method == "none", "codec": "jpeg", "method": method,
                 "post": "none", "gray": False, "subsampling": "420", "failed": failed, "bpp": r, "psnr_rgb": p,
                 "psnr_y": p} for r, p in pts]

    plain = entry("plain", "none", list(zip(RATES, PSNRS)))
    half = entry("half", "downsample", [(r / 2, p) for r, p in zip(RATES, PSNRS)])
    (e,) = bench.bd_table(plain + half)
    assert e["anchor_id"] == "plain" and e["bd_rate_rgb"] == pytest.approx(-50.0)
    assert e["bd_psnr_rgb"] > 0
    three = entry("three", "downsample", [(r / 2, p) for r, p in zip(RATES[:3], PSNRS[:3])])
    (e,) = bench.bd_table(plain + three)
    assert math.isnan(e["bd_rate_rgb"]) and e["points"] == 3
    # a target that an image missed is left out of the curve
    partly = plain[:3] + [{**plain[3], "failed": 1}]
    (e,) = bench.bd_table(partly + half)
    assert math.isnan(e["bd_rate_rgb"]) and e["anchor_points"] == 3


# --- SSIM and PSNR-B ------------------------------------------------------------------------------


def test_psnr_b_hand_computed_example():
    """16x16 image: left half 10, right half 20, so the only step is on the block boundary at x = 7|8.

    Horizontal boundary pairs: 16 rows x 1 boundary, each (10 - 20)^2 = 100; vertical
    boundary pairs: 16 columns x 1 boundary, each 0. N_HB + N_VB = 16 * (16/8 - 1) * 2 = 32,
    so D_B = 1600 / 32 = 50; every other neighbour pair is equal, so D_Bc = 0.
    eta = log2(8) / log2(16) = 0.75 and BEF = 0.75 * 50 = 37.5.
    Against a reference equal to the test image MSE = 0: PSNR-B = 10 log10(255^2 / 37.5) = 32.3905 dB;
    against a flat 15 reference MSE = 25: PSNR-B = 10 log10(255^2 / 62.5) = 30.1720 dB.
    """
    img = np.full((16, 16), 10.0)
    img[:, 8:] = 20.0
    assert blocking_effect_factor(img) == pytest.approx(37.5)
    assert psnr_b(img, img) == pytest.approx(10 * math.log10(255**2 / 37.5))
    assert psnr_b(np.full((16, 16), 15.0), img) == pytest.approx(30.1720034, abs=1e-6)
    # the same step off the block grid is not blocking: PSNR-B = PSNR
    off = np.full((16, 16), 10.0)
    off[:, 5:] = 20.0
    ref = np.full((16, 16), 15.0)
    assert blocking_effect_factor(off) == 0.0
    assert psnr_b(ref, off) == pytest.approx(psnr(ref, off))


def test_psnr_b_penalises_jpeg_blocks_more_than_psnr():
    from lbcodec.codecs import get_codec

    img = photo_like(96, 128)
    jpeg = get_codec("jpeg")
    dec = jpeg.decode(jpeg.encode(img, 5, "420"), channels=3)
    from lbcodec.metrics import rgb_to_y

    ya, yb = rgb_to_y(img), rgb_to_y(dec)
    assert psnr_b(ya, yb) < psnr(ya, yb)


def test_ssim_identity_shift_and_small_images():
    img = photo_like(48, 64)
    assert ssim(img, img) == pytest.approx(1.0)
    noisy = np.clip(img.astype(int) + np.random.default_rng(0).integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
    assert 0 < ssim(img, noisy) < 0.99
    assert math.isnan(ssim(img[:10, :10], img[:10, :10]))


# --- published data ------------------------------------------------------------------------------


def test_anchors_reproduce_the_issue_numbers():
    want = {
        "vtm": (28.04, 29.25, 30.27, 31.25, 31.88, 33.13, 34.34),
        "bpg444": (27.05, 28.39, 29.28, 30.04, 30.81, 32.07, 33.05),
        "bmshj2018-hyperprior": (None, 27.97, 29.01, 29.85, 30.65, 31.92, 33.03),
        "elic2022": (None, 29.69, 30.75, 31.51, 32.27, 33.54, 34.66),
    }
    for key, vals in want.items():
        got = [anchors.psnr_at(key, b) for b in anchors.KODAK_BPPS]
        assert [None if g is None else round(g, 2) for g in got] == list(vals), key
    assert anchors.DEFAULT_KEYS == tuple(want)


def test_anchor_data_is_consistent():
    for a in anchors.KODAK:
        assert a.source.startswith("CompressAI results/image/kodak/") and a.label and a.kind in ("standard", "learned")
        assert list(a.bpp) == sorted(a.bpp) and len(a.bpp) == len(a.psnr_rgb) >= 6
        assert a.ms_ssim_rgb is None or len(a.ms_ssim_rgb) == len(a.bpp)
        assert all(0.01 < b < 5 for b in a.bpp) and all(20 < p < 50 for p in a.psnr_rgb)
        assert a.psnr_at(a.bpp[0] / 2) is None
    table = anchors.markdown_table()
    assert anchors.CAVEAT in table and table.count("\n") == 1 + len(anchors.DEFAULT_KEYS)


def test_paper_tables_are_well_formed():
    from lbcodec.commands.common import CODEC_NAMES
    from lbcodec.filters import POST_NETS

    for t in paper_tables.TABLES:
        groups = {g for g, _ in t.groups}
        methods = {m for m, _ in t.methods}
        assert t.published and t.citation and t.setting and t.ours and t.bench_dirs
        for g, m, target, metric in t.published:
            assert g in groups and m in methods, (t.key, g, m)
            assert target in t.targets and metric in paper_tables.METRICS, (t.key, target, metric)
        for _, o in t.methods:
            if o is not None:
                assert o.codec in CODEC_NAMES and o.target in ("bpp", "quality", "size")
                assert o.post.removesuffix("+x8") in ("none", "auto", *POST_NETS)
    assert paper_tables.P004_TABLE1.unreadable  # Table 1's numbers are not in the extracted text


def test_paper_per_image_values_match_their_printed_averages():
    """The typed per-image numbers average to the paper's Average column, but for the
    deviations that are in the papers themselves (listed in the tables' notes)."""
    known = {("paper002-table1", "RecCNN", "PSNR"), ("paper002-table1", "Proposed", "SSIM"),
             ("paper002-table1", "JPEG", "SSIM"), ("paper002-table1", "Sun's [15]", "SSIM"),
             ("paper002-table2", "ComCNN", "PSNR"), ("paper002-table2", "ARCNN [9]", "PSNR"),
             ("paper002-table2", "WNNM [37]", "SSIM")}
    for t in (paper_tables.P000_TABLE1, paper_tables.P002_TABLE1, paper_tables.P002_TABLE2):
        for (m, target, metric), avg in t.published_average.items():
            mean = np.mean([t.published[(g, m, target, metric)] for g, _ in t.groups])
            tol = 0.0051 if "PSNR" in metric else 0.00006
            assert abs(mean - avg) <= tol or (t.key, m, metric) in known, (t.key, m, metric, mean, avg)


# --- scripts/make_results.py -----------------------------------------------------------------------


def _make_results():
    spec = importlib.util.spec_from_file_location("make_results", os.path.join(ROOT, "scripts", "make_results.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_make_results_builds_and_keeps_hand_written_text(bench_out, tmp_path):
    mr = _make_results()
    doc_path = str(tmp_path / "docs" / "results.md")
    assert mr.main([bench_out, "--results", str(tmp_path / "no-results"), "-o", doc_path]) == 0
    doc = _read(doc_path)
    name = os.path.basename(bench_out)
    for marker in ("anchors", f"bench:{name}", "paper000-table1", "paper002-table1", "paper004-table1"):
        assert f"<!-- begin:{marker} -->" in doc and f"<!-- end:{marker} -->" in doc
    assert "| jpeg downsample x1/2 | jpeg none |" in doc  # the BD-rate table
    assert "28.04 | 29.25 | 30.27" in doc and anchors.CAVEAT in doc
    assert "25.47 / ·" in doc and "Not run yet" in doc  # paper 000, published beside an empty 'ours'
    if HAVE_MPL:
        assert f"](img/{name}_psnr.png)" in doc
        assert os.path.exists(tmp_path / "docs" / "img" / f"{name}_psnr.png")
    # hand-written text outside the markers survives a rerun; a generated part is replaced
    hand = "\n\n## Notes by hand\n\nKeep me.\n"
    stale = doc.replace("28.04 | 29.25", "99.99 | 29.25") + hand
    with open(doc_path, "w") as f:
        f.write(stale)
    mr.main([bench_out, "--results", str(tmp_path / "no-results"), "-o", doc_path])
    again = _read(doc_path)
    assert "Keep me." in again and "99.99" not in again and again.count("<!-- begin:anchors -->") == 1


def test_make_results_only_replaces_the_given_benches_sections(bench_out, tmp_path):
    """--only: a checkout without the other bench folders (results/ is not in git) updates one
    bench's section and leaves the anchors table and the paper tables as they were."""
    mr = _make_results()
    doc_path = str(tmp_path / "results.md")
    name = os.path.basename(bench_out)
    kept = ("<!-- begin:anchors -->\nANCHORS FROM ALL BENCHES\n<!-- end:anchors -->\n\n"
            "<!-- begin:paper002-table1 -->\nPAPER TABLE\n<!-- end:paper002-table1 -->\n\n"
            f"<!-- begin:bench:{name} -->\nstale\n<!-- end:bench:{name} -->\n")
    with open(doc_path, "w") as f:
        f.write(kept)
    assert mr.main([bench_out, "--only", "--results", str(tmp_path / "no-results"), "-o", doc_path]) == 0
    doc = _read(doc_path)
    assert "ANCHORS FROM ALL BENCHES" in doc and "PAPER TABLE" in doc and "stale" not in doc
    assert "| jpeg downsample x1/2 | jpeg none |" in doc and doc.count("<!-- begin:") == 3


def test_make_results_only_updates_its_benches_blocks_in_the_anchors_section(monkeypatch):
    mr = _make_results()
    doc = ("intro\n<!-- begin:anchors -->\n## Published anchors\n\ntable\n\n"
           "Measured here (bench `a`, 24 Kodak images), old:\n\n| a old |\n\n"
           "Measured here (bench `b`, 24 Kodak images), kept:\n\n| b |\n<!-- end:anchors -->\nafter\n")
    monkeypatch.setattr(mr, "anchors_block", lambda d: f"Measured here (bench `{d['name']}`, 24 Kodak images), new:\n\n| {d['name']} new |")
    out = mr.replace_anchor_blocks(doc, [{"name": "a"}, {"name": "c"}])
    assert "| a old |" not in out and "| a new |" in out and "| b |" in out
    assert out.index("| a new |") < out.index("| b |") < out.index("| c new |") < out.index("<!-- end:anchors -->")
    assert out.startswith("intro\n<!-- begin:anchors -->\n## Published anchors") and out.endswith("-->\nafter\n")
    # the last block is replaced up to the end marker, not beyond
    again = mr.replace_anchor_blocks(out, [{"name": "c"}])
    assert again == out


def test_make_results_fills_a_paper_table_from_its_bench_folder(images, tmp_path):
    """A bench folder named as lbcodec.paper_tables says is read back into the paper's section."""
    results = tmp_path / "results"
    shutil.copy(os.path.join(images, "im0.png"), tmp_path / "parrots.png")
    shutil.copy(os.path.join(images, "im1.png"), tmp_path / "bikes.png")
    res = run("bench", str(tmp_path / "parrots.png"), str(tmp_path / "bikes.png"), "--codecs", "jpeg",
              "--tune", "ssim", "--methods", "none", "--posts", "none", "--quality", "10,20",
              "-o", str(results / "paper004-table1"))
    assert res.exit_code == 0, res.output
    rows = {(r["image"], r["target"]): r for r in bench.load_rows(str(results / "paper004-table1" / "bench.jsonl"))}
    section = _make_results().paper_section(paper_tables.P004_TABLE1, str(results))
    assert "Not run yet" not in section and "Not readable" in section

    def line(group, target, method):
        return next(x for x in section.splitlines() if x.startswith(f"| {group} | {target} | {method} |"))

    # LIVE1 (the whole folder): the mean over both images; no published number (unreadable)
    live = line("LIVE1", 10, "JPEG")
    mean = np.mean([rows[(i, "q10")]["psnr_y"] for i in ("parrots.png", "bikes.png")])
    assert f"| - | {mean:.2f} |" in live
    # parrots (one image): the paper's figure caption beside our row
    par = line("parrots (Fig. 10, q=10)", 10, "JPEG")
    r = rows[("parrots.png", "q10")]
    assert f"| 32.46 | {r['psnr_y']:.2f} | 0.8558 | {r['ssim_y']:.4f} | 29.64 | {r['psnr_b_y']:.2f} |" in par
    # AR-CNN was not benched (post arcnn): its 'ours' cells stay empty
    assert "| 34.37 | · |" in line("parrots (Fig. 10, q=10)", 10, "AR-CNN")
    assert "| — |" in line("parrots (Fig. 10, q=10)", 10, "SA-DCT")  # no lbcodec counterpart


def test_replace_sections_appends_missing_and_replaces_present():
    mr = _make_results()
    doc = "# t\n\nintro\n\n<!-- begin:a -->\nold\n<!-- end:a -->\n\ntail by hand\n"
    out = mr.replace_sections(doc, [("a", "new"), ("b", "bee")])
    assert "old" not in out and "<!-- begin:a -->\nnew\n<!-- end:a -->" in out
    assert out.index("tail by hand") < out.index("<!-- begin:b -->") and "intro" in out


@pytest.mark.skipif(sys.platform == "win32", reason="bash script")
def test_run_paper_tables_script_is_valid_bash():
    import subprocess

    script = os.path.join(ROOT, "scripts", "run_paper_tables.sh")
    assert subprocess.run(["bash", "-n", script], check=False).returncode == 0
    text = _read(script)
    for t in paper_tables.TABLES:
        for dirs in t.bench_dirs.values():
            for d in dirs:
                assert d in text or re.sub(r"set5|set14|live1", "$s", d) in text, d


def test_make_results_keeps_the_newest_row_of_a_job_rerun_on_new_encoder_settings():
    mr = _make_results()
    old = {"key": "a.png|jpeg|none|1|none|0.2", "psnr_rgb": 25.0}
    new = {"key": "a.png|jpeg|none|1|none|0.2|enc-0123abcd", "psnr_rgb": 26.0}
    other = {"key": "b.png|jpeg|none|1|none|0.2", "psnr_rgb": 24.0}
    ssim = {"key": "a.png|jpeg|none|1|none|0.2|tune-ssim", "psnr_rgb": 25.1}
    assert mr.newest_rows([old, other, new, ssim]) == [new, other, ssim]
    assert mr.newest_rows([old, other]) == [old, other]


def test_bench_method_auto_rows_record_the_method_that_won(tmp_path, no_weights):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(photo_like(64, 96)).save(folder / "a.png")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["bench", str(folder), "--methods", "auto,none", "--posts", "none", "--bpp", "1.0",
                                 "--timing", "basic", "-o", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = {row["method"]: row for row in map(json.loads, open(out / "bench.jsonl"))}
    auto, none = rows["auto"], rows["none"]
    assert auto["ok"] and auto["scale"] == 2 and auto["method_used"] in ("none", "downsample")
    assert auto["psnr_rgb"] >= none["psnr_rgb"] - 1e-9  # none is one of the candidates
    assert "jpeg auto x1/2 (per image: " in (out / "summary.md").read_text()
    bad = CliRunner().invoke(cli, ["bench", str(folder), "--methods", "auto", "--quality", "30", "-o", str(out)])
    assert bad.exit_code == 2 and "cannot take --quality targets" in bad.output
    with pytest.raises(InputError, match="cannot take --quality targets"):
        bench.make_jobs([str(folder / "a.png")], ["jpeg"], ["auto"], qualities=[30])
    # auto has no one-pass encode: its timing is the whole search, never the winner's single pass
    row = bench.run_job(bench.make_jobs([str(folder / "a.png")], ["jpeg"], ["auto"], bpps=[1.0])[0], "full")
    assert row["enc1_s"] == row["enc_s"] and "bare_enc_s" not in row and "pre_s" not in row


def test_the_recorded_command_drops_global_options_before_the_command_word():
    from lbcodec.commands.bench import _bench_args

    assert _bench_args(["-q", "bench", "kodak", "--bpp", "0.2"]) == ["kodak", "--bpp", "0.2"]
    assert _bench_args(["bench", "kodak"]) == ["kodak"]
    assert _bench_args(["kodak", "-o", "out"]) == ["kodak", "-o", "out"]
