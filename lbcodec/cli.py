"""The `lbcodec` command line: a Click group over one module per subcommand.

Exit status: 0 success, 1 data or I/O error (unreadable input, corrupt container,
budget out of reach, output exists or cannot be written), 2 usage error (bad
option, missing input file, output path equal to the input path).
Logs and progress go to stderr; stdout carries data only (``-o -``, ``--json``).
Heavy imports (torch) happen inside the commands, so ``--help`` is instant.
"""

from __future__ import annotations

import click

from . import __version__
from .commands import (
    bench,
    codecs,
    compare,
    decode,
    encode,
    extract,
    info,
    models,
    restore,
    train,
)
from .commands.common import Ctx


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lbcodec")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """lbcodec: low-bit-rate image coding around standard codecs.

    \b
    Examples:
      lbcodec encode photo.png -o photo.lbc --bpp 0.2 --codec jpeg
      lbcodec decode photo.lbc -o restored.png
      lbcodec compare photo.png restored.png
    """
    ctx.obj = Ctx(quiet=quiet)



for _module in (encode, decode, info, extract, compare, codecs, models, restore, bench, train):
    cli.add_command(getattr(_module, _module.__name__.rsplit(".", 1)[-1]))


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="lbcodec")
