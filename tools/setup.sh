#!/usr/bin/env bash
# Installs what building and testing triton-metal needs on a fresh Debian or
# macOS machine, then builds. Safe to run again: it skips what is present.
#   - a C11 compiler (cc) and make: required
#   - Python 3 with numpy and pytest: required for the Python package and tests
#   - clang++-19 (Debian) for the CPU emulator: preferred, because it compiles
#     MSL's half/bfloat and vector types natively; g++ works as a fallback
#   - torch (CPU), optional: its interop tests are skipped without it
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

need_py() { "$PYTHON" -c "import $1" 2>/dev/null; }
for mod in numpy pytest; do
  need_py "$mod" || "$PYTHON" -m pip install -q "$mod"
done
if [ "${TRITON_METAL_SKIP_TORCH:-0}" != 1 ] && ! need_py torch; then
  "$PYTHON" -m pip install -q torch==2.13.0 2>/dev/null || echo "setup: torch not installed; its tests will be skipped"
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
