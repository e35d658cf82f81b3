#!/usr/bin/env bash
# The Kodak benches behind issue 4's targets (docs/results.md): every trained slot against
# its plain pipeline, same rate control for every row. Resumable; folder names as in the docs.
# Posts are named rather than `auto` wherever a slot's default has changed since its bench ran, so
# a rerun measures the models its section reports. `auto` remains where the slot has one model
# (arcnn, j2k-none, ds2-codecs, ds2-j2k), in kodak-ds2-posts' last column (then reccnn-jpeg-ds2-large,
# now shufflecnn-jpeg-ds2-long2) and for kodak-jpeg-comcnn (then srcnn-jpeg-ds2 and reccnn-jpeg, now
# reccnn-jpeg-ds2-paper-qt and reccnn-jpeg-comcnn-paper-qt); the benches of paper 002's ComCNN name it
# with --pre comcnn-jpeg since comcnn-jpeg-rate became the default;
# the bench's row labels always name the model that `auto` resolved to.
#   bash scripts/bench_models.sh            (RESULTS=results, KODAK=../shared/data/kodak, JOBS=1)
set -euo pipefail
cd "$(dirname "$0")/.."
KODAK=${KODAK:-../shared/data/kodak}
RESULTS=${RESULTS:-results}
JOBS=${JOBS:-1}
# a bench that names a model no longer shipped (its config moved to configs/experiments/ to keep
# the weights under 40 MB) is skipped with a note, so its folder (and its section of results.md)
# keeps every row as measured; train that config into a copy of the weights folder
# (LBCODEC_WEIGHTS_DIR) to rerun it
posts_shipped() { python - "$@" <<'PY'
import sys
from lbcodec import zoo
from lbcodec.filters import POST_NETS
args = sys.argv[1:]
i = args.index("--posts")
known = {"auto", "none", *POST_NETS} | {e["name"] for e in zoo.list_models()}
keep, gone = [], []
for p in args[i + 1].split(","):
    (keep if p.removesuffix("+x8") in known else gone).append(p)
if "--pre" in args and args[args.index("--pre") + 1] not in known:
    gone.append(args[args.index("--pre") + 1])
if gone:
    print(f"   skipped: {', '.join(gone)} not shipped (train configs/experiments/<name>.json to rerun)",
          file=sys.stderr)
    sys.exit(3)
PY
}
b() {
  local out=$1; shift
  echo "== $out" >&2
  posts_shipped "$@" || { [ $? -eq 3 ] && return 0; exit 1; }
  # the defaults first, so that a bench's own --timing (the speed benches) overrides them
  python -m lbcodec -q bench "$KODAK" -j "$JOBS" --timing none "$@" -o "$RESULTS/$out" >/dev/null
}
b kodak-srcnn        --codecs jpeg     --methods downsample        --posts srcnn-jpeg-ds2,none --bpp 0.2
b kodak-arcnn        --codecs jpeg     --methods none              --posts auto,none --bpp 0.3
b kodak-jpeg-comcnn  --codecs jpeg     --methods comcnn,downsample --pre comcnn-jpeg --posts auto --bpp 0.1,0.2,0.3
b kodak-heif-att     --codecs heif     --methods none              --posts attention-heif-none,none --bpp 0.15
b kodak-avif-none    --codecs avif     --methods none              --posts attention-avif-none,none --bpp 0.2
b kodak-webp-none    --codecs webp     --methods none              --posts attention-webp-none,none --bpp 0.2
b kodak-jpegxl-none  --codecs jpegxl   --methods none              --posts attention-jpegxl-none,none --bpp 0.3
b kodak-j2k-none     --codecs jpeg2000 --methods none              --posts auto,none --bpp 0.1
b kodak-ds2-posts    --codecs jpeg     --methods downsample        --posts srcnn-jpeg-ds2,reccnn-jpeg-ds2,attention-jpeg-ds2,none,reccnn-jpeg-ds2-large,reccnn-jpeg-ds2+x8,auto --bpp 0.2
b kodak-ds2-codecs   --codecs webp,avif,jpegxl,heif --methods downsample --posts auto,none --bpp 0.1,0.2
b kodak-ds2-j2k      --codecs jpeg2000 --methods downsample        --posts auto,none --bpp 0.1,0.2
b kodak-heif-none-large --codecs heif  --methods none              --posts reccnn-heif-none-large,attention-heif-none,none --bpp 0.15
b kodak-avif-none-large --codecs avif  --methods none              --posts reccnn-avif-none-large,attention-avif-none,none --bpp 0.2
b kodak-webp-none-large --codecs webp  --methods none              --posts reccnn-webp-none-large,attention-webp-none,none --bpp 0.2
b kodak-jpegxl-none-large --codecs jpegxl --methods none           --posts reccnn-jpegxl-none-large,attention-jpegxl-none,none --bpp 0.3
b kodak-shuffle-jpeg-ds2 --codecs jpeg --methods downsample        --posts shufflecnn-jpeg-ds2,reccnn-jpeg-ds2-large --bpp 0.1,0.2,0.3
b kodak-shuffle-heif-none --codecs heif --methods none             --posts shufflecnn-heif-none,reccnn-heif-none-large,none --bpp 0.15
b kodak-shuffle-jpeg-ds2-long --codecs jpeg --methods downsample   --posts shufflecnn-jpeg-ds2-long,shufflecnn-jpeg-ds2-long+x8 --bpp 0.1,0.2,0.3
b kodak-shuffle-webp-none --codecs webp --methods none             --posts shufflecnn-webp-none,reccnn-webp-none-large,none --bpp 0.2
b kodak-shuffle-webp-none-long --codecs webp --methods none        --posts shufflecnn-webp-none-long,shufflecnn-webp-none-long+x8 --bpp 0.2
b kodak-shuffle-webp-none-long2 --codecs webp --methods none       --posts shufflecnn-webp-none-long2,shufflecnn-webp-none-long2+x8 --bpp 0.2
b kodak-shuffle-jpeg-ds2-long2 --codecs jpeg --methods downsample  --posts shufflecnn-jpeg-ds2-long2,shufflecnn-jpeg-ds2-long2+x8 --bpp 0.1,0.2,0.3
b kodak-shuffle-webp-none-long3 --codecs webp --methods none       --posts shufflecnn-webp-none-long3,shufflecnn-webp-none-long3+x8 --bpp 0.2
b kodak-shuffle-webp-none-long4 --codecs webp --methods none       --posts shufflecnn-webp-none-long4,shufflecnn-webp-none-long4+x8 --bpp 0.2
b kodak-shuffle-webp-none-long5 --codecs webp --methods none       --posts shufflecnn-webp-none-long5,shufflecnn-webp-none-long5+x8 --bpp 0.2
b kodak-shuffle-webp-none-long6 --codecs webp --methods none       --posts shufflecnn-webp-none-long6,shufflecnn-webp-none-long6+x8 --bpp 0.2
b kodak-shuffle-jpegxl-none --codecs jpegxl --methods none         --posts shufflecnn-jpegxl-none,none --bpp 0.3
b kodak-shuffle-avif-none --codecs avif --methods none             --posts shufflecnn-avif-none-mse,shufflecnn-avif-none-mse+x8,none --bpp 0.2
b kodak-shuffle-heif-none-mse --codecs heif --methods none         --posts shufflecnn-heif-none-mse,shufflecnn-heif-none-mse+x8,none --bpp 0.15
b kodak-heif-att-msssim --codecs heif --methods none               --posts attention-heif-none-msssim,attention-heif-none,none --bpp 0.15
b kodak-shuffle-jpegxl-none-long --codecs jpegxl --methods none  --posts shufflecnn-jpegxl-none-long,shufflecnn-jpegxl-none-long+x8,none --bpp 0.3
b kodak-shuffle-avif-none-long --codecs avif --methods none       --posts shufflecnn-avif-none-long,shufflecnn-avif-none-long+x8,none --bpp 0.2
b kodak-shuffle-heif-none-long2 --codecs heif --methods none      --posts shufflecnn-heif-none-long2,shufflecnn-heif-none-long2+x8,none --bpp 0.15
b kodak-modifynet   --codecs jpeg     --methods modifynet,none    --posts none --bpp 0.2,0.3,0.4
b kodak-j2k-comcnn  --codecs jpeg2000 --methods comcnn,downsample,none --posts auto,none --bpp 0.1,0.2
b kodak-heif-comcnn --codecs heif     --methods comcnn,downsample,none --posts auto,none --bpp 0.1,0.15
b kodak-shuffle-j2k-none --codecs jpeg2000 --methods none     --posts shufflecnn-jpeg2000-none,shufflecnn-jpeg2000-none+x8,arcnn-jpeg2000-none,none --bpp 0.1,0.2,0.3
b kodak-shuffle-j2k-ds2 --codecs jpeg2000 --methods downsample --posts shufflecnn-jpeg2000-ds2,shufflecnn-jpeg2000-ds2+x8,reccnn-jpeg2000-ds2,none --bpp 0.05,0.1,0.2
b kodak-shuffle-j2k-none-long --codecs jpeg2000 --methods none --posts shufflecnn-jpeg2000-none-long,shufflecnn-jpeg2000-none-long+x8,shufflecnn-jpeg2000-none --bpp 0.1,0.2,0.3
b kodak-shuffle-jpeg-comcnn --codecs jpeg --methods comcnn --pre comcnn-jpeg --posts shufflecnn-jpeg-comcnn,shufflecnn-jpeg-comcnn+x8,reccnn-jpeg --bpp 0.1,0.2,0.3
b kodak-shuffle-avif-none-long2 --codecs avif --methods none --posts shufflecnn-avif-none-long2,shufflecnn-avif-none-long2+x8,shufflecnn-avif-none-long,none --bpp 0.2
b kodak-shuffle-jpegxl-none-long2 --codecs jpegxl --methods none --posts shufflecnn-jpegxl-none-long2,shufflecnn-jpegxl-none-long2+x8,shufflecnn-jpegxl-none-long,none --bpp 0.3
b kodak-shuffle-heif-none-long3 --codecs heif --methods none --posts shufflecnn-heif-none-long3,shufflecnn-heif-none-long3+x8,shufflecnn-heif-none-long2,none --bpp 0.15
b kodak-shuffle-jpegxl-none-long3 --codecs jpegxl --methods none --posts shufflecnn-jpegxl-none-long3,shufflecnn-jpegxl-none-long3+x8,shufflecnn-jpegxl-none-long2,none --bpp 0.3
# encoders tuned for PSNR (heif: x265 aq 0.2 + chroma QP offsets; avif: libaom tune=psnr, speed 4) against the libraries' SSIM tuning
b kodak-tune-psnr --codecs heif,avif --methods none --posts none --bpp 0.1,0.15,0.2,0.3
b kodak-tune-ssim --codecs heif,avif --methods none --posts none --bpp 0.1,0.15,0.2,0.3 --tune ssim
b kodak-heif-chroma --codecs heif --methods none --posts shufflecnn-heif-none-chroma,shufflecnn-heif-none-chroma+x8,shufflecnn-heif-none-psnr,shufflecnn-heif-none-long3,none --bpp 0.15
b kodak-speed-tune --codecs avif,heif --methods none --posts none --bpp 0.2 --limit 4 --timing full --threads 2
b kodak-heif-comcnn-tuned --codecs heif --methods comcnn,downsample,none --posts auto,none --bpp 0.1,0.15
b kodak-avif-psnr-s4 --codecs avif --methods none --posts shufflecnn-avif-none-long2,shufflecnn-avif-none-long2+x8,none --bpp 0.2
# paper-size RecCNNs (20 x 64) trained on a lent H100 from patch packs (lbcodec train --patches)
b kodak-gpu-jpeg-ds2 --codecs jpeg --methods downsample --posts reccnn-jpeg-ds2-paper,shufflecnn-jpeg-ds2-long2,none --bpp 0.1,0.2,0.3
b kodak-gpu-jpeg-comcnn --codecs jpeg --methods comcnn --pre comcnn-jpeg --posts reccnn-jpeg-comcnn-paper,reccnn-jpeg --bpp 0.1,0.2,0.3
b kodak-gpu-jpegxl --codecs jpegxl --methods none --posts reccnn-jpegxl-none-paper2,reccnn-jpegxl-none-paper2+x8,reccnn-jpegxl-none-paper,shufflecnn-jpegxl-none-long3,none --bpp 0.3
# a third JPEG XL RecCNN stage on four seeds' patches (CPU): better on validation, not on Kodak; not shipped
b kodak-jpegxl-paper4 --codecs jpegxl --methods none --posts reccnn-jpegxl-none-paper4,reccnn-jpegxl-none-paper4+x8,reccnn-jpegxl-none-paper2,none --bpp 0.3
# JPEG quantization tables for PSNR (--tune psnr, the default since they landed) against the standard tables, and the -qt fine-tunes
b kodak-jpeg-tables --codecs jpeg --methods none,downsample --posts none --bpp 0.1,0.2,0.3
b kodak-jpeg-tables-ssim --codecs jpeg --methods none,downsample --posts none --bpp 0.1,0.2,0.3 --tune ssim
b kodak-jpeg-qt-none --codecs jpeg --methods none --posts arcnn-jpeg-none-qt2,arcnn-jpeg-none-qt,arcnn-jpeg-none,none --bpp 0.2,0.3
b kodak-jpeg-qt-ds2 --codecs jpeg --methods downsample --posts reccnn-jpeg-ds2-paper-qt,reccnn-jpeg-ds2-paper,srcnn-jpeg-ds2-qt,srcnn-jpeg-ds2 --bpp 0.1,0.2,0.3
b kodak-jpeg-qt-comcnn --codecs jpeg --methods comcnn --pre comcnn-jpeg --posts reccnn-jpeg-comcnn-paper-qt,reccnn-jpeg-comcnn-paper --bpp 0.1,0.2,0.3
b kodak-jpeg-qt-modifynet --codecs jpeg --methods modifynet,none --posts none --bpp 0.2,0.3,0.4
# the paper-size RecCNN in the jpeg none slot (from the downsample one, on the PSNR tables' decodes; the default there now)
b kodak-jpeg-none-reccnn --codecs jpeg --methods none --posts reccnn-jpeg-none-paper,arcnn-jpeg-none-qt2,none --bpp 0.2,0.3
# the paper-size RecCNN for HEIF none (the default there now; first measured unshipped, 1,200 steps, with LBCODEC_WEIGHTS_DIR on a copy of the registry)
b kodak-heif-none-reccnn --codecs heif --methods none --posts reccnn-heif-none-paper,shufflecnn-heif-none-chroma,none --bpp 0.1,0.15,0.2
# the paper-size RecCNN for WebP none (from the JPEG XL one, on this CPU; the default there now)
b kodak-webp-none-reccnn --codecs webp --methods none --posts reccnn-webp-none-paper,shufflecnn-webp-none-long6,none --bpp 0.1,0.2,0.3
# the paper-size RecCNN for AVIF none (from the JPEG XL one, on this CPU; the default there now)
b kodak-avif-none-reccnn --codecs avif --methods none --posts reccnn-avif-none-paper,shufflecnn-avif-none-long2,none --bpp 0.2
# the jpeg none default with the x8 self-ensemble, toward WebP's 28.0 dB at 0.2 bpp
b kodak-jpeg-none-reccnn-x8 --codecs jpeg --methods none --posts reccnn-jpeg-none-paper,reccnn-jpeg-none-paper+x8 --bpp 0.2
# the jpeg none RecCNN's second stage on 96 px patches (the default there now)
b kodak-jpeg-none-reccnn2 --codecs jpeg --methods none --posts reccnn-jpeg-none-paper2,reccnn-jpeg-none-paper,none --bpp 0.2,0.3
# the paper-size RecCNN for JPEG 2000 none (from the JPEG XL one, on this CPU; the default there now)
b kodak-j2k-none-reccnn --codecs jpeg2000 --methods none --posts reccnn-jpeg2000-none-paper,shufflecnn-jpeg2000-none-long,none --bpp 0.1,0.2
# the same with the x8 self-ensemble, toward WebP's 28.0 dB at 0.2 bpp
b kodak-jpeg-none-reccnn2-x8 --codecs jpeg --methods none --posts reccnn-jpeg-none-paper2,reccnn-jpeg-none-paper2+x8 --bpp 0.2
# the AVIF none RecCNN's second stage (withdrawn: no better on Kodak; plain AVIF at 0.2 bpp is in kodak-avif-none-reccnn; rerun after lbcodec train configs/experiments/reccnn-avif-none-paper2.json)
b kodak-avif-none-reccnn2 --codecs avif --methods none --posts reccnn-avif-none-paper2,reccnn-avif-none-paper --bpp 0.2
# paper 003's attention net, a third stage (MAE + 0.05 MS-SSIM) on decodes of the PSNR-tuned HEIF encoder
b kodak-heif-att-msssim2 --codecs heif --methods none --posts attention-heif-none-msssim2,attention-heif-none-msssim,none --bpp 0.15
# paper 003's attention net grown (Net2Net) from 4 x 24 to 8 x 48 and trained on (MAE + 0.05 MS-SSIM)
b kodak-heif-att-8x48 --codecs heif --methods none --posts attention-heif-none-8x48,attention-heif-none-msssim2,shufflecnn-heif-none-chroma,none --bpp 0.15
# the attention net grown again, to 16 x 48 (from the 8 x 48 one)
b kodak-heif-att-16x48 --codecs heif --methods none --posts attention-heif-none-16x48,none --bpp 0.15
# the first attention nets (trained on libavif's tuning and the standard JPEG tables) on today's default encoders
b kodak-avif-att-tuned --codecs avif --methods none --posts attention-avif-none,none --bpp 0.2
b kodak-jpeg-att-qt --codecs jpeg --methods downsample --posts attention-jpeg-ds2,none --bpp 0.2
# ComCNN + RecCNN trained at equal bpp with the paper-size RecCNN (the jpeg comcnn default now), against
# the downsample RecCNN it started from, on its compact images before it adapted
b kodak-jpeg-comcnn-rate --codecs jpeg --methods comcnn --pre comcnn-jpeg-rate --posts reccnn-jpeg-comcnn-rate,reccnn-jpeg-ds2-paper-qt,none --bpp 0.1,0.2,0.3
# the same ComCNN with a RecCNN adapted for 450 steps instead of 150 (the jpeg comcnn default now)
b kodak-jpeg-comcnn-rate-r450 --codecs jpeg --methods comcnn --pre comcnn-jpeg-rate --posts reccnn-jpeg-comcnn-rate-r450 --bpp 0.1,0.2,0.3
# encode --method auto: per image the best of none, downsample and comcnn (each with its default post-filter)
b kodak-jpeg-auto --codecs jpeg --methods none,downsample,comcnn,auto --bpp 0.1,0.2,0.3
b kodak-jpeg-auto-x8 --codecs jpeg --methods auto --posts auto+x8 --bpp 0.2
b kodak-j2k-auto --codecs jpeg2000 --methods auto --bpp 0.1
b kodak-heif-auto --codecs heif --methods auto --bpp 0.15
b kodak-jpegxl-auto --codecs jpegxl --methods auto --bpp 0.3
b kodak-webp-auto --codecs webp --methods auto --bpp 0.2
# decode speed of the default post-filters computing in float32 and in bfloat16 (--precision); seconds
# mean something only on a quiet machine; auto resolves to each codec's default (the labels name it)
# the JPEG 2000 RecCNN's second stage (bfloat16 autocast training) against the first (retired since:
# rerun with the first rebuilt from configs/experiments/ in a copy of the registry)
b kodak-j2k-none-reccnn2 --codecs jpeg2000 --methods none --posts reccnn-jpeg2000-none-paper2,reccnn-jpeg2000-none-paper --bpp 0.1,0.2 --precision fp32
b kodak-speed-fp32 --codecs jpeg,jpegxl --methods none --posts auto,auto+x8 --bpp 0.3 --limit 4 --timing basic -j 1 --threads 2 --precision fp32
b kodak-speed-bf16 --codecs jpeg,jpegxl --methods none --posts auto,auto+x8 --bpp 0.3 --limit 4 --timing basic -j 1 --threads 2 --precision bf16
# the -qt models on standard-table JPEGs (--tune ssim): as good or better than the models trained on them
b kodak-jpeg-std-tables-ds2 --codecs jpeg --tune ssim --methods downsample --posts reccnn-jpeg-ds2-paper,reccnn-jpeg-ds2-paper-qt --bpp 0.2 --limit 12
python -m lbcodec -q bench "$(dirname "$KODAK")/live1" --codecs jpeg --tune ssim --methods none \
  --posts arcnn-jpeg-none,arcnn-jpeg-none-qt2,none --quality 10,20 -j "$JOBS" --timing none -o "$RESULTS/live1-jpeg-std-tables" >/dev/null
python scripts/make_results.py results/kodak-core results/kodak-full results/kodak-srcnn results/kodak-jpeg-comcnn results/kodak-arcnn \
  results/kodak-heif-att results/kodak-avif-none results/kodak-webp-none results/kodak-jpegxl-none \
  results/kodak-j2k-none results/kodak-ds2-posts results/kodak-ds2-codecs results/kodak-ds2-j2k \
  results/kodak-heif-none-large results/kodak-avif-none-large results/kodak-webp-none-large \
  results/kodak-jpegxl-none-large results/kodak-shuffle-jpeg-ds2 results/kodak-shuffle-jpeg-ds2-long results/kodak-shuffle-heif-none results/kodak-shuffle-webp-none results/kodak-shuffle-webp-none-long results/kodak-shuffle-webp-none-long2 results/kodak-shuffle-jpeg-ds2-long2 results/kodak-shuffle-webp-none-long3 results/kodak-shuffle-webp-none-long4 results/kodak-shuffle-webp-none-long5 results/kodak-shuffle-webp-none-long6 results/kodak-shuffle-jpegxl-none results/kodak-shuffle-avif-none results/kodak-shuffle-heif-none-mse results/kodak-heif-att-msssim results/kodak-shuffle-jpegxl-none-long results/kodak-shuffle-avif-none-long results/kodak-shuffle-heif-none-long2 results/kodak-modifynet results/kodak-j2k-comcnn results/kodak-heif-comcnn results/kodak-shuffle-j2k-none results/kodak-shuffle-j2k-ds2 results/kodak-shuffle-j2k-none-long results/kodak-shuffle-jpeg-comcnn results/kodak-shuffle-avif-none-long2 results/kodak-shuffle-jpegxl-none-long2 results/kodak-shuffle-heif-none-long3 results/kodak-shuffle-jpegxl-none-long3 results/kodak-tune-psnr results/kodak-tune-ssim results/kodak-avif-psnr-s4 results/kodak-heif-chroma results/kodak-heif-comcnn-tuned results/kodak-speed-tune results/kodak-speed results/kodak-gpu-jpeg-ds2 results/kodak-gpu-jpeg-comcnn results/kodak-gpu-jpegxl results/kodak-jpeg-tables results/kodak-jpeg-tables-ssim results/kodak-jpeg-qt-none results/kodak-jpeg-qt-ds2 results/kodak-jpeg-qt-comcnn results/kodak-jpeg-qt-modifynet results/kodak-jpeg-std-tables-ds2 results/live1-jpeg-std-tables results/kodak-jpegxl-paper4 results/kodak-jpeg-none-reccnn results/kodak-heif-none-reccnn results/kodak-webp-none-reccnn results/kodak-avif-none-reccnn results/kodak-jpeg-none-reccnn-x8 results/kodak-jpeg-none-reccnn2 results/kodak-j2k-none-reccnn results/kodak-jpeg-none-reccnn2-x8 results/kodak-avif-none-reccnn2 results/kodak-heif-att-msssim2 results/kodak-heif-att-8x48 results/kodak-avif-att-tuned results/kodak-jpeg-att-qt results/kodak-heif-att-16x48 results/kodak-jpeg-comcnn-rate results/kodak-jpeg-comcnn-rate-r450 results/kodak-jpeg-auto results/kodak-jpeg-auto-x8 results/kodak-j2k-auto results/kodak-heif-auto results/kodak-jpegxl-auto results/kodak-webp-auto results/kodak-speed-fp32 results/kodak-speed-bf16 results/kodak-j2k-none-reccnn2 --results "$RESULTS"
