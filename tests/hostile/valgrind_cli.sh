#!/usr/bin/env bash
# The CLI under valgrind (memcheck, full leak check) over every golden, error
# and fuzz-regression kernel, and the IR dump of each golden: any invalid
# access, use of uninitialized memory or leak fails the run.
set -uo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "valgrind-cli: valgrind is not installed (apt-get install valgrind)"; exit 1; }
VG="valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible"
header() { sed -n "s/^# $2: //p" "$1" | head -1; }
n=0 bad=0
run() {
  n=$((n + 1))
  $VG ./build/triton-metal compile "$@" >/dev/null 2>build/valgrind.log
  if [ $? = 99 ]; then bad=$((bad + 1)); echo "valgrind: errors in: triton-metal compile $*"; cat build/valgrind.log; fi
}
for f in tests/golden/*.py; do
  eval "args=($(header "$f" golden))"; run "$f" "${args[@]}"; run "$f" "${args[@]}" -d ir; run "$f" "${args[@]}" -d ast
done
for f in tests/errors/*.py tests/fuzz/regress/*.py; do
  eval "args=($(header "$f" args))"; run "$f" "${args[@]}"
done
echo "== valgrind on the CLI: $n runs, $bad with errors"
[ "$bad" = 0 ]
