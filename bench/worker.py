"""bench/worker.py: one side of the benchmark, in its own process; run.py
starts it and reads the JSON it writes. Not meant to be run by hand, but it can:

    python bench/worker.py emulate ours OUT.json 0 1 2  # our cpu emulator, CASES[0..2]
    TRITON_INTERPRET=1 python bench/worker.py emulate interpret OUT.json 0 1 2
    python bench/worker.py launch ours|interpret OUT.json
    python bench/worker.py compile-warm OUT.json [KERNEL]  # upstream, many compiles in one process
    python bench/worker.py compile-cold KERNEL           # upstream, one compile in a fresh process

Each side is a separate process because `import triton` means upstream's
module on one side and ours (triton_metal.install()) on the other, and because
TRITON_INTERPRET is read when upstream's @triton.jit runs.
"""
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

TARGET = ("cuda", 80, 32)  # upstream's compile target: an A100 (sm_80), warp size 32


def measure(fn, warmup, min_reps, max_reps, budget_s, settle_s=0.0):
    """Seconds per call: `warmup` untimed calls (and more until settle_s has
    passed), then timed calls until max_reps or the budget is spent (at least
    min_reps). Median, min, max, count."""
    end = time.perf_counter() + settle_s
    for _ in range(warmup):
        fn()
    while time.perf_counter() < end:
        fn()
    times = []
    end = time.perf_counter() + budget_s
    while len(times) < min_reps or (len(times) < max_reps and time.perf_counter() < end):
        t = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t) / 1e9)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "reps": len(times), "warmup": warmup}


def per_launch(fn, batches, per_batch):
    """Seconds per launch: median over batches of (batch time / launches)."""
    for _ in range(per_batch * 3):
        fn()
    samples = []
    for _ in range(batches):
        t = time.perf_counter_ns()
        for _ in range(per_batch):
            fn()
        samples.append((time.perf_counter_ns() - t) / per_batch / 1e9)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "max_s": max(samples),
            "reps": batches, "launches_per_rep": per_batch}


# ------------------------------------------------------------ emulate/interpret

def _import_side(side):
    if side == "ours":
        sys.path.insert(0, os.path.join(ROOT, "python"))
        import triton_metal
        assert triton_metal.install(force=True)  # `import triton` in the kernel files -> ours
        import triton
        import _triton_metal_finder
        assert _triton_metal_finder.is_ours(triton), triton.__file__
    else:
        assert os.environ.get("TRITON_INTERPRET") == "1", "run with TRITON_INTERPRET=1"


def emulate(side, out_path, indices):
    """Runs the CASES at `indices` on this side."""
    _import_side(side)
    import numpy as np
    import torch
    import triton
    from cases import CASES, KERNELS, check, load_kernel_module

    torch.set_num_threads(os.cpu_count() or 1)
    result = {"side": side, "triton": getattr(triton, "__version__", "?"), "cases": []}
    if side == "ours":
        result["device"] = triton.get_device().name
    budget = float(os.environ.get("BENCH_CASE_BUDGET_S", "8"))
    modules = {}
    for kname, label, make, _bytes, _flops in (CASES[i] for i in indices):
        spec = KERNELS[kname]
        row = {"kernel": kname, "problem": label}
        result["cases"].append(row)
        try:
            mod = modules.get(kname) or modules.setdefault(kname, load_kernel_module(kname))
            fn = getattr(mod, spec["kernel"])
            args, grid, outputs, tol = make()
            targs = [torch.from_numpy(a.copy()) if isinstance(a, np.ndarray) else a for a in args]
            launch = fn[grid]
            call = lambda: launch(*targs, **spec["constexprs"], num_warps=spec["num_warps"])
            dev = triton.get_device() if side == "ours" else None
            mark = dev.tier_mark() if dev is not None and hasattr(dev, "tier_mark") else None
            t0 = time.perf_counter()
            call()  # first call: compiles (ours: also builds the MSL on the emulator)
            row["first_call_s"] = time.perf_counter() - t0
            if mark is not None:  # ours: wait for the -O2 objects of what that call launched
                dev.tier_settle(mark)
        except Exception as e:  # noqa: BLE001 -- recorded in the report, never hidden
            msg = str(e).strip().splitlines()
            row["error"] = f"{type(e).__name__}: {msg[0] if msg else ''}"
            row["compile_error"] = type(e).__name__ == "CompilationError"
            print(f"[{side}] {kname} {label}: {row['error']}", file=sys.stderr)
            continue
        row["mismatch"] = check(outputs, [t.numpy() if hasattr(t, "numpy") else t for t in targs], tol)
        # ours: the default tiers build a kernel at -O0 and swap its -O2 object
        # in after 8 launches or 20 ms, built in the background. The first
        # call's kernels are settled above (Device.tier_settle: their -O2
        # objects built and swapped in, as do_bench does), so the timed rows
        # measure -O2 code whatever the disk cache held; a second of untimed
        # launches follows (warm caches, the pool's threads)
        settle = float(os.environ.get("BENCH_SETTLE_S", "1.0")) if side == "ours" else 0.0
        row.update(measure(call, warmup=2, min_reps=5, max_reps=200, budget_s=budget, settle_s=settle))
        print(f"[{side}] {kname} {label}: {row['median_s'] * 1e3:.3f} ms "
              f"({row['reps']} reps){' MISMATCH ' + row['mismatch'] if row['mismatch'] else ''}",
              file=sys.stderr)

    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)


def launch(side, out_path):
    """Launch overhead of one empty kernel (vector add's parameters, torch CPU
    tensors, grid (1,)) on this side."""
    _import_side(side)
    import torch
    from cases import load_kernel_module
    mod = load_kernel_module("vector add")
    x = torch.zeros(1024)
    y, o = torch.zeros_like(x), torch.zeros_like(x)
    k = mod.empty_kernel[(1,)]
    batches, per = (200, 200) if side == "ours" else (50, 40)
    with open(out_path, "w") as f:
        json.dump(per_launch(lambda: k(x, y, o, 1024, BLOCK_SIZE=128), batches, per), f)


# ------------------------------------------------------------- upstream compile

def _upstream_source(kname):
    from triton.compiler import ASTSource
    from cases import KERNELS, load_kernel_module
    spec = KERNELS[kname]
    fn = getattr(load_kernel_module(kname), spec["kernel"])
    sig = dict(spec["params"])
    sig.update({c: "constexpr" for c in spec["constexprs"]})
    return ASTSource(fn, sig, constexprs=dict(spec["constexprs"])), spec["num_warps"]


class _StopAfterPTX(Exception):
    pass


def _stop_at_ptx(stop):
    """When stop is True, upstream's cubin stage (its bundled ptxas) raises
    _StopAfterPTX instead of running, so a compile ends right after PTX, its GPU
    assembly; when False the stage runs again."""
    from triton.backends.nvidia.compiler import CUDABackend
    orig = getattr(CUDABackend, "_bench_orig_add_stages", None)
    if orig is None:
        orig = CUDABackend._bench_orig_add_stages = CUDABackend.add_stages

    def add_stages(self, stages, options, language):
        orig(self, stages, options, language)

        def cubin(src, metadata):
            raise _StopAfterPTX()
        stages["cubin"] = cubin
    CUDABackend.add_stages = add_stages if stop else orig


def _compile_once(src, num_warps, times):
    """Times one triton.compile; returns the stages it produced."""
    import triton
    from triton.backends.compiler import GPUTarget
    t = time.perf_counter_ns()
    try:
        k = triton.compile(src, target=GPUTarget(*TARGET), options={"num_warps": num_warps})
        produced = list(k.asm.keys())
    except _StopAfterPTX:
        produced = ["ttir", "ttgir", "llir", "ptx"]
    times.append((time.perf_counter_ns() - t) / 1e9)
    return produced


def compile_warm(out_path, names):
    assert os.environ.get("TRITON_ALWAYS_COMPILE") == "1", "the cache must be bypassed"
    import triton
    from triton import knobs
    from cases import KERNELS
    stages = []
    knobs.compilation.listener = lambda **kw: stages.append(kw["times"])
    reps = int(os.environ.get("BENCH_UPSTREAM_COMPILE_REPS", "20"))
    result = {"triton": triton.__version__, "target": list(TARGET), "kernels": {}}
    for kname in names or KERNELS:
        row = result["kernels"][kname] = {}
        try:
            src, nw = _upstream_source(kname)
            for mode, n in (("ptx", reps), ("cubin", max(3, reps // 2))):
                _stop_at_ptx(mode == "ptx")
                times = []
                _compile_once(src, nw, [])  # warm-up: lazy imports and LLVM set-up
                stages.clear()
                for _ in range(n):
                    produced = _compile_once(src, nw, times)
                assert produced[-1] == mode, f"{mode}: stages {produced}"
                row[mode] = {"median_s": statistics.median(times), "min_s": min(times),
                             "max_s": max(times), "reps": len(times), "warmup": 1,
                             "stages": produced}
                if mode == "cubin":
                    # per-stage medians (microseconds) from upstream's compilation
                    # listener, which only reports compiles that reach the end
                    per = {"init + AST -> TTIR": [s.ir_initialization for s in stages]}
                    for s in stages:
                        for name, us in s.lowering_stages:
                            per.setdefault(name, []).append(us)
                    row[mode]["stage_median_us"] = {n_: statistics.median(v) for n_, v in per.items()}
                print(f"[upstream compile] {kname} -> {mode}: {row[mode]['median_s'] * 1e3:.1f} ms",
                      file=sys.stderr)
        except Exception as e:  # noqa: BLE001
            row["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            print(f"[upstream compile] {kname}: {row['error']}", file=sys.stderr)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)


def compile_cold(kname):
    """A fresh process: import triton, load the kernel file, compile to PTX once."""
    t0 = time.perf_counter()
    import triton  # noqa: F401
    t1 = time.perf_counter()
    src, nw = _upstream_source(kname)
    _stop_at_ptx(True)
    times = []
    _compile_once(src, nw, times)
    print(json.dumps({"import_s": t1 - t0, "first_compile_s": times[0]}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "emulate":
        emulate(sys.argv[2], sys.argv[3], [int(i) for i in sys.argv[4:]])
    elif cmd == "launch":
        launch(sys.argv[2], sys.argv[3])
    elif cmd == "compile-warm":
        compile_warm(sys.argv[2], sys.argv[3:])
    elif cmd == "compile-cold":
        compile_cold(sys.argv[2])
    else:
        raise SystemExit(f"unknown command {cmd}")
