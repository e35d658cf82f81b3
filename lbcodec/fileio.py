"""Safe file output: temporary file in the target folder, fsync, then rename.

No partial file is ever left at the output path, the input is never overwritten,
and an existing output is replaced only when ``force`` is set.
"""

from __future__ import annotations

import os
import tempfile

from .errors import OutputError


def same_file(a: str, b: str) -> bool:
    if a == "-" or b == "-":
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path: str, force: bool, inputs: tuple[str, ...] = ()) -> None:
    """Raise OutputError when writing ``path`` would clobber an input or an unforced file."""
    if path == "-":
        return
    for src in inputs:
        if same_file(src, path):
            raise OutputError(f"output {path!r} is the input file; choose another output path")
    if os.path.isdir(path):
        raise OutputError(f"output {path!r} is a directory")
    if os.path.exists(path) and not force:
        raise OutputError(f"output {path!r} exists; use --force to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"output folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder {folder!r} is not writable")


def write_atomic(path: str, data: bytes, force: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    check_output(path, force)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".lbcodec-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write into {folder!r}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if not force and os.path.exists(path):
            raise OutputError(f"output {path!r} appeared while writing; use --force to replace it")
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path!r}: {exc.strerror}") from None
        raise
