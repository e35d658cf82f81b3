"""Safe file output: temporary file in the target folder, fsync, then rename.

No partial file is ever left at the output path, the input is never overwritten,
and an existing output is replaced only when ``force`` is set. New files get the
usual permissions (``0o666`` less the umask) and a replaced file keeps its own, as
with a shell redirection.

Outputs that are not regular files are honoured rather than replaced: a symbolic
link is followed (its target is written atomically, the link stays), and an
existing device, FIFO or socket (``/dev/null``, a named pipe) is opened and
written directly, since renaming over it would destroy it.
"""

from __future__ import annotations

import os
import stat
import tempfile

from .errors import OutputError


def same_file(a: str, b: str) -> bool:
    if a == "-" or b == "-":
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _resolve(path: str) -> str:
    """The path that is written for ``path``: a symbolic link's final target, else ``path`` itself.

    As the kernel's ``fs.protected_symlinks`` does, a link in a sticky world-writable folder
    (``/tmp``) is followed only when it belongs to this user or to the folder's owner: another
    user's link there could aim the write at any file of ours."""
    if not os.path.islink(path):
        return path
    link, folder = os.lstat(path), os.stat(os.path.dirname(os.path.abspath(path)))
    shared = folder.st_mode & stat.S_ISVTX and folder.st_mode & stat.S_IWOTH
    if shared and link.st_uid not in (os.geteuid(), folder.st_uid):
        raise OutputError(f"output {path!r} is another user's symbolic link in a shared folder: not following it")
    try:
        return os.path.realpath(path, strict=True)
    except FileNotFoundError:
        return os.path.realpath(path)  # a dangling link: its (missing) target is created
    except OSError as exc:
        raise OutputError(f"cannot follow the link {path!r}: {exc.strerror}") from None


def _is_special(path: str) -> bool:
    """Whether ``path`` exists and is neither a regular file nor a folder (a device, FIFO, socket)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_output(path: str, force: bool, inputs: tuple[str, ...] = ()) -> None:
    """Raise OutputError when writing ``path`` would clobber an input or an unforced file."""
    _checked_target(path, force, inputs)


def _checked_target(path: str, force: bool, inputs: tuple[str, ...] = ()) -> str:
    """:func:`check_output`, returning the path to write (:func:`_resolve`); ``-`` for stdout."""
    if path == "-":
        return path
    for src in inputs:
        if same_file(src, path):
            raise OutputError(f"output {path!r} is the input file; choose another output path")
    if os.path.isdir(path):
        raise OutputError(f"output {path!r} is a directory")
    if os.path.exists(path) and not force:
        raise OutputError(f"output {path!r} exists; use --force to replace it")
    target = _resolve(path)
    if _is_special(target):
        return target  # written in place: no temporary file, so its folder need not be writable
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise OutputError(f"output folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder {folder!r} is not writable")
    return target


def current_umask() -> int:
    """The process umask, read without changing it where the system tells it (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the only portable way is to set it and put it back
    os.umask(mask)
    return mask


def write_atomic(path: str, data: bytes, force: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring)."""
    target = _checked_target(path, force)
    if _is_special(target):
        _write_in_place(path, target, data)
        return
    folder = os.path.dirname(os.path.abspath(target))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".lbcodec-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write into {folder!r}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            _set_mode(f.fileno(), target)
            os.fsync(f.fileno())
        if not force and os.path.exists(target):
            raise OutputError(f"output {path!r} appeared while writing; use --force to replace it")
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path!r}: {exc.strerror}") from None
        raise


def _set_mode(fd: int, target: str) -> None:
    """Give the temporary file (mkstemp makes 0600) the mode of the file it replaces, or for a new
    file 0666 less the umask, as a shell redirection would. Best effort: a filesystem that refuses
    mode changes (vfat) keeps its own."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        mode = 0o666 & ~current_umask()
    try:
        os.fchmod(fd, mode)
    except OSError:
        pass


def _write_in_place(path: str, target: str, data: bytes) -> None:
    """Write into an existing device, FIFO or socket (opening a FIFO waits for its reader)."""
    try:
        with open(target, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write {path!r}: {exc.strerror}") from None
