"""`lbcodec info`: the header of a .lbc file."""

from __future__ import annotations

import json

import click

from .common import own_chroma_words, quiet_option, read_input, reports_errors


def _header_dict(data: bytes) -> dict:
    from ..codecs import CODECS
    from ..container import unpack
    from ..zoo import entry_by_container_id

    box = unpack(data)
    h, p = box.header, box.header.pipeline
    # a codec with no subsampling choice codes its own chroma, whatever the header's field says
    choice = CODECS[p.codec].has_subsampling
    return {
        "format_version": 1,
        "width": h.width,
        "height": h.height,
        "channels": h.channels,
        "alpha": h.has_alpha,
        "method": p.method,
        "scale": p.scale,
        "codec": p.codec,
        "quality": p.quality,
        "subsampling": p.subsampling if choice else CODECS[p.codec].own_chroma,
        "subsampling_choice": choice,
        "post_id": p.post_id,
        "post": "none" if p.post_id == 0 else (entry_by_container_id(p.post_id) or {}).get(
            "name", f"model #{p.post_id} (not installed)"),
        "post_sha256_prefix": p.post_hash.hex(),
        "header_bytes": box.header_size,
        "payload_bytes": len(box.payload),
        "alpha_bytes": len(box.alpha),
        "file_bytes": len(data),
        "bpp": len(data) * 8 / h.pixels,
    }


def _chroma(d: dict) -> str:
    if d["subsampling_choice"]:
        return d["subsampling"]
    return f"{own_chroma_words(d['codec'])} ({d['codec']}'s own: no choice)"


@click.command(short_help="Show the header of a .lbc file.")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@quiet_option
@reports_errors
def info(src, as_json):
    """Show what a .lbc file holds: size, pipeline, codec, post-filter, bytes.

    Chroma is the subsampling chosen at encode (jpeg, avif, heif), or the
    codec's own where it has no choice (webp 420, jpeg2000 and jpegxl
    full resolution: "subsampling_choice": false in --json).

    \b
    Example:
      lbcodec info out.lbc --json
    """
    d = _header_dict(read_input(src))
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    scale = f", scale 1/{d['scale']}" if d["scale"] > 1 else ""
    post = d["post"] + (f" (id {d['post_id']}, sha256 {d['post_sha256_prefix']}...)" if d["post_id"] else "")
    click.echo(
        f"{src}: lbcodec container v{d['format_version']}\n"
        f"  image      {d['width']}x{d['height']}, {d['channels']} channel{'s' if d['channels'] > 1 else ''}"
        f"{' + alpha' if d['alpha'] else ''}\n"
        f"  pipeline   method {d['method']}{scale}, codec {d['codec']} quality {d['quality']:g}, "
        f"chroma {_chroma(d)}\n"
        f"  post       {post}\n"
        f"  bytes      {d['file_bytes']} in all: header {d['header_bytes']}, payload {d['payload_bytes']}"
        f"{', alpha ' + str(d['alpha_bytes']) if d['alpha'] else ''}, CRC 4\n"
        f"  rate       {d['bpp']:.4f} bpp"
    )
