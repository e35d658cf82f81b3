"""Rate-distortion plots (PNG) of a bench summary, with published anchors as reference curves.

matplotlib is imported only here and only when a plot is drawn; figures are built with
``matplotlib.figure.Figure`` and the Agg canvas (no pyplot, no display, no global
backend switch). One curve per pipeline: colour by codec, the plain codecs dashed;
published anchors are grey/black, thin, and labelled "published, not measured here".
PNGs are about 800 px wide and re-saved as optimised palette PNGs (small enough to
commit).
"""

from __future__ import annotations

import math
import os

from .anchors import CAVEAT, get

CODEC_COLORS = {
    "jpeg": "#1f77b4",
    "jpeg2000": "#ff7f0e",
    "webp": "#2ca02c",
    "avif": "#d62728",
    "heif": "#9467bd",
    "jpegxl": "#8c564b",
}
METHOD_MARKERS = {"none": "o", "downsample": "s", "comcnn": "^", "modifynet": "D"}
ANCHOR_STYLES = (("#000000", "x"), ("#555555", "+"), ("#888888", "1"), ("#333333", "*"), ("#aaaaaa", "2"))
AXIS_LABELS = {"psnr_rgb": "RGB PSNR (dB)", "psnr_y": "Y PSNR (dB)", "ms_ssim": "MS-SSIM (RGB)"}


def _curve_points(summary: list[dict], metric: str) -> dict[str, dict]:
    """pipeline_id -> {label, codec, method, plain, points[(bpp, value)]} (targets every image reached)."""
    out: dict[str, dict] = {}
    for s in summary:
        c = out.setdefault(s["pipeline_id"], {"label": s["pipeline"], "codec": s["codec"], "method": s["method"],
                                              "plain": s["plain"], "points": []})
        v = s.get(metric)
        if s["failed"] == 0 and "bpp" in s and v is not None and not math.isnan(v):
            c["points"].append((s["bpp"], v))
    for c in out.values():
        c["points"].sort()
    return {k: v for k, v in out.items() if v["points"]}


def _clip_curve(pts: list[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    """The part of a polyline inside lo <= x <= hi, with interpolated end points at the edges."""
    import numpy as np

    pts = sorted(pts)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    a, b = max(lo, xs[0]), min(hi, xs[-1])
    if a >= b:
        return []
    inner = [(x, y) for x, y in pts if a < x < b]
    return [(a, float(np.interp(a, xs, ys)))] + inner + [(b, float(np.interp(b, xs, ys)))]


def rd_plot(summary: list[dict], metric: str, path: str, title: str = "", anchor_keys=(),
            width_px: int = 800) -> str | None:
    """One RD plot of ``metric`` against mean bpp; returns ``path``, or None when there is nothing to draw."""
    from matplotlib.figure import Figure

    curves = _curve_points(summary, metric)
    if not curves:
        return None
    xmax = max(p[0] for c in curves.values() for p in c["points"])
    xmin = min(p[0] for c in curves.values() for p in c["points"])
    lo, hi = max(0.0, xmin * 0.85), xmax * 1.08
    field = {"psnr_rgb": "psnr_rgb", "ms_ssim": "ms_ssim_rgb"}.get(metric)
    refs = []
    for key, (color, marker) in zip(anchor_keys, ANCHOR_STYLES * 3):
        a = get(key)
        ys = getattr(a, field, None) if field else None
        if ys:
            pts = _clip_curve(list(zip(a.bpp, ys)), lo, hi)
            if len(pts) >= 2:
                refs.append((a, color, marker, pts))
    n_entries = len(curves) + len(refs)
    rows = math.ceil(n_entries / 2)
    dpi = 100
    height = width_px * 0.5 + 16 * rows + 40
    fig = Figure(figsize=(width_px / dpi, height / dpi), dpi=dpi)
    ax = fig.subplots()
    ys_all = []
    for c in curves.values():
        xs, ys = zip(*c["points"])
        ys_all += ys
        ax.plot(xs, ys, color=CODEC_COLORS.get(c["codec"], "#17becf"), linestyle="--" if c["plain"] else "-",
                marker=METHOD_MARKERS.get(c["method"], "v"), markersize=4, linewidth=1.1 if c["plain"] else 1.5,
                label=c["label"] + (" (plain)" if c["plain"] else ""))
    for a, color, marker, pts in refs:
        px, py = zip(*pts)
        ys_all += py
        published = set(a.bpp)
        marks = [i for i, x in enumerate(px) if x in published]  # not the interpolated end points
        ax.plot(px, py, color=color, linestyle=":", linewidth=1.0, marker=marker, markersize=5, markevery=marks,
                label=f"{a.label} ({CAVEAT})")
    span = max(ys_all) - min(ys_all) or 1.0
    ax.set_xlim(lo, hi)
    ax.set_ylim(min(ys_all) - 0.05 * span, max(ys_all) + 0.05 * span)
    ax.set_xlabel("bits per pixel (whole file)")
    ax.set_ylabel(AXIS_LABELS.get(metric, metric))
    ax.grid(True, linewidth=0.4, alpha=0.6)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    optimise_png(path)
    return path


def optimise_png(path: str, colors: int = 96) -> None:
    """Re-save a plot as an optimised palette PNG (line plots need few colours)."""
    from PIL import Image

    with Image.open(path) as im:
        pal = im.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    pal.save(path, optimize=True)


def rd_plots(summary: list[dict], out_dir: str, anchor_keys=(), title: str = "", prefix: str = "rd") -> dict[str, str]:
    """PSNR-bpp and MS-SSIM-bpp plots into ``out_dir``; {metric: file name} of those drawn."""
    files = {}
    for metric, suffix in (("psnr_rgb", "psnr"), ("ms_ssim", "msssim")):
        name = f"{prefix}_{suffix}.png" if prefix else f"{suffix}.png"
        t = f"{title}: {AXIS_LABELS[metric]} vs bpp" if title else ""
        if rd_plot(summary, metric, os.path.join(out_dir, name), t, anchor_keys):
            files[metric] = name
    return files
