#!/usr/bin/env bash
# The main job (the README's main command): set up and build, say which device
# kernels will run on, then run the example kernels, each checked against NumPy.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# the examples need none of the libraries tests/libs runs
TRITON_METAL_SKIP_LIBS=${TRITON_METAL_SKIP_LIBS:-1} bash tools/setup.sh
PYTHONPATH=python "$PYTHON" examples/run_all.py
