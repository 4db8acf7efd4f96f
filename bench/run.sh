#!/usr/bin/env bash
# make bench: the benchmark report, from a fresh machine.
#   1. a virtual environment in bench/.venv (git-ignored) with upstream Triton
#      (the reference: it is never a test dependency), torch CPU (its
#      interpreter needs torch tensors), NumPy and matplotlib (the plot);
#   2. tools/setup.sh with that environment's Python: clang-19 for the
#      emulator where apt can install it, and the build (library, CLI,
#      extension);
#   3. bench/compile_bench, then bench/run.py, which writes
#      bench/results/<date>-<machine>.{md,json,png}.
# BENCH_ARGS=--quick: fewer repetitions (a smoke run, not for committing).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=bench/.venv
PY=$VENV/bin/python
if [ ! -x "$PY" ]; then
  python3 -m venv "$VENV"
fi
want() { "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" 2>/dev/null; }
want triton 3.9.0 || "$PY" -m pip install -q triton==3.9.0
want torch 2.13.0+cpu || want torch 2.13.0 || "$PY" -m pip install -q torch==2.13.0
"$PY" -c "import numpy, matplotlib" 2>/dev/null || "$PY" -m pip install -q numpy matplotlib
if [ "$(uname)" = Darwin ]; then
  "$PY" -c "import mlx" 2>/dev/null || "$PY" -m pip install -q mlx || echo "bench: mlx not installed; its column will be empty"
fi
PYTHON="$PY" TRITON_METAL_SKIP_TORCH=1 bash tools/setup.sh
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wno-unused-parameter -Iinclude \
  bench/compile_bench.c build/libtriton_metal.a -lm -ldl -lpthread $( [ "$(uname)" = Darwin ] && echo "-lobjc -framework Metal -framework Foundation -framework CoreGraphics") \
  -o build/bench/compile_bench
exec "$PY" bench/run.py ${BENCH_ARGS:-}
