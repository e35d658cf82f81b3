#!/usr/bin/env bash
# Train (or resume) every shipped model, one after another, publishing each into
# lbcodec/weights/. Each run is resumable: rerun this script after an interruption.
#   bash scripts/train_all.sh [CONFIG ...]     (default: every configs/*.json)
set -u
cd "$(dirname "$0")/.."
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(configs/*.json)
mkdir -p runs
for c in "${configs[@]}"; do
  name=$(basename "$c" .json)
  echo "=== $(date -u +%H:%M:%S) $name"
  python -m lbcodec train "$c" >> "runs/$name.log" 2>&1 || echo "!!! $name failed (see runs/$name.log)"
  tail -n 2 "runs/$name.log"
done
