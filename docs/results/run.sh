#!/usr/bin/env bash
# The published grid (issue 11) on ../shared/data/ilsvrc-val-crops, then its report in docs/results/.
#
# Resumable: every stage writes each result to $STORE as soon as it exists and skips what is there, so
# kill this script at any moment and start it again: it continues where it stopped. Images are the
# outer loop of each stage, so a run stopped early still has every method on the same first images.
#
#   docs/results/run.sh                         # every stage
#   STAGES="lite0 report" docs/results/run.sh   # some stages
#   LIMIT0=40 docs/results/run.sh               # fewer Lite0 images for now (raise it later: nothing is redone)
#   NPROC=8 docs/results/run.sh                 # 8 processes (one per GPU) under torchrun, one shared store
#
# Stages: lite0 (EfficientNet-Lite0, all methods, LIMIT0 = 200 crops), lite1 and lite2 (LIMIT12 = 50
# crops each), sanity (Lite0, SANITY_IMAGES = 10 crops), report. The protocol: every method with its
# defaults (SUNY's from the tuning run, docs/results/tuning/), the model's default layer (Lite: the
# head's activation), float32, 225-point deletion/insertion curves, the attack at tau = 0.5 and 0, the
# pointing game; `--compile` (the same numbers, compiled once per batch shape). Environment: STORE
# (default docs/results/results.sqlite), DEVICE (default: cuda when present), NPROC (default 1),
# THREADS (torch threads per process; default: all cores), BATCH (inputs per forward pass; default:
# suny's. Not part of a result's configuration: the same numbers up to rounding. On a CPU with one
# thread, 4 takes half the time per image of 64: benchmarks/bench_batch_size.py).
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA=../shared/data/ilsvrc-val-crops
STORE=${STORE:-docs/results/results.sqlite}
LIMIT0=${LIMIT0:-200}
LIMIT12=${LIMIT12:-50}
SANITY_IMAGES=${SANITY_IMAGES:-10}
STAGES=${STAGES:-lite0 lite1 lite2 sanity report}
NPROC=${NPROC:-1}
if [ -n "${THREADS:-}" ]; then export OMP_NUM_THREADS=$THREADS; fi

if [ "$NPROC" -gt 1 ]; then
    SUNY=(.venv/bin/torchrun --nproc-per-node "$NPROC" -m suny.cli.main)
else
    SUNY=(.venv/bin/suny)
fi
COMMON=(--data "$DATA" --store "$STORE" --methods all --compile --no-progress)
if [ -n "${DEVICE:-}" ]; then COMMON+=(--device "$DEVICE"); fi
if [ -n "${BATCH:-}" ]; then COMMON+=(--batch-size "$BATCH"); fi
METRICS=(--metrics deletion,insertion,attack,pointing)

stage() { [[ " $STAGES " == *" $1 "* ]]; }
log() { echo "[$(date '+%F %T')] $*" | tee -a docs/results/run.log; }

log "start: $(uname -n), stages: $STAGES, LIMIT0=$LIMIT0 LIMIT12=$LIMIT12 SANITY_IMAGES=$SANITY_IMAGES NPROC=$NPROC${THREADS:+ THREADS=$THREADS}${BATCH:+ BATCH=$BATCH}"
start=$(date +%s)
for model in lite0 lite1 lite2; do
    if stage "$model"; then
        limit=$([ "$model" = lite0 ] && echo "$LIMIT0" || echo "$LIMIT12")
        log "grid efficientnet-$model, $limit crops"
        "${SUNY[@]}" bench "${COMMON[@]}" --models "efficientnet-$model" "${METRICS[@]}" --limit "$limit"
    fi
done
if stage sanity; then
    # Cascading randomisation in 5 steps, logits first: each method explains each image 6 times.
    log "sanity, $SANITY_IMAGES crops"
    "${SUNY[@]}" bench "${COMMON[@]}" --models efficientnet-lite0 --metrics sanity --limit "$SANITY_IMAGES"
fi
if stage report; then
    log "report"
    TZ=UTC .venv/bin/suny report "$STORE" --out docs/results
fi
log "done in $(( $(date +%s) - start )) s"
