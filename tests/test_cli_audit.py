"""The command line as a user meets it: signals, closed pipes, terminals, one-line errors, -q, --json
on failure, and the messages of options that do not apply. Tiny images; the signal, pipe and
terminal tests run real processes."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import ALL_CODECS, smooth_image
from lbcodec.batch import FileResult
from lbcodec.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def png(path: Path, seed: int = 0, h: int = 48, w: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(smooth_image(h, w, seed=seed)).save(path)
    return path


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def one_line(stderr: str) -> str:
    lines = stderr.strip("\n").split("\n")
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def lbcodec_process(code: str, *args: str, **popen) -> subprocess.Popen:
    """``python -c code ARGS...`` where ``code`` may patch lbcodec first and then runs the CLI on ARGS."""
    script = code + "\nfrom lbcodec.cli import main\nmain(sys.argv[1:])\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", "import sys\n" + script, *args], env=env, **popen)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return png(tmp_path / "a.png")


@pytest.fixture
def lbc(tmp_path: Path, src: Path) -> Path:
    out = tmp_path / "a.lbc"
    r = run("encode", str(src), "-o", str(out), "--quality", "60", "--post", "none")
    assert r.exit_code == 0, r.stderr
    return out


# -- 1. Ctrl-C and SIGTERM in a single-file command ---------------------------------------------------------------

#: send the signal while the output's temporary file is being written (then wait to be stopped)
SIGNAL_DURING_WRITE = """
import os, signal, time
signum = int(os.environ["AUDIT_SIGNAL"])
def fsync(fd):
    os.kill(os.getpid(), signum)
    time.sleep(30)
os.fsync = fsync
"""


@pytest.mark.usefixtures("no_weights")
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", ["encode", "decode"])
def test_a_signal_stops_a_single_file_command_with_128_plus_signal(tmp_path, src, lbc, command, signum, code,
                                                                   monkeypatch):
    before = files_in(tmp_path)
    args = ["encode", str(src), "-o", str(tmp_path / "out.lbc"), "--quality", "50"] if command == "encode" else \
        ["decode", str(lbc), "-o", str(tmp_path / "out.png")]
    monkeypatch.setenv("AUDIT_SIGNAL", str(int(signum)))
    proc = lbcodec_process(SIGNAL_DURING_WRITE, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert stderr.decode() == "interrupted\n" and stdout == b""
    assert files_in(tmp_path) == before  # no output, no temporary file


# -- 2. -o - on a terminal: refused before any work ---------------------------------------------------------------


@pytest.mark.usefixtures("no_weights")
@pytest.mark.parametrize("command, patch", [
    ("decode", "import lbcodec.api as m; m.decode_image = work"),
    ("restore", "import lbcodec.restore as m; m.restore_image = work"),
    ("encode", "import lbcodec.api as m; m.encode_image = work"),
    ("extract", "import lbcodec.api as m; m.inner_bitstream = work"),
])
def test_binary_output_to_a_terminal_is_refused_before_any_work(tmp_path, src, lbc, command, patch):
    marker = tmp_path / "worked"
    code = f"def work(*a, **k):\n    open({str(marker)!r}, 'w').close()\n    raise SystemExit(99)\n{patch}\n"
    inp = {"decode": lbc, "extract": lbc, "encode": src}.get(command)
    if inp is None:
        inp = tmp_path / "a.jpg"
        Image.fromarray(smooth_image()).save(inp, quality=30)
    main_fd, tty_fd = pty.openpty()
    try:
        proc = lbcodec_process(code, command, str(inp), "-o", "-", stdout=tty_fd, stderr=subprocess.PIPE)
        _, stderr = proc.communicate(timeout=60)
    finally:
        os.close(tty_fd)
        os.close(main_fd)
    assert proc.returncode == 2, stderr
    assert "refusing to write binary data to a terminal" in one_line(stderr.decode())
    assert not marker.exists()


# -- 3. a closed pipe: quiet, exit status 141 ---------------------------------------------------------------------


def _closed_pipe_run(*args: str) -> tuple[int, str]:
    r, w = os.pipe()
    os.close(r)  # the reader is gone before anything is written: every write meets EPIPE
    try:
        proc = subprocess.Popen([sys.executable, "-m", "lbcodec", *args], stdout=w, stderr=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(w)
    _, stderr = proc.communicate(timeout=120)
    return proc.returncode, stderr.decode()


@pytest.mark.usefixtures("no_weights")
def test_a_closed_stdout_stops_quietly_with_141(tmp_path):
    for i in range(3):
        png(tmp_path / "in" / f"p{i}.png", i)
    for args in (["models"], ["codecs"], ["encode", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--json",
                                          "--quality", "50"]):
        code, stderr = _closed_pipe_run(*args)
        assert code == 141, (args, stderr)
        assert stderr == "", (args, stderr)  # no traceback, no "Exception ignored" at exit
    assert not list((tmp_path / "out").glob(".lbcodec-*.tmp"))


# -- 4. --json on a single file that fails ------------------------------------------------------------------------


@pytest.mark.usefixtures("no_weights")
def test_single_file_failure_prints_its_failed_json_line(tmp_path, lbc):
    text = tmp_path / "text.png"
    text.write_text("not a png")
    r = run("encode", str(text), "-o", str(tmp_path / "x.lbc"), "--json")
    assert r.exit_code == 1
    assert one_line(r.stderr) == "Error: not an image file that Pillow can read"
    (row,) = json_lines(r.stdout)
    assert list(row) == list(FileResult("a", "b", "failed").to_json())  # the schema of a batch line
    assert row["status"] == "failed" and row["error"] == "not an image file that Pillow can read"
    assert row["input"] == str(text) and row["output"] == str(tmp_path / "x.lbc")
    assert row["bytes_in"] == 9 and row["bytes_out"] == 0 and row["bpp"] is None
    assert not (tmp_path / "x.lbc").exists()
    # the same line as a batch prints for that file
    b = run("encode", str(text), str(lbc.with_name("a.png")), "-o", str(tmp_path / "batch"), "--json",
            "--quality", "50")
    (batch_row,) = [d for d in json_lines(b.stdout) if d["status"] == "failed"]
    assert {k: v for k, v in batch_row.items() if k not in ("output", "seconds")} == \
        {k: v for k, v in row.items() if k not in ("output", "seconds")}
    # decode of a corrupt file, and an existing output (a data error too), from stdin
    bad = tmp_path / "bad.lbc"
    bad.write_bytes(lbc.read_bytes()[:-3])
    r = run("decode", str(bad), "-o", str(tmp_path / "y.png"), "--json")
    assert r.exit_code == 1 and json_lines(r.stdout)[0]["status"] == "failed"
    assert "corrupt" in json_lines(r.stdout)[0]["error"]
    r = run("decode", "-", "-o", str(lbc.with_name("a.png")), "--json", input=lbc.read_bytes())
    assert r.exit_code == 1 and "exists" in json_lines(r.stdout)[0]["error"]
    # a usage error stops before any file: no line, as in a batch
    r = run("encode", str(text), "-o", str(tmp_path / "x.lbc"), "--json", "--bpp", "0.2", "--quality", "5")
    assert r.exit_code == 2 and r.stdout == ""


# -- 5. messages name only the options of their command -----------------------------------------------------------


@pytest.mark.usefixtures("no_weights")
def test_compare_takes_the_max_pixels_its_message_names(tmp_path, src):
    r = run("compare", str(src), str(src), "--max-pixels", "1000")
    assert r.exit_code == 1 and "--max-pixels" in one_line(r.stderr)
    r = run("compare", str(src), str(src), "--max-pixels", str(64 * 48), "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["identical"] is True


def test_every_command_that_reads_images_with_a_limit_has_max_pixels():
    # lbcodec.imageio's refusal says "raise it with --max-pixels": the commands that read image files with it
    for name in ("encode", "restore", "compare"):
        assert "--max-pixels" in run(name, "--help").stdout, name


# -- 6. -q everywhere ---------------------------------------------------------------------------------------------


def test_quiet_silences_the_models_note():
    for args in (["-q", "models"], ["models", "-q"]):
        r = run(*args)
        assert r.exit_code == 0 and r.stderr == "", (args, r.stderr)
    assert "post-filters compute in" in run("models").stderr


@pytest.mark.usefixtures("no_weights")
def test_every_command_takes_quiet_after_its_name(tmp_path, src):
    for name in cli.commands:
        r = run(name, "--help")
        assert "-q, --quiet" in r.stdout, name
    out = tmp_path / "o.lbc"
    r = run("encode", str(src), "-o", str(out), "--quality", "50", "-q")
    assert r.exit_code == 0 and r.stderr == "" and out.exists()
    r = run("decode", str(out), "-o", str(tmp_path / "o.png"), "--quiet")
    assert r.exit_code == 0 and r.stderr == ""
    r = run("encode", str(src), "-o", str(tmp_path / "o.lbc"), "-q")  # errors stay
    assert r.exit_code == 1 and "exists" in one_line(r.stderr)


# -- 7. --post none: no progress bar, a plain message -------------------------------------------------------------


@pytest.fixture
def bars(monkeypatch) -> list[str]:
    """Progress bars shown (their descriptions), as if stderr were a terminal."""
    from rich.progress import Progress

    from lbcodec.commands import common

    shown: list[str] = []
    monkeypatch.setattr(common, "progress_wanted", lambda obj: True)
    real = Progress.add_task

    def add_task(self, description, *a, **k):
        shown.append(description)
        return real(self, description, *a, **k)

    monkeypatch.setattr(Progress, "add_task", add_task)
    return shown


@pytest.mark.usefixtures("no_weights")
def test_no_progress_bar_without_a_post_filter(tmp_path, lbc, bars):
    r = run("decode", str(lbc), "-o", str(tmp_path / "d1.png"), "--post", "none")
    assert r.exit_code == 0, r.stderr
    r = run("decode", str(lbc), "-o", str(tmp_path / "d2.png"))  # the file records no post-filter
    assert r.exit_code == 0, r.stderr
    jpg = tmp_path / "c.jpg"
    Image.fromarray(smooth_image()).save(jpg, quality=30)
    r = run("restore", str(jpg), "-o", str(tmp_path / "c.png"), "--post", "none")
    assert r.exit_code == 0, r.stderr
    assert bars == []
    assert "c.png: jpeg decoded without a post-filter" in r.stderr and "nothing" not in r.stderr


def test_a_progress_bar_follows_a_post_filter(tmp_path, src, bars):
    from lbcodec import zoo

    if not zoo.list_models():
        pytest.skip("no shipped models")
    out = tmp_path / "a.lbc"
    assert run("encode", str(src), "-o", str(out), "--quality", "40").exit_code == 0
    r = run("decode", str(out), "-o", str(tmp_path / "d.png"))
    assert r.exit_code == 0, r.stderr
    assert bars == [f"decode {out}: post-filter"]


# -- 8. decode's output format: a usage error before any work -----------------------------------------------------


@pytest.mark.usefixtures("no_weights")
@pytest.mark.parametrize("name", ["y.gif", "y", "y.lbc"])
@pytest.mark.parametrize("command", ["decode", "restore"])
def test_an_output_without_an_image_format_is_a_usage_error(tmp_path, lbc, monkeypatch, command, name):
    import lbcodec.api
    import lbcodec.restore

    def no_work(*a, **k):
        raise AssertionError("work started")

    monkeypatch.setattr(lbcodec.api, "decode_image", no_work)
    monkeypatch.setattr(lbcodec.restore, "restore_image", no_work)
    before = files_in(tmp_path)
    r = run(command, str(lbc), "-o", str(tmp_path / name))
    assert r.exit_code == 2
    line = one_line(r.stderr)
    assert "Invalid value for '-o'" in line and "output format" in line
    assert files_in(tmp_path) == before


# -- 9. usage errors in one line ----------------------------------------------------------------------------------


@pytest.mark.parametrize("args, match, command", [
    # a command line Click cannot parse: the --help to try
    (["encode", "a.png", "-o", "x.lbc", "--foo"], "No such option '--foo'", "lbcodec encode"),
    (["encode"], "Missing argument 'SRC...'", "lbcodec encode"),
    (["decode", "a.png"], "Missing option '-o'", "lbcodec decode"),
    (["decode", "a.png", "-o"], "Option '-o' requires an argument", "lbcodec decode"),
    (["compare", "a.png"], "Missing argument 'B'", "lbcodec compare"),
    (["nosuchcommand"], "No such command 'nosuchcommand'", "lbcodec"),
    (["--bogus"], "No such option '--bogus'", "lbcodec"),
    # a bad value, or options that do not go together: the message says what to change
    (["bench", ".", "--codecs", "gif"], "Invalid value for '--codecs': unknown: gif", None),
    (["encode", "a.png", "-o", "x.lbc", "--bpp", "0.2", "--quality", "5"], "give only one of", None),
])
def test_usage_errors_are_one_line(tmp_path, monkeypatch, args, match, command):
    monkeypatch.chdir(tmp_path)
    png(tmp_path / "a.png")
    r = run(*args)
    assert r.exit_code == 2
    line = one_line(r.stderr)
    assert line.startswith("Error: ") and match in line, line
    if command is not None:
        assert line.endswith(f"(try '{command} --help')"), line
    else:
        assert "--help" not in line, line
    assert "Usage:" not in r.stderr and r.stdout == ""


def test_lbcodec_alone_still_shows_its_help():
    r = run()
    assert "Usage: lbcodec [OPTIONS] COMMAND" in r.output and "Commands:" in r.output
    assert "Error" not in r.output


# -- 10. several inputs and an -o that names a file ---------------------------------------------------------------


@pytest.mark.usefixtures("no_weights")
def test_several_inputs_and_an_output_file_name_are_a_usage_error(tmp_path, lbc):
    a, b = png(tmp_path / "in" / "a.png", 1), png(tmp_path / "in" / "b.png", 2)
    before = files_in(tmp_path)
    r = run("encode", str(a), str(b), "-o", str(tmp_path / "out.lbc"))
    assert r.exit_code == 2
    assert f"-o {tmp_path / 'out.lbc'} names a file, but 2 inputs need an output folder" in one_line(r.stderr)
    r = run("encode", str(tmp_path / "in"), "-o", str(tmp_path / "out.LBC"))
    assert r.exit_code == 2 and "the folder" in one_line(r.stderr)
    r = run("decode", str(lbc), str(lbc), "-o", str(tmp_path / "out.png"))
    assert r.exit_code == 2 and "names a file" in one_line(r.stderr)
    assert files_in(tmp_path) == before
    # a trailing slash says "folder", and so does an existing folder of that name
    r = run("encode", str(a), str(b), "-o", str(tmp_path / "out.lbc") + "/", "--quality", "50")
    assert r.exit_code == 0, r.stderr
    assert files_in(tmp_path / "out.lbc") == {"a.lbc", "b.lbc"}
    r = run("encode", str(a), str(b), "-o", str(tmp_path / "out.lbc"), "--quality", "50", "--force")
    assert r.exit_code == 0, r.stderr


# -- 11. compare reads stdin for one of its inputs ----------------------------------------------------------------


@pytest.mark.usefixtures("no_weights")
def test_compare_reads_one_input_from_stdin(tmp_path, src, lbc):
    r = run("compare", "-", str(src), "--json", input=src.read_bytes())
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["identical"] is True
    r = run("compare", str(src), "-", "--json", input=lbc.read_bytes())
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["bytes"] == lbc.stat().st_size
    r = run("compare", "-", "-", input=src.read_bytes())
    assert r.exit_code == 2 and "only one of A and B can be -" in one_line(r.stderr)


# -- 12. batch summary: bytes that agree with --json, notes before the summary ------------------------------------


@pytest.mark.usefixtures("no_weights")
def test_batch_summary_bytes_agree_with_json(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "text.png").write_text("not a png")
    r = run("encode", str(src), "-o", str(tmp_path / "out"), "--json")
    assert r.exit_code == 1
    (row,) = json_lines(r.stdout)
    assert row["status"] == "failed" and row["bytes_in"] == 9
    summary = r.stderr.splitlines()[0]
    assert "0 done, 0 skipped, 1 failed" in summary and " B in" not in summary, summary
    png(src / "a.png")
    r = run("encode", str(src), "-o", str(tmp_path / "out2"), "--json", "--quality", "50")
    rows = {Path(d["input"]).name: d for d in json_lines(r.stdout)}
    summary = r.stderr.splitlines()[0]
    done_in = rows["a.png"]["bytes_in"]
    assert f"{done_in} B in" in summary or f"{done_in / 1000:.1f} kB in" in summary, summary
    assert "(the 1 done)" in summary, summary


@pytest.mark.usefixtures("no_weights")
def test_batch_notes_come_with_their_file_before_the_summary(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rgba = np.dstack([smooth_image(24, 32), np.full((24, 32), 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(src / "alpha.png")
    png(src / "plain.png")
    r = run("encode", str(src), "-o", str(tmp_path / "out"), "--quality", "50")
    assert r.exit_code == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("note: alpha channel is fully opaque") and "alpha.png" in lines[0], lines
    assert lines[-1].startswith("encode: 2 files in "), lines


# -- 13. --subsampling where the codec has no choice --------------------------------------------------------------


@pytest.mark.usefixtures("no_weights")
@pytest.mark.parametrize("codec", [c for c in ("webp", "jpeg2000", "jpegxl") if c in ALL_CODECS])
def test_subsampling_of_a_codec_without_the_choice(tmp_path, src, codec):
    from lbcodec.api import encode_image
    from lbcodec.codecs import CODECS

    if not CODECS[codec].available():
        pytest.skip(f"{codec} not available")
    out = tmp_path / "x.lbc"
    r = run("encode", str(src), "-o", str(out), "-c", codec, "--quality", "50", "--subsampling", "444",
            "--post", "none", "-m", "none")
    assert r.exit_code == 0, r.stderr
    assert f"note: {codec} has no chroma subsampling choice" in r.stderr
    pixels = np.asarray(Image.open(src))
    same = encode_image(pixels, codec=codec, method="none", quality=50, subsampling="444", post="none").data
    assert out.read_bytes() == same  # the note only: the bytes are those the option always gave
    own = {"webp": "420"}.get(codec, "444")
    d = json.loads(run("info", str(out), "--json").stdout)
    assert d["subsampling"] == own and d["subsampling_choice"] is False
    text = run("info", str(out)).stdout
    assert f"({codec}'s own: no choice)" in text and "chroma 444" not in text
    r = run("encode", str(src), "-o", str(tmp_path / "y.lbc"), "-c", codec, "--quality", "50", "--post", "none")
    assert "note:" not in r.stderr  # not given: no note


@pytest.mark.usefixtures("no_weights")
def test_subsampling_of_a_codec_with_the_choice_is_as_before(tmp_path, src):
    out = tmp_path / "x.lbc"
    r = run("encode", str(src), "-o", str(out), "--quality", "50", "--subsampling", "444", "--post", "none")
    assert r.exit_code == 0 and "note" not in r.stderr
    d = json.loads(run("info", str(out), "--json").stdout)
    assert d["subsampling"] == "444" and d["subsampling_choice"] is True
    assert "chroma 444\n" in run("info", str(out)).stdout
