"""bench/cold_compile.py: the cpu emulator's first launch of a new kernel.

    python3 bench/cold_compile.py [--reps N] [--baseline PYTHONPATH] [--dump DIR]
                                  [--opt fast|full|tiered] [--only NAME,...]

For each example (vector add, softmax, layer norm, matmul, attention) one run
of the example records its kernels' launches (the _C.Kernel, grid and argument
values of each launch). Then, N times, every recorded kernel is made anew with
a unique comment appended to its MSL (so the emulator's caches, in memory and
on disk, miss: what a new specialization costs) and timed: the build
(device.load) and the first launch, and a second launch (warm).

Run in a child process per configuration so that a baseline tree (another
PYTHONPATH, e.g. a build of an older commit) and this one are measured in the
same script run, interleaved rep by rep; medians are printed as a table.
--dump DIR writes each kernel's MSL to DIR (for profiling the compiler by hand).
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
EXAMPLES = ["vector_add", "softmax", "layer_norm", "matmul", "attention"]


def child(names, reps, dump):
    """Runs in the measured tree: prints one JSON line per example."""
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import importlib
    import triton_metal  # noqa: F401
    J = sys.modules["triton_metal.jit"]
    from triton_metal import _C
    dev = J.get_device()
    for name in names:
        seen = []
        orig = J._launch

        def record(module, grid3, values, views, _seen=seen, _orig=orig):
            # the launch values hold raw pointers: keep every caller's locals
            # (the example's arrays) alive for the timed launches
            f, held = sys._getframe(1), []
            while f:
                held.append(dict(f.f_locals))
                f = f.f_back
            _seen.append((module, grid3, values, held))
            return _orig(module, grid3, values, views)
        J._launch = record
        try:
            importlib.import_module(name).main()
        finally:
            J._launch = orig
        # the kernel object behind each recorded module (first launch of each)
        kernels = []
        for ck in list(_compiled_kernels(J)):
            for module, grid3, values, _ in seen:
                if ck.module is module and all(module is not k[1] for k in kernels):
                    kernels.append((ck.kernel, module, grid3, values))
        if dump:
            os.makedirs(dump, exist_ok=True)
            for i, (k, _, _, _) in enumerate(kernels):
                with open(os.path.join(dump, f"{name}-{i}.metal"), "w") as f:
                    f.write(k.msl)
        for i, (k, _, grid3, values) in enumerate(kernels):
            build, first, warm = [], [], []
            for r in range(reps):
                k2 = fresh_copy(_C, k, f"cold_compile rep {r}")
                t0 = time.perf_counter()
                m = dev.load(k2)
                t1 = time.perf_counter()
                m.launch(grid3, values)
                t2 = time.perf_counter()
                m.launch(grid3, values)
                t3 = time.perf_counter()
                build.append((t1 - t0) * 1e3)
                first.append((t2 - t0) * 1e3)
                warm.append((t3 - t2) * 1e3)
            print(json.dumps({"name": f"{name}-{i} {k.name}", "build_ms": build,
                              "first_launch_ms": first, "warm_launch_ms": warm}), flush=True)
        seen.clear()


def _compiled_kernels(J):
    """Every CompiledKernel of every JITFunction alive (through the gc)."""
    import gc
    for o in gc.get_objects():
        if isinstance(o, J.CompiledKernel) and o.module is not None:
            yield o


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--baseline", help="PYTHONPATH of a baseline tree, measured interleaved")
    ap.add_argument("--opt", action="append", help="TRITON_METAL_OPT value(s) for this tree")
    ap.add_argument("--only", help="comma-separated examples")
    ap.add_argument("--dump")
    ap.add_argument("--child", action="store_true")
    a = ap.parse_args()
    names = a.only.split(",") if a.only else EXAMPLES
    if a.child:
        return child(names, a.reps, a.dump)
    runs = []  # (label, PYTHONPATH, extra env)
    if a.baseline:
        runs.append(("baseline", a.baseline, {}))
    for opt in a.opt or [None]:
        runs.append((f"this tree{' ' + opt if opt else ''}", os.path.join(ROOT, "python"),
                     {"TRITON_METAL_OPT": opt} if opt else {}))
    res, order = {}, []
    for rep in range(a.reps):  # one rep per child, interleaved
        for label, path, extra in runs:
            args = ["--reps", "1", "--only", ",".join(names)] + (["--dump", a.dump] if a.dump and rep == 0 else [])
            rows = run_child(os.path.abspath(__file__), label, path, args, ROOT, extra)
            gather(res, order, label, rows, ("build_ms", "first_launch_ms", "warm_launch_ms"))
    print(f"load average {os.getloadavg()[0]:.2f}; {a.reps} reps; medians, ms "
          "(a new kernel: build + first launch; warm: its second launch)")
    print("| kernel | " + " | ".join(f"{l}: build | first launch | warm" for l, _, _ in runs) + " |")
    print("| --- |" + " --- | --- | --- |" * len(runs))
    for name in order:
        cells = []
        for label, _, _ in runs:
            r = res[(label, name)]
            cells += [f"{statistics.median(r['build_ms']):.0f}",
                      f"{statistics.median(r['first_launch_ms']):.0f}",
                      f"{statistics.median(r['warm_launch_ms']):.1f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
