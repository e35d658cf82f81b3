"""The `lbcodec` command line: a thin layer over lbcodec.api.

Exit status: 0 success, 1 data or I/O error (unreadable input, corrupt container,
budget out of reach, output exists or cannot be written), 2 usage error (bad
option, missing input file, output path equal to the input path).
Logs and progress go to stderr; stdout carries data only (``-o -``, ``--json``).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from dataclasses import dataclass

import click

from . import __version__
from .errors import LbcError
from .pipeline import METHODS

CODEC_NAMES = ("jpeg", "jpeg2000", "webp", "avif", "heif", "jpegxl")


@dataclass
class Ctx:
    quiet: bool = False

    def log(self, msg: str) -> None:
        if not self.quiet:
            click.echo(msg, err=True)


def _reports_errors(fn):
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


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path!r}: {exc.strerror}") from None


def _check_paths(src: str, dst: str, force: bool) -> None:
    from .fileio import check_output, same_file

    if same_file(src, dst):
        raise click.UsageError(f"output {dst!r} is the input file; choose another output path")
    check_output(dst, force)


def _write_output(path: str, data: bytes, force: bool) -> None:
    from .fileio import write_atomic

    if path == "-":
        if sys.stdout.isatty():
            raise click.UsageError("refusing to write binary data to a terminal; redirect stdout or use -o FILE")
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_atomic(path, data, force=force)


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


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


@cli.command(short_help="Compress an image into a .lbc file.")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--output", "dst", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Output .lbc file, or - for stdout.")
@click.option("-c", "--codec", type=click.Choice(CODEC_NAMES), default="jpeg", show_default=True,
              help="Standard codec at the core.")
@click.option("-m", "--method", type=click.Choice(METHODS), default="downsample", show_default=True,
              help="Pre-filter before the codec.")
@click.option("--scale", type=click.IntRange(1, 4), default=None,
              help="Downsampling factor for downsample/comcnn (2, 3 or 4; default 2).")
@click.option("--bpp", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Upper bound on whole-file bits per pixel (default 0.2 if no target is given).")
@click.option("--quality", type=click.FloatRange(0, 100), default=None, help="Codec quality 0-100 (no rate control).")
@click.option("--size", "size_bytes", type=click.IntRange(min=1), default=None, help="Upper bound on the file size in bytes.")
@click.option("--subsampling", type=click.Choice(["420", "444"]), default="420", show_default=True,
              help="Chroma subsampling, where the codec has the choice (jpeg, avif, heif).")
@click.option("--post", default="auto", show_default=True,
              help="Post-filter the decoder will apply: auto, none, or a network/model name.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None, help="Refuse inputs larger than this.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output file.")
@click.pass_obj
@_reports_errors
def encode(obj: Ctx, src, dst, codec, method, scale, bpp, quality, size_bytes, subsampling, post, max_pixels, force):
    """Compress SRC (PNG, JPEG, TIFF, BMP, ... or - for stdin) into a .lbc file.

    \b
    Example:
      lbcodec encode in.png -o out.lbc --bpp 0.2 --method downsample --codec jpeg
    """
    from .api import default_scale, encode_image
    from .imageio import DEFAULT_MAX_PIXELS, read_image

    if sum(x is not None for x in (bpp, quality, size_bytes)) > 1:
        raise click.UsageError("give only one of --bpp, --quality and --size")
    if bpp is None and quality is None and size_bytes is None:
        bpp = 0.2
    if scale is not None and method not in ("downsample", "comcnn") and scale != 1:
        raise click.UsageError(f"--scale applies to downsample and comcnn, not to method {method!r}")
    if method in ("downsample", "comcnn") and scale == 1:
        raise click.UsageError(f"method {method!r} needs --scale 2, 3 or 4 (or use --method none)")
    _check_paths(src, dst, force)
    t0 = time.perf_counter()
    img = read_image(_read_input(src), max_pixels or DEFAULT_MAX_PIXELS)
    for note in img.notes:
        obj.log(f"note: {note}")
    res = encode_image(
        img.pixels, alpha=img.alpha, codec=codec, method=method,
        scale=scale if scale is not None else default_scale(method),
        subsampling=subsampling, bpp=bpp, quality=quality, size=size_bytes, post=post,
    )
    for note in res.notes:
        obj.log(f"note: {note}")
    _write_output(dst, res.data, force)
    p = res.header.pipeline
    target = f" (target {bpp:g})" if bpp is not None else (f" (limit {size_bytes} bytes)" if size_bytes else "")
    obj.log(
        f"{dst}: {res.header.width}x{res.header.height}, {len(res.data)} bytes, {res.bpp:.4f} bpp{target}; "
        f"{p.codec} quality {p.quality:g}, method {p.method}"
        + (f" x1/{p.scale}" if p.scale > 1 else "")
        + f", {res.probes} probe{'s' if res.probes != 1 else ''}, {time.perf_counter() - t0:.2f} s"
    )


@cli.command(short_help="Decompress a .lbc file into an image.")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--output", "dst", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Output image; the format follows the extension (png, tif, bmp, ppm, webp); - writes PNG to stdout.")
@click.option("--post", default=None,
              help="Override the post-filter recorded in the file: none, auto, a network (srcnn, arcnn, reccnn, "
                   "attention) or a model name.")
@click.option("--ensemble", is_flag=True, help="x8 geometric self-ensemble of the post-filter (8x slower).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for the networks.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output file.")
@click.pass_obj
@_reports_errors
def decode(obj: Ctx, src, dst, post, ensemble, threads, force):
    """Decompress SRC (.lbc, or - for stdin) into an image file.

    \b
    Example:
      lbcodec decode out.lbc -o restored.png
    """
    from .api import decode_image
    from .imageio import format_for_path, write_image_bytes

    fmt = format_for_path(dst)
    _check_paths(src, dst, force)
    t0 = time.perf_counter()
    _set_threads(threads)
    res = decode_image(_read_input(src), post=post, ensemble=ensemble)
    for note in res.notes:
        obj.log(f"note: {note}")
    _write_output(dst, write_image_bytes(res.pixels, res.alpha, fmt), force)
    obj.log(f"{dst}: {res.header.width}x{res.header.height}, {time.perf_counter() - t0:.2f} s")


def _header_dict(data: bytes) -> dict:
    from .container import unpack
    from .zoo import entry_by_container_id

    box = unpack(data)
    h, p = box.header, box.header.pipeline
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
        "subsampling": p.subsampling,
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


@cli.command(short_help="Show the header of a .lbc file.")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@_reports_errors
def info(src, as_json):
    """Show what a .lbc file holds: size, pipeline, codec, post-filter, bytes.

    \b
    Example:
      lbcodec info out.lbc --json
    """
    d = _header_dict(_read_input(src))
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
        f"chroma {d['subsampling']}\n"
        f"  post       {post}\n"
        f"  bytes      {d['file_bytes']} in all: header {d['header_bytes']}, payload {d['payload_bytes']}"
        f"{', alpha ' + str(d['alpha_bytes']) if d['alpha'] else ''}, CRC 4\n"
        f"  rate       {d['bpp']:.4f} bpp"
    )


@cli.command(short_help="Write the inner standard bitstream as a normal file.")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--output", "dst", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Output file (e.g. inner.jpg); - for stdout.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output file.")
@click.pass_obj
@_reports_errors
def extract(obj: Ctx, src, dst, force):
    """Write the standard codec's bitstream inside SRC as a file any decoder opens.

    Note: for downsample/comcnn the inner image is the small compact image.

    \b
    Example:
      lbcodec extract out.lbc -o inner.jpg
    """
    from .api import inner_bitstream

    _check_paths(src, dst, force)
    payload, ext = inner_bitstream(_read_input(src))
    if dst != "-" and os.path.splitext(dst)[1].lower() != ext:
        obj.log(f"note: the bitstream is {ext[1:]}; the usual extension is {ext}")
    _write_output(dst, payload, force)
    obj.log(f"{dst}: {len(payload)} bytes")


def _load_any(path: str):
    """Pixels of an image file or of a decoded .lbc file (and the .lbc's size)."""
    from .container import MAGIC

    data = _read_input(path)
    if data[: len(MAGIC)] == MAGIC:
        from .api import decode_image

        res = decode_image(data)
        return res.pixels, len(data)
    from .imageio import read_image

    return read_image(data).pixels, None


@cli.command(short_help="PSNR and MS-SSIM between two images.")
@click.argument("a", type=click.Path(exists=True, dir_okay=False))
@click.argument("b", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@_reports_errors
def compare(a, b, as_json):
    """Compare reference A with B (images, or .lbc files, which are decoded first).

    Prints RGB PSNR, BT.601 Y PSNR and MS-SSIM (pytorch-msssim), and the bpp
    when B is a .lbc file.

    \b
    Example:
      lbcodec compare photo.png photo.lbc
    """
    from .metrics import ms_ssim, psnr, psnr_y

    pa, _ = _load_any(a)
    pb, nbytes = _load_any(b)
    if pa.shape[:2] != pb.shape[:2]:
        raise click.ClickException(f"sizes differ: {pa.shape[1]}x{pa.shape[0]} vs {pb.shape[1]}x{pb.shape[0]}")
    if pa.shape[2] != pb.shape[2]:
        import numpy as np

        pa, pb = (np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x for x in (pa, pb))
    d = {"psnr_rgb": psnr(pa, pb), "psnr_y": psnr_y(pa, pb), "ms_ssim": ms_ssim(pa, pb)}
    if nbytes is not None:
        d["bytes"] = nbytes
        d["bpp"] = nbytes * 8 / (pa.shape[0] * pa.shape[1])
    if as_json:
        click.echo(json.dumps({k: (None if isinstance(v, float) and v != v else v) for k, v in d.items()}))
        return
    line = f"PSNR RGB {d['psnr_rgb']:.2f} dB   PSNR Y {d['psnr_y']:.2f} dB   MS-SSIM {d['ms_ssim']:.4f}"
    if nbytes is not None:
        line = f"bpp {d['bpp']:.4f}   " + line
    click.echo(line)


@cli.command(short_help="List the standard codecs and their library versions.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def codecs(as_json):
    """List every standard codec, whether it is available, and its library version.

    \b
    Example:
      lbcodec codecs --json
    """
    from .codecs import CODECS

    rows = [
        {
            "name": name,
            "available": cls.available(),
            "library": cls.library,
            "version": cls.version(),
            "extension": cls.extension,
            "subsampling": cls.has_subsampling,
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


@cli.command(short_help="List the trained models in the weights registry.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@_reports_errors
def models(as_json):
    """List every model of the weights registry: name, network, the slot it serves,
    container id, and its validation score.

    \b
    Example:
      lbcodec models --json
    """
    from .zoo import default_weights_dir, list_models

    rows = list_models()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no trained models in {default_weights_dir()}: every CNN slot falls back to bicubic")
        return
    for e in rows:
        slot = e["slot"]
        rng = f" bpp {slot['bpp'][0]}-{slot['bpp'][1]}" if slot.get("bpp") else ""
        score = e.get("provenance", {}).get("validation", {}).get("score")
        click.echo(
            f"{e['name']:28s} #{e['container_id']:<3d} {e['arch']:10s} {slot['role']:4s} "
            f"{slot['codec']}/{slot['method']}" + (f" x1/{slot['scale']}" if slot.get("scale", 1) > 1 else "")
            + rng + (f"  val {score:+.3f} dB" if score is not None else "")
        )


@cli.command(short_help="Restore a plain JPEG/JPEG 2000/WebP/AVIF/HEIF/JPEG XL file with a CNN.")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("-o", "--output", "dst", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Output image (png, tif, bmp, ppm); - writes PNG to stdout.")
@click.option("--post", default="auto", show_default=True, help="auto, none, a network or a model name.")
@click.option("--ensemble", is_flag=True, help="x8 geometric self-ensemble (8x slower).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for the networks.")
@click.option("-f", "--force", is_flag=True, help="Replace an existing output file.")
@click.pass_obj
@_reports_errors
def restore(obj: Ctx, src, dst, post, ensemble, threads, force):
    """Remove compression artifacts from a standard image file made by any encoder.

    The codec is recognised from the file's bytes; for JPEG the quality is
    estimated from the quantization tables.

    \b
    Example:
      lbcodec restore photo.jpg -o photo-restored.png
    """
    from .imageio import format_for_path, write_image_bytes
    from .restore import restore_image

    fmt = format_for_path(dst)
    _check_paths(src, dst, force)
    _set_threads(threads)
    t0 = time.perf_counter()
    res = restore_image(_read_input(src), post=post, ensemble=ensemble)
    for note in res.notes:
        obj.log(f"note: {note}")
    _write_output(dst, write_image_bytes(res.pixels, None, fmt), force)
    obj.log(f"{dst}: {res.codec} restored with {res.model or 'nothing'}, {time.perf_counter() - t0:.2f} s")


def _csv(kind, choices=None):
    def convert(ctx, param, value):
        if value is None:
            return None
        items = [v.strip() for v in value.split(",") if v.strip()]
        if kind is float:
            try:
                return [float(v) for v in items]
            except ValueError:
                raise click.BadParameter(f"not a list of numbers: {value!r}") from None
        bad = [v for v in items if choices and v not in choices]
        if bad:
            raise click.BadParameter(f"unknown: {', '.join(bad)}; choose from {', '.join(choices)}")
        return items

    return convert


@cli.command(short_help="Rate-distortion and speed benchmark over a folder.")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--codecs", "codec_list", default="jpeg", callback=_csv(str, CODEC_NAMES), show_default=True,
              help="Comma-separated codecs.")
@click.option("--methods", default="none,downsample", callback=_csv(str, METHODS), show_default=True,
              help="Comma-separated pre-methods.")
@click.option("--posts", default="auto", callback=_csv(str), show_default=True,
              help="Comma-separated post-filters (auto, none, names).")
@click.option("--bpp", "bpps", default="0.1,0.2,0.3", callback=_csv(float), show_default=True,
              help="Comma-separated target bpps.")
@click.option("--scale", type=click.IntRange(2, 4), default=None, help="Scale for downsample/comcnn (default 2).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use only the first N images.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("-o", "--output", "out_dir", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Folder for bench.jsonl (resumable), summary.json and summary.md.")
@click.pass_obj
@_reports_errors
def bench(obj: Ctx, folder, codec_list, methods, posts, bpps, scale, limit, jobs, out_dir):
    """Encode and decode every image of FOLDER with every pipeline at every target.

    Writes the raw rows (JSONL, resumable: rerun to continue), a summary as JSON
    (with library versions) and a markdown table.

    \b
    Example:
      lbcodec bench ../shared/data/kodak --codecs jpeg,webp --bpp 0.1,0.2,0.3 -j 2 -o results/kodak
    """
    from .bench import environment, list_images, make_jobs, markdown_table, run_bench, summarize

    images = list_images(folder)[:limit] if limit else list_images(folder)
    if not images:
        raise click.ClickException(f"no images in {folder!r}")
    job_list = make_jobs(images, codec_list, methods, bpps, posts, scale)
    os.makedirs(out_dir, exist_ok=True)
    jsonl = os.path.join(out_dir, "bench.jsonl")
    obj.log(f"bench: {len(job_list)} encodes ({len(images)} images) into {out_dir}")
    show = sys.stderr.isatty() and not obj.quiet
    if show:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), transient=True) as prog:
            task = prog.add_task("bench", total=len(job_list))
            from .bench import load_rows

            prog.update(task, completed=len({r["key"] for r in load_rows(jsonl)} & {j.key for j in job_list}))
            rows = run_bench(job_list, jsonl, jobs, on_row=lambda r: prog.advance(task))
    else:
        rows = run_bench(job_list, jsonl, jobs)
    summary = summarize(rows)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump({"environment": environment(), "folder": folder, "summary": summary}, f, indent=1)
    table = markdown_table(summary)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(table + "\n")
    click.echo(table)


@cli.command(short_help="Train a network from a config file (codec in the loop).")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Override the config's step count.")
@click.option("--runs", "runs_dir", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Checkpoints go to RUNS/<name>/ (resumed when present).")
@click.option("--cache", "cache_dir", default="data-cache", show_default=True, type=click.Path(file_okay=False),
              help="Folder of cached training patches.")
@click.option("--publish/--no-publish", default=True, show_default=True,
              help="Write the best weights and their manifest entry into the registry at the end.")
@click.option("--device", default=None, help="torch device (default: cuda if present, else cpu).")
@click.pass_obj
def train(obj: Ctx, config, steps, runs_dir, cache_dir, publish, device):
    """Train the network that CONFIG describes, with the real codec in the loop.

    Stop it at any moment (Ctrl-C) and run the same command again: it resumes
    from its last checkpoint.

    \b
    Example:
      lbcodec train configs/srcnn-jpeg-ds2.json
    """
    from .training.config import load_config
    from .training.data import get_patches
    from .training.trainer import publish_result
    from .training.trainer import train as run_train

    cfg = load_config(config)
    t0 = time.perf_counter()
    last = [0.0]

    def data_progress(i, n):
        if not obj.quiet and (time.perf_counter() - last[0] > 5 or i == n):
            last[0] = time.perf_counter()
            obj.log(f"degrading training images through {cfg.codec}: {i}/{n}")

    ps = get_patches(cfg, cache_dir, data_progress)
    obj.log(f"{cfg.name}: {len(ps)} patches, {len(ps.val_inputs)} validation images "
            f"({time.perf_counter() - t0:.0f} s)")
    import torch

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")

    def progress(p):
        if obj.quiet:
            return
        if p.val_gain is not None or p.step % 100 == 0:
            val = f"  val {p.val_gain:+.3f} dB (best {p.best_gain:+.3f})" if p.val_gain is not None else ""
            obj.log(f"{cfg.name} step {p.step}/{p.steps}  loss {p.loss:.5f}{val}  {p.elapsed:.0f} s")

    result, best = run_train(cfg, ps, os.path.join(runs_dir, cfg.name), steps, dev, progress)
    obj.log(f"{cfg.name}: best validation gain {result.best_gain:+.3f} dB at step {result.best_step}")
    if publish:
        entry = publish_result(cfg, result, best, ps, dev)
        obj.log(f"published {entry['name']} ({entry['file']}, sha256 {entry['sha256'][:12]}...)")


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="lbcodec")
