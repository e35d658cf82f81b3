"""What every subcommand shares: the context object, error mapping, input and output."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass

import click

from ..batch import is_batch  # noqa: F401  (stdlib only: cheap for --help)
from ..errors import LbcError
from ..precision import ENV as PRECISION_ENV
from ..precision import PRECISIONS, requested

CODEC_NAMES = ("jpeg", "jpeg2000", "webp", "avif", "heif", "jpegxl")


def own_chroma_words(codec: str) -> str | None:
    """In words, the chroma a codec with no subsampling choice codes whatever --subsampling says
    (``Codec.own_chroma``; the header records the option all the same); None for the others."""
    from ..codecs import CODECS

    own = CODECS[codec].own_chroma
    return None if own is None else {"420": "4:2:0", "444": "full resolution"}[own]


@dataclass
class Ctx:
    quiet: bool = False

    def log(self, msg: str) -> None:
        if not self.quiet:
            click.echo(msg, err=True)


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(Ctx).quiet = True


def quiet_option(fn):
    """-q/--quiet after the command word too (``lbcodec encode ... -q``), as ``lbcodec -q encode ...``."""
    return click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_set_quiet,
                        help="Only errors on stderr: no notes, logs or progress (as lbcodec -q).")(fn)


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


# -- how every command ends: one-line errors, signals, closed pipes (used by lbcodec.cli's group) ----------------


class OneLineUsageError(click.UsageError):
    """A usage error (exit status 2) shown as one line instead of Click's usage block: every lbcodec
    error is one line on stderr. A command line Click cannot parse (an unknown option or command, a
    missing argument or option value) names the --help to try; the other usage errors say themselves
    what to change."""

    def __init__(self, exc: click.UsageError, command_path: str | None = None):
        super().__init__(exc.format_message(), exc.ctx)
        parse = (click.NoSuchOption, click.MissingParameter, click.BadOptionUsage, click.BadArgumentUsage,
                 getattr(click.exceptions, "NoSuchCommand", click.NoSuchOption))  # NoSuchCommand: Click 8.2+
        no_command = type(exc) is click.UsageError and isinstance(getattr(exc.ctx, "command", None), click.Group)
        # Click's parser leaves ctx out of some of its errors ("Option '-o' requires an argument")
        path = exc.ctx.command_path if exc.ctx is not None else command_path
        self.help_command = path if isinstance(exc, parse) or no_command else None

    def show(self, file=None) -> None:
        hint = f" (try '{self.help_command} --help')" if self.help_command else ""
        click.echo(f"Error: {self.format_message()}{hint}", err=True)


class Interrupted(click.ClickException):
    """A command stopped by a signal: one plain line on stderr, exit status 128 + signal."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        with contextlib.suppress(OSError):  # stderr may be the closed end of a pipe
            click.echo(self.message, err=True)


#: exit status after a write into a closed pipe: that of a process killed by SIGPIPE (128 + 13)
CLOSED_PIPE_EXIT = 141


class ClosedPipe(click.ClickException):
    """stdout (or stderr) is a pipe whose reader is gone (``lbcodec models | head -1``): stop quietly,
    exit status 141 as a process killed by SIGPIPE."""

    exit_code = CLOSED_PIPE_EXIT

    def __init__(self):
        super().__init__("closed pipe")

    def show(self, file=None) -> None:
        # nothing to say: the reader stopped on purpose. As Python's documentation advises (signal module,
        # "Note on SIGPIPE"), stdout now points at devnull, so that the flush at exit cannot fail again
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM while a command runs (see :func:`sigterm_raises`); a
    BaseException, as KeyboardInterrupt, so that nothing catching Exception swallows it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def sigterm_raises():
    """While a command runs, SIGTERM raises :class:`Terminated` as Ctrl-C raises KeyboardInterrupt:
    the command unwinds (an atomic write removes its temporary file) instead of dying on the spot.
    Batches put their own handler in place while they run (lbcodec.batch)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, frame):
        raise Terminated(signum)

    old = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old if old is not None else signal.SIG_DFL)


#: Click 8.2+ shows a group's help (exit status 2) when it is run with no arguments
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", OneLineUsageError)


@contextlib.contextmanager
def cli_errors(command_path=lambda: None):
    """Map what may end a command to a one-line message and its exit status: usage errors to one
    line (2), Ctrl-C and SIGTERM to ``interrupted`` (130, 143), a closed pipe to silence (141).
    ``command_path()``: the command whose --help a parse error without a context names."""
    try:
        yield
    except (OneLineUsageError, Interrupted, ClosedPipe, _NO_ARGS_IS_HELP):  # the last: `lbcodec` alone, the help
        raise
    except click.UsageError as exc:
        raise OneLineUsageError(exc, command_path()) from None
    except KeyboardInterrupt:
        raise Interrupted("interrupted", 128 + signal.SIGINT) from None
    except Terminated as exc:
        raise Interrupted("interrupted", 128 + exc.signum) from None
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
            raise ClosedPipe() from None
        raise


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


def refuse_terminal(dst: str) -> None:
    """``-o -`` with stdout on a terminal: a usage error, before any work (binary data would garble it)."""
    if dst == "-" and sys.stdout.isatty():
        raise click.UsageError("refusing to write binary data to a terminal; redirect stdout or use -o FILE")


def write_output(path: str, data: bytes, force: bool) -> None:
    from ..fileio import write_atomic

    if path == "-":
        refuse_terminal(path)
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


def image_extensions() -> tuple[str, ...]:
    """The extensions decode and restore write as an image file (.png, .jpg, ...)."""
    from ..imageio import OUTPUT_FORMATS

    return tuple(OUTPUT_FORMATS)


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
    :func:`progress_wanted`): yields its callback, or None when nobody is. The bar appears at the
    first call (a post-filter calls it with 0 as it starts), so none shows when no post-filter runs."""
    if not progress_wanted(obj):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with contextlib.ExitStack() as stack:
        bar: list = []

        def update(fraction: float) -> None:
            if not bar:
                prog = stack.enter_context(Progress(
                    TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True,
                    redirect_stdout=False, redirect_stderr=False))
                bar[:] = [prog, prog.add_task(description, total=1.0)]
            bar[0].update(bar[1], completed=fraction)

        yield update


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
    """One line: files done, skipped, failed, time, and the bytes in and out and mean bpp of the files
    done (said so when other files were skipped or failed: their --json lines carry their own bytes;
    left out when no file was done)."""
    files = f"{s.total} file{'s' if s.total != 1 else ''}"
    counts = f"{s.done} done, {s.skipped} skipped, {len(s.failed)} failed"
    if s.not_started:
        counts += f", {s.not_started} not started"
    line = f"{command}: {files} in {s.seconds:.1f} s: {counts}"
    if not s.done:
        return line
    scope = f" (the {s.done} done)" if s.done < len(s.results) else ""
    rate = f", mean {s.mean_bpp:.4f} bpp" if s.mean_bpp is not None else ""
    return f"{line}; {human_bytes(s.bytes_in)} in, {human_bytes(s.bytes_out)} out{scope}{rate}"


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
                      threads: int | None = None, file_exts: tuple[str, ...] | None = None) -> None:
    """Batch mode of a command: expand the inputs, run ``fn`` on each file, report, exit.

    ``file_exts``: extensions of the files the command writes in single-file mode (default ``ext``):
    an ``-o`` that ends with one and is not a folder yet is refused rather than made a folder."""
    from ..batch import BatchInputError, expand_inputs, plan, run_batch

    if out_dir == "-":
        raise click.UsageError("with several inputs, -o names an output folder (OUTDIR/), not -")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise click.UsageError(f"output {out_dir!r} is a file; with several inputs, -o names an output folder")
    if (not os.path.isdir(out_dir) and not out_dir.endswith(("/", os.sep))
            and os.path.splitext(out_dir)[1].lower() in (file_exts or (ext,))):
        if len(inputs) > 1:
            need = f"{len(inputs)} inputs need"
        else:
            need = f"the {'folder' if os.path.isdir(inputs[0]) else 'pattern'} {inputs[0]!r} needs"
        raise click.UsageError(f"-o {out_dir} names a file, but {need} an output folder (OUTDIR/)")
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
    for line in note_lines(summary.results):  # the notes with their files, then the summary
        obj.log(line)
    obj.log(summary_line(command, summary))
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


class SingleJson:
    """The --json line of a single-file run, done or failed, with the fields of a batch line.

    Used as ``with SingleJson(as_json, src, dst) as rec:`` around the file's work: a data error
    (exit status 1) raised inside prints a ``"status": "failed"`` line with its one-line reason before
    it propagates; a usage error prints nothing (as in a batch, where it stops everything before
    any file). ``rec.bytes_in`` is set once the input is read; ``rec.done(...)`` prints the done line.
    """

    def __init__(self, as_json: bool, src: str, dst: str):
        self.as_json, self.src, self.dst = as_json, src, dst
        self.bytes_in: int | None = None
        self.t0 = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def done(self, bytes_out: int, bpp: float) -> None:
        if self.as_json:
            emit_json(single_record(self.src, self.dst, self.bytes_in or 0, bytes_out, bpp, self.seconds))

    def __enter__(self) -> SingleJson:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        failed = isinstance(exc, (LbcError, MemoryError, click.ClickException)) and not isinstance(
            exc, click.UsageError)
        if self.as_json and failed:
            from ..batch import FileResult, error_reason

            reason = exc.format_message() if isinstance(exc, click.ClickException) else error_reason(exc)
            if self.bytes_in is None:
                self.bytes_in = os.path.getsize(self.src) if self.src != "-" and os.path.isfile(self.src) else 0
            emit_json(FileResult(self.src, self.dst, "failed", reason, self.bytes_in, 0, None,
                                 self.seconds).to_json())
        return False


def output_format(dst: str, fmt: str | None = None) -> str:
    """Pillow format for output path ``dst``: its extension decides; for ``-``, ``fmt`` (default png).
    A ``fmt`` that contradicts the extension is a usage error."""
    from ..imageio import format_for_path

    chosen = format_for_path(f"x.{fmt}") if fmt else None
    if dst == "-":
        return chosen or format_for_path(dst)
    by_ext = as_usage_error("-o", format_for_path, dst)  # no extension, or one with no image format
    if chosen and chosen != by_ext:
        raise click.UsageError(f"--format {fmt} does not match the extension of {dst!r}")
    return by_ext
