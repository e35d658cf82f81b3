"""Rate-distortion and speed benchmark over a set of images (library part of `lbcodec bench`).

Every number comes from the same calls as `lbcodec encode`/`decode` (api.encode_image
and api.decode_image, the CLI's defaults), so a bench row matches a run by hand to the
last digit: same file bytes (``lbc_sha256``), same PSNR. Rows are appended to a JSONL
file as they finish, so a stopped bench resumes where it stopped.

A *pipeline* is codec x method (x scale, x a pre-filter model named with ``pre``) x post-filter;
a *target* is one of

- ``bpp``: rate control to at most that many bits per pixel (whole .lbc file);
- ``quality``: that codec quality, no rate control (the papers' JPEG "QF");
- ``size``: the byte size the *plain* codec (method none, no post-filter) reaches at
  that quality on the same image, as an upper bound (``--quality Q --match-rate``):
  the papers' "same bpp as JPEG at QF q". Target label ``size(qQ)``.

Summaries: mean per pipeline and target over the images; BD-rate / BD-PSNR of each
pipeline against its own plain codec and against plain JPEG (VCEG-M33, through
:func:`lbcodec.metrics.bd_rate`); speed in megapixels per second; peak memory per
pipeline from a separate mode that runs one encode+decode per pipeline in a fresh
process (:func:`measure_memory`).

Interrupts: SIGTERM or Ctrl-C stops a ``jobs > 1`` run at once (queued jobs cancelled, workers
terminated); the rows already written stay in the JSONL file. Test hook: the environment
variable ``LBCODEC_BENCH_DELAY_S`` (seconds, float) makes every job wait that long before its
work starts, so that tests can interrupt a bench in the middle. It is meant for tests only.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass

import numpy as np

from .pipeline import AUTO_METHOD, SCALED_METHODS
from .precision import post_precision

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp")
ENSEMBLE_SUFFIX = "+x8"  # a post name ending in it decodes with the x8 self-ensemble
MIN_BD_POINTS = 4  # a cubic fit needs four points per curve
#: MATLAB rgb2gray weights (ITU-R BT.601 luma, full range) for ``--gray``
GRAY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)
#: test hook: seconds each job waits before its work (see the module docstring)
DELAY_ENV = "LBCODEC_BENCH_DELAY_S"


@dataclass(frozen=True)
class Job:
    image: str  # path
    codec: str
    method: str
    scale: int
    post: str  # auto | none | net or model name, optionally + "+x8"
    target_bpp: float | None = None
    quality: float | None = None
    match_rate: bool = False  # with quality: the plain codec's size at that quality
    gray: bool = False
    subsampling: str = "420"
    tune: str = "psnr"  # the encoder's objective (jpeg, heif, avif); rows before it existed lack it
    pre: str | None = None  # a named pre-filter model (``--pre``); None: the slot's default

    @property
    def target_kind(self) -> str:
        if self.target_bpp is not None:
            return "bpp"
        return "size" if self.match_rate and self.method != "none" else "quality"

    @property
    def target(self) -> str:
        kind = self.target_kind
        if kind == "bpp":
            return f"{self.target_bpp:g}"
        return f"q{self.quality:g}" if kind == "quality" else f"size(q{self.quality:g})"

    @property
    def key(self) -> str:
        k = f"{os.path.basename(self.image)}|{self.codec}|{self.method}|{self.scale}|{self.post}|{self.target}"
        if self.pre:  # only when named: the keys of default-pre rows stay as they were
            k += f"|pre-{self.pre}"
        if self.gray:
            k += "|gray"
        if self.subsampling != "420":
            k += f"|{self.subsampling}"
        if self.tune != "psnr":
            k += f"|tune-{self.tune}"
        else:
            k += _settings_key(self.codec)
        return k


def _settings_key(codec: str) -> str:
    """``|enc-<hash>`` for codecs whose ``tune="psnr"`` settings changed since the first benches, else "".

    Rows made before a change (no such suffix) are then never reused by a resumed bench.
    """
    from .codecs import settings_tag

    tag = settings_tag(codec)
    return f"|enc-{hashlib.sha256(tag.encode()).hexdigest()[:8]}" if tag else ""


# --- jobs ---------------------------------------------------------------------------


def list_images(folder: str) -> list[str]:
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTS))
    return [os.path.join(folder, n) for n in names]


def collect_images(paths: Iterable[str]) -> list[str]:
    """Images of folders (sorted) and image files, in the order given; ValueError on a repeated file name."""
    out: list[str] = []
    for p in paths:
        out.extend(list_images(p) if os.path.isdir(p) else [p])
    seen: dict[str, str] = {}
    for p in out:
        name = os.path.basename(p)
        if name in seen:
            raise ValueError(f"two images named {name!r} ({seen[name]} and {p}): bench them into separate folders")
        seen[name] = p
    return out


def job_scale(scale: int | None, method: str) -> int:
    """The scale a bench job of ``method`` runs at: ``--scale`` for downsample/comcnn/auto, else the default."""
    from .api import default_scale

    return scale if (scale and method in SCALED_METHODS) else default_scale(method)


def check_pre(pre: str, codecs, methods, scale: int | None = None, notes: list[str] | None = None) -> str:
    """The method that pre-filter model ``pre`` serves in a bench of these codecs and methods.

    InputError (one line) for an unknown name, a model that is not a pre-filter, a method not
    among ``methods`` or a scale other than the model's; a model trained for another codec is
    allowed, with a note in ``notes`` (once per codec)."""
    from .errors import InputError
    from .filters import check_pre as check_slot
    from .filters import check_pre_name

    method = check_pre_name(pre).get("slot", {}).get("method")
    if method not in methods:
        raise InputError(f"model {pre} is a {method} pre-filter: it needs {method} in --methods "
                         f"(not {', '.join(methods)})")
    for codec in codecs:
        check_slot(pre, method, codec, job_scale(scale, method), notes if notes is not None else [])
    return method


def make_jobs(
    images: Iterable[str],
    codecs,
    methods,
    bpps=(),
    posts=("auto",),
    scale: int | None = None,
    *,
    qualities=(),
    match_rate: bool = False,
    gray: bool = False,
    subsampling: str = "420",
    tune: str = "psnr",
    pre: str | None = None,
) -> list[Job]:
    """Every pipeline x target x image, pipeline by pipeline (results come in curve by curve).

    ``tune`` applies to the codecs that have the choice (jpeg, heif, avif); the others' jobs get ``psnr``.
    ``pre`` (a pre-filter model) runs in the jobs of the method it serves (:func:`check_pre`: InputError
    if it cannot); the other methods keep their default pre-filter.
    """
    from .codecs import CODECS

    pre_for = check_pre(pre, codecs, methods, scale) if pre is not None else None
    if AUTO_METHOD in methods and qualities and not match_rate:
        from .errors import InputError

        raise InputError("method auto cannot take --quality targets (at one quality the methods' files differ in "
                         "size): use --bpp, or --quality with --match-rate")
    images = list(images)
    targets = [{"target_bpp": float(b)} for b in bpps] + [{"quality": float(q), "match_rate": match_rate}
                                                          for q in qualities]
    return [
        Job(img, c, m, job_scale(scale, m), p, gray=gray, subsampling=subsampling,
            tune=tune if c in CODECS and CODECS[c].has_tune else "psnr", pre=pre if m == pre_for else None, **t)
        for c in codecs
        for m in methods
        for p in posts
        for t in targets
        for img in images
    ]


# --- one row -------------------------------------------------------------------------


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> (H, W, 1) with MATLAB rgb2gray weights, rounded; gray passes."""
    if pixels.shape[2] == 1:
        return pixels
    y = pixels.astype(np.float64) @ np.asarray(GRAY_WEIGHTS)
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)[:, :, None]


def load_job_image(job: Job):
    """(pixels, alpha) as the bench codes them: the file as `lbcodec encode` reads it (gray if asked)."""
    from .imageio import read_image

    with open(job.image, "rb") as f:
        img = read_image(f.read())
    pixels = to_gray(img.pixels) if job.gray else img.pixels
    if 0 in pixels.strides:
        # (H, W, 1) made with [:, :, None] has a zero stride that libjpeg's binding refuses;
        # a copy has the same pixels (lbcodec.imageio returns such arrays for gray files)
        pixels = pixels.copy()
    return pixels, img.alpha


def _split_post(post: str) -> tuple[str, bool]:
    if post.endswith(ENSEMBLE_SUFFIX):
        return post[: -len(ENSEMBLE_SUFFIX)], True
    return post, False


def _row_head(job: Job) -> dict:
    """The job's own fields; ``quality`` is renamed ``target_quality`` (``quality`` is the one found)."""
    head = {"key": job.key, **asdict(job), "image": os.path.basename(job.image), "target": job.target,
            "target_kind": job.target_kind}
    head["target_quality"] = head.pop("quality")
    return head


TIMINGS = ("basic", "full", "none")


def run_job(job: Job, timing: str = "basic") -> dict:
    """Encode + decode one image at one target; the raw numbers of one bench row.

    ``timing``: ``basic`` adds one encode at the quality found (``enc1_s``, the speed of
    a run without rate control); ``full`` also times the pre-filter alone and the bare
    codec on the compact image; ``none`` adds no extra pass (``enc_s`` with every rate
    control probe, and ``dec_s``, are always there).
    """
    from . import zoo
    from .api import decode_image, encode_image
    from .errors import LbcError
    from .metrics import ms_ssim, psnr, psnr_b, rgb_to_y, ssim

    pixels, alpha = load_job_image(job)
    post, ensemble = _split_post(job.post)
    row = _row_head(job)
    common = {"alpha": alpha, "codec": job.codec, "subsampling": job.subsampling, "tune": job.tune}
    coded = {**common, "method": job.method, "scale": job.scale, "post": post, "pre": job.pre}
    budget = None
    try:
        if job.target_kind == "size":
            plain = encode_image(pixels, method="none", quality=job.quality, post="none", **common)
            budget = len(plain.data)
        t0 = time.perf_counter()
        if job.target_kind == "bpp":
            enc = encode_image(pixels, bpp=job.target_bpp, **coded)
        elif job.target_kind == "quality":
            enc = encode_image(pixels, quality=job.quality, **coded)
        else:
            enc = encode_image(pixels, size=budget, **coded)
        t_enc = time.perf_counter() - t0
    except LbcError as exc:
        row.update(ok=False, error=str(exc))
        return row
    t0 = time.perf_counter()
    dec = decode_image(enc.data, ensemble=ensemble)
    t_dec = time.perf_counter() - t0
    h, w, c = pixels.shape
    pipe = enc.header.pipeline
    entry = zoo.entry_by_container_id(pipe.post_id) if pipe.post_id else None
    a, b = pixels, dec.pixels
    ya, yb = rgb_to_y(a), rgb_to_y(b)
    row.update(
        ok=True,
        width=w,
        height=h,
        channels=c,
        bytes=len(enc.data),
        bpp=len(enc.data) * 8 / (w * h),
        budget_bytes=budget,
        quality=enc.quality,
        probes=enc.probes,
        method_used=pipe.method,
        scale_used=pipe.scale,
        pre_model=enc.pre_model,
        post_id=pipe.post_id,
        post_model=entry["name"] if entry else None,
        lbc_sha256=hashlib.sha256(enc.data).hexdigest()[:16],
        notes=list(enc.notes) + list(dec.notes),
        psnr_rgb=psnr(a, b),
        psnr_y=psnr(ya, yb),
        ms_ssim=ms_ssim(a, b),
        ssim_y=ssim(ya, yb),
        psnr_b_y=psnr_b(ya, yb),
        threads=_torch_threads(),
        precision=post_precision(),  # rows of a resumed bench may come from another run
        enc_s=t_enc,
        dec_s=t_dec,
    )
    if timing != "none":
        row.update(_timings(job, pixels, alpha, post, enc, t_enc, full=timing == "full"))
    return row


def _timings(job: Job, pixels, alpha, post: str, enc, t_enc: float, full: bool) -> dict:
    """One-pass encode at the quality found; if ``full``, the pre-filter alone and the bare codec."""
    from .api import encode_image
    from .codecs import get_codec
    from .filters import prefilter

    out = {}
    pipe = enc.header.pipeline  # the method that ran (comcnn falls back to downsample without a model)
    if job.method == AUTO_METHOD:
        # no one-pass encode: auto always codes and decodes every method, so its encode *is* t_enc; the
        # pre-filter and bare-codec times of the winner alone would describe another pipeline
        out["enc1_s"] = t_enc
        return out
    if job.target_kind == "quality":
        out["enc1_s"] = t_enc
    else:
        t0 = time.perf_counter()
        encode_image(pixels, alpha=alpha, codec=job.codec, method=pipe.method, scale=pipe.scale,
                     subsampling=job.subsampling, tune=job.tune, quality=enc.quality, post=post,
                     pre=job.pre if pipe.method == job.method else None)
        out["enc1_s"] = time.perf_counter() - t0
    if not full:
        return out
    t0 = time.perf_counter()
    compact, _ = prefilter(pipe.method, pixels, pipe.scale, job.codec, [],
                           pre=job.pre if pipe.method == job.method else None)
    out["pre_s"] = time.perf_counter() - t0
    coder = get_codec(job.codec)
    t0 = time.perf_counter()
    data = coder.encode(compact, enc.quality, job.subsampling, job.tune)
    out["bare_enc_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    coder.decode(data, channels=compact.shape[2])
    out["bare_dec_s"] = time.perf_counter() - t0
    return out


def _run_job_safe(job: Job, timing: str = "basic") -> dict:
    delay = float(os.environ.get(DELAY_ENV) or 0)
    if delay > 0:
        time.sleep(delay)
    try:
        return run_job(job, timing)
    except Exception as exc:  # noqa: BLE001 - the row records the crash; the bench goes on; a rerun retries it
        return {**_row_head(job), "ok": False, "crashed": True, "error": f"{type(exc).__name__}: {exc}"}


def _torch_threads() -> int | None:
    """torch's intra-op threads: CNN outputs can differ by 1 in a few pixels between thread
    counts, so a row is reproduced by hand with ``lbcodec decode --threads`` this number."""
    try:
        import torch

        return torch.get_num_threads()
    except ImportError:
        return None


def _set_torch_threads(threads: int) -> None:
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def _init_worker(threads: int) -> None:
    """Pool initializer, as lbcodec.batch's: leave Ctrl-C to the parent, and let SIGTERM kill the worker
    (a forked worker inherits the CLI's handler, which raises: the worker would record the row as
    crashed and go on with the next job); ``threads`` torch threads."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _set_torch_threads(threads)


# --- the resumable run ----------------------------------------------------------------


def run_bench(
    jobs: list[Job], out_jsonl: str, n_jobs: int = 1, on_row: Callable[[dict], None] | None = None,
    timing: str = "basic", threads: int | None = None,
) -> list[dict]:
    """Run the ``jobs`` not yet in ``out_jsonl`` (resumable); return the rows of all ``jobs``.

    A row that crashed (an exception other than an lbcodec error, e.g. a killed worker)
    is run again; an unreachable target is a result and is kept. A last line cut short
    by a kill is dropped and its job redone.
    """
    os.makedirs(os.path.dirname(os.path.abspath(out_jsonl)), exist_ok=True)
    _repair_tail(out_jsonl)
    done = {r["key"]: r for r in load_rows(out_jsonl) if not r.get("crashed")}
    todo = [j for j in jobs if j.key not in done]
    # closing: an exception here (SIGTERM, Ctrl-C) stops the pool now, not when the traceback is freed
    with open(out_jsonl, "a") as out, contextlib.closing(_iter_rows(todo, n_jobs, timing, threads)) as rows:
        for row in rows:
            out.write(json.dumps(row, default=_json_default) + "\n")
            out.flush()
            done[row["key"]] = row
            if on_row:
                on_row(row)
    keys = {j.key for j in jobs}
    return [r for k, r in done.items() if k in keys]


def pending(jobs: list[Job], out_jsonl: str) -> int:
    """How many of ``jobs`` a run would still do."""
    done = {r["key"] for r in load_rows(out_jsonl) if not r.get("crashed")}
    return sum(j.key not in done for j in jobs)


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def _repair_tail(path: str) -> None:
    """Cut a last line that a kill left without its newline (its job will be redone)."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        f.seek(data.rfind(b"\n") + 1)
        f.truncate()


def _iter_rows(todo: list[Job], n_jobs: int, timing: str = "basic", threads: int | None = None) -> Iterator[dict]:
    """The rows of ``todo`` as they finish. Interrupted (SIGTERM, Ctrl-C, or the generator closed early),
    the pool is stopped at once: the queued jobs are cancelled and the workers terminated, then the
    exception goes on; the rows already yielded are the caller's."""
    if n_jobs <= 1 or len(todo) <= 1:
        if threads and todo:
            _set_torch_threads(threads)
        for j in todo:
            yield _run_job_safe(j, timing)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from .batch import stop_pool

    threads = threads or max(1, (os.cpu_count() or 1) // n_jobs)
    pool = ProcessPoolExecutor(n_jobs, initializer=_init_worker, initargs=(threads,))
    try:
        futs = [pool.submit(_run_job_safe, j, timing) for j in todo]
        for f in as_completed(futs):
            yield f.result()
    except BaseException:
        stop_pool(pool)
        raise
    pool.shutdown(wait=True)


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


# --- peak memory: one encode + decode per pipeline in a fresh process ----------------------


def pipeline_id(r: dict) -> str:
    """Identity of a pipeline (everything but image and target), from a row, summary entry or Job dict."""
    pid = f"{r['codec']}|{r['method']}|{r['scale']}|{r['post']}"
    if r.get("pre"):
        pid += f"|pre-{r['pre']}"
    if r.get("gray"):
        pid += "|gray"
    if r.get("subsampling", "420") != "420":
        pid += f"|{r['subsampling']}"
    if r.get("tune", "psnr") != "psnr":
        pid += f"|tune-{r['tune']}"
    return pid


def memory_jobs(jobs: list[Job]) -> list[Job]:
    """The first job of each pipeline (its first image at its first target)."""
    seen: dict[str, Job] = {}
    for j in jobs:
        seen.setdefault(pipeline_id(asdict(j)), j)
    return list(seen.values())


def _maxrss_mb(ru_maxrss: int) -> float:
    return ru_maxrss / 2**20 if sys.platform == "darwin" else ru_maxrss / 1024  # bytes on macOS, KiB on Linux


def _memory_probe() -> None:
    """Child side of :func:`measure_memory`: one job from stdin, its peak RSS on stdout (JSON)."""
    import resource

    req = json.loads(sys.stdin.read())
    baseline = req.pop("baseline", False)
    job = Job(**req)
    # what every row needs, loaded before the peak that counts: torch, the metrics, the image
    import torch  # noqa: F401

    from . import api, metrics  # noqa: F401

    load_job_image(job)
    out = {"baseline": baseline}
    if not baseline:
        row = run_job(job, timing="none")
        out.update(ok=row.get("ok"), error=row.get("error"), bytes=row.get("bytes"))
    out["maxrss_mb"] = _maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    print(json.dumps(out))


def _probe(job: Job, baseline: bool, threads: int | None) -> dict:
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the folder holding lbcodec/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run(
        [sys.executable, "-c", "from lbcodec.bench import _memory_probe; _memory_probe()"],
        input=json.dumps({**asdict(job), "baseline": baseline}), capture_output=True, text=True, env=env,
        check=False,
    )
    if proc.returncode != 0:
        return {"ok": False, "error": (proc.stderr.strip().splitlines() or ["probe failed"])[-1], "maxrss_mb": None}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_memory(jobs: list[Job], out_jsonl: str, on_row: Callable[[dict], None] | None = None,
                   threads: int | None = None) -> list[dict]:
    """Peak resident memory (ru_maxrss) of one encode + decode per pipeline, each in a fresh process.

    ``baseline_mb`` is the peak of a process that only imports lbcodec and torch and reads
    the same image; ``peak_mb - baseline_mb`` is what the pipeline itself adds. Resumable
    like the bench (``memory.jsonl``).
    """
    done = {r["pipeline_id"]: r for r in load_rows(out_jsonl)}
    baselines: dict[str, float | None] = {}
    with open(out_jsonl, "a") as out:
        for job in memory_jobs(jobs):
            pid = pipeline_id(asdict(job))
            if pid in done:
                continue
            if job.image not in baselines:
                baselines[job.image] = _probe(job, True, threads).get("maxrss_mb")
            res = _probe(job, False, threads)
            row = {"pipeline_id": pid, "image": os.path.basename(job.image), "target": job.target,
                   "ok": res.get("ok"), "error": res.get("error"), "peak_mb": res.get("maxrss_mb"),
                   "baseline_mb": baselines[job.image], "threads": threads}
            out.write(json.dumps(row) + "\n")
            out.flush()
            done[pid] = row
            if on_row:
                on_row(row)
    return list(done.values())


# --- summaries ----------------------------------------------------------------------------

METRIC_FIELDS = ("psnr_rgb", "psnr_y", "ms_ssim", "ssim_y", "psnr_b_y")
TIME_FIELDS = ("enc_s", "dec_s", "enc1_s", "pre_s", "bare_enc_s", "bare_dec_s")


def _num(x) -> float:
    return math.nan if x is None else float(x)


def _mean(xs: list) -> float:
    """Mean; NaN if any value is missing or NaN (a mean over a subset would mislead)."""
    vals = [_num(x) for x in xs]
    if not vals or any(math.isnan(v) for v in vals):
        return math.nan
    return float(np.mean(vals))


def row_target(r: dict) -> tuple[str, str, float]:
    """(label, kind, value) of a row's target; rows written before quality targets existed are bpp."""
    kind = r.get("target_kind", "bpp")
    value = r["target_bpp"] if kind == "bpp" else r.get("target_quality")
    label = r.get("target") or f"{r['target_bpp']:g}"
    return label, kind, _num(value)


def pipeline_label(codec: str, method: str, scale: int, post: str, post_models=(), gray=False, subsampling="420",
                   methods_used=(), tune="psnr", pre: str | None = None) -> str:
    """Human name of a pipeline: ``jpeg none``, ``jpeg downsample x1/2 + srcnn-jpeg-ds2``; a named
    pre-filter model follows its method: ``jpeg comcnn(comcnn-jpeg) x1/2 + reccnn-jpeg``."""
    s = f"{codec} {method}" + (f"({pre})" if pre else "") + (f" x1/{scale}" if scale > 1 else "")
    used = sorted(set(methods_used) - {method})
    base, ens = _split_post(post)
    models = sorted({m for m in post_models if m})
    if method == AUTO_METHOD:  # each image's file is one of several methods, each with its own post-filter
        s += f" (per image: {'/'.join(sorted(set(methods_used)))})" if methods_used else ""
        if base == "auto":
            models = []
    elif used:
        s += f" (ran as {'/'.join(used)}: no model)"
    if base not in ("none", "auto"):
        s += f" + {'/'.join(models) if models else base + ' (no model: none)'}"
    elif base == "auto" and models:
        s += f" + {'/'.join(models)}"
    if ens:
        s += " x8-ensemble"
    if subsampling != "420":
        s += f" {subsampling[0]}:{subsampling[1]}:{subsampling[2]}"
    if tune != "psnr":
        s += f" [tune {tune}]"
    if gray:
        s += " [gray]"
    return s


def summarize(rows: list[dict]) -> list[dict]:
    """Mean per pipeline and target over images; counts failures (unreachable targets).

    A mean is NaN when any image lacks the value (a failed image, or MS-SSIM on an
    image under 161 pixels), so every number is over the same images.
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((pipeline_id(r), row_target(r)[0]), []).append(r)
    by_pipe: dict[str, list[dict]] = {}
    for r in rows:
        by_pipe.setdefault(pipeline_id(r), []).append(r)
    pipe_info = {}
    for pid, rs in by_pipe.items():
        ok = [r for r in rs if r.get("ok")]
        models = {r.get("post_model") for r in ok}
        used = {r.get("method_used", r["method"]) for r in ok}
        r0 = rs[0]
        ens = _split_post(r0["post"])[1]
        pipe_info[pid] = {
            "pipeline": pipeline_label(r0["codec"], r0["method"], r0["scale"], r0["post"], models,
                                       r0.get("gray", False), r0.get("subsampling", "420"), used,
                                       r0.get("tune", "psnr"), r0.get("pre")),
            "plain": bool(ok) and r0["method"] == "none" and used <= {"none"} and models <= {None} and not ens,
        }
    out = []
    for (pid, label), rs in groups.items():
        r0 = rs[0]
        _, kind, value = row_target(r0)
        ok = [r for r in rs if r.get("ok")]
        s = {
            "pipeline_id": pid, **pipe_info[pid],
            "codec": r0["codec"], "method": r0["method"], "scale": r0["scale"], "post": r0["post"],
            "gray": r0.get("gray", False), "subsampling": r0.get("subsampling", "420"),
            "tune": r0.get("tune", "psnr"), "pre": r0.get("pre"),
            "target": label, "target_kind": kind, "target_value": value,
            "target_bpp": value if kind == "bpp" else None,
            "images": len(rs), "failed": len(rs) - len(ok),
        }
        if ok:
            s.update(
                bpp=_mean([r["bpp"] for r in ok]),
                quality=_mean([r.get("quality") for r in ok]),
                probes=_mean([r.get("probes") for r in ok]),
                megapixels=_mean([r["width"] * r["height"] / 1e6 for r in ok]),
            )
            if kind == "bpp":
                s["max_bpp_over_target"] = max(r["bpp"] / value for r in ok)
                s["shortfall_pct"] = _mean([100 * (1 - r["bpp"] / value) for r in ok])
            for f in METRIC_FIELDS + TIME_FIELDS:
                s[f] = _mean([r.get(f) for r in ok])
        out.append(s)
    kind_order = {"bpp": 0, "quality": 1, "size": 2}
    out.sort(key=lambda s: (s["codec"], not s["plain"], s["pipeline"], kind_order.get(s["target_kind"], 3),
                            s["target_value"]))
    return out


def curves(summary: list[dict], metric: str = "psnr_rgb") -> dict[str, list[tuple[float, float]]]:
    """Per pipeline: (mean bpp, mean metric) at the targets every image reached, sorted by bpp."""
    out: dict[str, list[tuple[float, float]]] = {}
    for s in summary:
        out.setdefault(s["pipeline_id"], [])
        if s["failed"] == 0 and "bpp" in s and not math.isnan(_num(s.get(metric))):
            out[s["pipeline_id"]].append((s["bpp"], s[metric]))
    return {k: sorted(v) for k, v in out.items()}


def _plain_of(summary: list[dict], codec: str, gray: bool, subsampling: str, tune: str = "psnr") -> str | None:
    """pipeline_id of the plain codec: method none and no post-filter (post none preferred over auto)."""
    cands = [s for s in summary if s["plain"] and s["codec"] == codec and s["gray"] == gray
             and s["subsampling"] == subsampling and s.get("tune", "psnr") == tune]
    cands.sort(key=lambda s: (s["post"] != "none",))
    return cands[0]["pipeline_id"] if cands else None


def _bd(anchor: list[tuple[float, float]], test: list[tuple[float, float]], fn) -> float:
    if len(anchor) < MIN_BD_POINTS or len(test) < MIN_BD_POINTS:
        return math.nan
    ra, da = zip(*anchor)
    rb, db = zip(*test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(ra, da, rb, db)
        except (np.linalg.LinAlgError, ValueError):
            return math.nan


def bd_table(summary: list[dict]) -> list[dict]:
    """BD-rate (RGB PSNR and Y PSNR) and BD-PSNR (RGB) of every pipeline against its own
    plain codec and against plain JPEG.

    Each curve is the mean bpp and mean PSNR over the images at each target that every
    image reached; a curve needs at least 4 such points (cubic fit), else the entry is
    NaN. The integral runs over the overlap of the two curves only (VCEG-M33): a
    pipeline whose PSNR range does not overlap its anchor's gets NaN.
    """
    from .metrics import bd_psnr, bd_rate

    c_rgb, c_y = curves(summary, "psnr_rgb"), curves(summary, "psnr_y")
    pipes: dict[str, dict] = {}
    for s in summary:
        pipes.setdefault(s["pipeline_id"], s)
    out = []
    for pid, s in pipes.items():
        for vs_name, anchor in (("own codec", _plain_of(summary, s["codec"], s["gray"], s["subsampling"],
                                                        s.get("tune", "psnr"))),
                                ("jpeg", _plain_of(summary, "jpeg", s["gray"], s["subsampling"], s.get("tune", "psnr")))):
            if anchor is None or anchor == pid or (vs_name == "jpeg" and s["codec"] == "jpeg"):
                continue
            out.append({
                "pipeline_id": pid, "pipeline": s["pipeline"], "vs": vs_name, "anchor_id": anchor,
                "anchor": pipes[anchor]["pipeline"],
                "points": len(c_rgb[pid]), "anchor_points": len(c_rgb[anchor]),
                "bd_rate_rgb": _bd(c_rgb[anchor], c_rgb[pid], bd_rate),
                "bd_rate_y": _bd(c_y[anchor], c_y[pid], bd_rate),
                "bd_psnr_rgb": _bd(c_rgb[anchor], c_rgb[pid], bd_psnr),
            })
    return out


def _rate(mp: list[float], secs: list) -> float:
    s = [_num(x) for x in secs]
    if not s or any(math.isnan(x) for x in s) or sum(s) <= 0:
        return math.nan
    return sum(mp) / sum(s)


def speed_table(rows: list[dict], memory: list[dict] = ()) -> list[dict]:
    """Megapixels (of the original image) per second per pipeline, over all its successful rows,
    beside its plain codec; peak memory from :func:`measure_memory` rows when given."""
    by_pipe: dict[str, list[dict]] = {}
    for r in rows:
        if r.get("ok"):
            by_pipe.setdefault(pipeline_id(r), []).append(r)
    summary = summarize(rows)
    labels = {s["pipeline_id"]: s for s in summary}
    mem = {m["pipeline_id"]: m for m in memory}
    out = []
    for pid, rs in by_pipe.items():
        mp = [r["width"] * r["height"] / 1e6 for r in rs]
        s = labels[pid]
        e = {
            "pipeline_id": pid, "pipeline": s["pipeline"], "plain": s["plain"], "rows": len(rs),
            "enc_mps": _rate(mp, [r.get("enc_s") for r in rs]),
            "enc1_mps": _rate(mp, [r.get("enc1_s") for r in rs]),
            "dec_mps": _rate(mp, [r.get("dec_s") for r in rs]),
            "bare_enc_mps": _rate(mp, [r.get("bare_enc_s") for r in rs]),
            "bare_dec_mps": _rate(mp, [r.get("bare_dec_s") for r in rs]),
        }
        m = mem.get(pid)
        e["peak_mb"] = m.get("peak_mb") if m else None
        e["baseline_mb"] = m.get("baseline_mb") if m else None
        e["plain_id"] = _plain_of(summary, s["codec"], s["gray"], s["subsampling"], s.get("tune", "psnr"))
        out.append(e)
    by_id = {e["pipeline_id"]: e for e in out}
    for e in out:
        p = by_id.get(e["plain_id"])
        for f in ("enc_mps", "enc1_mps", "dec_mps", "peak_mb"):
            e["plain_" + f] = p[f] if p else None
    order = {s["pipeline_id"]: i for i, s in enumerate(summary)}
    out.sort(key=lambda e: order.get(e["pipeline_id"], 0))
    return out


# --- environment and output ---------------------------------------------------------------


def environment() -> dict:
    """Library versions, trained models (sha256 prefixes) and machine facts recorded with every bench."""
    from importlib import metadata

    from . import __version__, zoo
    from .codecs import CODECS

    env = {
        "lbcodec": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "codecs": {n: c.version() for n, c in CODECS.items()},
        # the tune="psnr" encoder settings that changed since the first benches (jpeg, heif, avif)
        "codec_settings": {n: c.settings_tag for n, c in CODECS.items() if c.settings_tag},
        # the post-filters' number format (benches before it existed ran in fp32)
        "precision": post_precision(),
        "packages": {},
    }
    for p in ("numpy", "torch", "imagecodecs", "pillow", "pillow-heif", "pytorch-msssim", "matplotlib"):
        try:
            env["packages"][p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    try:
        env["models"] = [{"name": e["name"], "arch": e["arch"], "sha256": e["sha256"][:12],
                          "container_id": e["container_id"], "slot": e.get("slot", {})} for e in zoo.list_models()]
    except zoo.ZooError as exc:
        env["models"] = {"error": str(exc)}
    return env


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _f(x, fmt: str, na: str = "n/a") -> str:
    x = _num(x)
    return na if math.isnan(x) else format(x, fmt)


def markdown_table(summary: list[dict]) -> str:
    """Mean numbers per pipeline and target (one line each)."""
    head = ("| pipeline | target | n (failed) | mean bpp | shortfall % | RGB PSNR | Y PSNR | MS-SSIM | Y SSIM "
            "| Y PSNR-B | quality | enc s | dec s |")
    lines = [head, "|---|---|---|" + "---:|" * (head.count("|") - 4)]
    for s in summary:
        name = s["pipeline"] + (" *(plain)*" if s["plain"] else "")
        if "bpp" not in s:
            lines.append(f"| {name} | {s['target']} | {s['images']} ({s['failed']}) | unreachable |"
                         + " |" * (head.count("|") - 5))
            continue
        dagger = " †" if s["failed"] else ""
        lines.append(
            f"| {name} | {s['target']} | {s['images']} ({s['failed']}) | {s['bpp']:.4f}{dagger} "
            f"| {_f(s.get('shortfall_pct'), '.1f', '')} | {_f(s['psnr_rgb'], '.2f')} | {_f(s['psnr_y'], '.2f')} "
            f"| {_f(s['ms_ssim'], '.4f')} | {_f(s['ssim_y'], '.4f')} | {_f(s['psnr_b_y'], '.2f')} "
            f"| {_f(s['quality'], '.1f')} | {_f(s['enc_s'], '.3f')} | {_f(s['dec_s'], '.3f')} |"
        )
    if any(s["failed"] and "bpp" in s for s in summary):
        lines += ["", "† mean over the images that reached the target only (the others could not be coded that "
                      "small); plots and BD-rates leave such targets out."]
    return "\n".join(lines)


def missing_plain(summary: list[dict]) -> list[str]:
    """Codecs of the bench that have no plain pipeline (method none, no post-filter) to be measured against."""
    codecs = {s["codec"] for s in summary}
    plain = {s["codec"] for s in summary if s["plain"]}
    return sorted(codecs - plain)


def bd_markdown(bd: list[dict], summary: list[dict] = ()) -> str:
    note = ""
    miss = missing_plain(list(summary))
    if miss:
        note = (f"\n\n_No plain {', '.join(miss)} in this bench (method none with no post-filter): add "
                "`--methods none --posts none,...` to measure against it._")
    if not bd:
        return "_No BD-rate: it needs a plain codec (method none, post none) in the same bench._" + note
    head = "| pipeline | against | BD-rate RGB PSNR | BD-rate Y PSNR | BD-PSNR RGB (dB) | points (anchor) |"
    lines = [head, "|---|---|---:|---:|---:|---:|"]
    for e in bd:
        pct = [_f(e[k], "+.1f") + ("" if math.isnan(e[k]) else " %") for k in ("bd_rate_rgb", "bd_rate_y")]
        lines.append(f"| {e['pipeline']} | {e['anchor']} | {pct[0]} | {pct[1]} | {_f(e['bd_psnr_rgb'], '+.2f')} "
                     f"| {e['points']} ({e['anchor_points']}) |")
    if any(math.isnan(e["bd_rate_rgb"]) for e in bd):
        lines += ["", f"n/a: a curve has fewer than {MIN_BD_POINTS} targets that every image reached (a cubic fit "
                      "needs four), or the two curves' PSNR ranges do not overlap."]
    return "\n".join(lines) + note


def speed_markdown(speed: list[dict]) -> str:
    head = ("| pipeline | encode MP/s (rate control) | encode MP/s (1 pass) | decode MP/s | plain codec: encode "
            "MP/s (1 pass) | plain codec: decode MP/s | peak memory MB (+ over baseline) | plain codec: peak MB |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for e in speed:
        mem = "n/a"
        if e["peak_mb"] is not None:
            mem = f"{e['peak_mb']:.0f}"
            if e.get("baseline_mb") is not None:
                mem += f" (+{e['peak_mb'] - e['baseline_mb']:.0f})"
        plain = e["plain"]
        lines.append(
            f"| {e['pipeline']} | {_f(e['enc_mps'], '.2f')} | {_f(e['enc1_mps'], '.2f')} | {_f(e['dec_mps'], '.2f')} "
            f"| {'(this)' if plain else _f(e['plain_enc1_mps'], '.2f')} "
            f"| {'(this)' if plain else _f(e['plain_dec_mps'], '.2f')} | {mem} "
            f"| {'(this)' if plain else _f(e['plain_peak_mb'], '.0f')} |"
        )
    return "\n".join(lines)


def environment_markdown(env: dict) -> str:
    codecs = ", ".join(f"{k} {v}" for k, v in env.get("codecs", {}).items())
    pkgs = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items())
    models = env.get("models") or []
    m = ", ".join(f"{x['name']} ({x['sha256']})" for x in models) if isinstance(models, list) and models else "none"
    settings = env.get("codec_settings") or {}
    tuned = (" Encoder settings of `--tune psnr`: " + ", ".join(f"{k} {v}" for k, v in settings.items()) + "."
             if settings else "")
    precision = f" Post-filters in {env['precision']}." if env.get("precision") else ""
    return (f"lbcodec {env.get('lbcodec')}, Python {env.get('python')} on {env.get('processor')} "
            f"({env.get('cpu_count')} CPUs). Codecs: {codecs}.{tuned}{precision} Packages: {pkgs}. "
            f"Trained models: {m}.")


def write_outputs(out_dir: str, rows: list[dict], settings: dict, memory: list[dict] = (),
                  anchor_keys: Iterable[str] = (), plots: bool = True) -> dict:
    """summary.json, summary.md, images.csv and the RD plots (PNG) of ``rows`` into ``out_dir``."""
    env = environment()
    summary = summarize(rows)
    bd = bd_table(summary)
    speed = speed_table(rows, memory)
    files = {}
    if plots:
        try:
            from .plots import rd_plots

            files = rd_plots(summary, out_dir, anchor_keys=tuple(anchor_keys),
                             title=settings.get("title") or os.path.basename(os.path.abspath(out_dir)))
        except ImportError:
            files = {}
    doc = {"environment": env, "settings": settings, "images": sorted({r["image"] for r in rows}),
           "summary": summary, "bd": bd, "speed": speed, "memory": list(memory), "plots": files}
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(_nan_to_none(doc), f, indent=1)
    parts = [f"# Bench: {settings.get('title') or out_dir}", "", environment_markdown(env), "",
             "## Rate-distortion (mean over images)", "", markdown_table(summary), "",
             "## BD-rate", "", bd_markdown(bd, summary), "",
             "## Speed (megapixels of the original image per second)", "",
             speed_markdown(speed), ""]
    for name in files.values():
        parts += [f"![{name}]({name})", ""]
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(parts))
    _write_csv(os.path.join(out_dir, "images.csv"), rows)
    return doc


CSV_FIELDS = ("image", "codec", "method", "scale", "post", "gray", "subsampling", "tune", "target", "ok", "width", "height",
              "bytes", "bpp", "quality", "method_used", "pre_model", "post_model", "psnr_rgb", "psnr_y", "ms_ssim", "ssim_y", "psnr_b_y", "enc_s", "dec_s", "threads", "lbc_sha256", "error")


def _write_csv(path: str, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in sorted(rows, key=lambda r: r["key"]):
            w.writerow({k: r.get(k) for k in CSV_FIELDS})


def _nan_to_none(x):
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_nan_to_none(v) for v in x]
    return x
