#!/usr/bin/env bash
# make bench-e2e: the end-to-end benchmark (bench/e2e.py), from a fresh machine.
#   1. two virtual environments, never one: upstream Triton must not be where
#      triton-metal's compat layer (`import triton`) is tested, and triton-metal
#      must not be on the interpreter's side:
#        E2E_INTERP_VENV (default bench/.venv, the one `make bench` makes):
#          upstream triton 3.9.0, torch 2.13.0 CPU, numpy, pytest, and
#          Liger-Kernel 0.8.5 --no-deps with its tests' pure-Python dependencies;
#        E2E_OURS_VENV (default bench/.venv-ours): the same without triton, plus
#          this checkout's python/ and triton-metal.pth (its `import triton`);
#   2. the build (make all: library, CLI, extension);
#   3. bench/e2e.py, which writes bench/results/<date>-e2e-<machine>.{md,json}.
# E2E_ARGS=--quick: smaller subsets, one repetition (a smoke run, not for committing).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
INTERP=${E2E_INTERP_VENV:-bench/.venv}
OURS=${E2E_OURS_VENV:-bench/.venv-ours}
want() { "$1/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('$2') not in ('$3', '$3+cpu'))" 2>/dev/null; }
deps() {  # torch CPU, the test runners and Liger with its tests' dependencies
  want "$1" torch 2.13.0 || "$1/bin/pip" install -q torch==2.13.0
  "$1/bin/python" -c "import numpy, pytest, pytest_asyncio, transformers, einops" 2>/dev/null \
    || "$1/bin/pip" install -q numpy pytest pytest-asyncio "transformers>=5" einops
  want "$1" liger-kernel 0.8.5 || "$1/bin/pip" install -q --no-deps liger-kernel==0.8.5
}
for v in "$INTERP" "$OURS"; do [ -x "$v/bin/python" ] || python3 -m venv "$v"; done
want "$INTERP" triton 3.9.0 || "$INTERP/bin/pip" install -q triton==3.9.0
deps "$INTERP"
deps "$OURS"
if "$OURS/bin/python" -c "import importlib.metadata as m; m.version('triton')" 2>/dev/null; then
  echo "bench/e2e.sh: $OURS has upstream triton installed; our side needs an environment without it" >&2
  exit 1
fi
SITE=$("$OURS/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$ROOT/python" > "$SITE/00-triton-metal-dev.pth"
cp python/triton-metal.pth "$SITE/"
make -s -j2 all
exec "$OURS/bin/python" bench/e2e.py --ours-python "$OURS/bin/python" \
  --interp-python "$INTERP/bin/python" ${E2E_ARGS:-}
