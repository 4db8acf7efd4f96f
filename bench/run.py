"""bench/run.py: the benchmark report. `make bench` (bench/run.sh) sets up the
virtual environment and calls this; run by hand with that environment's Python:

    bench/.venv/bin/python bench/run.py [--quick] [--out-dir bench/results]

It measures, in this one run and on this machine, each figure of ours beside
the reference a user would pick instead:

  1. compile latency: our compiler (kernel source -> MSL) against upstream
     Triton (the same source -> PTX for an explicit target, sm_80; and on to
     cubin with its bundled ptxas), in a cold process and in a warm one;
  2. emulator throughput: our cpu device against upstream's interpreter
     (TRITON_INTERPRET=1), same kernels, same sizes, both checked against NumPy;
  3. launch overhead: bench/launch.py, plus the same empty kernel launched on
     both sides;
  4. on a Mac with Metal: bench/mac.py (GB/s, GFLOP/s against MLX, torch MPS
     and the chip's memory bandwidth); elsewhere a note says it was skipped.

and writes bench/results/<date>-<machine>.{json,md,png}. Times are medians
after warm-up, with min and max; ratios are reference / ours (how many times
faster we are), each from the same run.
"""
import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from cases import CASES, KERNEL_DIR, KERNELS  # noqa: E402

CLI = os.path.join(ROOT, "build", "triton-metal")
COMPILE_BENCH = os.path.join(ROOT, "build", "bench", "compile_bench")
GOAL_COMPILE, GOAL_EMULATOR = 1000, 100


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def stats(times):
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "reps": len(times)}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                             text=True).stdout.strip()
        if out:
            return out
    return platform.processor() or "unknown CPU"


def machine_slug(model):
    words = [w for w in re.findall(r"[a-z0-9]+", re.sub(r"\((r|tm)\)", "", model.lower()))
             if w not in ("intel", "amd", "processor", "cpu", "core", "with", "radeon", "graphics")]
    return f"{platform.system().lower()}-{platform.machine().lower()}-{'-'.join(words[:2]) or 'cpu'}-{os.cpu_count()}cpu"


def versions():
    v = {"python": platform.python_version()}
    for pkg in ("triton", "torch", "numpy", "matplotlib", "mlx"):
        try:
            v[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    for cxx in ("clang++-19", "clang++", "g++"):
        try:
            out = subprocess.run([cxx, "--version"], capture_output=True, text=True)
            v["emulator C++ (first found)"] = out.stdout.splitlines()[0]
            break
        except OSError:
            continue
    v["triton-metal"] = subprocess.run([CLI, "version"], capture_output=True, text=True).stdout.strip()
    try:
        v["triton-metal commit"] = subprocess.run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
            text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "runtime",
                                "include", "cli", "python", "bench"], capture_output=True,
                               text=True).stdout.strip()
        if dirty:
            v["triton-metal commit"] += " + uncommitted changes"
    except OSError:
        pass
    return v


def cli_args(kname):
    spec = KERNELS[kname]
    args = [os.path.join(KERNEL_DIR, spec["file"]), "--kernel", spec["kernel"],
            "--signature", ",".join(t for _, t in spec["params"]),
            "--num-warps", str(spec["num_warps"])]
    for k, v in spec["constexprs"].items():
        args += ["-D", f"{k}={v}"]
    return args


# ------------------------------------------------------------ 1. compile latency

def ours_compile(kname, cold_reps, warm_reps):
    row = {}
    first = subprocess.run([CLI, "compile", *cli_args(kname), "-o", os.devnull],
                           capture_output=True, text=True)
    if first.returncode != 0:
        msg = (first.stderr.strip().splitlines() or ["?"])[0]
        row["error"] = msg
        row["not_supported"] = first.returncode == 1
        return row
    times = []
    for _ in range(cold_reps):  # a fresh process each: exec, read the file, compile, write MSL
        t = time.perf_counter_ns()
        subprocess.run([CLI, "compile", *cli_args(kname), "-o", os.devnull], check=True)
        times.append((time.perf_counter_ns() - t) / 1e9)
    row["cold"] = stats(times)
    out = subprocess.run([COMPILE_BENCH, *cli_args(kname), "--reps", str(warm_reps)],
                         capture_output=True, text=True, check=True)
    d = json.loads(out.stdout)
    row["warm"] = stats(d["times_s"])
    row["warm"]["warmup"] = 1
    row["msl_bytes"] = d["msl_bytes"]
    return row


def upstream_env(**extra):
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)
    env["TRITON_DEFAULT_FP_FUSION"] = "1"  # upstream 3.9's default, set to silence its warning
    env.update(extra)
    return env


def upstream_cold(kname, reps):
    walls, inner = [], []
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as cache:  # empty cache: a real first compile
            t = time.perf_counter_ns()
            out = subprocess.run([sys.executable, os.path.join(HERE, "worker.py"), "compile-cold",
                                  kname], capture_output=True, text=True,
                                 env=upstream_env(TRITON_CACHE_DIR=cache))
            wall = (time.perf_counter_ns() - t) / 1e9
        if out.returncode != 0:
            return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
        walls.append(wall)
        inner.append(json.loads(out.stdout.strip().splitlines()[-1]))
    row = stats(walls)
    row["import_median_s"] = statistics.median(i["import_s"] for i in inner)
    row["first_compile_median_s"] = statistics.median(i["first_compile_s"] for i in inner)
    return row


def compile_latency(quick):
    """Per kernel, back to back: ours cold and warm, upstream cold and warm."""
    cold_reps, warm_reps = (10, 50) if quick else (30, 300)
    up_cold_reps, up_warm_reps = (2, "6") if quick else (5, "20")
    res = {"ours": {}, "upstream_cold": {}, "upstream_warm": {"kernels": {}}, "load_avg": []}
    for kname in KERNELS:
        log(f"compile: {kname}: ours")
        res["ours"][kname] = ours_compile(kname, cold_reps, warm_reps)
        log(f"compile: {kname}: upstream, cold processes")
        res["upstream_cold"][kname] = upstream_cold(kname, up_cold_reps)
        log(f"compile: {kname}: upstream, warm process")
        with tempfile.TemporaryDirectory() as cache, tempfile.NamedTemporaryFile(suffix=".json") as f:
            env = upstream_env(TRITON_CACHE_DIR=cache, TRITON_ALWAYS_COMPILE="1",
                               BENCH_UPSTREAM_COMPILE_REPS=up_warm_reps)
            subprocess.run([sys.executable, os.path.join(HERE, "worker.py"), "compile-warm", f.name,
                            kname], env=env, check=True)
            w = json.load(open(f.name))
        res["upstream_warm"]["kernels"][kname] = w["kernels"][kname]
        res["upstream_warm"]["triton"], res["upstream_warm"]["target"] = w["triton"], w["target"]
        res["load_avg"].append(os.getloadavg()[0])
    return res


# ----------------------------------------------------- 2./3. emulator, launches

def side_env(side, **extra):
    env = dict(os.environ, **extra)
    env.pop("TRITON_INTERPRET", None)
    if side == "interpret":
        env["TRITON_INTERPRET"] = "1"
    else:
        # NumPy's BLAS serves only the reference check on our side; its worker
        # threads keep spinning after a call and would take the cores from the
        # emulator's threadgroups (the interpreter keeps its BLAS threads: its
        # tl.dot is a NumPy matmul)
        env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def run_worker(side, args, **extra):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        subprocess.run([sys.executable, os.path.join(HERE, "worker.py"), args[0], side, f.name,
                        *args[1:]], env=side_env(side, **extra), check=True)
        return json.load(open(f.name))


def emulator(quick):
    """Each case on our side, then right after it on the interpreter, so that
    both figures of a row see the same state of the machine."""
    budget = "2" if quick else "10"
    res = {"ours": {"cases": []}, "interpret": {"cases": []}, "load_avg": []}
    for i, (kname, label, *_rest) in enumerate(CASES):
        for side in ("ours", "interpret"):
            log(f"emulator throughput: {kname} {label}, {side}")
            out = run_worker(side, ["emulate", str(i)], BENCH_CASE_BUDGET_S=budget)
            res[side]["cases"] += out["cases"]
            res[side]["triton"] = out["triton"]
            res[side].setdefault("device", out.get("device"))
        res["load_avg"].append(os.getloadavg()[0])
    for side in ("ours", "interpret"):
        log(f"launch overhead: {side}")
        res[side]["launch"] = {"empty kernel, 4 args torch, grid (1,)": run_worker(side, ["launch"])}
    return res


def launch_overhead(quick):
    log("launch overhead: bench/launch.py")
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        args = ["--batches", "50", "--per-batch", "100"] if quick else []
        subprocess.run([sys.executable, os.path.join(HERE, "launch.py"), "--out", f.name, *args],
                       env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python")), check=True,
                       stdout=subprocess.DEVNULL)
        return json.load(open(f.name))


def mac(quick):
    if sys.platform != "darwin":
        return {"skipped": "not macOS: the Metal part (bench/mac.py) runs only on a Mac with Metal"}
    log("Metal: bench/mac.py")
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        out = subprocess.run([sys.executable, os.path.join(HERE, "mac.py"), "--out", f.name]
                             + (["--quick"] if quick else []),
                             env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python")))
        if out.returncode != 0:
            return {"skipped": f"bench/mac.py failed (exit {out.returncode}); see its output"}
        return json.load(open(f.name))


# ------------------------------------------------------------------- the report

def ratio(ref, ours):
    return ref / ours if ref and ours else None


def summarize(r):
    """Adds the ratio rows that the report, the plot and the README quote."""
    comp = r["compile"]
    rows = []
    for kname in KERNELS:
        o = comp["ours"][kname]
        uc = comp["upstream_cold"].get(kname, {})
        uw = comp["upstream_warm"]["kernels"].get(kname, {})
        row = {"kernel": kname}
        if "error" in o:
            row["ours_error"] = o["error"]
            row["not_supported"] = o.get("not_supported", False)
        else:
            row["ours_cold_s"] = o["cold"]["median_s"]
            row["ours_warm_s"] = o["warm"]["median_s"]
        row["upstream_cold_s"] = uc.get("median_s")
        row["upstream_warm_ptx_s"] = uw.get("ptx", {}).get("median_s")
        row["upstream_warm_cubin_s"] = uw.get("cubin", {}).get("median_s")
        row["cold_ratio"] = ratio(row["upstream_cold_s"], row.get("ours_cold_s"))
        row["warm_ratio"] = ratio(row["upstream_warm_ptx_s"], row.get("ours_warm_s"))
        row["warm_ratio_cubin"] = ratio(row["upstream_warm_cubin_s"], row.get("ours_warm_s"))
        rows.append(row)
    r["summary"] = {"compile": rows, "emulator": []}
    ours = r["emulator"]["ours"]["cases"]
    ref = r["emulator"]["interpret"]["cases"]
    for o, u in zip(ours, ref):
        row = {"kernel": o["kernel"], "problem": o["problem"]}
        for side, c in (("ours", o), ("interpret", u)):
            if "error" in c:
                row[f"{side}_error"] = c["error"]
                row[f"{side}_not_supported"] = c.get("compile_error", False)
            else:
                row[f"{side}_s"] = c["median_s"]
                row[f"{side}_mismatch"] = c["mismatch"]
        ok = (row.get("ours_s") and row.get("interpret_s") and not row.get("ours_mismatch")
              and not row.get("interpret_mismatch"))
        row["ratio"] = ratio(row["interpret_s"], row["ours_s"]) if ok else None
        r["summary"]["emulator"].append(row)
    lo = r["emulator"]["ours"]["launch"]["empty kernel, 4 args torch, grid (1,)"]["median_s"]
    li = r["emulator"]["interpret"]["launch"]["empty kernel, 4 args torch, grid (1,)"]["median_s"]
    r["summary"]["launch"] = {"ours_s": lo, "interpret_s": li, "ratio": ratio(li, lo)}


def fmt_t(s):
    if s is None:
        return "–"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def fmt_r(x):
    if x is None:
        return "–"
    return f"{x:,.0f}×" if x >= 100 else f"{x:.1f}×"


def spread(d):
    return f"{fmt_t(d['min_s'])} – {fmt_t(d['max_s'])}"


def noisy(d):
    return d["max_s"] > 2 * d["median_s"]


def write_md(r, path, png_name):
    s, comp, v = r["summary"], r["compile"], r["versions"]
    L = [f"# Benchmark report: {r['date']}, {r['machine']['slug']}", "",
         f"Machine: {r['machine']['description']}. Command: `{r['command']}` "
         f"({r['elapsed_s'] / 60:.1f} min{', --quick: fewer repetitions' if r['quick'] else ''}).",
         "", "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".", "",
         "The emulator's optimisation level: `TRITON_METAL_OPT=" + r.get("emulator_opt", "tiered") + "`"
         + (" (the default: new kernels at -O0, -O2 swapped in after 8 launches or 20 ms; "
            "the throughput rows time ours once the first call's kernels have their -O2 objects swapped in "
            "(Device.tier_settle, as do_bench does) and after a second of untimed launches)"
            if r.get("emulator_opt", "tiered").startswith("tiered") else "") + ".", "",
         "Every figure below was measured in this run, beside its reference. Times are medians "
         "after warm-up (min – max in the detail tables); a ratio is reference time / our time, "
         "so it says how many times faster we are. No GPU on this machine: the GPU parts of "
         "both projects are not exercised here (see section 4).", ""]
    if png_name:
        L += [f"![ratios]({png_name})", ""]
    # 1. compile
    L += ["## 1. Compile latency", "",
          "Ours: `triton-metal` compiling the kernel file to MSL text (the whole pipeline: parse, "
          "types, tile IR, passes, layouts, emitter). *Cold*: wall time of a fresh "
          "`build/triton-metal compile ... -o /dev/null` process, measured from the parent "
          "(process start and exit included). *Warm*: `tm_compile` calls in one process "
          "(`bench/compile_bench.c`), after one untimed compile.", "",
          f"Upstream: Triton {v.get('triton', '?')} compiling the same kernel file with "
          f"`triton.compile(ASTSource(...), target=GPUTarget('cuda', 80, 32))`, no GPU needed. "
          "Stages timed: the frontend (AST -> TTIR) and ttir, ttgir, llir, ptx, i.e. source -> PTX, "
          "its GPU assembly text, which is what MSL is to Metal; the cubin stage (its bundled "
          "`ptxas`) is dropped for these figures and timed separately in the *to cubin* column. "
          "*Cold*: wall time of a fresh Python process that imports triton, loads the kernel file "
          "and compiles once with an empty cache directory, measured from the parent. *Warm*: "
          "repeated compiles in one process with `TRITON_ALWAYS_COMPILE=1` (the cache bypassed), "
          "after one untimed compile.", "",
          "Neither side's figure includes turning the assembly into a GPU binary: Metal compiles "
          "MSL when the library is loaded (`newLibraryWithSource`, on a Mac), CUDA's driver or "
          "`ptxas` compiles PTX. On Linux our cpu device compiles the MSL with the host C++ "
          "compiler (and caches the object on disk); that is not part of this table.", "",
          f"Goal: at least {GOAL_COMPILE}× faster.", "",
          "| kernel | ours cold | upstream cold | ratio | ours warm | upstream warm (to PTX) | ratio | upstream warm (to cubin) | ratio |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in s["compile"]:
        if "ours_error" in row:
            what = "not supported yet" if row.get("not_supported") else "error"
            L.append(f"| {row['kernel']} | {what}: `{row['ours_error']}` | {fmt_t(row['upstream_cold_s'])} "
                     f"| – | – | {fmt_t(row['upstream_warm_ptx_s'])} | – | {fmt_t(row['upstream_warm_cubin_s'])} | – |")
            continue
        L.append(f"| {row['kernel']} | {fmt_t(row['ours_cold_s'])} | {fmt_t(row['upstream_cold_s'])} | "
                 f"**{fmt_r(row['cold_ratio'])}** | {fmt_t(row['ours_warm_s'])} | "
                 f"{fmt_t(row['upstream_warm_ptx_s'])} | **{fmt_r(row['warm_ratio'])}** | "
                 f"{fmt_t(row['upstream_warm_cubin_s'])} | {fmt_r(row['warm_ratio_cubin'])} |")
    L += ["", "Detail (median, min – max, repetitions):", "",
          "| kernel | ours cold | ours warm | MSL bytes | upstream cold (process; of which import, first compile) | upstream warm, median per stage (from the to-cubin compiles, upstream's compilation listener) |",
          "| --- | --- | --- | --- | --- | --- |"]
    for kname in KERNELS:
        o, uc = comp["ours"][kname], comp["upstream_cold"][kname]
        uw = comp["upstream_warm"]["kernels"][kname]
        oc = (f"{fmt_t(o['cold']['median_s'])} ({spread(o['cold'])}, n={o['cold']['reps']})"
              if "cold" in o else "–")
        ow = (f"{fmt_t(o['warm']['median_s'])} ({spread(o['warm'])}, n={o['warm']['reps']})"
              if "warm" in o else "–")
        ucs = (f"{fmt_t(uc['median_s'])} ({spread(uc)}, n={uc['reps']}; import "
               f"{fmt_t(uc['import_median_s'])}, first compile {fmt_t(uc['first_compile_median_s'])})"
               if "median_s" in uc else uc.get("error", "–"))
        st = ", ".join(f"{k} {us / 1e3:.1f} ms" for k, us in uw.get("cubin", {}).get("stage_median_us", {}).items())
        L.append(f"| {kname} | {oc} | {ow} | {o.get('msl_bytes', '–')} | {ucs} | {st or uw.get('error', '–')} |")
    # 2. emulator
    L += ["", "## 2. Emulator throughput", "",
          "Ours: the `cpu` device (the MSL we generate, compiled with the host C++ compiler "
          "against the Metal shim, threadgroups spread over all cores). Upstream: its "
          "interpreter, `TRITON_INTERPRET=1` (NumPy, one program after another). Both launch "
          "the same kernel file on the same torch CPU tensors built from the same seeded NumPy "
          "data; both outputs are checked against a NumPy reference (a float64 one for the "
          "reductions and dots). Time per launch, host clock (`perf_counter`), launch included, "
          f"after 2 untimed launches (the first one compiles); at most "
          f"{'2' if r['quick'] else '10'} s of repetitions per row, at least 5.", "",
          f"Goal: at least {GOAL_EMULATOR}× faster.", "",
          "| kernel | problem | ours (cpu device) | upstream interpreter | ratio | ours: min – max (n) | interpreter: min – max (n) |",
          "| --- | --- | --- | --- | --- | --- | --- |"]
    for row, o, u in zip(s["emulator"], r["emulator"]["ours"]["cases"], r["emulator"]["interpret"]["cases"]):
        def cell(side, c):
            if f"{side}_error" in row:
                return ("not supported yet: " if row.get(f"{side}_not_supported") else "error: ") + f"`{row[f'{side}_error']}`"
            t = fmt_t(row[f"{side}_s"])
            return t + (f" (WRONG RESULT: {row[f'{side}_mismatch']})" if row[f"{side}_mismatch"] else " ✓")
        det = lambda c: f"{spread(c)} ({c['reps']})" if "median_s" in c else "–"
        L.append(f"| {row['kernel']} | {row['problem']} | {cell('ours', o)} | {cell('interpret', u)} | "
                 f"**{fmt_r(row['ratio'])}** | {det(o)} | {det(u)} |")
    L += ["", "✓: matches NumPy within the row's tolerance (`bench/cases.py`)."]
    # 3. launches
    lo = s["launch"]
    lp = r["launch"]
    L += ["", "## 3. Launch overhead", "",
          "The same empty kernel (vector add's parameters, torch CPU tensors, grid (1,)) launched "
          "on each side, per launch, median over batches of launches:", "",
          "| | ours (cpu device) | upstream interpreter | ratio |", "| --- | --- | --- | --- |",
          f"| empty kernel, 4 args torch, grid (1,) | {fmt_t(lo['ours_s'])} | {fmt_t(lo['interpret_s'])} | **{fmt_r(lo['ratio'])}** |",
          "", f"`bench/launch.py` (our launch path in detail; median of {lp['batches']} batches of "
          f"{lp['launches_per_batch']} launches; no upstream reference: upstream cannot launch "
          "on this machine without a GPU other than through its interpreter, above):", "",
          "| | ours |", "| --- | --- |"]
    L += [f"| {k} | {us:.3f} µs |" for k, us in lp["median_us"].items()]
    # 4. mac
    L += ["", "## 4. Metal (Mac)", ""]
    m = r["mac"]
    if "skipped" in m:
        L += [f"Skipped: {m['skipped']}. On a Mac, `make bench` runs `bench/mac.py`: the same "
              "kernels on the `metal` device, in GB/s and GFLOP/s, against MLX and torch MPS "
              "and against the chip's memory bandwidth."]
    else:
        L += m.get("markdown", ["(no table)"])
    # noise
    L += ["", "## Noise", ""]
    notes = []
    for kname in KERNELS:
        o = comp["ours"][kname]
        for k in ("cold", "warm"):
            if k in o and noisy(o[k]):
                notes.append(f"ours {k} compile of {kname}: max {fmt_t(o[k]['max_s'])} is more than twice the median")
    for c in r["emulator"]["ours"]["cases"] + r["emulator"]["interpret"]["cases"]:
        if "median_s" in c and noisy(c):
            notes.append(f"{c['kernel']} {c['problem']}: max {fmt_t(c['max_s'])} is more than twice the median {fmt_t(c['median_s'])}")
    L += ["This machine is a shared virtual machine with "
          f"{os.cpu_count()} logical CPUs: nothing was pinned (no CPU affinity, frequency or "
          "isolation control is available from inside it), other tenants may run, and the "
          "emulator uses every core while the interpreter uses one. Rows whose maximum is more "
          "than twice their median:", ""]
    la = [f"{x:.1f}" for x in r["emulator"]["load_avg"]]
    L_load = (f"1-minute load average (runnable tasks; {os.cpu_count()} CPUs): at the start "
              f"{r['load_avg_start']:.1f}, after each compile row "
              f"{', '.join(f'{x:.1f}' for x in comp['load_avg'])}, after each emulator row "
              f"{', '.join(la)}. A load above the CPU count means other work (other users' "
              "builds and tests) shared the machine with this run; each emulator row runs its "
              "two sides back to back, and each compile row its four measurements, to keep their "
              "conditions close.")
    L += [f"- {n}" for n in notes] or ["- none"]
    L += ["", L_load]
    L += ["", f"Raw data: `{os.path.basename(path)[:-3]}.json`. Reproduce: `make bench` "
          "(installs upstream Triton, torch CPU, NumPy and matplotlib into `bench/.venv`)."]
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def write_png(r, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    s = r["summary"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4.8))
    names = [row["kernel"] for row in s["compile"]]
    y = range(len(names))
    cold = [row["cold_ratio"] or 0 for row in s["compile"]]
    warm = [row["warm_ratio"] or 0 for row in s["compile"]]
    a1.barh([i + 0.2 for i in y], cold, 0.4, label="cold process")
    a1.barh([i - 0.2 for i in y], warm, 0.4, label="warm process (upstream to PTX)")
    a1.axvline(GOAL_COMPILE, color="k", ls="--", lw=1, label=f"goal {GOAL_COMPILE}×")
    a1.set_yticks(list(y), names)
    a1.set_xscale("log")
    a1.set_xlabel("upstream Triton compile time / ours (×, log)")
    a1.set_title("Compile latency")
    a1.legend(fontsize=8)
    labels = [f"{row['kernel']} {row['problem']}" for row in s["emulator"]]
    vals = [row["ratio"] or 0 for row in s["emulator"]]
    a2.barh(range(len(labels)), vals, color="tab:green")
    a2.axvline(GOAL_EMULATOR, color="k", ls="--", lw=1, label=f"goal {GOAL_EMULATOR}×")
    a2.set_yticks(range(len(labels)), labels)
    a2.set_xscale("log")
    a2.set_xlabel("TRITON_INTERPRET=1 time / our cpu device (×, log)")
    a2.set_title("Emulator throughput")
    a2.legend(fontsize=8)
    for ax, vs in ((a2, vals),):
        for i, v in enumerate(vs):
            ax.text(v if v else 1, i, f" {fmt_r(v) if v else 'n/a'}", va="center", fontsize=8)
    fig.suptitle(f"triton-metal vs upstream Triton, {r['date']}, {r['machine']['slug']} (same run)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    t0 = time.perf_counter()
    model = cpu_model()
    load_start = os.getloadavg()[0]
    r = {"date": datetime.date.today().isoformat(), "quick": a.quick,
         "emulator_opt": os.environ.get("TRITON_METAL_OPT") or "tiered",
         "command": "make bench" + (" BENCH_ARGS=--quick" if a.quick else ""),
         "machine": {"slug": machine_slug(model),
                     "description": f"{platform.system()} {platform.machine()}, {model}, "
                                    f"{os.cpu_count()} logical CPUs, no GPU used" if sys.platform != "darwin"
                                    else f"{platform.system()} {platform.machine()}, {model}, {os.cpu_count()} logical CPUs"},
         "versions": versions(), "load_avg_start": load_start, "goals": {"compile": GOAL_COMPILE, "emulator": GOAL_EMULATOR}}
    r["compile"] = compile_latency(a.quick)
    r["emulator"] = emulator(a.quick)
    r["launch"] = launch_overhead(a.quick)
    r["mac"] = mac(a.quick)
    summarize(r)
    r["elapsed_s"] = time.perf_counter() - t0
    os.makedirs(a.out_dir, exist_ok=True)
    base = os.path.join(a.out_dir, f"{r['date']}-{r['machine']['slug']}")
    png = write_png(r, base + ".png")
    write_md(r, base + ".md", os.path.basename(base) + ".png" if png else None)
    with open(base + ".json", "w") as f:
        json.dump(r, f, indent=1)
        f.write("\n")
    log(f"wrote {base}.md, .json{', .png' if png else ''} in {r['elapsed_s'] / 60:.1f} min")
    print(open(base + ".md").read())


if __name__ == "__main__":
    main()
