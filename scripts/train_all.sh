#!/usr/bin/env bash
# Train (or resume) every shipped model, one after another, publishing each into
# lbcodec/weights/. Each run is resumable: rerun this script after an interruption.
#   bash scripts/train_all.sh [CONFIG ...]     (default: every configs/*.json)
set -u
cd "$(dirname "$0")/.."
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(configs/*.json)
# a config that starts from another model (init_from / init_post) runs after the config that makes it
order=$(python - "${configs[@]}" <<'PY'
import json, sys
cfgs = {p: json.load(open(p)) for p in sys.argv[1:]}
maker = {c["name"]: p for p, c in cfgs.items() if "name" in c}
for p, c in cfgs.items():  # joint configs name their two models
    for part in ("pre", "post"):
        if isinstance(c.get(part), dict) and "name" in c[part]:
            maker[c[part]["name"]] = p
done, order = set(), []
def visit(p):
    if p in done:
        return
    done.add(p)
    c = cfgs[p]
    for dep in (c.get("init_from"), c.get("init_post"), c.get("train", {}).get("init_post")):
        if dep in maker and maker[dep] != p:
            visit(maker[dep])
    order.append(p)
for p in cfgs:
    visit(p)
print("\n".join(order))
PY
) || { echo "train_all.sh: cannot read the configs" >&2; exit 2; }
mapfile -t configs <<<"$order"
mkdir -p runs
for c in "${configs[@]}"; do
  name=$(basename "$c" .json)
  echo "=== $(date -u +%H:%M:%S) $name"
  python -m lbcodec train "$c" >> "runs/$name.log" 2>&1 || echo "!!! $name failed (see runs/$name.log)"
  tail -n 2 "runs/$name.log"
done
