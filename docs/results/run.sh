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
# default 10), DEV (development images for the SUNY settings, default 20), STAGES (default
# "grid sanity settings report"), STORE (default docs/results/results.sqlite), DEVICE (default: cuda
# when present), NPROC (default 1).
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA=../shared/data/ilsvrc-val-crops
MODEL=efficientnet-lite0
STORE=${STORE:-docs/results/results.sqlite}
LIMIT=${LIMIT:-200}
SANITY_IMAGES=${SANITY_IMAGES:-10}
DEV=${DEV:-20}
STAGES=${STAGES:-grid sanity settings report}
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

log "start: $(uname -n), stages: $STAGES, LIMIT=$LIMIT SANITY_IMAGES=$SANITY_IMAGES DEV=$DEV NPROC=$NPROC"
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

if stage settings; then
    # SUNY-feature's settings on the first $DEV images, stored as the dataset "ilsvrc-val-crops-dev"
    # (its own rows, never mixed with the grid's): set size (top-k of F_N and F_S) and Shapley
    # permutations, then the product combination. The report's fidelity-against-cost plot of that
    # dataset is the curve that justifies the defaults (set_size 4 feature / 16 filter, permutations 16, sum).
    DEV_ARGS=(--dataset-name ilsvrc-val-crops-dev --limit "$DEV" --metrics deletion,insertion,attack,pointing)
    for setting in "set_size=8 permutations=16" "set_size=2 permutations=16" "set_size=4 permutations=16" \
        "set_size=16 permutations=16" "set_size=8 permutations=4" "set_size=8 permutations=64"; do
        options=()
        for pair in $setting; do
            for method in suny suny-n suny-s; do options+=(--option "$method:$pair"); done
        done
        log "settings: $setting"
        "${SUNY[@]}" bench "${COMMON[@]}" "${DEV_ARGS[@]}" --methods suny,suny-n,suny-s "${options[@]}"
    done
    log "settings: combination=product"
    "${SUNY[@]}" bench "${COMMON[@]}" "${DEV_ARGS[@]}" --methods suny --option suny:combination=product
fi

if stage report; then
    log "report"
    .venv/bin/suny report "$STORE" --out docs/results
fi
log "done in $(( $(date +%s) - start )) s"
