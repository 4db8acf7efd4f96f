"""bench/launch.py: host time per launch of a cached kernel, from Python.

    PYTHONPATH=python python3 bench/launch.py [--batches 300] [--per-batch 200] [--out FILE]

Each figure is the median over batches of (batch wall time / launches per
batch), in microseconds, after a warm-up that compiles and caches the kernel.

  empty, grid (1,)         kernel[(1,)]() of a kernel with no parameters and an
                           empty body: the whole launch, the cpu device's
                           tm_launch (one threadgroup) included
  empty, grid (0,)         the same call with an empty grid: every step before
                           the device is reached (binding, key, lookup, grid),
                           since an empty grid returns just before tm_launch
  Module.launch floor      _C.Module.launch on the loaded module: the C API
                           call and the device, without binding or lookup
  4 args numpy / torch     an empty kernel taking (x_ptr, y_ptr, out_ptr, n,
                           BLOCK: constexpr), as a vector add does, with NumPy
                           arrays or torch CPU tensors; grid (1,) and grid (0,)
  Python reference path    the same 4-arg launch through JITFunction._run (the
                           Python binding/specialization the C path replaces)
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import numpy as np  # noqa: E402

import triton_metal as triton  # noqa: E402
import triton_metal.language as tl  # noqa: E402


@triton.jit
def empty():
    pass


@triton.jit
def empty_args(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    pass


def per_launch_us(fn, batches, per_batch):
    for _ in range(per_batch * 5):
        fn()
    samples = []
    for _ in range(batches):
        t = time.perf_counter_ns()
        for _ in range(per_batch):
            fn()
        samples.append((time.perf_counter_ns() - t) / per_batch / 1e3)
    return statistics.median(samples)


def machine():
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if sys.platform == "darwin":
        import subprocess
        try:
            model = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                   capture_output=True, text=True).stdout.strip() or model
        except OSError:
            pass
    return (f"{platform.system()} {platform.machine()}, {model}, {os.cpu_count()} logical CPUs, "
            f"Python {platform.python_version()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--per-batch", type=int, default=200)
    ap.add_argument("--out", help="write the results (JSON) here")
    a = ap.parse_args()
    B, P = a.batches, a.per_batch

    k1, k0 = empty[(1,)], empty[(0,)]
    compiled = k1()
    module = compiled.module
    x = np.zeros(1024, np.float32)
    y, out = np.zeros_like(x), np.zeros_like(x)
    a1, a0 = empty_args[(1,)], empty_args[(0,)]
    rows = [
        ("empty, grid (1,): whole launch", lambda: k1()),
        ("empty, grid (0,): before the device", lambda: k0()),
        ("Module.launch floor (C API + device)", lambda: module.launch((1, 1, 1), ())),
        ("4 args numpy, grid (1,)", lambda: a1(x, y, out, 1024, BLOCK=128)),
        ("4 args numpy, grid (0,): before the device", lambda: a0(x, y, out, 1024, BLOCK=128)),
    ]
    try:
        import torch
        tx = torch.zeros(1024)
        ty, tout = torch.zeros_like(tx), torch.zeros_like(tx)
        rows += [("4 args torch, grid (1,)", lambda: a1(tx, ty, tout, 1024, BLOCK=128)),
                 ("4 args torch, grid (0,): before the device",
                  lambda: a0(tx, ty, tout, 1024, BLOCK=128))]
    except ImportError:
        pass
    rows.append(("4 args numpy, Python reference path (JITFunction._run)",
                 lambda: empty_args._run((1,), (x, y, out, 1024), {"BLOCK": 128}, False)))
    results = {"machine": machine(), "device": triton.get_device().name,
               "batches": B, "launches_per_batch": P, "median_us": {}}
    print(f"machine: {results['machine']}\ndevice: {results['device']}; median of {B} batches "
          f"of {P} launches\n")
    for name, fn in rows:
        us = per_launch_us(fn, B, P)
        results["median_us"][name] = round(us, 3)
        print(f"{us:8.3f} us  {name}")
    assert empty.fast_cache and empty_args.fast_cache, "the C launch path was not used"
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
