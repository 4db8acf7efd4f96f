#!/usr/bin/env python3
"""make mutants: apply each mutant of tools/mutants/mutants.py to a copy of the
repository, one at a time, rebuild what it touches, run the fast tests that
should catch it, and print the kill rate and the survivors.

    python3 tools/mutants/run.py                 # every mutant
    python3 tools/mutants/run.py --only ID,ID    # some of them
    python3 tools/mutants/run.py --list          # the list, nothing run

The copy lives in build/mutants/tree (the working tree's tracked and untracked,
not ignored, files; only changed files are rewritten, so its builds stay
incremental) and never touches the working tree. First the unmutated copy is
built and every test command of the list must pass on it (a test that fails on
the real code cannot kill anything). Then per mutant: the file is edited (its
`find` text must occur exactly once, else the list is stale and the run fails),
the library, the CLI, the C tests it names and the Python extension (linked from
the library's objects: only the mutated file recompiles) are rebuilt, and its
tests run until one fails (killed), all pass (survived) or one runs past the
time limit (killed: a hang). The file is then restored. A mutant that does not
build is an error of the list, not a kill.

The kernel caches are shared by all runs (build/mutants/cache): entries are
keyed by the MSL and shim text (emulator objects) and by a hash of the extension
binary (compiled kernels), so a mutant never reuses what another build made.

Exit status: 0 when at least 90% are killed and the list is sound, else 1.
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
from mutants import MUTANTS  # noqa: E402

WORK = ROOT / "build" / "mutants"
TREE = WORK / "tree"
CACHE = WORK / "cache"
TEST_TIMEOUT = 300
GOAL = 0.90


def sync_tree():
    """Copies the working tree's files into TREE, rewriting only changed ones."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src, dst = ROOT / rel, TREE / rel
        if not src.is_file():
            continue
        data = src.read_bytes()
        if dst.is_file() and dst.read_bytes() == data:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data)
        shutil.copymode(src, dst)


def run(cmd, timeout=None, env=None):
    """(ok, seconds, output tail); a time-out is not ok."""
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, cwd=TREE, env=env, capture_output=True, text=True, timeout=timeout)
        ok, out = r.returncode == 0, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        ok, out = False, f"timed out after {timeout} s\n" + ((e.stdout or b"").decode(errors="replace")
                                                         if isinstance(e.stdout, bytes) else (e.stdout or ""))
    return ok, time.monotonic() - t0, out[-3000:]


def build(c_tests):
    targets = ["build/libtriton_metal.a", "build/triton-metal", "ext-from-objects"]
    targets += [f"build/tests/{t}" for t in sorted(c_tests)]
    return run(["make", "-s", "-j2"] + targets)


def test_env():
    env = dict(os.environ, PYTHONPATH=str(TREE / "python"), TRITON_METAL_CACHE_DIR=str(CACHE),
               PYTHONDONTWRITEBYTECODE="1")
    for k in ("TRITON_METAL_CPU_SCHEDULE", "TRITON_METAL_HW", "TRITON_METAL_OPT_LEVEL", "TRITON_METAL_DEVICE"):
        env.pop(k, None)
    return env


def command(test):
    """A test of the list -> argv: 'c:NAME' runs build/tests/NAME, 'py:ARGS' runs
    pytest on ARGS (stopping at the first failure)."""
    kind, _, arg = test.partition(":")
    if kind == "c":
        return [str(TREE / "build" / "tests" / arg)]
    if kind == "py":
        return [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *arg.split()]
    raise ValueError(f"unknown test kind in {test!r}")


def c_tests_of(tests):
    return {t[2:] for t in tests if t.startswith("c:")}


def check_list(mutants):
    """Every mutant's find text occurs exactly once in its file (of the copy)."""
    problems, ids = [], set()
    for m in mutants:
        if m.id in ids:
            problems.append(f"{m.id}: duplicate id")
        ids.add(m.id)
        text = (TREE / m.file).read_text()
        n = text.count(m.find)
        if n != 1:
            problems.append(f"{m.id}: `{m.find}` occurs {n} times in {m.file} (the list is stale)")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated mutant ids")
    ap.add_argument("--list", action="store_true", help="print the list and stop")
    args = ap.parse_args()
    mutants = MUTANTS
    if args.only:
        want = set(args.only.split(","))
        unknown = want - {m.id for m in MUTANTS}
        if unknown:
            sys.exit(f"unknown mutant id(s): {', '.join(sorted(unknown))}")
        mutants = [m for m in MUTANTS if m.id in want]
    if args.list:
        for m in mutants:
            print(f"{m.id:28} {m.file:34} {m.why}")
        print(f"{len(mutants)} mutants")
        return 0

    t_start = time.monotonic()
    WORK.mkdir(parents=True, exist_ok=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    sync_tree()
    problems = check_list(mutants)
    if problems:
        print("\n".join(problems))
        return 1
    env = test_env()
    all_c = set().union(*(c_tests_of(m.tests) for m in mutants))
    ok, secs, out = build(all_c)
    if not ok:
        print(f"the unmutated copy does not build ({secs:.0f} s):\n{out}")
        return 1
    print(f"built the unmutated copy in {secs:.0f} s")
    commands = sorted({t for m in mutants for t in m.tests})
    for t in commands:
        ok, secs, out = run(command(t), TEST_TIMEOUT, env)
        print(f"  baseline {'pass' if ok else 'FAIL'}  {secs:5.1f} s  {t}")
        if not ok:
            print(f"a test of the list fails on the real code:\n{out}")
            return 1

    killed, survivors, broken = [], [], []
    for i, m in enumerate(mutants, 1):
        path = TREE / m.file
        original = path.read_text()
        t0 = time.monotonic()
        try:
            path.write_text(original.replace(m.find, m.replace, 1))
            ok, bsecs, out = build(c_tests_of(m.tests))
            if not ok:
                broken.append(m)
                print(f"[{i:2}/{len(mutants)}] BROKEN    {m.id}: does not build\n{out}")
                continue
            by = None
            for t in m.tests:
                ok, secs, out = run(command(t), TEST_TIMEOUT, env)
                if not ok:
                    by = t + (" (timed out)" if out.startswith("timed out") else "")
                    break
            secs = time.monotonic() - t0
            if by:
                killed.append(m)
                print(f"[{i:2}/{len(mutants)}] killed    {m.id:28} {secs:5.1f} s  by {by}")
            else:
                survivors.append(m)
                print(f"[{i:2}/{len(mutants)}] SURVIVED  {m.id:28} {secs:5.1f} s  ({m.file}: {m.why})")
        finally:
            path.write_text(original)
    valid = len(killed) + len(survivors)
    rate = len(killed) / valid if valid else 0.0
    total = time.monotonic() - t_start
    print(f"\nmutants: {len(killed)} of {valid} killed ({100 * rate:.0f}%), {len(survivors)} survived"
          + (f", {len(broken)} did not build" if broken else "") + f"; {total / 60:.1f} min")
    for m in survivors:
        print(f"  survivor {m.id}: {m.file}: {m.why}")
    return 0 if rate >= GOAL and not broken else 1


if __name__ == "__main__":
    sys.exit(main())
