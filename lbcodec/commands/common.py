"""What every subcommand shares: the context object, error mapping, input and output."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import click

from ..errors import LbcError

CODEC_NAMES = ("jpeg", "jpeg2000", "webp", "avif", "heif", "jpegxl")


@dataclass
class Ctx:
    quiet: bool = False

    def log(self, msg: str) -> None:
        if not self.quiet:
            click.echo(msg, err=True)


def reports_errors(fn):
    """Turn library errors into one-line messages with exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LbcError as exc:
            raise click.ClickException(str(exc)) from None
        except MemoryError:
            raise click.ClickException("out of memory; try a smaller image or raise no limits") from None

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


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


