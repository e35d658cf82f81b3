"""The `lbcodec` command line: a Click group over one module per subcommand.

Exit status: 0 success, 1 data or I/O error (unreadable input, corrupt container,
budget out of reach, output exists or cannot be written), 2 usage error (bad
option, missing input file, output path equal to the input path), 130/143 stopped
by Ctrl-C/SIGTERM, 141 stdout closed by its reader (``lbcodec models | head -1``).
Every error is one line on stderr (usage errors too: :class:`LbcGroup`).
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
from .commands.common import Ctx, cli_errors, sigterm_raises


class LbcGroup(click.Group):
    """The group: whatever ends a command ends it as a Unix tool (see :func:`cli_errors`): usage errors
    in one line (exit status 2), Ctrl-C and SIGTERM with ``interrupted`` (130, 143) and no partial
    output, a closed stdout quietly (141)."""

    def make_context(self, info_name, args, parent=None, **extra):
        with cli_errors(lambda: info_name):
            return super().make_context(info_name, args, parent=parent, **extra)

    def resolve_command(self, ctx: click.Context, args):
        name, cmd, rest = super().resolve_command(ctx, args)
        ctx.meta[_COMMAND_PATH] = f"{ctx.command_path} {name}"  # for the errors of its own parsing
        return name, cmd, rest

    def invoke(self, ctx: click.Context):
        with cli_errors(lambda: ctx.meta.get(_COMMAND_PATH, ctx.command_path)), sigterm_raises():
            return super().invoke(ctx)


_COMMAND_PATH = "lbcodec.command_path"


@click.group(name="lbcodec", cls=LbcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lbcodec")
@click.option("-q", "--quiet", is_flag=True,
              help="Only errors on stderr: no notes, logs or progress (every command also takes -q after its name).")
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """lbcodec: low-bit-rate image coding around standard codecs.

    \b
    Examples:
      lbcodec encode photo.png -o photo.lbc --bpp 0.2 --codec jpeg
      lbcodec decode photo.lbc -o restored.png
      lbcodec compare photo.png restored.png

    \b
    Exit status: 0 success; 1 data or I/O error; 2 usage error;
    130/143 stopped by Ctrl-C/SIGTERM; 141 stdout closed by its reader.
    """
    ctx.obj = Ctx(quiet=quiet)



for _module in (encode, decode, info, extract, compare, codecs, models, restore, bench, train):
    cli.add_command(getattr(_module, _module.__name__.rsplit(".", 1)[-1]))


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="lbcodec")
