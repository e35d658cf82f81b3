"""What every subcommand shares: the context object, error mapping, input and output."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
from dataclasses import dataclass

import click

from ..batch import is_batch  # noqa: F401  (stdlib only: cheap for --help)
from ..errors import LbcError
from ..precision import ENV as PRECISION_ENV
from ..precision import PRECISIONS, requested

CODEC_NAMES = ("jpeg", "jpeg2000", "webp", "avif", "heif", "jpegxl")


@dataclass
class Ctx:
    quiet: bool = False

    def log(self, msg: str) -> None:
        if not self.quiet:
            click.echo(msg, err=True)


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan and inf, which Click lets through its bounds."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


def check_post_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--post of encode, decode and restore: an unknown name, or a model that is not a post-filter, is a
    usage error (exit status 2), caught before any file is read."""
    if value is None or value in ("auto", "none"):
        return value
    from ..errors import InputError
    from ..filters import check_post_name

    try:
        check_post_name(value)
    except InputError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


def as_usage_error(option: str, check, *args, **kwargs):
    """``check(*args, **kwargs)``, with the library's one-line InputError turned into a usage error of
    ``option`` (exit status 2), for checks run before any file is read (encode and bench --pre, bench's jobs)."""
    from ..errors import InputError

    try:
        return check(*args, **kwargs)
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None


def reports_errors(fn):
    """Turn library errors into one-line messages with exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LbcError as exc:
            raise click.ClickException(str(exc)) from None
        except MemoryError:
            raise click.ClickException("out of memory; try a smaller input, fewer --jobs or a smaller batch") from None

    return wrapper


def read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path!r}: {exc.strerror}") from None


def check_paths(src: str, dst: str, force: bool) -> None:
    from ..fileio import check_output, same_file

    if same_file(src, dst):
        raise click.UsageError(f"output {dst!r} is the input file; choose another output path")
    check_output(dst, force)


def write_output(path: str, data: bytes, force: bool) -> None:
    from ..fileio import write_atomic

    if path == "-":
        if sys.stdout.isatty():
            raise click.UsageError("refusing to write binary data to a terminal; redirect stdout or use -o FILE")
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_atomic(path, data, force=force)


def _set_precision(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:  # the environment carries it to the batch workers too
        os.environ[PRECISION_ENV] = value
    try:  # a bad LBCODEC_PRECISION fails once, here, not in every file or bench row
        requested()
    except LbcError as exc:
        raise click.UsageError(str(exc)) from None


def precision_option(fn):
    """--precision of the commands that run post-filters (sets LBCODEC_PRECISION)."""
    return click.option(
        "--precision", type=click.Choice(PRECISIONS), default=None, expose_value=False, callback=_set_precision,
        help="Number format of the post-filter: bf16 runs it about twice as fast on CPUs with native bfloat16 "
             "(AVX512-BF16, AMX, Arm BF16) and moves a default model's PSNR by under 0.004 dB; auto (the default, "
             "or LBCODEC_PRECISION) takes bf16 where the CPU has it, fp32 elsewhere.")(fn)


def set_threads(threads: int | None) -> None:
    """--threads: the torch threads of the networks and the threads of the codec libraries."""
    if threads:
        from ..batch import limit_threads

        limit_threads(threads)


# -- batch mode (several inputs, folders, globs; see lbcodec/batch.py) --------------------------------------------

#: output image formats of decode/restore (--format); with -o FILE the extension decides
IMAGE_FORMATS = ("png", "tif", "bmp", "ppm", "webp", "jpg")


class Interrupted(click.ClickException):
    """A batch stopped by a signal: one plain line on stderr, exit status 128 + signal."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(self.message, err=True)


def _check_inputs(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    from ..batch import is_glob

    check = click.Path(exists=True, allow_dash=True)
    for path in value:
        if not (is_glob(path) and not os.path.lexists(path)):  # a glob is expanded later
            check.convert(path, param, ctx)  # Click's own messages: does not exist, not readable
    return value


def inputs_argument(fn):
    """SRC...: files, folders, glob patterns, or - for stdin (single-file mode only)."""
    return click.argument("inputs", nargs=-1, required=True, metavar="SRC...", type=click.Path(allow_dash=True),
                          callback=_check_inputs)(fn)


def batch_options(fn):
    """The options of batch mode, shared by encode, decode and restore."""
    for option in reversed((
        click.option("-r", "--recursive", is_flag=True,
                     help="Batch: take the files in subfolders of folder inputs too."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Batch: worker processes (each gets cores/jobs torch threads)."),
        click.option("--fail-fast", is_flag=True, help="Batch: stop at the first file that fails."),
        click.option("--json", "as_json", is_flag=True,
                     help="One JSON object per file on stdout (input, output, status, error, bytes_in, "
                          "bytes_out, bpp, seconds)."),
    )):
        fn = option(fn)
    return fn


def progress_wanted(obj: Ctx) -> bool:
    """Rich progress only for a person watching: stderr is a terminal and no -q."""
    return not obj.quiet and sys.stderr.isatty()


@contextlib.contextmanager
def fraction_progress(obj: Ctx, description: str):
    """A transient progress bar on stderr, fed fractions 0..1, for a person watching (see
    :func:`progress_wanted`): yields its callback, or None when nobody is."""
    if not progress_wanted(obj):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True,
                  redirect_stdout=False, redirect_stderr=False) as prog:
        task = prog.add_task(description, total=1.0)
        yield lambda fraction: prog.update(task, completed=fraction)


def emit_json(record: dict) -> None:
    click.echo(json.dumps(record))


def human_bytes(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}"
    return f"{n} B"  # unreachable


def summary_line(command: str, s) -> str:
    """One line: files done, skipped, failed, bytes in and out, mean bpp, time."""
    files = f"{s.total} file{'s' if s.total != 1 else ''}"
    counts = f"{s.done} done, {s.skipped} skipped, {len(s.failed)} failed"
    if s.not_started:
        counts += f", {s.not_started} not started"
    rate = f", mean {s.mean_bpp:.4f} bpp" if s.mean_bpp is not None else ""
    return (f"{command}: {files} in {s.seconds:.1f} s: {counts}; "
            f"{human_bytes(s.bytes_in)} in, {human_bytes(s.bytes_out)} out{rate}")


def note_lines(results) -> list[str]:
    """The notes of a batch's files, each distinct note once, with how many files it concerns
    and the first of them (a single-file run prints its notes as they come)."""
    seen: dict[str, list[str]] = {}
    for res in results:
        for note in res.notes:
            seen.setdefault(note, []).append(res.input)
    return [f"note: {note} ({files[0]})" if len(files) == 1 else
            f"note: {note} ({len(files)} files, e.g. {files[0]})" for note, files in seen.items()]


def run_batch_command(obj: Ctx, command: str, inputs: tuple[str, ...], out_dir: str, *, exts, ext: str, fn,
                      recursive: bool, jobs: int, force: bool, fail_fast: bool, as_json: bool,
                      threads: int | None = None) -> None:
    """Batch mode of a command: expand the inputs, run ``fn`` on each file, report, exit."""
    from ..batch import BatchInputError, expand_inputs, plan, run_batch

    if out_dir == "-":
        raise click.UsageError("with several inputs, -o names an output folder (OUTDIR/), not -")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise click.UsageError(f"output {out_dir!r} is a file; with several inputs, -o names an output folder")
    try:
        items = plan(expand_inputs(inputs, exts, recursive, exclude=(out_dir,)), out_dir, ext)
    except BatchInputError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"cannot create the output folder {out_dir!r}: {exc.strerror}") from None
    if jobs == 1:
        set_threads(threads)

    def report(res) -> None:
        if as_json:
            emit_json(res.to_json())

    if progress_wanted(obj):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        counts = {"done": 0, "skipped": 0, "failed": 0}
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                      console=Console(stderr=True), transient=True,
                      redirect_stdout=False, redirect_stderr=False) as prog:
            task = prog.add_task(command, total=len(items), counts="")

            def on_result(res) -> None:
                report(res)
                counts[res.status] += 1
                prog.update(task, advance=1, counts=", ".join(f"{v} {k}" for k, v in counts.items() if v))

            summary = run_batch(items, fn, jobs=jobs, force=force, fail_fast=fail_fast, threads=threads,
                                on_result=on_result)
    else:
        summary = run_batch(items, fn, jobs=jobs, force=force, fail_fast=fail_fast, threads=threads,
                            on_result=report)
    if summary.interrupted is not None:
        raise Interrupted(f"interrupted: {summary.complete} of {summary.total} files done",
                          128 + summary.interrupted)
    obj.log(summary_line(command, summary))
    for line in note_lines(summary.results):
        obj.log(line)
    for res in summary.failed:
        click.echo(f"failed: {res.input}: {res.error}", err=True)
    if summary.failed:
        n = len(summary.failed)
        stop = "; stopped at the first failure (--fail-fast)" if summary.stopped_early else ""
        raise click.ClickException(f"{n} of {summary.total} file{'s' if summary.total != 1 else ''} failed{stop}")


def single_record(src: str, dst: str, bytes_in: int, bytes_out: int, bpp: float, seconds: float) -> dict:
    """The --json line of a single-file run (the same fields as a batch line)."""
    from ..batch import FileResult

    return FileResult(src, dst, "done", None, bytes_in, bytes_out, bpp, seconds).to_json()


def output_format(dst: str, fmt: str | None = None) -> str:
    """Pillow format for output path ``dst``: its extension decides; for ``-``, ``fmt`` (default png).
    A ``fmt`` that contradicts the extension is a usage error."""
    from ..imageio import format_for_path

    chosen = format_for_path(f"x.{fmt}") if fmt else None
    if dst == "-":
        return chosen or format_for_path(dst)
    by_ext = format_for_path(dst)
    if chosen and chosen != by_ext:
        raise click.UsageError(f"--format {fmt} does not match the extension of {dst!r}")
    return by_ext
