"""bench/mac.py: the Metal part of the benchmark report (run.py calls it on
macOS). The benchmark kernels on the `metal` device against the libraries a
Mac user would call instead, MLX and torch MPS, measured in the same run; and
achieved GB/s against the chip's memory bandwidth.

    PYTHONPATH=python python bench/mac.py --out FILE.json [--quick] [--peak-gbs N]
        [--device metal]

Times: host clock around each call followed by a synchronization (our launch
returns when the kernel has finished; torch.mps.synchronize(); mx.eval), median
after warm-up. GB/s counts each input read once and each output written once
(bench/cases.py); GFLOP/s counts 2 flops per multiply-add of matmul and of the
two products of attention. `--device metal-sim` runs the script's own logic on
Linux (without references or bandwidth figures) to check it.
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))

# Apple's published unified-memory bandwidth (GB/s) by chip; --peak-gbs overrides.
# Where one chip name has two bin levels, the higher is listed.
PEAK_GBS = {"M1": 68.25, "M1 Pro": 200, "M1 Max": 400, "M1 Ultra": 800, "M2": 100,
            "M2 Pro": 200, "M2 Max": 400, "M2 Ultra": 800, "M3": 100, "M3 Pro": 150,
            "M3 Max": 400, "M3 Ultra": 819, "M4": 120, "M4 Pro": 273, "M4 Max": 546,
            "M5": 153}


def timeit(fn, sync, warmup=5, reps=50, budget_s=3.0):
    for _ in range(warmup):
        fn()
        sync()
    times = []
    end = time.perf_counter() + budget_s
    while len(times) < 5 or (len(times) < reps and time.perf_counter() < end):
        t = time.perf_counter_ns()
        fn()
        sync()
        times.append((time.perf_counter_ns() - t) / 1e9)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "reps": len(times)}


def references(kname, args):
    """{library: (fn, sync)} for the kernel's operation on the case's inputs."""
    refs = {}
    try:
        import mlx.core as mx
        a = [mx.array(x) if hasattr(x, "shape") else x for x in args]
        ops = {
            "vector add": lambda: mx.add(a[0], a[1]),
            "fused softmax": lambda: mx.softmax(a[1], axis=1),
            "layer norm": lambda: mx.fast.layer_norm(a[0], a[2], a[3], a[8]),
            "matmul": lambda: mx.matmul(a[0], a[1]),
            "attention fwd": lambda: mx.fast.scaled_dot_product_attention(
                a[0][None], a[1][None], a[2][None], scale=a[4]),
        }
        box = {}
        refs["MLX"] = (lambda: box.__setitem__("r", ops[kname]()), lambda: mx.eval(box["r"]))
    except ImportError:
        pass
    try:
        import torch
        import torch.nn.functional as F
        if torch.backends.mps.is_available():
            t = [torch.from_numpy(x).to("mps") if hasattr(x, "shape") else x for x in args]
            ops = {
                "vector add": lambda: torch.add(t[0], t[1]),
                "fused softmax": lambda: torch.softmax(t[1], dim=1),
                "layer norm": lambda: F.layer_norm(t[0], (t[0].shape[1],), t[2], t[3], t[8]),
                "matmul": lambda: torch.mm(t[0], t[1]),
                "attention fwd": lambda: F.scaled_dot_product_attention(
                    t[0][None], t[1][None], t[2][None], scale=t[4]),
            }
            refs["torch MPS"] = (ops[kname], torch.mps.synchronize)
    except ImportError:
        pass
    return refs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="metal")
    ap.add_argument("--peak-gbs", type=float)
    a = ap.parse_args()
    os.environ["TRITON_METAL_DEVICE"] = a.device
    import numpy as np
    import triton_metal
    triton_metal.install(force=True)
    from cases import CASES, KERNELS, check, load_kernel_module

    res = {"device": a.device}
    dev = triton_metal.get_device().name
    if dev != a.device:
        res["skipped"] = f"the {a.device} device is not available here (got {dev})"
        json.dump(res, open(a.out, "w"))
        return
    hw = triton_metal.check_compatibility(run=False)["hardware"] if a.device == "metal" else {}
    chip = (hw.get("chip") or "").replace("Apple ", "")
    peak = a.peak_gbs or PEAK_GBS.get(chip)
    res.update(chip=chip or a.device, peak_gbs=peak,
               peak_source="--peak-gbs" if a.peak_gbs else "Apple's published figure" if peak else None)
    try:
        import torch
        on_mps = a.device == "metal" and torch.backends.mps.is_available()
    except ImportError:
        torch, on_mps = None, False
    budget = 1.0 if a.quick else 3.0
    rows = []
    for kname, label, make, nbytes, flops in CASES:
        spec = KERNELS[kname]
        row = {"kernel": kname, "problem": label, "bytes": nbytes, "flops": flops}
        rows.append(row)
        args, grid, outputs, tol = make()
        if on_mps:
            targs = [torch.from_numpy(x.copy()).to("mps") if isinstance(x, np.ndarray) else x for x in args]
            sync, host = torch.mps.synchronize, lambda t: t.cpu().numpy()
        else:
            targs = [x.copy() if isinstance(x, np.ndarray) else x for x in args]
            sync, host = (lambda: None), (lambda t: t)
        try:
            fn = getattr(load_kernel_module(kname), spec["kernel"])
            call = lambda: fn[grid](*targs, **spec["constexprs"], num_warps=spec["num_warps"])
            call()
            sync()
        except Exception as e:  # noqa: BLE001 -- reported, never hidden
            row["ours_error"] = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}"
            continue
        row["ours_mismatch"] = check(outputs, [host(t) if hasattr(t, "shape") else t for t in targs], tol)
        row["ours"] = timeit(call, sync, budget_s=budget)
        if a.device == "metal":
            for lib, (rfn, rsync) in references(kname, args).items():
                row[lib] = timeit(rfn, rsync, budget_s=budget)
        print(f"[mac] {kname} {label}: ours {row['ours']['median_s'] * 1e6:.1f} us", file=sys.stderr)
    res["rows"] = rows
    libs = [lib for lib in ("MLX", "torch MPS") if any(lib in r for r in rows)]

    def perf(r, d):
        t = d["median_s"]
        s = f"{t * 1e6:.1f} µs, {r['bytes'] / t / 1e9:.3g} GB/s"
        if r["kernel"] in ("matmul", "attention fwd"):
            s += f", {r['flops'] / t / 1e12:.3g} TFLOP/s"
        return s
    bw = f"{peak:g} GB/s ({res['peak_source']})" if peak else "unknown (pass --peak-gbs)"
    md = [f"Device `{a.device}`, chip {res['chip']}; memory bandwidth {bw}. "
          "Median time per call with synchronization, then GB/s (inputs read once, outputs "
          "written once) and, for matmul and attention, TFLOP/s; ratio = reference time / ours.",
          "", "| kernel | problem | ours | % of bandwidth |" + "".join(f" {lib} | ratio |" for lib in libs),
          "| --- | --- | --- | --- |" + " --- | --- |" * len(libs)]
    for r in rows:
        if "ours_error" in r:
            md.append(f"| {r['kernel']} | {r['problem']} | not supported yet: `{r['ours_error']}` | – |"
                      + " – | – |" * len(libs))
            continue
        ours = perf(r, r["ours"]) + (f" (WRONG RESULT: {r['ours_mismatch']})" if r["ours_mismatch"] else " ✓")
        pct = f"{100 * r['bytes'] / r['ours']['median_s'] / 1e9 / peak:.0f}%" if peak else "–"
        cells = []
        for lib in libs:
            d = r.get(lib)
            cells.append(f" {perf(r, d)} | {d['median_s'] / r['ours']['median_s']:.2f}× |" if d else " – | – |")
        md.append(f"| {r['kernel']} | {r['problem']} | {ours} | {pct} |" + "".join(cells))
    res["markdown"] = md
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
