"""Batch mode of `encode`, `decode` and `restore`: many inputs, one output folder, a process pool.

The pieces, in the order the commands use them:

- :func:`expand_inputs` turns files, folders (``recursive`` for subfolders) and globs
  the shell did not expand into ``(src, rel)`` pairs, ``rel`` being the path to keep
  under the output folder;
- :func:`plan` maps each pair to its output path (``OUTDIR/rel`` with the extension
  replaced) and refuses two inputs writing one output, or an output that is an input;
- :func:`run_batch` runs a per-file function over the items, in this process
  (``jobs=1``) or in a pool of ``jobs`` worker processes, each with
  ``max(1, cores // jobs)`` torch threads so that the pool never oversubscribes the
  CPU; an existing output is skipped unless ``force``; a failing file is recorded and
  the batch goes on (``fail_fast`` stops it); it returns a :class:`Summary`.

The per-file function is ``fn(src, dst, force) -> Done``: it reads ``src``, writes
``dst`` atomically (:func:`lbcodec.fileio.write_atomic`) and raises on failure. It
must be picklable (a module-level function, or a :func:`functools.partial` of one).

Interrupts: while :func:`run_batch` runs in the main thread it handles SIGINT and
SIGTERM itself: it stops submitting, cancels queued files, terminates the workers,
removes the temporary files (``.lbcodec-*.tmp``) that killed workers left in the
output folders, and returns a summary whose ``interrupted`` is the signal number.
Atomic writes already guarantee that no partial file ever sits at an output path.
Workers ignore SIGINT (a Ctrl-C in a terminal reaches the whole process group; the
parent alone decides what happens).

Test hook: the environment variable ``LBCODEC_BATCH_DELAY_S`` (seconds, float) makes
every file wait that long before its work starts, so that tests can interrupt a batch
in the middle. It is meant for tests only.

Library code: nothing here prints or exits.
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

#: file extensions a folder or glob contributes, per command (explicit files are always taken)
ENCODE_INPUTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".pnm", ".webp", ".gif",
                 ".avif", ".heic", ".heif", ".jxl", ".jp2", ".j2k")
DECODE_INPUTS = (".lbc",)
RESTORE_INPUTS = (".jpg", ".jpeg", ".jp2", ".j2k", ".j2c", ".jpc", ".webp", ".avif", ".heic", ".heif", ".jxl")

#: test hook: seconds each file waits before its work (see the module docstring)
DELAY_ENV = "LBCODEC_BATCH_DELAY_S"
#: the temporary files of lbcodec.fileio.write_atomic
TEMP_PATTERN = ".lbcodec-*.tmp"
#: how many files per worker are handed to the pool ahead of time
_AHEAD = 2
_POLL_S = 0.1

STATUSES = ("done", "skipped", "failed")


class BatchInputError(ValueError):
    """The inputs or the output folder of a batch cannot be used (the caller's mistake)."""


@dataclass(frozen=True)
class Item:
    """One file of a batch: read ``src``, write ``dst`` (``rel`` is ``src`` relative to its root)."""

    src: str
    rel: str
    dst: str


@dataclass(frozen=True)
class Done:
    """What a per-file function returns: the bpp of the compressed side, and notes."""

    bpp: float | None = None
    notes: tuple[str, ...] = ()


@dataclass
class FileResult:
    """The outcome of one file. ``bpp`` is that of the compressed side (the .lbc written by
    encode, the .lbc or standard file read by decode and restore)."""

    input: str
    output: str
    status: str  # one of STATUSES
    error: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    bpp: float | None = None
    seconds: float = 0.0
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict:
        """The JSON line of `--json`."""
        return {
            "input": self.input,
            "output": self.output,
            "status": self.status,
            "error": self.error,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "bpp": self.bpp,
            "seconds": round(self.seconds, 4),
        }


@dataclass
class Summary:
    """Counts and totals of a batch. Bytes and the mean bpp are over the files done."""

    total: int
    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: int | None = None  # the signal that stopped the batch
    stopped_early: bool = False  # fail_fast stopped it after a failure

    def _with(self, status: str) -> list[FileResult]:
        return [r for r in self.results if r.status == status]

    @property
    def done(self) -> int:
        return len(self._with("done"))

    @property
    def skipped(self) -> int:
        return len(self._with("skipped"))

    @property
    def failed(self) -> list[FileResult]:
        return self._with("failed")

    @property
    def complete(self) -> int:
        """Files whose output is in place (done or skipped)."""
        return self.done + self.skipped

    @property
    def not_started(self) -> int:
        return self.total - len(self.results)

    @property
    def bytes_in(self) -> int:
        return sum(r.bytes_in for r in self._with("done"))

    @property
    def bytes_out(self) -> int:
        return sum(r.bytes_out for r in self._with("done"))

    @property
    def mean_bpp(self) -> float | None:
        bpps = [r.bpp for r in self._with("done") if r.bpp is not None]
        return sum(bpps) / len(bpps) if bpps else None


# -- inputs and outputs -------------------------------------------------------------------------------------------


def is_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def is_batch(inputs: Sequence[str], output: str) -> bool:
    """Whether a command line asks for batch mode: several inputs, a folder, a glob the
    shell left alone, or an output that is an existing folder or ends with a slash."""
    if len(inputs) != 1:
        return True
    src = inputs[0]
    if src != "-" and (os.path.isdir(src) or (is_glob(src) and not os.path.exists(src))):
        return True
    return output != "-" and (output.endswith(("/", os.sep)) or os.path.isdir(output))


def _wanted(name: str, exts: Iterable[str]) -> bool:
    return not os.path.basename(name).startswith(".") and name.lower().endswith(tuple(exts))


def _walk(root: str, prefix: str, exts: Sequence[str], recursive: bool, excluded: set[str]) -> list[tuple[str, str]]:
    found = []
    if not recursive:
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            if _wanted(name, exts) and os.path.isfile(path):
                found.append((path, os.path.join(prefix, name) if prefix else name))
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".") and os.path.realpath(os.path.join(dirpath, d)) not in excluded
        )
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if _wanted(name, exts) and os.path.isfile(path):
                rel = os.path.relpath(path, root)
                found.append((path, os.path.normpath(os.path.join(prefix, rel)) if prefix else rel))
    return found


def _glob_base(pattern: str) -> str:
    base = pattern
    while is_glob(base):
        base = os.path.dirname(base)
    return base or "."


def expand_inputs(
    inputs: Sequence[str], exts: Sequence[str], recursive: bool = False, exclude: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """``(src, rel)`` for every input file, in the order given (folders sorted by name).

    A file given by name is always taken, as ``rel`` = its name. A folder gives its files
    with an extension in ``exts`` (its subfolders too when ``recursive``), ``rel`` being
    the path inside the folder; hidden files and folders are left out, and so are the
    folders in ``exclude`` (the output folder). A glob pattern (``*``, ``?``, ``[``)
    gives its matching files with an extension in ``exts``, ``rel`` being the path
    below the pattern's first wildcard (``**`` spans folders when ``recursive``).
    A file reached twice is taken once. Raises :class:`BatchInputError` for stdin
    (``-``), a missing path, or a folder or pattern that gives no file.
    """
    excluded = {os.path.realpath(p) for p in exclude}
    pairs: list[tuple[str, str]] = []
    kinds = ", ".join(exts)
    for arg in inputs:
        if arg == "-":
            raise BatchInputError("- (stdin) cannot be part of a batch; give file or folder names")
        if os.path.isdir(arg):
            found = _walk(arg, "", exts, recursive, excluded)
            if not found:
                hint = "" if recursive else "; use -r to include subfolders"
                raise BatchInputError(f"no input files ({kinds}) in folder {arg!r}{hint}")
        elif os.path.exists(arg):
            found = [(arg, os.path.basename(arg))]
        elif is_glob(arg):
            base = _glob_base(arg)
            found = []
            for match in sorted(glob.glob(arg, recursive=recursive)):
                rel = os.path.relpath(match, base)
                if os.path.isdir(match):
                    if recursive and os.path.realpath(match) not in excluded:
                        found += _walk(match, rel, exts, True, excluded)
                elif _wanted(match, exts):
                    found.append((match, rel))
            if not found:
                raise BatchInputError(f"no input files ({kinds}) match {arg!r}")
        else:
            raise BatchInputError(f"path {arg!r} does not exist")
        pairs += found
    seen: set[str] = set()
    unique = []
    for src, rel in pairs:
        key = os.path.realpath(src)
        if key not in seen:
            seen.add(key)
            unique.append((src, rel))
    return unique


def output_path(rel: str, out_dir: str, ext: str) -> str:
    """``out_dir/rel`` with ``rel``'s extension replaced by ``ext`` (e.g. ``.lbc``)."""
    return os.path.join(out_dir, os.path.splitext(rel)[0] + ext)


def plan(pairs: Iterable[tuple[str, str]], out_dir: str, ext: str) -> list[Item]:
    """One :class:`Item` per pair; raises :class:`BatchInputError` when two inputs would
    write the same output, or an output would overwrite an input."""
    pairs = list(pairs)
    sources = {os.path.realpath(src) for src, _ in pairs}
    owner: dict[str, str] = {}
    items = []
    for src, rel in pairs:
        dst = output_path(rel, out_dir, ext)
        key = os.path.normcase(os.path.realpath(dst))
        if key in owner:
            raise BatchInputError(f"{owner[key]!r} and {src!r} would both be written to {dst!r}")
        if os.path.realpath(dst) in sources:
            raise BatchInputError(f"output {dst!r} is one of the inputs; choose another output folder")
        owner[key] = src
        items.append(Item(src, rel, dst))
    return items


# -- running ------------------------------------------------------------------------------------------------------


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def threads_per_worker(jobs: int, cores: int | None = None) -> int:
    """Torch threads for each of ``jobs`` workers: ``max(1, cores // jobs)``."""
    return max(1, (cores or available_cores()) // max(1, jobs))


def limit_threads(threads: int) -> None:
    """``threads`` for torch and for the codec libraries, in this process, without importing torch."""
    # torch reads these when it is first imported (lazily, only by the CNN slots): importing
    # it here would cost a second and 180 MB to runs that need no network...
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    # ...and one imported already (a forked worker, a CLI run) is told directly
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    # the codec libraries (x265, libde265, libjxl, OpenJPEG, dav1d) get the same share
    from .codecs import base

    base.set_threads(threads)


def _init_worker(threads: int) -> None:
    """Pool initializer: leave Ctrl-C to the parent; ``threads`` torch and codec threads."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    limit_threads(threads)


def error_reason(exc: BaseException) -> str:
    """The one-line reason of a file's failure, as its ``error`` field says it (the CLI's single-file
    --json line says it the same way)."""
    from .errors import LbcError

    if isinstance(exc, LbcError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename!r}" if exc.filename else exc.strerror
    return f"{type(exc).__name__}: {exc}"


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def run_one(fn: Callable[[str, str, bool], Done], item: Item, force: bool) -> FileResult:
    """Run ``fn`` on one item; every failure becomes a ``failed`` result, never an exception."""
    t0 = time.perf_counter()
    res = FileResult(item.src, item.dst, "failed", bytes_in=_size(item.src))
    try:
        delay = float(os.environ.get(DELAY_ENV) or 0)
        if delay > 0:
            time.sleep(delay)
        folder = os.path.dirname(item.dst)
        if folder:
            os.makedirs(folder, exist_ok=True)
        out = fn(item.src, item.dst, force)
        res.status, res.bpp, res.notes = "done", out.bpp, tuple(out.notes)
        res.bytes_out = _size(item.dst)
    except Exception as exc:  # noqa: BLE001  (one file's failure is recorded; the batch goes on)
        res.error = error_reason(exc)
    res.seconds = time.perf_counter() - t0
    return res


class _Stop(BaseException):
    """Raised by the signal handler inside an in-process file (not an Exception: nothing swallows it)."""


class _Signals:
    """SIGINT/SIGTERM handlers for the duration of a batch (main thread only)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.signum: int | None = None
        self.raise_now = False
        self._old: dict[int, object] = {}

    def _handle(self, signum, frame):
        if self.signum is None:
            self.signum = signum
            if self.raise_now:
                raise _Stop()

    def __enter__(self):
        if self.enabled:
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, old in self._old.items():
            signal.signal(s, old)
        return False

    @contextlib.contextmanager
    def sigint_ignored(self):
        """Ignore SIGINT while worker processes start: they inherit SIG_IGN through exec,
        so a Ctrl-C never raises KeyboardInterrupt inside a worker that is still starting."""
        if not self.enabled:
            yield
            return
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, self._handle)


def remove_temp_files(folders: Iterable[str], since: float) -> list[str]:
    """Remove write_atomic's temporary files modified at or after ``since`` in ``folders``."""
    removed = []
    for folder in set(folders):
        for path in glob.glob(os.path.join(glob.escape(folder or "."), TEMP_PATTERN)):
            try:
                if os.path.getmtime(path) >= since:
                    os.unlink(path)
                    removed.append(path)
            except OSError:
                pass
    return removed


def run_batch(
    items: Sequence[Item],
    fn: Callable[[str, str, bool], Done],
    *,
    jobs: int = 1,
    force: bool = False,
    fail_fast: bool = False,
    threads: int | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    handle_signals: bool = True,
) -> Summary:
    """Run ``fn`` over ``items`` (see the module docstring); ``on_result`` sees each result as
    it comes (in completion order). ``threads``: torch threads per worker (default
    ``max(1, cores // jobs)``; with ``jobs=1`` the work runs in this process, untouched)."""
    summary = Summary(total=len(items))
    t0, wall0 = time.perf_counter(), time.time()

    def record(res: FileResult) -> None:
        summary.results.append(res)
        if res.status == "failed" and fail_fast:
            summary.stopped_early = True
        if on_result:
            on_result(res)

    def skip(item: Item) -> bool:
        if force or not os.path.lexists(item.dst):
            return False
        record(FileResult(item.src, item.dst, "skipped", bytes_in=_size(item.src), bytes_out=_size(item.dst)))
        return True

    folders = {os.path.dirname(it.dst) for it in items}
    with _Signals(handle_signals) as sig:
        try:
            if jobs <= 1:
                worker_died = _run_here(items, fn, force, sig, skip, record, summary)
            else:
                worker_died = _run_pool(items, fn, force, jobs, threads or threads_per_worker(jobs), sig, skip,
                                        record, summary)
        except BaseException:
            remove_temp_files(folders, wall0 - 1.0)
            raise
        if sig.signum is not None or summary.stopped_early or worker_died:
            remove_temp_files(folders, wall0 - 1.0)
        summary.interrupted = sig.signum
    summary.seconds = time.perf_counter() - t0
    return summary


def _run_here(items, fn, force, sig: _Signals, skip, record, summary: Summary) -> bool:
    try:
        for item in items:
            if sig.signum is not None or summary.stopped_early:
                break
            if skip(item):
                continue
            sig.raise_now = True
            try:
                if sig.signum is not None:
                    break
                res = run_one(fn, item, force)
            finally:
                sig.raise_now = False
            record(res)
    except _Stop:
        pass  # the file under way is dropped; write_atomic removed its temporary file on the way out
    return False


def _result_of(fut, item: Item) -> tuple[FileResult, bool]:
    """The future's result, and whether the pool broke (a worker died)."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return fut.result(), False
    except BrokenProcessPool:
        return FileResult(item.src, item.dst, "failed", "the worker process died on this file (killed, or out of "
                          "memory?)", bytes_in=_size(item.src)), True
    except Exception as exc:  # noqa: BLE001  (e.g. fn could not be pickled)
        return FileResult(item.src, item.dst, "failed", error_reason(exc), bytes_in=_size(item.src)), False


def _new_pool(jobs: int, threads: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: workers start clean (no inherited threads, locks or torch state of the parent)
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads,))


def _pool_full(pool, jobs: int) -> bool:
    """Whether ``pool`` has started all its ``jobs`` workers (a spawn pool starts them on
    demand, at submit). Unknown (a private attribute gone): False, the safe answer."""
    procs = getattr(pool, "_processes", None)
    return isinstance(procs, dict) and len(procs) >= jobs


def stop_pool(pool) -> None:
    """Cancel what has not started and kill the workers (the files under way are lost; their
    temporary files are removed afterwards). The futures are cancelled through ``shutdown``,
    by the pool's own thread: cancelling them here races with it marking them broken."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(2.0)
            if p.is_alive():
                p.kill()
                p.join(2.0)


def _run_pool(items, fn, force, jobs, threads, sig: _Signals, skip, record, summary: Summary) -> bool:
    """Returns whether a worker died (its temporary file may be left behind).

    A worker that dies (killed, out of memory) breaks the whole pool and every file under
    way in it. Those files become suspects: each runs again in a new pool, alone, so that
    the file that kills a worker is the only one to fail."""
    from concurrent.futures import FIRST_COMPLETED, wait

    queue = deque(items)
    inflight: dict = {}  # future -> item
    suspects: set[Item] = set()
    pool, broken, died_any = None, False, False
    clean = False

    def may_submit() -> bool:
        if not queue or len(inflight) >= _AHEAD * jobs:
            return False
        if any(it in suspects for it in inflight.values()):
            return False  # a suspect runs alone
        return not (queue[0] in suspects and inflight)

    try:
        while (queue or inflight) and sig.signum is None and not summary.stopped_early:
            if may_submit():
                if pool is None or broken:
                    if pool is not None:
                        pool.shutdown(wait=False, cancel_futures=True)
                    pool, broken = _new_pool(jobs, threads), False
                # the submits that start workers run with SIGINT ignored (inherited through exec);
                # once the pool has all its workers, a Ctrl-C during a submit must not be lost
                with sig.sigint_ignored() if not _pool_full(pool, jobs) else contextlib.nullcontext():
                    while may_submit():
                        item = queue.popleft()
                        if item in suspects:  # passed skip() already: an output there now is its own
                            inflight[pool.submit(run_one, fn, item, True)] = item
                        elif not skip(item):
                            inflight[pool.submit(run_one, fn, item, force)] = item
            if not inflight:
                continue
            done, _ = wait(list(inflight), timeout=_POLL_S, return_when=FIRST_COMPLETED)
            for fut in done:
                item = inflight.pop(fut)
                res, died = _result_of(fut, item)
                if died:
                    broken = died_any = True
                    if item not in suspects:
                        suspects.add(item)
                        queue.appendleft(item)
                        continue
                record(res)
        clean = not inflight
    finally:
        if pool is not None:
            if clean:
                pool.shutdown(wait=True)
            else:
                # interrupted, stopped by fail_fast, or an exception: keep what is finished, kill the rest
                finished = [(f, it) for f, it in inflight.items() if f.done() and not f.cancelled()]
                stop_pool(pool)
                for fut, item in finished:
                    res, died = _result_of(fut, item)
                    if not died:
                        record(res)
    return died_any


__all__ = [
    "DECODE_INPUTS", "DELAY_ENV", "ENCODE_INPUTS", "RESTORE_INPUTS", "BatchInputError", "Done", "FileResult",
    "Item", "Summary", "available_cores", "error_reason", "expand_inputs", "is_batch", "is_glob", "output_path",
    "plan", "limit_threads", "remove_temp_files", "run_batch", "run_one", "stop_pool", "threads_per_worker",
]
