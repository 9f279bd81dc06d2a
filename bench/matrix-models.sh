#!/usr/bin/env bash
# The detection matrix's MNIST models (issue 19): per attack family 5 infected models and 10 clean
# ones, each with its own seed and target, trained one after the other into $OUT/<name>/ (a folder
# that `poisonguard zoo scan` takes as it is), then evaluated; a table row per model goes to
# $OUT/models.md as each finishes. Models already trained (metadata.json with test figures) are
# skipped, so the script can be stopped and run again.
#
#   bench/matrix-models.sh [FAMILY...]      families: clean badnets blend sig wanet all-to-all two-trigger
#
# Models are trained round by round: the first of every family, then the second, and so on.
#
# Environment: DATASET (mnist, the default, or gtsrb), DATA_DIR (the dataset's folder, passed as
# --data-dir; default: the CLI's own lookup), OUT (default: runs-matrix beside the checkout, outside
# it, so that no model lands in git), EPOCHS (default 2: the MNIST net reaches 98.5–99.2% clean accuracy by then, within about half a
# point of 5 epochs, in 30–80 s per model on the native engine; see docs/RESULTS.md), PG (the CLI, default: this checkout's bin/poisonguard.js; point it at a built copy when the
# checkout changes during the run).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-$(dirname "$here")/runs-matrix}"
EPOCHS="${EPOCHS:-2}"
DATASET="${DATASET:-mnist}"
data_flags=()
[ -n "${DATA_DIR:-}" ] && data_flags=(--data-dir "$DATA_DIR")
PG="${PG:-node $here/bin/poisonguard.js}"
families=("$@")
[ ${#families[@]} -eq 0 ] && families=(clean badnets blend sig wanet all-to-all two-trigger)
mkdir -p "$OUT"
table="$OUT/models.md"
if [ ! -f "$table" ]; then
  printf '| model | attack | seed | target | epochs | clean acc | ASR | train s |\n|---|---|---|---|---|---|---|---|\n' > "$table"
fi

# One model: name, family, seed, target (text for the table), then train's --backdoor flags.
model() {
  local name="$1" family="$2" seed="$3" target="$4"
  shift 4
  local dir="$OUT/$name"
  if [ -f "$dir/metadata.json" ] && grep -q '"cleanAccuracy": [0-9]' "$dir/metadata.json"; then
    echo "== $name: trained already"
    return
  fi
  echo "== $name ($family, seed $seed, target $target) $(date -u +%H:%M:%S)"
  $PG train --dataset "$DATASET" "${data_flags[@]}" --epochs "$EPOCHS" --seed "$seed" --out "$dir" --force "$@"
  local json
  json="$($PG evaluate --model "$dir" "${data_flags[@]}" --json)"
  echo "$json" > "$dir/evaluate.json"
  local row
  row="$(node -e '
    const e = JSON.parse(process.argv[1]);
    const m = JSON.parse(require("fs").readFileSync(process.argv[2] + "/metadata.json", "utf8"));
    const pct = (x) => (x === null || x === undefined ? "n/a" : (100 * x).toFixed(2) + "%");
    const asr = e.attacks ? e.attacks.map((a) => pct(a.attackSuccessRate)).join(" / ") : pct(e.attackSuccessRate);
    console.log(`| ${process.argv[3]} | ${process.argv[4]} | ${m.seed} | ${process.argv[5]} | ${m.epochs} | ${pct(e.cleanAccuracy)} | ${asr} | ${m.trainSeconds} |`);
  ' "$json" "$dir" "$name" "$family" "$target")"
  echo "$row" >> "$table"
  echo "$row"
}

# Model i (1-based) of a family; returns 1 when the family has no model i.
family_model() {
  local family="$1" i="$2" t t1 t2
  case "$family" in
    clean)
      [ "$i" -le 10 ] || return 1
      model "clean-s$((10 + i))" clean $((10 + i)) - ;;
    badnets)
      [ "$i" -le 5 ] || return 1
      t=$(((3 * i + 1) % 10)); model "badnets-t$t-s$((20 + i))" badnets $((20 + i)) "$t" --backdoor "square:target=$t" ;;
    blend)
      [ "$i" -le 5 ] || return 1
      t=$(((3 * i + 2) % 10)); model "blend-t$t-s$((30 + i))" blend $((30 + i)) "$t" --backdoor "blend:target=$t,seed=$i" ;;
    sig)
      # The paper's Δ = 20 plants no working backdoor in 2 MNIST epochs (ASR 0.03%, docs/RESULTS.md):
      # these hide Δ = 60 in the target class's images and stamp Δ = 100 at test time.
      [ "$i" -le 5 ] || return 1
      t=$(((3 * i + 3) % 10)); model "sig-t$t-s$((40 + i))" sig $((40 + i)) "$t" --backdoor "sig:target=$t,delta=60,test-delta=100" ;;
    wanet)
      [ "$i" -le 5 ] || return 1
      t=$(((3 * i + 4) % 10)); model "wanet-t$t-s$((50 + i))" wanet $((50 + i)) "$t" --backdoor "wanet:target=$t,seed=$i" ;;
    all-to-all)
      [ "$i" -le 5 ] || return 1
      model "all-to-all-s$((60 + i))" all-to-all $((60 + i)) 'y+1' --backdoor "all-to-all" ;;
    two-trigger)
      [ "$i" -le 5 ] || return 1
      t1=$(((3 * i + 5) % 10)); t2=$(((t1 + 4) % 10))
      model "two-trigger-t$t1-t$t2-s$((70 + i))" two-trigger $((70 + i)) "$t1,$t2" --backdoor "square:target=$t1" --backdoor "blend:target=$t2,seed=$i" ;;
  esac
}

for family in "${families[@]}"; do
  case "$family" in clean | badnets | blend | sig | wanet | all-to-all | two-trigger) ;; *) echo "unknown family '$family' (known: clean badnets blend sig wanet all-to-all two-trigger)" >&2; exit 2 ;; esac
done

# Round by round (model 1 of every family, then model 2, ...), so that a run stopped early leaves a
# matrix with every family in it rather than some families complete and others absent.
for i in 1 2 3 4 5 6 7 8 9 10; do
  for family in "${families[@]}"; do family_model "$family" "$i" || true; done
done
echo "== done $(date -u +%H:%M:%S)"
