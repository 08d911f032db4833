#!/usr/bin/env bash
# The published grid of issue 5 on ../shared/data/ilsvrc-val-crops, then its report in docs/results/.
#
# Resumable: every stage writes each result to $STORE as it is produced and skips what is there, so
# kill this script at any moment and start it again: it continues where it stopped. Images are the
# outer loop, so a run stopped early still has every method on the same first images.
#
#   docs/results/run.sh                 # everything, all 200 images
#   LIMIT=20 docs/results/run.sh        # the first 20 images only (raise LIMIT later: nothing is redone)
#   STAGES="grid report" docs/results/run.sh
#   NPROC=8 docs/results/run.sh         # 8 processes (one per GPU) under torchrun, one shared store
#
# Environment: LIMIT (images of the grid, default 200), SANITY_IMAGES (images of the sanity check,
# default 10), STAGES (default "grid sanity report"), STORE (default docs/results/results.sqlite),
# DEVICE (default: cuda when present), NPROC (default 1). SUNY's defaults are tuned separately, on a
# development split, by benchmarks/tune_suny.py (docs/results/tuning/).
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA=../shared/data/ilsvrc-val-crops
MODEL=efficientnet-lite0
STORE=${STORE:-docs/results/results.sqlite}
LIMIT=${LIMIT:-200}
SANITY_IMAGES=${SANITY_IMAGES:-10}
STAGES=${STAGES:-grid sanity report}
NPROC=${NPROC:-1}

if [ "$NPROC" -gt 1 ]; then
    SUNY=(.venv/bin/torchrun --nproc-per-node "$NPROC" -m suny.cli.main)
else
    SUNY=(.venv/bin/suny)
fi
COMMON=(--data "$DATA" --models "$MODEL" --store "$STORE")
if [ -n "${DEVICE:-}" ]; then COMMON+=(--device "$DEVICE"); fi

stage() { [[ " $STAGES " == *" $1 "* ]]; }
log() { echo "[$(date '+%F %T')] $*" | tee -a docs/results/run.log; }

log "start: $(uname -n), stages: $STAGES, LIMIT=$LIMIT SANITY_IMAGES=$SANITY_IMAGES NPROC=$NPROC"
start=$(date +%s)

if stage grid; then
    # All SUNY variants and the seven baselines (defaults of each), deletion/insertion (225-point
    # curves), saliency attack, pointing game: ~2 x 225 + 2 forward passes per map, plus each method.
    log "grid"
    "${SUNY[@]}" bench "${COMMON[@]}" --methods all --metrics deletion,insertion,attack,pointing --limit "$LIMIT"
fi

if stage sanity; then
    # Cascading randomisation in 5 steps: each method explains every image 6 times.
    log "sanity"
    "${SUNY[@]}" bench "${COMMON[@]}" --methods all --metrics sanity --limit "$SANITY_IMAGES"
fi

if stage report; then
    log "report"
    .venv/bin/suny report "$STORE" --out docs/results
fi
log "done in $(( $(date +%s) - start )) s"
