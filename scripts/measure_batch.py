"""Issue 6 measurement: batch throughput with --jobs 2 against --jobs 1, and peak memory per worker.

    python scripts/measure_batch.py ../shared/data/kodak [--codec jpeg --method none --bpp 0.2]

Runs `lbcodec encode DIR -o OUT/ ...` then `lbcodec decode OUT/ -o DEC/` (the decode
applies the default post-filter recorded by encode), each in a fresh process, three ways:
--jobs 1 (torch on all cores), --jobs 1 --threads 1 (one core's worth of work: what a
worker of --jobs 2 gets) and --jobs 2, and reports
wall seconds, images per second, and the largest RSS of any process of the run
(getrusage(RUSAGE_CHILDREN) covers the workers, which the CLI waits for).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile


def run(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB of the largest process) of one lbcodec command in a fresh process."""
    code = ("import resource, subprocess, sys, time; t=time.perf_counter();"
            "r=subprocess.run([sys.executable, '-m', 'lbcodec', *sys.argv[1:]]);"
            "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    secs, rss, rc = out.stdout.split()
    if rc != "0":
        raise SystemExit(f"lbcodec {' '.join(args)} failed: {out.stderr[-500:]}")
    return float(secs), int(rss) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--codec", default="jpeg")
    ap.add_argument("--method", default="none")
    ap.add_argument("--bpp", default="0.3")
    args = ap.parse_args()
    n = len([f for f in os.listdir(args.folder) if f.lower().endswith(".png")])
    rows = []
    # jobs 1 with its default threads (all cores for torch), jobs 1 held to one thread, jobs 2
    for jobs, threads in ((1, None), (1, 1), (2, None)):
        extra = ["--threads", str(threads)] if threads else []
        tmp = tempfile.mkdtemp(prefix="lbcodec-batch-")
        try:
            enc = run(["-q", "encode", args.folder, "-o", f"{tmp}/lbc/", "--bpp", args.bpp, "-c", args.codec,
                       "-m", args.method, "--jobs", str(jobs), *extra])
            dec = run(["-q", "decode", f"{tmp}/lbc/", "-o", f"{tmp}/png/", "--jobs", str(jobs), *extra])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        rows.append({"jobs": jobs, "threads": threads or "default", "images": n, "encode_s": enc[0],
                     "decode_s": dec[0], "images_per_s": n / (enc[0] + dec[0]), "peak_rss_mb_encode": enc[1],
                     "peak_rss_mb_decode": dec[1]})
        print(json.dumps(rows[-1]), flush=True)
    base, one, two = rows
    print(json.dumps({
        "speedup_jobs2": two["images_per_s"] / base["images_per_s"],
        "speedup_jobs2_vs_jobs1_one_thread": two["images_per_s"] / one["images_per_s"],
        "encode_speedup_jobs2": base["encode_s"] / two["encode_s"],
        "decode_speedup_jobs2": base["decode_s"] / two["decode_s"],
    }))


if __name__ == "__main__":
    main()
