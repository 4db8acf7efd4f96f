#!/usr/bin/env bash
# The whole test suite (the README's test command, also run by .ci/run):
# set-up and build, C unit tests, the same C tests under ASan+UBSan, then the
# Python tests (golden MSL, located errors, executable tests against NumPy,
# the Python package) on the CPU emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
bash tools/setup.sh
echo "== C unit tests"
make -s ctest
echo "== C unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
make -s asan 2>&1 | grep -v '^ar\|^cc' || exit 1
echo "== Python tests"
PYTHONPATH=python "$PYTHON" -m pytest -q -p no:cacheprovider tests
echo "== Metal wrappers syntax check, then the executable Python tests on metal-sim"; make -s mtl-check && TRITON_METAL_DEVICE=metal-sim PYTHONPATH=python "$PYTHON" -m pytest -q -p no:cacheprovider tests/exec tests/python
echo "== Reliability (docs/reliability.md): the CLI under valgrind, a 15 s compiler fuzz smoke, the Python tests with an ASan+UBSan extension"
if command -v valgrind >/dev/null; then make -s valgrind-cli; else echo "valgrind not installed: skipped"; fi; if command -v clang-19 >/dev/null; then make -s fuzz-smoke FUZZ_SMOKE_TIME=15; else echo "clang-19 not installed: fuzz smoke skipped"; fi; TM_DIFF_CASES=10 ASAN_PY_TESTS="tests/hostile tests/diff tests/exec/test_bounds.py tests/exec/test_control_flow.py tests/exec/test_reductions.py" make -s asan-py 2>&1 | grep -v '^cc '
