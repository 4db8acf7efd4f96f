#!/usr/bin/env bash
# The Python executable tests against an extension built with ASan+UBSan
# (`make asan-py` builds it, then runs this): the package is assembled under
# build/asan-py/pkg from python/triton_metal (links) plus the sanitized _C, and
# CPython runs with libasan preloaded. CPython's own allocations are not
# leak-checked (detect_leaks=0: the interpreter keeps objects until exit); the
# sanitizers abort the run on the first report in our code.
set -euo pipefail
cd "$(dirname "$0")/../.."
EXT=$1; shift
PYTHON=${PYTHON:-python3}
CC=${CC:-cc}
PKG=build/asan-py/pkg/triton_metal
rm -rf build/asan-py/pkg && mkdir -p "$PKG"
for f in python/triton_metal/*; do
  case "$f" in *.so|*.c|*.h) ;; *) ln -s "$PWD/$f" "$PKG/";; esac
done
cp "$EXT" "$PKG/"
# the `triton` compat layer's meta-path finder lives beside the package
[ -f python/_triton_metal_finder.py ] && ln -s "$PWD/python/_triton_metal_finder.py" build/asan-py/pkg/
LIBASAN=$($CC -print-file-name=libasan.so)
[ -f "$LIBASAN" ] || { echo "asan-py: libasan.so not found via $CC" >&2; exit 1; }
export LD_PRELOAD=$LIBASAN
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TM_DIFF_CASES=${TM_DIFF_CASES:-20}
echo "== Python executable, hostile-input, concurrency and differential tests with the ASan+UBSan extension"
PYTHONPATH=build/asan-py/pkg "$PYTHON" -c "import triton_metal._C as c; print('extension:', c.__file__)"
PYTHONPATH=build/asan-py/pkg "$PYTHON" -m pytest -q -p no:cacheprovider ${ASAN_PY_TESTS:-tests/exec tests/hostile tests/diff} "$@" \
  2>&1 | tee build/asan-py/pytest.log | tail -15
rc=${PIPESTATUS[0]}
if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" build/asan-py/pytest.log; then
  echo "asan-py: sanitizer report (build/asan-py/pytest.log)"
  exit 1
fi
exit "$rc"
