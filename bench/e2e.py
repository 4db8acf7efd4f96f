"""bench/e2e.py: the end-to-end benchmark (issue 18, "measure what the user
feels"). `make bench-e2e` (bench/e2e.sh) makes the two environments and calls
this; by hand:

    python bench/e2e.py --ours-python OURS/bin/python --interp-python INTERP/bin/python \
        [--quick] [--reps N] [--only NAME,...] [--liger-src DIR] [--out-dir bench/results]

Each workload is a whole program a user runs, timed from the parent as the wall
time of a new process (interpreter start, imports, compiles, runs, checks):

  examples    one example of examples/ at the sizes tests/exec/test_examples.py
              uses (bench/e2e_examples.py NAME);
  tests/exec  a module of our executable tests under pytest (a bounded subset
              where the interpreter would take minutes: WORKLOADS says which);
  liger       a test file of Liger-Kernel 0.8.5, unedited, from its sdist, under
              pytest with tools/libraries' plugins (cpu_bounds' work budget
              set lower than tools/libraries' default: the interpreter side).

Three figures per workload, measured in this run, in this order per repetition:
  ours cold   TRITON_METAL_DEVICE=cpu with a new, empty TRITON_METAL_CACHE_DIR:
              every kernel is compiled (our compiler to MSL, then the host C++
              compiler to a shared object);
  ours warm   the same command again, a new process, the same cache (now full);
  interpreter upstream Triton's TRITON_INTERPRET=1 in its own environment
              (upstream Triton + torch CPU, never triton-metal), with an empty
              TRITON_CACHE_DIR.
Our examples and tests say `import triton_metal` and pass NumPy arrays; on the
interpreter side bench/e2e_interp/triton_metal is upstream Triton under that name
and hands kernels torch views of the arrays (its docstring says exactly what it
does). Liger imports `triton` itself: on our side that is triton-metal's compat
layer, on the other upstream Triton.

Kernels compiled and compile time: our side runs with TRITON_METAL_BUILD_LOG set
(runtime/cpu/cpu_build.c appends a line per run of the C++ compiler or linker: kind,
start, end, exit status); the count is the successful kernel builds (cross-checked
with the shared objects that appear in the cache folder) and the compile time the
union of the intervals of the builds, the precompiled shims' builds and the links
(runs that overlap are counted once), as a share of the cold run's wall time. The
runtime's one-per-process `--version` probe of the compiler is reported apart.

pytest workloads report their outcome counts per side; a test whose outcome
differs between the sides is listed (the interpreter does not run every test of
ours: C integer semantics, for instance). Times are medians over --reps
repetitions (min - max in the JSON); ratio = interpreter / ours.

Results: bench/results/<date>-e2e-<machine>.{md,json} (--quick: -quick added).
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from run import cpu_model, fmt_r, fmt_t, machine_slug  # noqa: E402

LIGER_VERSION = "0.8.5"
# cpu_bounds' budget for these runs (tools/libraries uses 2**26): the product of
# a parametrization's sizes, so that the interpreter side ends in minutes.
LIGER_MAX_WORK = 2 ** 20
GOAL_COLD, GOAL_WARM = 5, 20

# name, group, kind, what, bounded subset (a pytest -k expression, both sides), why
WORKLOADS = [
    ("vector_add", "examples", "example", "vector_add", None, None),
    ("dropout", "examples", "example", "dropout", None, None),
    ("softmax", "examples", "example", "softmax", None, None),
    ("matmul", "examples", "example", "matmul", None, None),
    ("layer_norm", "examples", "example", "layer_norm", None, None),
    ("attention", "examples", "example", "attention", None, None),
    ("test_elementwise", "tests/exec", "pytest", "tests/exec/test_elementwise.py",
     "not 1000003", "leaves out the 3 parametrizations of 1,000,003 elements (62,500 programs "
     "at BLOCK=16 on the interpreter)"),
    ("test_reductions", "tests/exec", "pytest", "tests/exec/test_reductions.py", None, None),
    ("test_dot", "tests/exec", "pytest", "tests/exec/test_dot.py", None, None),
    ("test_examples[attention]", "tests/exec", "pytest", "tests/exec/test_examples.py",
     "attention", "the file's attention tests: tests/exec has no attention module of its own"),
    ("liger test_rms_norm", "liger", "liger", "test/transformers/test_rms_norm.py", None, None),
    ("liger test_softmax", "liger", "liger", "test/transformers/test_softmax.py", None, None),
    ("liger test_cross_entropy", "liger", "liger", "test/transformers/test_cross_entropy.py",
     None, None),
]
# --quick: smaller subsets, to try the script out
QUICK_K = {"test_elementwise": "vector_add_f32 and not 1000003",
           "test_reductions": "sum or max", "test_dot": "not (128 or 256)",
           "liger test_rms_norm": "test_correctness_functional",
           "liger test_cross_entropy": "test_correctness and not bfloat16 and not ignore"}


def log(msg):
    print(f"[e2e {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def find_cxx():
    """The compiler the runtime would pick (runtime/cpu/cpu_build.c, toolchain())."""
    want = os.environ.get("TRITON_METAL_CXX")
    for name in ([want] if want else ["clang++-19", "clang++", "g++", "c++"]):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("bench/e2e.py: no C++ compiler for the cpu device (clang++-19, clang++, g++, c++)")


def liger_source(arg, ours_python):
    """Liger's source tree with test/: --liger-src, else tools/libraries' place for
    its sdist (TM_LIBS_DIR, default ~/.cache/triton-metal/libs), downloaded there
    by tools/libraries/run.py's own code when missing."""
    if arg:
        return arg
    code = ("import sys; sys.path.insert(0, 'tools/libraries'); import run; "
            "print(run.liger_source())")
    out = subprocess.run([ours_python, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench/e2e.py: no Liger source tree: {out.stderr.strip()[-500:]}")
    return out.stdout.strip().splitlines()[-1]


def base_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRITON_", "E2E_", "TM_LIBS")) and k != "PYTHONPATH"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def junit(path):
    """({test id: outcome}, {test id: first line of its failure message})."""
    res, why = {}, {}
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        tags = {c.tag: c for c in case}
        outcome = ("failed" if "failure" in tags else "error" if "error" in tags
                   else "skipped" if "skipped" in tags else "passed")
        tid = f"{case.get('classname')}::{case.get('name')}"
        res[tid] = outcome
        bad = tags.get("failure", tags.get("error"))
        if bad is not None:
            why[tid] = " ".join((bad.get("message") or "").split())[:200]
    return res, why


def counts(outcomes):
    c = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for o in outcomes.values():
        c[o] += 1
    return c


class Runner:
    def __init__(self, a, liger_src, bf16):
        self.ours_env = a.ours_env
        self.a, self.liger_src = a, liger_src
        self.bf16 = bf16
        self.tmp = tempfile.mkdtemp(prefix="e2e-")

    def command(self, w, side, xml, startup=False):
        name, group, kind, what, k, _ = w
        py = self.a.ours_python if side == "ours" else self.a.interp_python
        if self.a.quick and name in QUICK_K:
            k = QUICK_K[name]
        if kind == "example":
            return [py, os.path.join(HERE, "e2e_examples.py"), what] + (
                ["--import-only"] if startup else []), ROOT
        cmd = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml", xml,
               "-o", "junit_family=xunit1"]
        if kind == "liger":
            plugins = ["cpu_bounds", "liger_device" if side == "ours" else "e2e_liger_interp"]
            cmd += [a for p in plugins for a in ("-p", p)]
        cmd += [what] + (["-k", k] if k else []) + (["--collect-only"] if startup else [])
        return cmd, (self.liger_src if kind == "liger" else ROOT)

    def env(self, w, side, cache, cxx_log):
        env = base_env()
        kind = w[2]
        paths = []
        if side == "ours":
            paths.append(os.path.join(ROOT, "python"))
            env.update(TRITON_METAL_DEVICE="cpu", TRITON_METAL_CACHE_DIR=cache,
                       TRITON_METAL_BUILD_LOG=cxx_log)
            if kind == "liger":  # tools/libraries/run.py's setting
                env["TRITON_METAL_DISABLE_AUTOTUNING"] = "1"
            env.update(e.split("=", 1) for e in self.ours_env)
        else:
            if kind != "liger":
                paths.append(os.path.join(HERE, "e2e_interp"))
            env.update(TRITON_INTERPRET="1", TRITON_CACHE_DIR=cache)
            if self.bf16:
                env["E2E_LIGER_BF16"] = "1"
        if kind == "liger":
            paths += ([HERE] if side == "interpret" else []) + [os.path.join(ROOT, "tools", "libraries")]
            env["TM_LIBS_MAX_WORK"] = str(LIGER_MAX_WORK)
        env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    def run(self, w, side, cache, tag, startup=False):
        xml = os.path.join(self.tmp, f"{tag}.xml")
        cxx_log = os.path.join(self.tmp, f"{tag}.cxx")
        outp = os.path.join(self.tmp, f"{tag}.out")
        for p in (xml, cxx_log):
            if os.path.exists(p):
                os.remove(p)
        cmd, cwd = self.command(w, side, xml, startup)
        env = self.env(w, side, cache, cxx_log)
        sos_before = count_objects(cache) if side == "ours" else 0
        with open(outp, "w") as f:
            t = time.perf_counter()
            rc = subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
            wall = time.perf_counter() - t
        r = {"wall_s": wall, "rc": rc, "load_avg": os.getloadavg()[0]}
        if startup:
            return r
        if w[2] != "example":
            r["outcomes"], r["failures"] = junit(xml) if os.path.exists(xml) else ({}, {})
            r["counts"] = counts(r["outcomes"])
        if rc not in (0, 1) or (w[2] == "example" and rc != 0) or (w[2] != "example" and not r["outcomes"]):
            tail = open(outp, errors="replace").read()[-1500:]
            r["output_tail"] = tail
            log(f"  {side}: exit {rc}; output tail:\n{tail}")
        if side == "ours":
            r.update(cxx_stats(cxx_log))
            r["new_objects"] = count_objects(cache) - sos_before
        return r

    def workload(self, w, reps):
        res = {"cold": [], "warm": [], "interpret": [], "startup": {}}
        for side in ("ours", "interpret"):  # the floor: start-up, imports, collection; no kernel
            cache = tempfile.mkdtemp(dir=self.tmp)
            res["startup"][side] = self.run(w, side, cache, "startup", startup=True)
            shutil.rmtree(cache, ignore_errors=True)
        for i in range(reps):
            cache = os.path.join(self.tmp, f"cache-{len(os.listdir(self.tmp))}")
            os.makedirs(cache)
            log(f"{w[0]}: rep {i + 1}/{reps}: ours cold")
            res["cold"].append(self.run(w, "ours", cache, "cold"))
            log(f"{w[0]}: rep {i + 1}/{reps}: ours warm")
            res["warm"].append(self.run(w, "ours", cache, "warm"))
            shutil.rmtree(cache, ignore_errors=True)
            log(f"{w[0]}: rep {i + 1}/{reps}: interpreter")
            icache = tempfile.mkdtemp(dir=self.tmp)
            res["interpret"].append(self.run(w, "interpret", icache, "interp"))
            shutil.rmtree(icache, ignore_errors=True)
        return res


def count_objects(cache):
    n = 0
    for _, _, files in os.walk(cache):
        n += sum(f.endswith(".so") for f in files)
    return n


def cxx_stats(path):
    runs, probes, builds, failed = [], [], 0, 0
    if os.path.exists(path):
        for line in open(path):
            kind, t0, t1, code = line.split()[:4]
            (probes if kind == "version" else runs).append((int(t0), int(t1)))
            builds += kind == "build"
            failed += kind == "build" and code != "0"
    union, end = 0, None
    for t0, t1 in sorted(runs):
        if end is None or t0 >= end:
            union += t1 - t0
            end = t1
        elif t1 > end:
            union += t1 - end
            end = t1
    return {"builds": builds - failed, "failed_builds": failed,
            "compile_s": union / 1e9, "compile_sum_s": sum(t1 - t0 for t0, t1 in runs) / 1e9,
            "probe_s": sum(t1 - t0 for t0, t1 in probes) / 1e9}


def med(runs, key="wall_s"):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def summarize(name, res):
    c, wm, it = res["cold"], res["warm"], res["interpret"]
    row = {"workload": name, "cold_s": med(c), "warm_s": med(wm), "interpret_s": med(it),
           "kernels": med(c, "builds"), "objects": med(c, "new_objects"),
           "warm_builds": max((r.get("builds", 0) for r in wm), default=0),
           "compile_s": med(c, "compile_s"), "probe_s": med(c, "probe_s"),
           "startup_ours_s": res["startup"]["ours"]["wall_s"],
           "startup_interpret_s": res["startup"]["interpret"]["wall_s"]}
    row["compile_share"] = statistics.median(r["compile_s"] / r["wall_s"] for r in c) if c else None
    row["cold_ratio"] = row["interpret_s"] / row["cold_s"] if row["cold_s"] else None
    row["warm_ratio"] = row["interpret_s"] / row["warm_s"] if row["warm_s"] else None
    for k in ("cold", "warm", "interpret"):
        ws = [r["wall_s"] for r in res[k]]
        row[f"{k}_min_s"], row[f"{k}_max_s"] = min(ws), max(ws)
        row[f"{k}_rc"] = sorted({r["rc"] for r in res[k]})
    if "counts" in c[0]:
        row["ours_counts"] = c[-1]["counts"]
        row["warm_counts"] = wm[-1]["counts"]
        row["interpret_counts"] = it[-1]["counts"]
        oo, io = c[-1]["outcomes"], it[-1]["outcomes"]
        why = lambda side, t: (f" (`{side[-1]['failures'][t]}`)" if t in side[-1]["failures"] else "")
        row["differ"] = sorted(f"{t}: ours {oo.get(t, 'absent')}{why(c, t)}, interpreter "
                               f"{io.get(t, 'absent')}{why(it, t)}"
                               for t in set(oo) | set(io) if oo.get(t) != io.get(t))
    return row


def versions(a):
    v = {}
    code = ("import importlib.metadata as m, json, platform; d = {'python': platform.python_version()}\n"
            "for p in ('triton', 'torch', 'numpy', 'pytest', 'liger-kernel', 'transformers'):\n"
            "    try: d[p] = m.version(p)\n"
            "    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(d))")
    for side, py in (("ours", a.ours_python), ("interpreter", a.interp_python)):
        out = subprocess.run([py, "-c", code], capture_output=True, text=True, env=base_env())
        v[side] = json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr[-300:]}
    v["ours"].pop("triton", None)  # ours has none: `import triton` is our compat layer there
    v["emulator C++"] = subprocess.run([find_cxx(), "--version"], capture_output=True,
                                       text=True).stdout.splitlines()[0]
    git = lambda *args: subprocess.run(["git", "-C", ROOT, *args], capture_output=True,
                                       text=True).stdout.strip()
    v["triton-metal commit"] = git("rev-parse", "--short", "HEAD") + (
        " + uncommitted changes" if git("status", "--porcelain", "--", "src", "runtime", "include",
                                         "python", "bench", "examples", "tests/exec") else "")
    return v


def check_envs(a):
    """Ours must not see upstream Triton, the interpreter side must not see ours."""
    code = "import importlib.util as u; s = u.find_spec('triton'); print(s.origin if s else '')"
    ours = subprocess.run([a.ours_python, "-c", code], capture_output=True, text=True,
                          env=dict(base_env(), PYTHONPATH=os.path.join(ROOT, "python"))).stdout.strip()
    theirs = subprocess.run([a.interp_python, "-c", code], capture_output=True, text=True,
                            env=base_env()).stdout.strip()
    if ours and "triton_metal" not in ours:
        sys.exit(f"bench/e2e.py: {a.ours_python} imports an upstream triton ({ours}); "
                 "our side needs an environment without it (bench/e2e.sh makes one)")
    if not theirs or "triton_metal" in theirs:
        sys.exit(f"bench/e2e.py: {a.interp_python} has no upstream triton ({theirs or 'none'})")


def bf16_on_ours(a):
    code = ("import triton_metal; print(int(bool(triton_metal.check_compatibility()"
            "['kernel_features']['bfloat']['available'])))")
    out = subprocess.run([a.ours_python, "-c", code], capture_output=True, text=True,
                         env=dict(base_env(), TRITON_METAL_DEVICE="cpu",
                                  PYTHONPATH=os.path.join(ROOT, "python")))
    return out.stdout.strip().endswith("1")


def write_md(r, path):
    L = [f"# End-to-end benchmark: {r['date']}, {r['machine']['slug']}", "",
         f"Machine: {r['machine']['description']}. Command: `{r['command']}` "
         f"({r['elapsed_s'] / 60:.1f} min{'; --quick: smaller subsets, one repetition, not for quoting' if r['quick'] else ''}). "
         f"Repetitions per figure: {r['reps']} (medians)."
         + (" **Partial: the run was cut short; the workloads below are those it finished.**"
            if r.get("partial") else ""), "",
         "Versions: " + "; ".join(f"{k}: " + (", ".join(f"{p} {x}" for p, x in v.items())
                                             if isinstance(v, dict) else str(v))
                                  for k, v in r["versions"].items()) + ".", "",
         "What a user feels: each figure is the wall time of a whole new process (Python start, "
         "imports, compiles, runs, result checks), measured from the parent, in this run. "
         "*Cold*: ours (`TRITON_METAL_DEVICE=cpu`) with a new, empty `TRITON_METAL_CACHE_DIR` "
         "(every kernel compiled: our compiler to MSL, the host C++ compiler to a shared object). "
         "*Warm*: the same command again in a new process with that cache. *Interpreter*: upstream "
         "Triton's `TRITON_INTERPRET=1` in its own environment (upstream Triton and torch CPU, no "
         "triton-metal). Per repetition the three run back to back. Ratio: interpreter time / ours. "
         f"Goal (issue 18): cold at least {GOAL_COLD}×, warm at least {GOAL_WARM}× on every workload.",
         "",
         "*Kernels*: kernels our side compiled in the cold run (C++ builds of a kernel, each "
         "optimisation tier counted; the shared objects that appeared in the cache agree unless "
         "noted). *Compile*: the time those builds, the precompiled shims' builds and the links took "
         "(the union of their intervals), and its share of the cold wall time. Not in it: our "
         "compiler's source -> MSL step (about a millisecond per kernel) and the runtime's "
         "`--version` probe of the C++ compiler, once per process (shown in the detail table).",
         "",
         "| group | workload | ours cold | ours warm | interpreter | cold ratio | warm ratio | kernels | compile (share of cold) | tests (ours / interpreter) |",
         "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    groups = {w[0]: w[1] for w in WORKLOADS}
    for row in r["summary"]:
        ok_c = row["cold_ratio"] and row["cold_ratio"] >= GOAL_COLD
        ok_w = row["warm_ratio"] and row["warm_ratio"] >= GOAL_WARM
        kern = "–" if row["kernels"] is None else f"{row['kernels']:.0f}"
        if row["objects"] is not None and row["kernels"] is not None and row["objects"] != row["kernels"]:
            kern += f" ({row['objects']:.0f} objects)"
        tests = "–"
        if "ours_counts" in row:
            f = lambda c: f"{c['passed']} passed" + "".join(
                f", {c[k]} {k}" for k in ("failed", "error", "skipped") if c[k])
            tests = f"{f(row['ours_counts'])} / {f(row['interpret_counts'])}"
        else:
            bad = lambda k: any(rc != 0 for rc in row[f"{k}_rc"])
            tests = ("matched NumPy both sides" if not (bad("cold") or bad("warm") or bad("interpret"))
                     else f"exit status ours {row['cold_rc']}/{row['warm_rc']}, interpreter {row['interpret_rc']}")
        comp = ("–" if row["compile_s"] is None else
                f"{fmt_t(row['compile_s'])} ({row['compile_share'] * 100:.0f}%)")
        L.append(f"| {groups[row['workload']]} | {row['workload']} | {fmt_t(row['cold_s'])} | "
                 f"{fmt_t(row['warm_s'])} | {fmt_t(row['interpret_s'])} | "
                 f"{'**' if ok_c else ''}{fmt_r(row['cold_ratio'])}{'**' if ok_c else ''} | "
                 f"{'**' if ok_w else ''}{fmt_r(row['warm_ratio'])}{'**' if ok_w else ''} | {kern} | {comp} | {tests} |")
    L += ["", "Bold: the ratio meets the goal.", "", "## Subsets", ""]
    for w in WORKLOADS:
        if w[0] not in {row["workload"] for row in r["summary"]}:
            continue
        k = QUICK_K.get(w[0], w[4]) if r["quick"] else w[4]
        if w[2] == "example":
            continue
        L.append(f"- {w[0]}: `{w[3]}`" + (f", `-k \"{k}\"`" if k else ", whole file")
                 + (f" ({w[5]})" if w[5] and k == w[4] else "") + ", the same on both sides.")
    L += [f"- Liger files: Liger's own tests, unedited, with tools/libraries' plugins: cpu_bounds "
          f"with `TM_LIBS_MAX_WORK={LIGER_MAX_WORK}` (parametrizations whose sizes multiply to more "
          "are skipped, on both sides; tools/libraries' own runs use 2**26), liger_device on ours "
          "and bench/e2e_liger_interp.py on the interpreter side (the same bfloat16 answer: "
          f"{'bfloat16 parametrizations run' if r['bf16'] else 'no bfloat16 on our device'}). Ours "
          "with `TRITON_METAL_DISABLE_AUTOTUNING=1`, as tools/libraries runs them.",
          "- Examples: bench/e2e_examples.py, each example's `main()` at tests/exec/test_examples.py's "
          "sizes. Our tests/exec files run with their conftest, which turns the race checker on "
          "(`TRITON_METAL_RACECHECK=1`) for our side, as in the test suite."]
    L += ["", "## Tests whose outcome differs between the sides", ""]
    any_diff = False
    for row in r["summary"]:
        for d in row.get("differ", []):
            any_diff = True
            L.append(f"- {row['workload']}: {d}")
    if not any_diff:
        L.append("- none")
    L += ["", "## Detail", "",
          "*Start-up*: the same command without running a kernel (pytest `--collect-only`; an "
          "example's module imported, its `main()` not called), once per side: the Python "
          "start, imports (torch, transformers for Liger) and collection that every run of the "
          "workload pays on that side, part of each figure above.", "",
          "| workload | start-up: ours / interpreter | ours cold: min – max | warm: min – max | interpreter: min – max | builds in warm runs | compile: builds' summed time | `--version` probe (cold) |",
          "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in r["summary"]:
        L.append(f"| {row['workload']} | {fmt_t(row['startup_ours_s'])} / {fmt_t(row['startup_interpret_s'])} | "
                 f"{fmt_t(row['cold_min_s'])} – {fmt_t(row['cold_max_s'])} | "
                 f"{fmt_t(row['warm_min_s'])} – {fmt_t(row['warm_max_s'])} | "
                 f"{fmt_t(row['interpret_min_s'])} – {fmt_t(row['interpret_max_s'])} | {row['warm_builds']} | "
                 f"{fmt_t(med(r['workloads'][row['workload']]['cold'], 'compile_sum_s'))} | {fmt_t(row['probe_s'])} |")
    la = ", ".join(f"{x:.1f}" for x in r["load_avg"])
    L += ["", f"1-minute load average ({os.cpu_count()} CPUs) at the start {r['load_avg_start']:.1f}, "
          f"after each workload {la}"
          + (": above the CPU count, other work shared the machine" if max([r["load_avg_start"]] + r["load_avg"])
             > (os.cpu_count() or 1) else "") + ". This is a "
          "shared virtual machine, nothing pinned; the emulator uses every core, the interpreter one.",
          "", "How compile time is measured: the runtime's build log (`TRITON_METAL_BUILD_LOG`: one line "
          f"per run of the compiler ({r['versions']['emulator C++']}) or the linker, with its interval); "
          "kernel builds, precompiled-shim builds and links count as compile time, the "
          "`--version` probe apart.",
          "", f"Raw data: `{os.path.basename(path)[:-3]}.json`. Reproduce: `make bench-e2e` "
          "(bench/e2e.sh: makes the two environments, then runs this)."]
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ours-python", required=True, help="a Python with torch CPU, numpy, pytest, "
                    "Liger --no-deps and its test dependencies, triton-metal's .pth, no upstream triton")
    ap.add_argument("--interp-python", required=True, help="a Python with upstream triton, torch CPU, "
                    "numpy, pytest, Liger --no-deps and its test dependencies, no triton-metal")
    ap.add_argument("--quick", action="store_true", help="smaller subsets, one repetition (a smoke run)")
    ap.add_argument("--reps", type=int, help="repetitions per figure (default 3, --quick 1)")
    ap.add_argument("--only", help="comma-separated workload names (default all)")
    ap.add_argument("--liger-src", help="Liger-Kernel 0.8.5's source tree with test/ "
                    "(default: tools/libraries' copy of its sdist)")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--ours-env", action="append", default=[], metavar="KEY=VALUE",
                    help="an environment variable for our side's runs (e.g. TRITON_METAL_CXX_FORK=0 "
                    "for a before/after); said in the report")
    a = ap.parse_args()
    t0 = time.perf_counter()
    reps = a.reps or (1 if a.quick else 3)
    check_envs(a)
    works = [w for w in WORKLOADS if not a.only or w[0] in a.only.split(",")]
    liger_src = liger_source(a.liger_src, a.ours_python) if any(w[2] == "liger" for w in works) else None
    model = cpu_model()
    r = {"date": datetime.date.today().isoformat(), "quick": a.quick, "reps": reps,
         "command": "make bench-e2e" + (" E2E_ARGS=--quick" if a.quick else "")
         + (f" (--only {a.only})" if a.only else "")
         + "".join(f" --ours-env {e}" for e in a.ours_env),
         "machine": {"slug": machine_slug(model),
                     "description": f"{platform.system()} {platform.machine()}, {model}, "
                                    f"{os.cpu_count()} logical CPUs, no GPU used"},
         "versions": versions(a), "load_avg_start": os.getloadavg()[0], "liger_src": liger_src,
         "liger_max_work": LIGER_MAX_WORK, "goals": {"cold": GOAL_COLD, "warm": GOAL_WARM},
         "bf16": bf16_on_ours(a), "workloads": {}, "summary": [], "load_avg": []}
    runner = Runner(a, liger_src, r["bf16"])
    base = os.path.join(a.out_dir, f"{r['date']}-e2e-{r['machine']['slug']}" + ("-quick" if a.quick else ""))
    os.makedirs(a.out_dir, exist_ok=True)
    for i, w in enumerate(works):
        res = runner.workload(w, reps)
        r["workloads"][w[0]] = res
        row = summarize(w[0], res)
        r["summary"].append(row)
        r["load_avg"].append(os.getloadavg()[0])
        log(f"{w[0]}: cold {fmt_t(row['cold_s'])}, warm {fmt_t(row['warm_s'])}, interpreter "
            f"{fmt_t(row['interpret_s'])}: {fmt_r(row['cold_ratio'])} / {fmt_r(row['warm_ratio'])}; "
            f"{row['kernels']} kernels, compile {fmt_t(row['compile_s'])}")
        # the report so far after every workload: a run cut short still leaves one
        r["elapsed_s"] = time.perf_counter() - t0
        r["partial"] = i + 1 < len(works)
        write_md(r, base + ".md")
        with open(base + ".json", "w") as f:
            json.dump(r, f, indent=1)
            f.write("\n")
    shutil.rmtree(runner.tmp, ignore_errors=True)
    log(f"wrote {base}.md, .json in {r['elapsed_s'] / 60:.1f} min")
    print(open(base + ".md").read())


if __name__ == "__main__":
    main()
