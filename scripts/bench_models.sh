#!/usr/bin/env bash
# The Kodak benches behind issue 4's targets: every trained slot against its plain
# pipeline (--posts auto,none), same rate control for every row. Resumable.
#   bash scripts/bench_models.sh            (RESULTS=results, KODAK=../shared/data/kodak, JOBS=1)
set -euo pipefail
cd "$(dirname "$0")/.."
KODAK=${KODAK:-../shared/data/kodak}
RESULTS=${RESULTS:-results}
JOBS=${JOBS:-1}
b() { local out=$1; shift; echo "== $out" >&2; python -m lbcodec -q bench "$KODAK" "$@" -j "$JOBS" --timing none -o "$RESULTS/$out" >/dev/null; }
b kodak-jpeg-ds2      --codecs jpeg     --methods downsample --posts auto,none --bpp 0.1,0.2,0.3
b kodak-jpeg-none     --codecs jpeg     --methods none       --posts auto,none --bpp 0.2,0.3,0.4
b kodak-jpeg-comcnn   --codecs jpeg     --methods comcnn     --posts auto      --bpp 0.1,0.2,0.3
b kodak-jpeg-modify   --codecs jpeg     --methods modifynet  --posts none      --bpp 0.2,0.3,0.4
b kodak-heif-none     --codecs heif     --methods none       --posts auto,none --bpp 0.1,0.15,0.2
b kodak-avif-none     --codecs avif     --methods none       --posts auto,none --bpp 0.2
b kodak-webp-none     --codecs webp     --methods none       --posts auto,none --bpp 0.2
b kodak-jpegxl-none   --codecs jpegxl   --methods none       --posts auto,none --bpp 0.3
b kodak-j2k-none      --codecs jpeg2000 --methods none       --posts auto,none --bpp 0.1
b kodak-j2k-comcnn    --codecs jpeg2000 --methods comcnn     --posts auto      --bpp 0.1
