"""`lbcodec codecs`: the standard codecs."""

from __future__ import annotations

import json

import click

from .common import quiet_option


@click.command(short_help="List the standard codecs and their library versions.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@quiet_option
def codecs(as_json):
    """List every standard codec, whether it is available, and its library version.

    \b
    Example:
      lbcodec codecs --json
    """
    from ..codecs import CODECS

    rows = [
        {
            "name": name,
            "available": cls.available(),
            "library": cls.library,
            "version": cls.version(),
            "extension": cls.extension,
            "subsampling": cls.has_subsampling,
            "tune": cls.has_tune,
            "settings": cls.settings_tag,
            "gray": cls.native_gray,
        }
        for name, cls in CODECS.items()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(
            f"{r['name']:9s} {'yes' if r['available'] else 'NO ':3s}  {r['library']:15s} {r['version']}"
        )
