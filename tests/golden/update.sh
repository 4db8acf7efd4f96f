#!/usr/bin/env bash
# Regenerates tests/golden/*.metal from the current compiler. Each kernel file's
# first line holds the CLI arguments after "# golden:". Review the diff before
# committing: a golden change must be explained in the commit message.
set -euo pipefail
cd "$(dirname "$0")/../.."
for py in tests/golden/*.py; do
  args=$(head -1 "$py" | sed -n 's/^# golden: //p')
  # shellcheck disable=SC2086
  ./build/triton-metal compile "$py" $args -o "${py%.py}.metal"
  echo "wrote ${py%.py}.metal"
done
