"""Safe output (lbcodec.fileio): symbolic links followed, special files written in place, usual permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lbcodec import fileio
from lbcodec.errors import OutputError

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file types and permissions")


def no_temp_files(folder: Path) -> bool:
    return not list(folder.glob(".lbcodec-*.tmp"))


@pytest.fixture
def umask():
    """Set the process umask for one test, and put the old one back."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@posix_only
@pytest.mark.parametrize("mask,expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600), (0o027, 0o640)])
def test_new_file_mode_follows_umask(tmp_path, umask, mask, expected):
    umask(mask)
    assert fileio.current_umask() == mask
    out = tmp_path / "out.lbc"
    fileio.write_atomic(str(out), b"data")
    assert stat.S_IMODE(out.stat().st_mode) == expected
    fileio.write_atomic(str(out), b"new", force=True)  # a replaced file keeps its mode
    assert stat.S_IMODE(out.stat().st_mode) == expected and out.read_bytes() == b"new"
    assert no_temp_files(tmp_path)


@posix_only
def test_a_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    out = tmp_path / "private.png"
    out.write_bytes(b"old")
    out.chmod(0o600)
    fileio.write_atomic(str(out), b"new", force=True)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.read_bytes() == b"new"


@posix_only
def test_a_refused_chmod_does_not_fail_the_write(tmp_path, monkeypatch):
    def refuse(fd, mode):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "fchmod", refuse)  # vfat without showexec refuses 0644
    fileio.write_atomic(str(tmp_path / "x.lbc"), b"data")
    assert (tmp_path / "x.lbc").read_bytes() == b"data" and no_temp_files(tmp_path)


@posix_only
def test_another_users_link_in_a_sticky_shared_folder_is_not_followed(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    link = shared / "out.png"
    link.symlink_to(victim)
    real_lstat = os.lstat

    class Other:  # the link as another user (neither us nor the folder's owner) would own it
        def __init__(self, st):
            self._st = st

        def __getattr__(self, name):
            return self._st.st_uid + 4242 if name == "st_uid" else getattr(self._st, name)

    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: Other(real_lstat(p, *a, **k)) if str(p) == str(link)
                        else real_lstat(p, *a, **k))
    with pytest.raises(OutputError, match="another user's symbolic link"):
        fileio.write_atomic(str(link), b"new", force=True)
    assert victim.read_bytes() == b"precious"
    monkeypatch.setattr(os, "lstat", real_lstat)  # our own link there is followed
    fileio.write_atomic(str(link), b"new", force=True)
    assert victim.read_bytes() == b"new" and link.is_symlink()


@posix_only
def test_symlink_output_writes_its_target(tmp_path):
    target = tmp_path / "real.lbc"
    target.write_bytes(b"precious")
    link = tmp_path / "link.lbc"
    link.symlink_to("real.lbc")
    with pytest.raises(OutputError, match="--force"):
        fileio.write_atomic(str(link), b"new")
    assert target.read_bytes() == b"precious" and link.is_symlink()
    fileio.write_atomic(str(link), b"new", force=True)
    assert link.is_symlink() and os.readlink(link) == "real.lbc"
    assert target.read_bytes() == b"new" and stat.S_ISREG(os.lstat(target).st_mode)
    assert no_temp_files(tmp_path)


@posix_only
def test_symlink_into_another_folder(tmp_path):
    # the temporary file goes beside the target, so the rename stays on one file system
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    target = tmp_path / "b" / "real.lbc"
    target.write_bytes(b"old")
    link = tmp_path / "a" / "link.lbc"
    link.symlink_to(target)
    fileio.write_atomic(str(link), b"new", force=True)
    assert link.is_symlink() and target.read_bytes() == b"new"
    assert no_temp_files(tmp_path / "a") and no_temp_files(tmp_path / "b")


@posix_only
def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.lbc"
    link.symlink_to("made.lbc")
    fileio.write_atomic(str(link), b"new")  # nothing is replaced: no --force needed
    assert link.is_symlink() and (tmp_path / "made.lbc").read_bytes() == b"new"


@posix_only
def test_symlink_loop_is_an_output_error(tmp_path):
    a, b = tmp_path / "a.lbc", tmp_path / "b.lbc"
    a.symlink_to("b.lbc")
    b.symlink_to("a.lbc")
    with pytest.raises(OutputError):
        fileio.write_atomic(str(a), b"new", force=True)
    assert a.is_symlink() and b.is_symlink()


def open_reader(fifo: Path) -> int:
    """A non-blocking read end, opened first: the writer's open and a small write then never block."""
    return os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:  # nothing (more) was written into the pipe
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_fifo_output_is_written_not_replaced(tmp_path):
    fifo = tmp_path / "pipe.lbc"
    os.mkfifo(fifo)
    fd = open_reader(fifo)
    fileio.write_atomic(str(fifo), b"payload" * 1000, force=True)  # 7 kB: fits the pipe's buffer
    assert read_all(fd) == b"payload" * 1000
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert no_temp_files(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_fifo_output_still_needs_force(tmp_path):
    fifo = tmp_path / "pipe.lbc"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="--force"):
        fileio.write_atomic(str(fifo), b"x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@posix_only
def test_char_device_output_is_written_not_replaced(tmp_path):
    node = tmp_path / "mynull"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the null device, on a path of our own
    except (OSError, AttributeError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    try:
        fileio.write_atomic(str(node), b"data", force=True)
        assert stat.S_ISCHR(os.lstat(node).st_mode)
        assert os.lstat(node).st_rdev == os.makedev(1, 3)
        assert no_temp_files(tmp_path)
    finally:
        node.unlink()


@posix_only
def test_symlink_to_a_special_file_writes_through(tmp_path):
    # a link to a FIFO: the link stays, the FIFO stays, the reader gets the bytes
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "out.lbc"
    link.symlink_to(fifo)
    fd = open_reader(fifo)
    fileio.write_atomic(str(link), b"abc", force=True)
    assert read_all(fd) == b"abc"
    assert link.is_symlink() and stat.S_ISFIFO(os.lstat(fifo).st_mode)


@posix_only
def test_special_output_does_not_need_a_writable_folder(tmp_path, monkeypatch):
    # like -o /dev/null for a user who cannot write into /dev: no temporary file is made there
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    real_access = os.access
    monkeypatch.setattr(os, "access",
                        lambda p, mode, *a, **k: False if str(p) == str(tmp_path) else real_access(p, mode, *a, **k))
    fileio.check_output(str(fifo), force=True)
    with pytest.raises(OutputError, match="writable"):
        fileio.check_output(str(tmp_path / "regular.lbc"), force=True)
