"""Batch mode of encode/decode/restore (lbcodec.batch and the CLI over it), the CLI docs, the examples.

Tiny synthetic images only; the process-pool and signal tests start a few short-lived processes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import smooth_image
from lbcodec import batch
from lbcodec import container as ctr
from lbcodec.batch import BatchInputError, Done, Item
from lbcodec.cli import cli

pytestmark = pytest.mark.usefixtures("no_weights")

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def png(path: Path, seed: int = 0, h: int = 24, w: int = 32) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(smooth_image(h, w, seed=seed)).save(path)
    return path


def jpeg(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(smooth_image(24, 32, seed=seed)).save(path, quality=30)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """photos/a.png, photos/b.png, photos/sub/c.png, plus a hidden image and a text file."""
    root = tmp_path / "photos"
    png(root / "a.png", 1)
    png(root / "b.png", 2)
    png(root / "sub" / "c.png", 3)
    png(root / ".hidden.png", 4)
    (root / "notes.txt").write_text("not an image")
    return root


def rel_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob(".lbcodec-*.tmp")]


# -- per-file functions for run_batch (module level: the pool pickles them) ----------------------------------------


def copy_file(src: str, dst: str, force: bool) -> Done:
    from lbcodec.fileio import write_atomic

    data = Path(src).read_bytes()
    if data.startswith(b"bad"):
        raise ValueError("bad input")
    write_atomic(dst, data, force=force)
    return Done(bpp=len(data) / 10, notes=("copied",))


def report_worker(src: str, dst: str, force: bool) -> Done:
    """Dies for inputs named die*; otherwise records what the worker was set up with."""
    if os.path.basename(src).startswith("die"):
        os._exit(1)
    Path(dst).write_bytes(b"x")
    from lbcodec.codecs import base

    return Done(None, (os.environ.get("OMP_NUM_THREADS", ""), str(signal.getsignal(signal.SIGINT)), str(os.getpid()),
                       str(base.get_threads())))


# -- expanding inputs and mapping outputs ------------------------------------------------------------------------


def test_expand_folder_flat_and_recursive(tree):
    flat = batch.expand_inputs([str(tree)], batch.ENCODE_INPUTS)
    assert [rel for _, rel in flat] == ["a.png", "b.png"]
    deep = batch.expand_inputs([str(tree)], batch.ENCODE_INPUTS, recursive=True)
    assert [rel for _, rel in deep] == ["a.png", "b.png", os.path.join("sub", "c.png")]
    assert deep[2][0] == str(tree / "sub" / "c.png")
    # the output folder inside an input tree is left out
    out = tree / "sub"
    assert [rel for _, rel in batch.expand_inputs([str(tree)], batch.ENCODE_INPUTS, True, exclude=[str(out)])] == [
        "a.png", "b.png"]


def test_expand_files_globs_and_duplicates(tree):
    txt = str(tree / "notes.txt")
    pairs = batch.expand_inputs([txt, str(tree / "a.png"), str(tree / "*.png")], batch.ENCODE_INPUTS)
    # a file named directly is taken whatever its extension; a file reached twice counts once
    assert pairs == [(txt, "notes.txt"), (str(tree / "a.png"), "a.png"), (str(tree / "b.png"), "b.png")]
    deep = batch.expand_inputs([str(tree / "**" / "*.png")], batch.ENCODE_INPUTS, recursive=True)
    assert sorted(rel for _, rel in deep) == ["a.png", "b.png", os.path.join("sub", "c.png")]
    sub = batch.expand_inputs([str(tree / "s*")], batch.ENCODE_INPUTS, recursive=True)
    assert [rel for _, rel in sub] == [os.path.join("sub", "c.png")]


@pytest.mark.parametrize("arg,recursive,match", [
    ("-", False, "stdin"),
    ("{tree}/missing.png", False, "does not exist"),
    ("{tree}/sub/none-*.png", False, "match"),
    ("{empty}", False, "-r"),
    ("{empty}", True, "no input files"),
])
def test_expand_errors(tree, tmp_path, arg, recursive, match):
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    with pytest.raises(BatchInputError, match=match):
        batch.expand_inputs([arg.format(tree=tree, empty=tmp_path / "empty")], batch.ENCODE_INPUTS, recursive)


def test_plan_outputs(tmp_path, tree):
    items = batch.plan([(str(tree / "a.png"), "a.png"), (str(tree / "sub/c.png"), "sub/c.png")], "out", ".lbc")
    assert [it.dst for it in items] == [os.path.join("out", "a.lbc"), os.path.join("out", "sub", "c.lbc")]
    with pytest.raises(BatchInputError, match="both be written"):
        batch.plan([("x/a.png", "a.png"), ("x/a.jpg", "a.jpg")], "out", ".lbc")
    with pytest.raises(BatchInputError, match="is one of the inputs"):
        batch.plan([(str(tree / "a.png"), "a.png")], str(tree), ".png")


def test_is_batch(tmp_path, tree):
    a = str(tree / "a.png")
    assert not batch.is_batch([a], str(tmp_path / "a.lbc"))
    assert not batch.is_batch(["-"], "-")
    assert batch.is_batch([a, str(tree / "b.png")], "out")
    assert batch.is_batch([str(tree)], "out")
    assert batch.is_batch([str(tree / "*.png")], "out")
    assert batch.is_batch([a], "out/")
    assert batch.is_batch([a], str(tmp_path))


def test_threads_per_worker():
    assert batch.threads_per_worker(1, cores=8) == 8
    assert batch.threads_per_worker(3, cores=8) == 2
    assert batch.threads_per_worker(16, cores=8) == 1
    assert batch.threads_per_worker(2) == max(1, batch.available_cores() // 2)


# -- running ---------------------------------------------------------------------------------------------------


def _items(tmp_path: Path, names: list[str], contents: dict[str, bytes] | None = None) -> list[Item]:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir(exist_ok=True)
    items = []
    for name in names:
        (src / name).write_bytes((contents or {}).get(name, b"0123456789"))
        items.append(Item(str(src / name), name, str(out / "deep" / name)))
    return items


def test_run_batch_in_process(tmp_path):
    items = _items(tmp_path, ["a", "b", "c", "d"], {"c": b"bad bytes"})
    seen = []
    s = batch.run_batch(items, copy_file, on_result=seen.append)
    assert [r.status for r in seen] == ["done", "done", "failed", "done"]
    assert (s.done, s.skipped, len(s.failed), s.not_started, s.total) == (3, 0, 1, 0, 4)
    assert s.failed[0].error == "ValueError: bad input" and s.failed[0].bytes_in == 9
    assert (s.bytes_in, s.bytes_out, s.mean_bpp) == (30, 30, 1.0)
    assert seen[0].notes == ("copied",) and seen[0].seconds >= 0
    assert s.interrupted is None and not s.stopped_early
    assert sorted(os.listdir(tmp_path / "out" / "deep")) == ["a", "b", "d"]
    # existing outputs are skipped, unless force
    s = batch.run_batch(items, copy_file)
    assert [r.status for r in s.results] == ["skipped", "skipped", "failed", "skipped"]
    assert s.results[0].bytes_out == 10 and s.results[0].bpp is None and s.bytes_out == 0
    s = batch.run_batch(items, copy_file, force=True)
    assert (s.done, len(s.failed)) == (3, 1)
    # fail_fast stops at the first failure
    s = batch.run_batch(items, copy_file, force=True, fail_fast=True)
    assert [r.status for r in s.results] == ["done", "done", "failed"]
    assert s.stopped_early and s.not_started == 1


def test_json_record_fields(tmp_path):
    (res,) = batch.run_batch(_items(tmp_path, ["a"]), copy_file).results
    assert list(res.to_json()) == ["input", "output", "status", "error", "bytes_in", "bytes_out", "bpp", "seconds"]


def test_run_batch_pool(tmp_path):
    """Two spawned workers: cores//2 threads each, SIGINT ignored. A worker that dies takes
    the files under way with it: each runs again alone, so only the file that kills fails."""
    items = _items(tmp_path, ["a", "b", "die", "c", "d"])
    s = batch.run_batch(items, report_worker, jobs=2)
    status = {Path(r.input).name: r for r in s.results}
    assert sorted(status) == ["a", "b", "c", "d", "die"]
    assert status["die"].status == "failed" and "died" in status["die"].error
    for name in "abcd":
        r = status[name]
        assert r.status == "done", r.error
        threads, sigint, pid, codec_threads = r.notes
        assert threads == codec_threads == str(batch.threads_per_worker(2))
        assert sigint == str(signal.SIG_IGN)
        assert int(pid) != os.getpid()
    assert s.not_started == 0
    assert no_temp_files(tmp_path)


def test_remove_temp_files(tmp_path):
    old, new = tmp_path / ".lbcodec-old.tmp", tmp_path / ".lbcodec-new.tmp"
    keep = tmp_path / "photo.lbc"
    for p in (old, new, keep):
        p.write_bytes(b"x")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    assert batch.remove_temp_files([str(tmp_path)], time.time() - 60) == [str(new)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lbcodec-old.tmp", "photo.lbc"]


# -- the CLI: encode, decode, restore in batch mode ----------------------------------------------------------------


def test_encode_folder(tmp_path, tree):
    out = tmp_path / "out"
    r = run("encode", str(tree), "-o", str(out) + "/", "--quality", "50")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    assert rel_files(out) == {"a.lbc", "b.lbc"}
    (line,) = r.stderr.splitlines()
    assert line.startswith("encode: 2 files in ") and "2 done, 0 skipped, 0 failed" in line and "bpp" in line
    r = run("encode", str(tree), "-r", "-o", str(out), "--quality", "50", "--json")
    assert r.exit_code == 0, r.stderr
    assert rel_files(out) == {"a.lbc", "b.lbc", "sub/c.lbc"}
    rows = {Path(d["input"]).name: d for d in json_lines(r.stdout)}
    assert {k: v["status"] for k, v in rows.items()} == {"a.png": "skipped", "b.png": "skipped", "c.png": "done"}
    c = rows["c.png"]
    data = (out / "sub" / "c.lbc").read_bytes()
    assert c["output"] == str(out / "sub" / "c.lbc") and c["error"] is None
    assert c["bytes_out"] == len(data) and c["bytes_in"] == (tree / "sub" / "c.png").stat().st_size
    assert c["bpp"] == pytest.approx(len(data) * 8 / (32 * 24))
    assert ctr.unpack(data).header.width == 32
    assert "1 done, 2 skipped, 0 failed" in r.stderr
    # --force replaces; the bytes equal those of a single-file encode
    r = run("encode", str(tree), "-r", "-o", str(out), "--quality", "50", "--force", "--json")
    assert [d["status"] for d in json_lines(r.stdout)] == ["done"] * 3
    single = tmp_path / "single.lbc"
    assert run("encode", str(tree / "sub" / "c.png"), "-o", str(single), "--quality", "50").exit_code == 0
    assert single.read_bytes() == (out / "sub" / "c.lbc").read_bytes()
    assert no_temp_files(tmp_path)


def test_encode_files_and_glob(tmp_path, tree):
    out = tmp_path / "out"
    r = run("encode", str(tree / "a.png"), str(tree / "sub" / "c.png"), "-o", str(out), "--quality", "40")
    assert r.exit_code == 0, r.stderr
    assert rel_files(out) == {"a.lbc", "c.lbc"}
    out2 = tmp_path / "out2"
    r = run("encode", str(tree / "*" / "*.png"), "-o", str(out2), "--quality", "40")  # a glob the shell left alone
    assert r.exit_code == 0, r.stderr
    assert rel_files(out2) == {"sub/c.lbc"}


def test_single_input_into_folder(tmp_path, tree):
    out = tmp_path / "out"
    out.mkdir()
    r = run("encode", str(tree / "a.png"), "-o", str(out), "--quality", "40")
    assert r.exit_code == 0, r.stderr
    assert rel_files(out) == {"a.lbc"}
    r = run("encode", str(tree / "b.png"), "-o", str(tmp_path / "new") + "/", "--quality", "40")
    assert r.exit_code == 0, r.stderr
    assert rel_files(tmp_path / "new") == {"b.lbc"}


def test_failures_do_not_stop_the_batch(tmp_path, tree):
    (tree / "broken.png").write_bytes(b"not a png at all")
    out = tmp_path / "out"
    r = run("encode", str(tree), "-o", str(out), "--quality", "40", "--json")
    assert r.exit_code == 1
    assert rel_files(out) == {"a.lbc", "b.lbc"}
    rows = json_lines(r.stdout)
    assert [d["status"] for d in rows] == ["done", "done", "failed"]
    assert "Pillow" in rows[2]["error"] and rows[2]["bpp"] is None and rows[2]["bytes_out"] == 0
    lines = r.stderr.strip().splitlines()
    assert "2 done, 0 skipped, 1 failed" in lines[0]
    assert lines[1].startswith("failed: ") and "broken.png" in lines[1] and "Pillow" in lines[1]
    assert lines[-1] == "Error: 1 of 3 files failed"
    assert "Traceback" not in r.stderr
    # quiet: the failures and the error line only
    r = run("-q", "encode", str(tree), "-o", str(tmp_path / "q"), "--quality", "40")
    assert r.exit_code == 1
    assert [ln.split(":")[0] for ln in r.stderr.strip().splitlines()] == ["failed", "Error"]
    # --fail-fast: stop at once (the order is b.png, broken.png, z.png)
    (tree / "a.png").rename(tree / "z.png")
    r = run("encode", str(tree), "-o", str(tmp_path / "ff"), "--quality", "40", "--fail-fast", "--json")
    assert r.exit_code == 1
    assert [d["status"] for d in json_lines(r.stdout)] == ["done", "failed"]
    assert "1 not started" in r.stderr and "--fail-fast" in r.stderr.splitlines()[-1]


def test_decode_and_restore_batch(tmp_path, tree):
    lbc = tmp_path / "lbc"
    assert run("encode", str(tree), "-r", "-o", str(lbc), "--quality", "60").exit_code == 0
    dec = tmp_path / "dec"
    r = run("decode", str(lbc), "-r", "-o", str(dec), "--json")
    assert r.exit_code == 0, r.stderr
    assert rel_files(dec) == {"a.png", "b.png", "sub/c.png"}
    assert Image.open(dec / "sub" / "c.png").size == (32, 24)
    row = json_lines(r.stdout)[0]
    assert row["bpp"] == pytest.approx(row["bytes_in"] * 8 / (32 * 24))
    r = run("decode", str(lbc / "a.lbc"), str(lbc / "b.lbc"), "-o", str(tmp_path / "bmp"), "--format", "bmp")
    assert r.exit_code == 0, r.stderr
    assert rel_files(tmp_path / "bmp") == {"a.bmp", "b.bmp"}
    assert Image.open(tmp_path / "bmp" / "a.bmp").format == "BMP"

    cam = tmp_path / "camera"
    jpeg(cam / "x.jpg", 1)
    jpeg(cam / "y.jpeg", 2)
    png(cam / "ignored.png")
    r = run("restore", str(cam), "-o", str(tmp_path / "restored"), "--json")
    assert r.exit_code == 0, r.stderr
    assert rel_files(tmp_path / "restored") == {"x.png", "y.png"}
    assert all(d["status"] == "done" and d["bpp"] > 0 for d in json_lines(r.stdout))


@pytest.mark.parametrize("args,match", [
    (["encode", "-", "{tree}/a.png", "-o", "{out}"], "stdin"),
    (["encode", "{tree}", "-o", "-"], "output folder"),
    (["encode", "{tree}/a.png", "{tree}/b.png", "-o", "{tree}/a.png"], "is a file"),
    (["encode", "{tree}/none-*.png", "-o", "{out}"], "match"),
    (["encode", "{tree}/missing.png", "{tree}/a.png", "-o", "{out}"], "does not exist"),
    (["encode", "{tree}/a.png", "{tree}/sub/a.png", "-o", "{out}"], "both be written"),
    (["decode", "{tree}", "-o", "{out}"], "no input files"),
    (["encode", "{tree}", "-o", "{out}", "--bpp", "0.5", "--quality", "5"], "only one of"),
])
def test_batch_usage_errors(tmp_path, tree, args, match):
    png(tree / "sub" / "a.png")
    before = rel_files(tmp_path)
    r = run(*[a.format(tree=tree, out=tmp_path / "out") for a in args])
    assert r.exit_code == 2, r.stderr
    assert match in r.stderr
    assert rel_files(tmp_path) == before  # no output folder made either


def test_single_file_json(tmp_path, tree):
    out = tmp_path / "a.lbc"
    r = run("encode", str(tree / "a.png"), "-o", str(out), "--quality", "50", "--json")
    assert r.exit_code == 0, r.stderr
    (row,) = json_lines(r.stdout)
    assert row["status"] == "done" and row["bytes_out"] == out.stat().st_size and row["output"] == str(out)
    r = run("decode", str(out), "-o", str(tmp_path / "a.png"), "--json")
    assert json_lines(r.stdout)[0]["bpp"] == pytest.approx(row["bpp"])
    r = run("encode", str(tree / "a.png"), "-o", "-", "--quality", "50", "--json")
    assert r.exit_code == 2 and "--json" in r.stderr


def test_decode_format_option_single(tmp_path, tree):
    lbc = tmp_path / "a.lbc"
    assert run("encode", str(tree / "a.png"), "-o", str(lbc), "--quality", "50").exit_code == 0
    r = run("decode", str(lbc), "-o", "-", "--format", "bmp")
    assert r.exit_code == 0 and r.stdout_bytes[:2] == b"BM"
    r = run("decode", str(lbc), "-o", str(tmp_path / "a.png"), "--format", "bmp")
    assert r.exit_code == 2 and "--format" in r.stderr


def test_progress_on_a_terminal(tmp_path, tree, monkeypatch):
    from lbcodec.commands import common

    monkeypatch.setattr(common, "progress_wanted", lambda obj: True)
    r = run("encode", str(tree), "-r", "-o", str(tmp_path / "out"), "--quality", "40", "--json")
    assert r.exit_code == 0, r.stderr
    assert len(json_lines(r.stdout)) == 3  # progress never reaches stdout
    assert "3 done" in r.stderr


def test_jobs_2_same_bytes_as_jobs_1(tmp_path, tree):
    r1 = run("encode", str(tree), "-r", "-o", str(tmp_path / "one"), "--quality", "45")
    r2 = run("encode", str(tree), "-r", "-o", str(tmp_path / "two"), "--quality", "45", "--jobs", "2")
    assert r1.exit_code == 0 and r2.exit_code == 0, r2.stderr
    for rel in ("a.lbc", "b.lbc", "sub/c.lbc"):
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()


# -- interrupts (real processes, real signals) --------------------------------------------------------------------


def _start_batch(tmp_path: Path, jobs: int, n: int = 8, delay: float = 0.4):
    src = tmp_path / "in"
    for i in range(n):
        png(src / f"p{i}.png", i)
    out = tmp_path / "out"
    env = {**os.environ, batch.DELAY_ENV: str(delay), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lbcodec", "encode", str(src), "-o", str(out), "--quality", "50", "--jobs", str(jobs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not (out.exists() and any(p.suffix == ".lbc" for p in out.iterdir())):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the batch did not start"
        time.sleep(0.02)
    return proc, out, n


def _check_interrupted(proc, out: Path, n: int, code: int) -> None:
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert stdout == b""
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1, stderr.decode()  # one line: no traceback from the parent or a worker
    done = int(lines[0].split()[1])
    assert lines[0] == f"interrupted: {done} of {n} files done"
    files = sorted(out.iterdir())
    # a file may be written in the instant between its worker's rename and the signal
    assert done < n and done <= len(files) <= done + 2
    for p in files:  # every output in place is whole
        assert p.suffix == ".lbc" and ctr.unpack(p.read_bytes()).header.width == 32


@pytest.mark.parametrize("jobs", [1, 2])
def test_sigterm_stops_the_batch(tmp_path, jobs):
    proc, out, n = _start_batch(tmp_path, jobs)
    proc.send_signal(signal.SIGTERM)
    _check_interrupted(proc, out, n, 143)


def test_a_full_pool_is_known_so_later_submits_keep_ctrl_c():
    """SIGINT is ignored only while submits may start workers: once the pool has all of
    them, a Ctrl-C that lands during a submit is no longer dropped (it was, under load)."""
    pool = batch._new_pool(2, 1)
    try:
        assert not batch._pool_full(pool, 2)
        futs = [pool.submit(os.getpid) for _ in range(4)]
        assert all(isinstance(f.result(timeout=60), int) for f in futs)
        assert batch._pool_full(pool, 2)
    finally:
        pool.shutdown(wait=True)


def test_ctrl_c_reaches_the_whole_process_group(tmp_path):
    """A terminal's Ctrl-C signals the parent and every worker: one line, exit 130."""
    proc, out, n = _start_batch(tmp_path, 2)
    os.killpg(proc.pid, signal.SIGINT)
    _check_interrupted(proc, out, n, 130)


# -- help, version, docs, examples --------------------------------------------------------------------------------


def test_every_command_has_an_example():
    for name in cli.commands:
        r = run(name, "--help")
        assert r.exit_code == 0
        assert "Example" in r.stdout, name


def test_version_from_package_metadata():
    from importlib.metadata import PackageNotFoundError, version

    import lbcodec

    try:
        expected = version("lbcodec")
    except PackageNotFoundError:
        pytest.skip("lbcodec is not installed (pip install -e .)")
    assert lbcodec.__version__ == expected
    assert run("--version").stdout.strip() == f"lbcodec, version {expected}"


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cli_docs_are_current():
    """docs/cli.md is generated: after changing a command, run python scripts/make_cli_docs.py."""
    text = _load_script("make_cli_docs").render()
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == text
    for name, cmd in cli.commands.items():
        assert f"## lbcodec {name}\n" in text
        for p in cmd.params:
            for opt in getattr(p, "opts", []):
                if opt.startswith("-"):
                    assert opt in text, (name, opt)


def test_make_synthetic(tmp_path):
    spec = importlib.util.spec_from_file_location("make_synthetic", ROOT / "examples" / "make_synthetic.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main([str(tmp_path / "photos"), "--count", "3", "--size", "40x30"])
    assert rel_files(tmp_path / "photos") == {"photo1.png", "photo2.png", "more/photo3.png"}
    im = np.asarray(Image.open(tmp_path / "photos" / "photo1.png"))
    assert im.shape == (30, 40, 3) and im.std() > 10


@pytest.mark.slow
def test_batch_example_script(tmp_path):
    """examples/batch.sh end to end (CI runs it through .ci/run too)."""
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_synthetic.py"), str(tmp_path / "photos"),
                    "--count", "2"], check=True)
    env = {**os.environ, "LBCODEC": f"{sys.executable} -m lbcodec", "PYTHONPATH": str(ROOT)}
    r = subprocess.run(["bash", str(ROOT / "examples" / "batch.sh"), str(tmp_path / "photos"), str(tmp_path / "out")],
                       capture_output=True, text=True, env=env, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["image", "bpp"] and len(lines) == 4 and lines[-1].startswith("mean of 2")
    for line in lines[1:]:
        bpp, psnr = float(line.split()[-3]), float(line.split()[-2])
        assert 0 < bpp <= 0.2 and psnr > 20


def test_threads_option_limits_codecs_and_torch_without_importing_torch():
    """--threads sets the codec libraries' limit and torch's, but must not import torch itself."""
    code = ("import os, sys; from lbcodec.commands.common import set_threads; from lbcodec.codecs import base;"
            "set_threads(1); print('torch' in sys.modules, base.get_threads(), os.environ['OMP_NUM_THREADS']);"
            "import torch; print(torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["False", "1", "1", "1"]


def test_batch_prints_each_note_once_with_its_files(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):  # fully opaque alpha: encode drops it with a note, in every file
        rgba = np.dstack([smooth_image(24, 32, seed=i), np.full((24, 32), 255, np.uint8)])
        Image.fromarray(rgba, "RGBA").save(src / f"a{i}.png")
    png(src / "plain.png")
    res = run("encode", str(src), "-o", str(tmp_path / "out") + "/", "--codec", "jpeg", "--quality", "50",
              "--post", "none")
    assert res.exit_code == 0, res.output
    notes = [line for line in res.output.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "alpha" in notes[0] and "(3 files, e.g. " in notes[0], res.output
    assert "plain.png" not in notes[0]
