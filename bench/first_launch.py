"""bench/first_launch.py: the first launch of a new specialization on the cpu
emulator at test sizes (issue 18's "first launch" goal: an elementwise or
reduction kernel within 30 ms, a dot within 150 ms).

    python3 bench/first_launch.py [--reps N] [--baseline PYTHONPATH] [--cache primed|empty]

Each kernel (a vector add of 4096 floats, a softmax of 64 rows of 1000, a
64x64x64 tl.dot) is launched once to record its launch; then, N times, its
MSL gets a unique comment (so the emulator's caches, in memory and on disk,
miss: what a new specialization costs) and is built and launched: the time
from the build's start to the launch's end, and the build alone. A baseline
tree (another PYTHONPATH) runs in its own process, alternating with this one.
Every process gets a new cache folder: with --cache primed (the default), one
that a process of its own first filled by building 12 specializations, as a
user's cache is after its first few dozen kernels (the precompiled shims,
plain and with code, are in place: runtime/cpu/cpu_build.c); with --cache
empty, none. Medians, ms.
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from newkernel import fresh_copy, gather, run_child  # noqa: E402


def prime():
    """Builds and launches 12 specializations of a small kernel (the process
    waits, as it exits, for what the runtime builds in the background)."""
    import numpy as np

    import triton_metal as triton
    import triton_metal.language as tl

    @triton.jit
    def scale(x, o, n, A: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(o + offs, tl.load(x + offs, mask=m) * A, mask=m)

    x = np.ones(1000, np.float32)
    o = np.zeros_like(x)
    for a in range(2, 14):
        scale[(4,)](x, o, x.size, A=a, BLOCK=256)
        assert (o == a).all()


def child(reps):
    import gc

    import numpy as np

    import triton_metal as triton
    import triton_metal.language as tl
    from triton_metal import _C
    J = sys.modules["triton_metal.jit"]

    @triton.jit
    def add(x, y, o, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(o + offs, tl.load(x + offs, mask=m) + tl.load(y + offs, mask=m), mask=m)

    @triton.jit
    def softmax(o, x, stride, n, BLOCK: tl.constexpr):
        r = tl.program_id(0)
        c = tl.arange(0, BLOCK)
        m = c < n
        v = tl.load(x + r * stride + c, mask=m, other=-float("inf"))
        e = tl.exp(v - tl.max(v, 0))
        tl.store(o + r * stride + c, e / tl.sum(e, 0), mask=m)

    @triton.jit
    def dot(a, b, c, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
        rm, rn, rk = tl.arange(0, M), tl.arange(0, N), tl.arange(0, K)
        x = tl.load(a + rm[:, None] * K + rk[None, :])
        y = tl.load(b + rk[:, None] * N + rn[None, :])
        tl.store(c + rm[:, None] * N + rn[None, :], tl.dot(x, y))

    f32 = np.float32
    # the recorded launches hold these arrays' raw pointers: they stay alive
    keep = [np.ones(4096, f32), np.ones(4096, f32), np.zeros(4096, f32),
            np.zeros((64, 1000), f32), np.ones((64, 1000), f32),
            np.ones((64, 64), f32), np.ones((64, 64), f32), np.zeros((64, 64), f32)]
    cases = [
        ("elementwise: vector add 4096", lambda: add[(4,)](keep[0], keep[1], keep[2], 4096, BLOCK=1024)),
        ("reduction: softmax 64x1000", lambda: softmax[(64,)](keep[3], keep[4], 1000, 1000, BLOCK=1024)),
        ("dot: 64x64x64 fp32", lambda: dot[(1,)](keep[5], keep[6], keep[7], M=64, N=64, K=64)),
    ]
    dev = J.get_device()
    orig = J._launch
    for name, call in cases:
        seen = []

        def record(module, grid3, values, views, _seen=seen):
            _seen.append((module, grid3, values))
            return orig(module, grid3, values, views)
        J._launch = record
        try:
            call()
        finally:
            J._launch = orig
        module, grid3, values = seen[0]
        k = next(o.kernel for o in gc.get_objects() if isinstance(o, J.CompiledKernel) and o.module is module)
        first, build = [], []
        for r in range(reps):
            k2 = fresh_copy(_C, k, f"first_launch rep {r}")
            t0 = time.perf_counter()
            m = dev.load(k2)
            t1 = time.perf_counter()
            m.launch(grid3, values)
            t2 = time.perf_counter()
            build.append((t1 - t0) * 1e3)
            first.append((t2 - t0) * 1e3)
        print(json.dumps({"name": name, "first_ms": first, "build_ms": build}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=2, help="processes per tree, alternating")
    ap.add_argument("--baseline", help="PYTHONPATH of a baseline tree")
    ap.add_argument("--cache", choices=("primed", "empty"), default="primed",
                    help="each measuring process's cache folder: filled by a priming process first, or empty")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--prime", action="store_true")
    a = ap.parse_args()
    if a.prime:
        return prime()
    if a.child:
        return child(a.reps)
    trees = ([("baseline", a.baseline)] if a.baseline else []) + [("this tree", os.path.join(ROOT, "python"))]
    res, order = {}, []
    for _ in range(a.rounds):
        for label, path in trees:
            rows = run_child(os.path.abspath(__file__), label, path, ["--reps", str(a.reps)], ROOT,
                             prime=a.cache == "primed")
            gather(res, order, label, rows, ("first_ms", "build_ms"))
    print(f"load average {os.getloadavg()[0]:.2f}; {a.rounds} processes x {a.reps} reps per tree; "
          f"cache folders {a.cache}; medians, ms")
    print("| kernel | " + " | ".join(f"{label}: first launch | build" for label, _ in trees) + " |")
    print("| --- |" + " --- | --- |" * len(trees))
    for name in order:
        cells = []
        for label, _ in trees:
            r = res[(label, name)]
            cells += [f"{statistics.median(r['first_ms']):.1f}", f"{statistics.median(r['build_ms']):.1f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
