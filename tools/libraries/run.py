"""Runs real Triton libraries, unedited, on triton-metal's CPU emulator and
reports per test file (Liger-Kernel) or per op (flash-linear-attention).

    python tools/libraries/run.py liger [FILE ...]             Liger's own op test files
    python tools/libraries/run.py fla --src CHECKOUT [FILE ...]  fla's own op test files
    python tools/libraries/run.py flaggems --src CHECKOUT [OP ...]  FlagGems' test files

The Python that runs this must have torch (CPU), the library (`pip install
--no-deps liger-kernel fla-core` and their pure-Python deps: transformers,
einops, packaging) and triton-metal importable, and no upstream `triton`.
tools/libraries/README.md says how to make such an environment.

Liger's test files come from its sdist on PyPI (the version installed), kept
under $TM_LIBS_DIR (default ~/.cache/triton-metal/libs); --src DIR uses a
source tree that has test/ instead. fla-core's sdist has no tests: --src names a
flash-linear-attention checkout (its tests/ run against the installed fla);
FlagGems' wheel has none either: --src names a FlagGems checkout at the installed
version's tag, whose tests/ run in their quick mode (`--quick`: the small shapes
FlagGems itself uses for a fast pass) against the installed flag_gems.
Each file runs in its own pytest process with the plugins of this folder, which
are the whole harness: cpu_bounds picks the device and skips parametrizations
over a work budget; liger_device answers Liger's device questions (bfloat16,
memory) for triton-metal's device; fla_device undoes fla.utils' "cpu" -> "cuda"
device choice; flaggems_device selects FlagGems' CPU vendor backend ("arm", which
its vendor list leaves out) and gives torch.cpu the two device calls it uses.
Autotuned kernels run their first config that compiles (TRITON_METAL_DISABLE_AUTOTUNING=1, unless
set): timing every config of every kernel on the emulator would dominate the run.
Results go to --out (default $TM_LIBS_DIR/results/<library>): one JUnit XML and
one log per file, and summary.md.
"""
import argparse
import glob
import os
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FLA_FILES = ["modules/test_layernorm", "modules/test_l2norm", "modules/test_cross_entropy",
             "ops/utils/test_cumsum", "modules/test_token_shift", "ops/test_simple_gla",
             "ops/test_gla", "ops/test_delta"]
# a file's own work budget (TM_LIBS_MAX_WORK), where the size product misjudges:
# fla's plain cross-entropy tests share the fused linear variants' D parameter,
# which they do not use, so their B*T*D*V is D times their B*T*V; the references
# of the attention ops are Python loops over T whose autograd graphs, not the
# kernels, take the time on a CPU (minutes per test at T=1024), so those files
# keep the shapes up to B*T*H*D = 2**21 (T up to 500, and the varlen cases).
FLA_MAX_WORK = {"modules/test_cross_entropy": 2 ** 36, "ops/test_simple_gla": 2 ** 21,
                "ops/test_gla": 2 ** 21, "ops/test_delta": 2 ** 21}
LIGER_FILES = ["rms_norm", "layer_norm", "rope", "swiglu", "geglu", "cross_entropy",
               "fused_linear_cross_entropy", "kl_div", "jsd", "group_norm", "softmax", "dyt",
               "tvd", "sparsemax", "qwen2vl_mrope"]


def libs_dir():
    d = os.environ.get("TM_LIBS_DIR") or os.path.join(os.path.expanduser("~"), ".cache",
                                                      "triton-metal", "libs")
    os.makedirs(d, exist_ok=True)
    return d


def installed_version(dist):
    from importlib.metadata import version
    return version(dist)


def liger_source(src=None):
    """A Liger source tree with test/: --src, or the installed version's sdist."""
    if src:
        return src
    ver = installed_version("liger-kernel")
    tree = os.path.join(libs_dir(), f"liger_kernel-{ver}")
    if os.path.isdir(os.path.join(tree, "test")):
        return tree
    dl = os.path.join(libs_dir(), "dl")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary",
                    ":all:", "-d", dl, f"liger-kernel=={ver}"], check=True)
    (tgz,) = glob.glob(os.path.join(dl, f"liger_kernel-{ver}.tar.gz"))
    with tarfile.open(tgz) as t:
        t.extractall(libs_dir(), filter="data")
    return tree


def env_for_pytest():
    """The library's tests see our package first, the device cpu by default, and
    autotuned kernels take their first config that compiles: these runs check results, and
    timing every config of every autotuned kernel on the emulator (Liger's MoE
    GEMMs, fla's chunked kernels) would take most of the run."""
    env = dict(os.environ)
    env.setdefault("TRITON_METAL_DISABLE_AUTOTUNING", "1")
    env["PYTHONPATH"] = os.pathsep.join(
        [HERE, os.path.join(ROOT, "python")] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("TRITON_METAL_DEVICE", "cpu")
    return env


def junit_counts(path):
    """(passed, failed, skipped, errors, [failed test ids])."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    passed = failed = skipped = errors = 0
    names = []
    for s in suites:
        for case in s.iter("testcase"):
            tags = {c.tag for c in case}
            cid = f"{case.get('classname')}::{case.get('name')}"
            if "failure" in tags:
                failed += 1
                names.append(cid)
            elif "error" in tags:
                errors += 1
                names.append(cid)
            elif "skipped" in tags:
                skipped += 1
            else:
                passed += 1
    return passed, failed, skipped, errors, names


def run_files(args, title, src, files, plugins, env, budgets=None):
    """Each test file in its own pytest process; a row per file."""
    out = args.out or os.path.join(libs_dir(), "results", args.library)
    os.makedirs(out, exist_ok=True)
    rows, total = [], [0, 0, 0, 0]
    for f in files:
        name = os.path.basename(f)[:-3].replace("test_", "", 1)
        xml = os.path.join(out, f"{name}.xml")
        log = os.path.join(out, f"{name}.log")
        t0 = time.time()
        plug = [a for p in plugins for a in ("-p", p)]
        file_env = dict(env)
        budget = (budgets or {}).get(f[len("tests/"):-3] if f.startswith("tests/") else f)
        if budget and "TM_LIBS_MAX_WORK" not in os.environ:
            file_env["TM_LIBS_MAX_WORK"] = str(budget)
        if os.path.exists(xml):
            os.remove(xml)
        with open(log, "w") as lf:
            try:
                rc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                     *plug, "--junitxml", xml, "-o", "junit_family=xunit1", f]
                                    + args.pytest_args, cwd=src, env=file_env, stdout=lf,
                                    stderr=subprocess.STDOUT, timeout=args.file_timeout).returncode
            except subprocess.TimeoutExpired:
                rc = f"killed after {args.file_timeout:.0f} s (--file-timeout)"
        dt = time.time() - t0
        if os.path.exists(xml):
            p, fl, s, e, names = junit_counts(xml)
        else:
            p, fl, s, e, names = 0, 0, 0, 1, [f"{f} (pytest exit {rc}, no report)"]
        for i, v in enumerate((p, fl, s, e)):
            total[i] += v
        rows.append((name, p, fl, s, e, dt, names))
        print(f"{name:28s} {p:5d} passed {fl:4d} failed {s:4d} skipped {e:3d} errors "
              f"{dt:7.1f} s", flush=True)
    write_summary(out, title, rows, total)
    return 1 if total[1] or total[3] else 0


def run_liger(args):
    src = liger_source(args.src)
    files = [os.path.join("test", "transformers", f"test_{n}.py") for n in args.items or LIGER_FILES]
    return run_files(args, "Liger-Kernel " + installed_version("liger-kernel"), src, files,
                     ["cpu_bounds", "liger_device"], env_for_pytest())


def run_fla(args):
    if not args.src or not os.path.isdir(os.path.join(args.src, "tests")):
        sys.exit("run.py fla: --src must name a flash-linear-attention checkout (its tests/); "
                 "fla-core's sdist has none")
    env = env_for_pytest()
    files = [os.path.join("tests", (n if n.startswith(("ops", "modules")) else
                                    next(f for f in FLA_FILES if f.endswith("test_" + n)))
                          + ("" if n.endswith(".py") else ".py"))
             for n in args.items or FLA_FILES]
    return run_files(args, "fla-core " + installed_version("fla-core"), args.src, files,
                     ["cpu_bounds", "fla_device"], env, FLA_MAX_WORK)


def run_flaggems(args):
    if not args.src or not os.path.isdir(os.path.join(args.src, "tests")):
        sys.exit("run.py flaggems: --src must name a FlagGems checkout (its tests/) at the "
                 "installed version's tag; the wheel has no tests")
    if args.items:
        files = [os.path.join("tests", n if n.endswith(".py") else f"test_{n}.py")
                 for n in args.items]
    else:
        files = sorted(os.path.relpath(f, args.src)
                       for f in glob.glob(os.path.join(args.src, "tests", "test_*.py")))
    args.pytest_args = ["--quick"] + args.pytest_args
    return run_files(args, "FlagGems " + installed_version("flag_gems"), args.src, files,
                     ["cpu_bounds", "flaggems_device"], env_for_pytest())


def write_summary(out, title, rows, total):
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(f"# {title} on triton-metal (cpu emulator)\n\n")
        f.write("| test file | passed | failed | skipped | errors | seconds |\n|---|---|---|---|---|---|\n")
        for name, p, fl, s, e, dt, _ in rows:
            f.write(f"| {name} | {p} | {fl} | {s} | {e} | {dt:.0f} |\n")
        f.write(f"| total | {total[0]} | {total[1]} | {total[2]} | {total[3]} | "
                f"{sum(r[5] for r in rows):.0f} |\n\n")
        for name, *_, names in rows:
            for n in names:
                f.write(f"- {name}: {n}\n")
    print(f"total: {total[0]} passed, {total[1]} failed, {total[2]} skipped, {total[3]} errors; "
          f"summary in {os.path.join(out, 'summary.md')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("library", choices=["liger", "fla", "flaggems"])
    ap.add_argument("items", nargs="*", help="test files (liger, flaggems) or ops (fla); default all")
    ap.add_argument("--src", help="a Liger source tree with test/ (default: its sdist), or a "
                    "flash-linear-attention or FlagGems checkout (required for fla, flaggems)")
    ap.add_argument("--out", help="results folder")
    ap.add_argument("--file-timeout", type=float, default=None,
                    help="seconds a test file may run; one over it is killed and counted as an error")
    ap.add_argument("--pytest-args", nargs=argparse.REMAINDER, default=[])
    args = ap.parse_args()
    return {"liger": run_liger, "fla": run_fla, "flaggems": run_flaggems}[args.library](args)


if __name__ == "__main__":
    sys.exit(main())
