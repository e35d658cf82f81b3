#!/usr/bin/env bash
# Compress a folder of photos to 0.2 bpp, decode them back, and print a table of bpp and PSNR.
#
#   examples/batch.sh PHOTOS_DIR OUT_DIR
#
# Writes OUT_DIR/lbc/<path>.lbc and OUT_DIR/decoded/<path>.png (subfolders kept).
# Environment: BPP (default 0.2), JOBS (default 2), CODEC (default jpeg),
# LBCODEC (the command, default lbcodec; e.g. LBCODEC="python -m lbcodec").
# CI runs it on a synthetic folder: python examples/make_synthetic.py DIR.
set -euo pipefail
export LC_ALL=C  # printf and awk read and write numbers with a dot

if [ $# -ne 2 ]; then
    echo "usage: $0 PHOTOS_DIR OUT_DIR" >&2
    exit 2
fi
in=${1%/}
out=${2%/}
bpp=${BPP:-0.2}
jobs=${JOBS:-2}
codec=${CODEC:-jpeg}
read -r -a lbcodec <<< "${LBCODEC:-lbcodec}"

# 1. compress every photo (subfolders too); existing outputs are replaced
"${lbcodec[@]}" encode "$in" -r -o "$out/lbc/" --bpp "$bpp" --codec "$codec" --jobs "$jobs" --force
# 2. decode them back to PNG
"${lbcodec[@]}" decode "$out/lbc" -r -o "$out/decoded/" --jobs "$jobs" --force

# 3. the table: bpp of each .lbc (lbcodec info) and PSNR of its decode (lbcodec compare)
field() {  # field NAME < json: the number after "NAME":
    sed -n "s/.*\"$1\": *\([-0-9.eE+]*\).*/\1/p" | head -n 1
}
printf '%-32s %8s %10s %10s\n' image bpp "PSNR RGB" "PSNR Y"
n=0 sums="0 0 0"
while IFS= read -r -d '' photo; do
    rel=${photo#"$in/"}
    rel=${rel%.*}
    lbc="$out/lbc/$rel.lbc"
    [ -f "$lbc" ] || continue
    bpp_file=$("${lbcodec[@]}" info "$lbc" --json | field bpp)
    metrics=$("${lbcodec[@]}" compare "$photo" "$out/decoded/$rel.png" --json)
    row=$(printf '%s %s %s' "$bpp_file" "$(field psnr_rgb <<< "$metrics")" "$(field psnr_y <<< "$metrics")")
    printf '%-32s %8.4f %10.2f %10.2f\n' "$rel" $row
    sums=$(awk -v a="$sums" -v b="$row" 'BEGIN { split(a, x); split(b, y); print x[1]+y[1], x[2]+y[2], x[3]+y[3] }')
    n=$((n + 1))
done < <(find "$in" -mindepth 1 \( -name '.*' -prune -o -type f \( -iname '*.png' -o -iname '*.jpg' \
    -o -iname '*.jpeg' -o -iname '*.bmp' -o -iname '*.tif' -o -iname '*.tiff' -o -iname '*.ppm' -o -iname '*.pgm' \
    -o -iname '*.pnm' -o -iname '*.webp' -o -iname '*.gif' \) -print0 \) | sort -z)

if [ "$n" -eq 0 ]; then
    echo "no photos in $in" >&2
    exit 1
fi
awk -v s="$sums" -v n="$n" 'BEGIN { split(s, x); printf "%-32s %8.4f %10.2f %10.2f\n", "mean of " n, x[1]/n, x[2]/n, x[3]/n }'
