"""`lbcodec extract`: the inner standard bitstream."""

from __future__ import annotations

import os

import click

from .common import Ctx, check_paths, quiet_option, read_input, refuse_terminal, reports_errors, write_output


@click.command(short_help="Write the inner standard bitstream as a normal file.")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--output", "dst", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Output file (e.g. inner.jpg); - for stdout.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output file.")
@quiet_option
@click.pass_obj
@reports_errors
def extract(obj: Ctx, src, dst, force):
    """Write the standard codec's bitstream inside SRC as a file any decoder opens.

    Note: for downsample/comcnn the inner image is the small compact image.

    \b
    Example:
      lbcodec extract out.lbc -o inner.jpg
    """
    from ..api import inner_bitstream

    refuse_terminal(dst)
    check_paths(src, dst, force)
    payload, ext = inner_bitstream(read_input(src))
    if dst != "-" and os.path.splitext(dst)[1].lower() != ext:
        obj.log(f"note: the bitstream is {ext[1:]}; the usual extension is {ext}")
    write_output(dst, payload, force)
    obj.log(f"{dst}: {len(payload)} bytes")
