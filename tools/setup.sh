#!/usr/bin/env bash
# Installs what building and testing triton-metal needs on a fresh Debian or
# macOS machine, then builds. Safe to run again: it skips what is present.
#   - a C11 compiler (cc) and make: required
#   - Python 3 with numpy and pytest: required for the Python package and tests
#   - clang++-19 (Debian) for the CPU emulator: preferred, because it compiles
#     MSL's half/bfloat and vector types natively; g++ works as a fallback
#   - torch (CPU), optional: its interop tests are skipped without it
#   - the real libraries tests/libs runs (optional, TRITON_METAL_SKIP_LIBS=1 skips):
#     Liger-Kernel, fla-core and FlagGems without their dependencies (they would
#     pull upstream triton and a CUDA torch), their pure-Python needs (transformers,
#     einops, PyYAML, SQLAlchemy) and MLX's CPU build
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

need_py() { "$PYTHON" -c "import $1" 2>/dev/null; }
# installed, without importing it (liger_kernel and fla import triton, which is ours
# only with python/ on the path)
need_dist() { "$PYTHON" -c "import importlib.metadata as m; m.version('$1')" 2>/dev/null; }
for mod in numpy pytest; do
  need_py "$mod" || "$PYTHON" -m pip install -q "$mod"
done
# the float64/arbitrary-precision reference of tests/exec/test_bessel.py (torch brings it too)
need_py mpmath || "$PYTHON" -m pip install -q "mpmath==1.3.0" 2>/dev/null || echo "setup: mpmath not installed; the Bessel tests will be skipped"
if [ "${TRITON_METAL_SKIP_TORCH:-0}" != 1 ] && ! need_py torch; then
  "$PYTHON" -m pip install -q torch==2.13.0 2>/dev/null || echo "setup: torch not installed; its tests will be skipped"
fi

if [ "${TRITON_METAL_SKIP_LIBS:-0}" != 1 ] && need_py torch; then
  need_py transformers || "$PYTHON" -m pip install -q "transformers==5.25.0" 2>/dev/null || echo "setup: transformers not installed; its tests will be skipped"
  need_py einops || "$PYTHON" -m pip install -q "einops==0.8.2" 2>/dev/null || echo "setup: einops not installed"
  need_dist liger-kernel || "$PYTHON" -m pip install -q --no-deps "liger-kernel==0.8.5" 2>/dev/null || echo "setup: liger-kernel not installed; its tests will be skipped"
  need_dist fla-core || "$PYTHON" -m pip install -q --no-deps "fla-core==0.6.0" 2>/dev/null || echo "setup: fla-core not installed; its tests will be skipped"
  # FlagGems imports PyYAML and SQLAlchemy (its tuning cache) at import
  need_py yaml || "$PYTHON" -m pip install -q "PyYAML==6.0.3" 2>/dev/null || echo "setup: PyYAML not installed"
  need_py sqlalchemy || "$PYTHON" -m pip install -q "sqlalchemy==2.0.48" 2>/dev/null || echo "setup: sqlalchemy not installed"
  need_dist flag-gems || "$PYTHON" -m pip install -q --no-deps "flag-gems==5.0.2" 2>/dev/null || echo "setup: flag-gems not installed; its tests will be skipped"
  if [ "$(uname)" = Linux ]; then mlx_spec="mlx[cpu]==0.32.4"; else mlx_spec="mlx==0.32.4"; fi
  need_py mlx.core || "$PYTHON" -m pip install -q "$mlx_spec" 2>/dev/null || echo "setup: mlx not installed; its tests will be skipped"
fi

if [ "$(uname)" = Linux ] && ! command -v clang++-19 >/dev/null && ! command -v clang++ >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing clang-19 for the CPU emulator"
    (apt-get install -y -qq clang-19 >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq clang-19 >/dev/null; }) \
      || echo "setup: clang-19 not available; the emulator will use g++"
  else
    echo "setup: no clang++ found; the emulator will use g++ (install clang-19 for full half/bfloat support)"
  fi
fi

make -s -j2 all PYTHON="$PYTHON"
