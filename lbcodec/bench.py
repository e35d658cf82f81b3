"""Rate-distortion and speed benchmark over a folder of images (library part of `lbcodec bench`).

Every number comes from the same calls as `lbcodec encode`/`decode` (api.encode_image
and api.decode_image), so a bench row matches a run by hand to the last digit.
Rows are appended to a JSONL file as they finish, so a stopped bench resumes.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

import numpy as np

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp")


@dataclass(frozen=True)
class Job:
    image: str  # path
    codec: str
    method: str
    scale: int
    post: str
    target_bpp: float

    @property
    def key(self) -> str:
        return f"{os.path.basename(self.image)}|{self.codec}|{self.method}|{self.scale}|{self.post}|{self.target_bpp:g}"


def list_images(folder: str) -> list[str]:
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTS))
    return [os.path.join(folder, n) for n in names]


def make_jobs(images: Iterable[str], codecs, methods, bpps, posts=("auto",), scale: int | None = None) -> list[Job]:
    from .api import default_scale

    return [
        Job(img, c, m, scale if (scale and m in ("downsample", "comcnn")) else default_scale(m), p, float(b))
        for c in codecs
        for m in methods
        for p in posts
        for b in bpps
        for img in images
    ]


def run_job(job: Job, bare_timing: bool = True) -> dict:
    """Encode + decode one image at one target; the raw numbers of one bench row."""
    from .api import decode_image, encode_image
    from .codecs import get_codec
    from .errors import LbcError
    from .imageio import read_image
    from .metrics import ms_ssim, psnr, psnr_y

    with open(job.image, "rb") as f:
        img = read_image(f.read())
    row = {"key": job.key, **asdict(job), "image": os.path.basename(job.image)}
    t0 = time.perf_counter()
    try:
        enc = encode_image(img.pixels, alpha=img.alpha, codec=job.codec, method=job.method, scale=job.scale,
                           bpp=job.target_bpp, post=job.post)
    except LbcError as exc:
        row.update(ok=False, error=str(exc))
        return row
    t_enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    dec = decode_image(enc.data)
    t_dec = time.perf_counter() - t0
    h, w = img.pixels.shape[:2]
    row.update(
        ok=True,
        width=w,
        height=h,
        bytes=len(enc.data),
        bpp=len(enc.data) * 8 / (w * h),
        quality=enc.quality,
        probes=enc.probes,
        post_id=enc.header.pipeline.post_id,
        psnr_rgb=psnr(img.pixels, dec.pixels),
        psnr_y=psnr_y(img.pixels, dec.pixels),
        ms_ssim=ms_ssim(img.pixels, dec.pixels),
        enc_s=t_enc,
        dec_s=t_dec,
    )
    if bare_timing:
        # the same quality through the pipeline once, and the bare codec call on the compact image
        t0 = time.perf_counter()
        again = encode_image(img.pixels, alpha=img.alpha, codec=job.codec, method=job.method, scale=job.scale,
                             quality=enc.quality, post=job.post)
        decode_image(again.data)
        row["pipeline_q_s"] = time.perf_counter() - t0
        from .filters import prefilter

        compact, _ = prefilter(job.method, img.pixels, job.scale, job.codec, [])
        coder = get_codec(job.codec)
        t0 = time.perf_counter()
        coder.decode(coder.encode(compact, enc.quality, "420"), channels=compact.shape[2])
        row["bare_codec_s"] = time.perf_counter() - t0
    return row


def _run_job_safe(job: Job) -> dict:
    try:
        return run_job(job)
    except Exception as exc:  # a bench row records the failure; the bench goes on
        return {"key": job.key, **asdict(job), "image": os.path.basename(job.image), "ok": False,
                "error": f"{type(exc).__name__}: {exc}"}


def _init_worker(threads: int) -> None:
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def run_bench(
    jobs: list[Job], out_jsonl: str, n_jobs: int = 1, on_row: Callable[[dict], None] | None = None
) -> list[dict]:
    """Run ``jobs`` not yet in ``out_jsonl`` (resumable); return every row of the file."""
    done = {r["key"]: r for r in load_rows(out_jsonl)}
    todo = [j for j in jobs if j.key not in done]
    os.makedirs(os.path.dirname(os.path.abspath(out_jsonl)), exist_ok=True)
    with open(out_jsonl, "a") as out:
        for row in _iter_rows(todo, n_jobs):
            out.write(json.dumps(row) + "\n")
            out.flush()
            done[row["key"]] = row
            if on_row:
                on_row(row)
    keys = {j.key for j in jobs}
    return [r for k, r in done.items() if k in keys]


def _iter_rows(todo: list[Job], n_jobs: int) -> Iterator[dict]:
    if n_jobs <= 1:
        for j in todo:
            yield _run_job_safe(j)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // n_jobs)
    with ProcessPoolExecutor(n_jobs, initializer=_init_worker, initargs=(threads,)) as pool:
        futs = [pool.submit(_run_job_safe, j) for j in todo]
        for f in as_completed(futs):
            yield f.result()


def load_rows(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut by a kill: that job reruns
    return rows


def _mean(xs: list[float]) -> float:
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return float(np.mean(xs)) if xs else math.nan


def summarize(rows: list[dict]) -> list[dict]:
    """Mean per pipeline and target over images; counts failures (unreachable targets)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["codec"], r["method"], r["scale"], r["post"], r["target_bpp"]), []).append(r)
    out = []
    for (codec, method, scale, post, target), rs in sorted(groups.items()):
        ok = [r for r in rs if r.get("ok")]
        s = {
            "codec": codec, "method": method, "scale": scale, "post": post, "target_bpp": target,
            "images": len(rs), "failed": len(rs) - len(ok),
        }
        if ok:
            s.update(
                bpp=_mean([r["bpp"] for r in ok]),
                max_bpp_over_target=max(r["bpp"] / target for r in ok),
                shortfall_pct=_mean([100 * (1 - r["bpp"] / target) for r in ok]),
                psnr_rgb=_mean([r["psnr_rgb"] for r in ok]),
                psnr_y=_mean([r["psnr_y"] for r in ok]),
                ms_ssim=_mean([r["ms_ssim"] for r in ok]),
                enc_s=_mean([r["enc_s"] for r in ok]),
                dec_s=_mean([r["dec_s"] for r in ok]),
                probes=_mean([r["probes"] for r in ok]),
                pipeline_q_s=_mean([r.get("pipeline_q_s") for r in ok]),
                bare_codec_s=_mean([r.get("bare_codec_s") for r in ok]),
            )
        out.append(s)
    return out


def environment() -> dict:
    """Library versions and machine facts recorded with every bench."""
    from . import __version__
    from .codecs import CODECS

    env = {
        "lbcodec": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "codecs": {n: c.version() for n, c in CODECS.items()},
    }
    try:
        import torch

        env["torch"] = torch.__version__
    except ImportError:
        pass
    return env


def markdown_table(summary: list[dict]) -> str:
    head = ("| codec | method | post | target bpp | n (failed) | mean bpp | shortfall % | RGB PSNR | Y PSNR "
            "| MS-SSIM | enc s | dec s | probes | q-pipeline s | bare codec s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for s in summary:
        meth = s["method"] + (f" x1/{s['scale']}" if s["scale"] > 1 else "")
        if "bpp" not in s:
            lines.append(f"| {s['codec']} | {meth} | {s['post']} | {s['target_bpp']:g} | {s['images']} ({s['failed']}) "
                         "| unreachable | | | | | | | | | |")
            continue
        lines.append(
            f"| {s['codec']} | {meth} | {s['post']} | {s['target_bpp']:g} | {s['images']} ({s['failed']}) "
            f"| {s['bpp']:.4f} | {s['shortfall_pct']:.1f} | {s['psnr_rgb']:.2f} | {s['psnr_y']:.2f} "
            f"| {s['ms_ssim']:.4f} | {s['enc_s']:.3f} | {s['dec_s']:.3f} | {s['probes']:.1f} "
            f"| {s['pipeline_q_s']:.3f} | {s['bare_codec_s']:.3f} |"
        )
    return "\n".join(lines)
