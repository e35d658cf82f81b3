#!/usr/bin/env bash
# The `lbcodec bench` runs behind each paper-table reproduction in docs/results.md.
#
#   scripts/run_paper_tables.sh [TABLE ...]        # default: all tables
#
# TABLE is a key of lbcodec/paper_tables.py: paper000-table1 paper002-table1 paper002-table2
# paper002-table6-jpeg paper002-table6-jpeg2000 paper003-table1 paper004-table1.
# Environment: DATA (test sets, default ../shared/data; see its MANIFEST.md), RESULTS (default
# results), JOBS (worker processes, default 2), EXTRA (more bench options, e.g. EXTRA="--limit 1"
# for a smoke test into a scratch RESULTS). Every bench is resumable: rerun to continue.
# Then: python scripts/make_results.py results/kodak --results "$RESULTS"
#
# Which images (MANIFEST.md): paper 000 Table I = Set5 (baby bird butterfly head woman) + Set14
# zebra and barbara; paper 002 Tables I-II = Set12 05 (monarch = Butterfly), 01 cameraman,
# 02 house, 08 lena, 03 peppers, 07 parrot (Leaves is not in shared/data); paper 002 Table VI =
# set5, set14, live1 (General-100 is not in shared/data), in gray; paper 003 = Kodak (CLIC 2019
# is not in shared/data); paper 004 = live1.
set -euo pipefail
DATA=${DATA:-../shared/data}
RESULTS=${RESULTS:-results}
JOBS=${JOBS:-2}
EXTRA=${EXTRA:-}
LB=${LB:-python -m lbcodec}

# The papers' JPEG at a quality factor is the standard's (IJG) tables: those benches pass
# `--tune ssim`, which keeps them (lbcodec's default `--tune psnr` writes its own tables).
# Rows from before the PSNR tables existed used the standard tables too, and make_results.py
# reads either (Ours.tune in lbcodec/paper_tables.py).
run() {  # run OUT_NAME ARGS...
  local out=$1; shift
  echo "== $out" >&2
  # shellcheck disable=SC2086
  $LB bench "$@" -j "$JOBS" -o "$RESULTS/$out" $EXTRA >/dev/null
}

paper000_table1() {
  run paper000-table1 "$DATA/set5" "$DATA/set14/zebra.png" "$DATA/set14/barbara.png" \
    --codecs jpeg --methods none,downsample --posts none,auto --bpp 0.15,0.2,0.25,0.3,0.35
}

P002_IMAGES=("$DATA/set12/05.png" "$DATA/set12/01.png" "$DATA/set12/02.png" "$DATA/set12/08.png"
             "$DATA/set12/03.png" "$DATA/set12/07.png")
paper002_t12() {  # Tables I and II share their benches (QF 5 and 10)
  run paper002-t12-plain "${P002_IMAGES[@]}" \
    --codecs jpeg --tune ssim --methods none --posts none,arcnn,reccnn --quality 5,10
  run paper002-t12-matched "${P002_IMAGES[@]}" \
    --codecs jpeg --tune ssim --methods comcnn,downsample --posts none,auto --quality 5,10 --match-rate
}

paper002_table6_jpeg() {
  for s in set5 set14 live1; do
    run "paper002-t6-$s-jpeg" "$DATA/$s" --gray \
      --codecs jpeg --tune ssim --methods none,comcnn,downsample --posts none,auto --quality 5,10 --match-rate
  done
}

paper002_table6_jpeg2000() {
  for s in set5 set14 live1; do
    run "paper002-t6-$s-jpeg2000" "$DATA/$s" --gray \
      --codecs jpeg2000 --methods none,comcnn,downsample --posts none,auto --bpp 0.1,0.2,0.3
  done
}

paper003_table1() {
  run paper003-table1 "$DATA/kodak" \
    --codecs heif --methods none --posts none,attention,attention+x8 --bpp 0.15
}

paper004_table1() {
  run paper004-table1 "$DATA/live1" \
    --codecs jpeg --tune ssim --methods none --posts none,arcnn --quality 10,20
}

tables=("$@")
[ ${#tables[@]} -eq 0 ] && tables=(paper000-table1 paper002-table1 paper002-table6-jpeg paper002-table6-jpeg2000
                                   paper003-table1 paper004-table1)
for t in "${tables[@]}"; do
  case $t in
    paper000-table1) paper000_table1 ;;
    paper002-table1|paper002-table2) paper002_t12 ;;
    paper002-table6-jpeg) paper002_table6_jpeg ;;
    paper002-table6-jpeg2000) paper002_table6_jpeg2000 ;;
    paper003-table1) paper003_table1 ;;
    paper004-table1) paper004_table1 ;;
    *) echo "unknown table $t" >&2; exit 2 ;;
  esac
done
