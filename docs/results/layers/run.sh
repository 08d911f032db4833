#!/usr/bin/env bash
# The layer question (issue 29): every layer-based method at Lite0's last 14 x 14 post-activation
# layer on the first 100 development crops, into docs/results/layers/results.sqlite, then the rule's
# tables (benchmarks/layer_question.py, which pairs them with the head rows of docs/results/results.sqlite).
#
# Resumable like docs/results/run.sh: kill it at any moment and start it again. RISE and pixel SmoothGrad
# have no layer: their published rows serve both layers. Environment: STORE, LIMIT (100), NPROC, THREADS,
# BATCH, DEVICE, STAGES ("grid report"), as docs/results/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../../.."

DATA=../shared/data/ilsvrc-val-crops
STORE=${STORE:-docs/results/layers/results.sqlite}
LIMIT=${LIMIT:-100}
LAYER=_blocks.11._expand_activation
METHODS=suny,suny-filter,gradcam,gradcam++,smoothgradcam++,scorecam,groupcam,cexcnn
STAGES=${STAGES:-grid report}
NPROC=${NPROC:-1}
if [ -n "${THREADS:-}" ]; then export OMP_NUM_THREADS=$THREADS; fi

if [ "$NPROC" -gt 1 ]; then
    SUNY=(.venv/bin/torchrun --nproc-per-node "$NPROC" -m suny.cli.main)
else
    SUNY=(.venv/bin/suny)
fi
COMMON=(--data "$DATA" --store "$STORE" --models efficientnet-lite0 --layer "$LAYER" --methods "$METHODS"
    --metrics deletion,insertion,attack,pointing --limit "$LIMIT" --compile --no-progress)
if [ -n "${DEVICE:-}" ]; then COMMON+=(--device "$DEVICE"); fi
if [ -n "${BATCH:-}" ]; then COMMON+=(--batch-size "$BATCH"); fi

stage() { [[ " $STAGES " == *" $1 "* ]]; }
log() { echo "[$(date '+%F %T')] $*" | tee -a docs/results/run.log; }

if stage grid; then
    log "layers: start $(uname -n), $METHODS at $LAYER, $LIMIT crops, NPROC=$NPROC${THREADS:+ THREADS=$THREADS}${BATCH:+ BATCH=$BATCH}"
    "${SUNY[@]}" bench "${COMMON[@]}"
    log "layers: grid done"
fi
if stage report; then
    .venv/bin/python benchmarks/layer_question.py --stores docs/results/results.sqlite "$STORE" \
        --out docs/results/layers >/dev/null
fi
