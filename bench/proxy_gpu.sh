#!/usr/bin/env bash
# The GPU proxy's runs on an NVIDIA machine (issue 17), one command:
#
#   bash bench/proxy_gpu.sh [build] [unit] [exec] [sanitize] [bench] [bench-quick] [ablate]
#
# (no argument: all but bench-quick and ablate). Logs and reports go to $OUT (default
# /tmp/proxy-out): build.log, unit.log, exec.log (every executable test through
# the CUDA rendering: TRITON_METAL_HW=cuda-sm90 TRITON_METAL_DEVICE=cuda),
# sanitize.log (compute-sanitizer memcheck, racecheck, synccheck over a set of
# test files), the benchmark's report (bench/h100_proxy.py), and with ablate
# the same cases measured otherwise: upstream without Hopper's matrix
# instructions (DISABLE_MMA_V3=1: its mma.sync kernels), ours built with
# contraction (-fmad=true) and with approximate math (--use_fast_math).
set -u
OUT=${OUT:-/tmp/proxy-out}
mkdir -p "$OUT"
steps=${*:-build unit exec sanitize bench}
PY=${PYTHON:-python3}
export PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH}
export TRITON_METAL_CACHE_DIR=${TRITON_METAL_CACHE_DIR:-/tmp/tm-cache}
CUDA_ENV=(env TRITON_METAL_HW=cuda-sm90 TRITON_METAL_DEVICE=cuda)
JOBS=$(nproc)

has() { case " $steps " in *" $1 "*) return 0 ;; esac; return 1; }

if has build; then
  { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nvcc --version | tail -1
    $PY -c 'import sys, torch, triton; print(sys.version.split()[0], "torch", torch.__version__, "triton", triton.__version__)'
    make -s -j"$JOBS" all PYTHON="$PY" && echo BUILD-OK; } >"$OUT/build.log" 2>&1
  tail -3 "$OUT/build.log"
fi

if has unit; then
  { ./build/tests/test_cuda 2>&1 || echo "test_cuda failed"; } >"$OUT/unit.log" 2>&1
  tail -3 "$OUT/unit.log"
fi

if has exec; then
  # pytest-xdist spreads the first compiles (nvcc) over the cores; the tests
  # that check the emulator's own reports or the MSL dialect's text skip here
  # with their reason (tests/exec/exec_data.py): exec.log lists every failure
  "${CUDA_ENV[@]}" timeout 420 $PY -m pytest -q -p no:cacheprovider -n "$JOBS" \
    -o addopts="" tests/exec tests/python/test_cuda_device.py >"$OUT/exec.log" 2>&1
  grep -E "^(FAILED|ERROR)" "$OUT/exec.log" | sed 's/ - .*//' | sort | uniq -c | sort -rn | head -100 >"$OUT/exec-failures.txt"
  tail -2 "$OUT/exec.log"
fi

if has sanitize; then
  : >"$OUT/sanitize.log"
  for tool in memcheck racecheck synccheck; do
    echo "== $tool" >>"$OUT/sanitize.log"
    "${CUDA_ENV[@]}" timeout 150 compute-sanitizer --tool "$tool" --print-limit 20 \
      $PY -m pytest -q -p no:cacheprovider tests/exec/test_reductions.py tests/exec/test_scans.py tests/exec/test_sort.py \
      tests/exec/test_dot.py tests/exec/test_threadgroup_memory.py tests/exec/test_examples.py tests/exec/test_gather_xor.py \
      tests/exec/test_dot_row_scaled.py tests/exec/test_dot_pipeline.py >>"$OUT/sanitize.log" 2>&1
    echo "rc=$?" >>"$OUT/sanitize.log"
  done
  grep -E "^== |ERROR SUMMARY|rc=|passed|failed" "$OUT/sanitize.log"
fi

if has bench; then
  "${CUDA_ENV[@]}" timeout 540 $PY bench/h100_proxy.py --out "$OUT" 2>&1 | tee "$OUT/bench.log" | tail -40
fi
if has bench-quick; then
  "${CUDA_ENV[@]}" timeout 300 $PY bench/h100_proxy.py --quick --out "$OUT" 2>&1 | tee "$OUT/bench.log" | tail -40
fi
if has ablate; then
  mkdir -p "$OUT/no-wgmma" "$OUT/fmad" "$OUT/fast-math"
  DISABLE_MMA_V3=1 "${CUDA_ENV[@]}" timeout 200 $PY bench/h100_proxy.py --only matmul,attention --out "$OUT/no-wgmma" \
    >"$OUT/no-wgmma/bench.log" 2>&1
  TRITON_METAL_NVCC_FLAGS=-fmad=true "${CUDA_ENV[@]}" timeout 200 $PY bench/h100_proxy.py --only softmax,layer_norm,cross_entropy \
    --out "$OUT/fmad" >"$OUT/fmad/bench.log" 2>&1
  TRITON_METAL_NVCC_FLAGS=--use_fast_math "${CUDA_ENV[@]}" timeout 200 $PY bench/h100_proxy.py --only softmax,layer_norm,cross_entropy \
    --out "$OUT/fast-math" >"$OUT/fast-math/bench.log" 2>&1
  grep -hE "^==|ratio" "$OUT"/no-wgmma/bench.log "$OUT"/fmad/bench.log "$OUT"/fast-math/bench.log
fi
