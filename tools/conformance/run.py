#!/usr/bin/env python3
"""Runs upstream Triton's language tests (test_core.py, unchanged) against triton-metal.

    python3 tools/conformance/run.py --test-core DIR/test_core.py [--sample 8 | --all]
        [--device cpu|metal-sim] [--jobs N] [--chunk 150] [--timeout 120] [-k EXPR]
        [--out DIR] [--no-skips] [--verify-skips]

DIR must also hold upstream's python/triton/_internal_testing.py (or pass
--internal-testing). Neither file is part of this repository.

The cases are collected once, selected (a deterministic sample of up to N cases
per test function, spread over its parametrizations, or all of them), split into
chunks, and each chunk runs in its own pytest process (tm_conformance.py is the
plugin: `device` fixture, skip list, per-test timeout). A process that crashes or
stops making progress is killed; the case it was running is recorded as `crash`
or `hang` and the rest of its chunk runs in a new process. Results go to
OUT/results.jsonl (one line per case) and OUT/summary.md (per test function),
and the totals are printed.

--verify-skips runs the cases on the skip list (skips.txt) instead, without
skipping them, and checks that each fails the way its line's `expect` says:
a skip whose reason has stopped being true (the case passes, or fails for
another reason) is listed in OUT/skips-verified.md and makes the exit status 1.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tm_conformance  # noqa: E402  (the skip list's reader)
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def base_env(args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(REPO, "python"), HERE,
                                         env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["TRITON_METAL_DEVICE"] = args.device
    env.pop("TRITON_INTERPRET", None)
    env.setdefault("TRITON_METAL_CPU_THREADS", "1")  # the runner parallelizes over processes
    return env


def pytest_args(args):
    a = ["-p", "tm_conformance", "-p", "no:cacheprovider", "-q", "--no-header",
         "-o", "addopts=", "--tm-timeout", str(args.timeout),
         "--rootdir", os.path.dirname(os.path.abspath(args.test_core))]
    if args.internal_testing:
        a += ["--tm-internal-testing", args.internal_testing]
    if args.no_skips:
        a.append("--tm-no-skips")
    return a


def collect(args, env):
    cmd = [sys.executable, "-m", "pytest", *pytest_args(args), "--collect-only", args.test_core]
    if args.k:
        cmd += ["-k", args.k]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    ids = [ln.strip() for ln in p.stdout.splitlines() if "::" in ln and not ln.startswith(" ")]
    if not ids:
        sys.exit(f"collection failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return ids


def function_of(nodeid):
    return nodeid.split("::")[-1].split("[")[0]


def select(ids, per_function):
    """Up to per_function cases of each test function, evenly spread over its
    parametrizations (deterministic), in collection order."""
    groups = collections.OrderedDict()
    for i in ids:
        groups.setdefault(function_of(i), []).append(i)
    out = []
    for cases in groups.values():
        n = len(cases)
        if n <= per_function:
            out += cases
        else:
            step = n / per_function
            out += [cases[int(j * step)] for j in range(per_function)]
    return out


def chunks(ids, size):
    """Chunks of at most size cases, never mixing test functions needlessly."""
    out, cur = [], []
    for i in ids:
        cur.append(i)
        if len(cur) >= size:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


class Results:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.by_id = {}
        self.f = open(path, "w")

    def add(self, rec):
        with self.lock:
            prev = self.by_id.get(rec["id"])
            # a failure in setup/teardown or call wins over an earlier pass
            if prev is None or rec["outcome"] not in ("passed",) or prev["outcome"] == "passed":
                if prev is None or prev["outcome"] in ("passed", "skipped") \
                        or rec["outcome"] in ("crash", "hang"):
                    self.by_id[rec["id"]] = rec
            self.f.write(json.dumps(rec) + "\n")
            self.f.flush()


def run_chunk(args, env, ids, results, workdir, n):
    """Runs ids in pytest processes until every id has an outcome."""
    todo = list(ids)
    attempt = 0
    while todo:
        attempt += 1
        log = os.path.join(workdir, f"chunk{n}-{attempt}.jsonl")
        open(log, "w").close()
        cmd = [sys.executable, "-m", "pytest", *pytest_args(args), "--tm-results", log, *todo]
        out = open(os.path.join(workdir, f"chunk{n}-{attempt}.out"), "w")
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                             cwd=os.path.dirname(os.path.abspath(args.test_core)))
        last_size, last_change, killed = -1, time.time(), None
        while p.poll() is None:
            time.sleep(0.5)
            size = os.path.getsize(log)
            if size != last_size:
                last_size, last_change = size, time.time()
            elif time.time() - last_change > args.timeout + 60:
                p.kill()
                killed = "hang"
                p.wait()
        out.close()
        done, current = set(), None
        with open(log) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec["phase"] == "start":
                    current = rec["id"]
                    continue
                if rec["phase"] == "teardown" or rec["outcome"] != "passed" \
                        or rec["phase"] == "call":
                    results.add({"id": rec["id"], "outcome": rec["outcome"], "phase": rec["phase"],
                                 "dur": rec.get("dur", 0), "msg": rec.get("msg", "")})
                done.add(rec["id"])
        # a process that ended without finishing its current case died in it
        remaining = [i for i in todo if i not in done or i == current]
        if p.returncode != 0 and current is not None and (killed or p.returncode < 0
                                                         or current not in done):
            if current in remaining and (killed or p.returncode < 0):
                results.add({"id": current, "outcome": killed or "crash", "phase": "call",
                             "dur": 0, "msg": f"process {'killed (no progress)' if killed else f'died with signal {-p.returncode}'}"})
                done.add(current)
        todo = [i for i in todo if i not in done]
        if todo and p.returncode == 0:
            # pytest finished but did not run these (not collected: a bad id)
            for i in todo:
                results.add({"id": i, "outcome": "error", "phase": "collect", "dur": 0,
                             "msg": "not run by pytest (not collected)"})
            todo = []
        if todo and attempt > len(ids) + 5:
            for i in todo:
                results.add({"id": i, "outcome": "error", "phase": "runner", "dur": 0,
                             "msg": "runner gave up"})
            todo = []


KIND_PATTERNS = [  # failure message -> kind, for the summary
    ("wrong result", re.compile(r"Mismatch|Not equal|not close|assert_allclose|array_equal|"
                                r"AssertionError: assert (?!.*raises)|assert .* == ")),
    ("refused", re.compile(r"CompilationError|is not supported|not supported yet")),
    ("launch error", re.compile(r"LaunchError")),
]


def kind_of(msg):
    for k, pat in KIND_PATTERNS:
        if pat.search(msg or ""):
            return k
    return "other"


def summarize(results, out_dir, elapsed, args):
    by_fn = collections.OrderedDict()
    totals = collections.Counter()
    for rid, rec in results.by_id.items():
        o = rec["outcome"]
        o = "failed" if o == "error" else o
        by_fn.setdefault(function_of(rid), collections.Counter())[o] += 1
        totals[o] += 1
    applicable = totals["passed"] + totals["failed"] + totals["crash"] + totals["hang"]
    lines = [f"# Upstream test_core.py on triton-metal ({args.device})", "",
             f"cases: {sum(totals.values())}; passed {totals['passed']}, failed {totals['failed']}, "
             f"skipped {totals['skipped']}, crash {totals['crash']}, hang {totals['hang']}; "
             f"pass rate of the cases not skipped: "
             f"{100.0 * totals['passed'] / max(applicable, 1):.1f}%; wall time {elapsed:.0f} s", "",
             "| test function | passed | failed | skipped | crash | hang |",
             "| --- | --- | --- | --- | --- | --- |"]
    for fn, c in by_fn.items():
        lines.append(f"| {fn} | {c['passed']} | {c['failed']} | {c['skipped']} | {c['crash']} | {c['hang']} |")
    lines += ["", "## Failures", ""]
    for rid, rec in results.by_id.items():
        if rec["outcome"] not in ("passed", "skipped"):
            msg = (rec.get("msg") or "").strip().splitlines()
            first = next((m for m in msg if m.strip()), "")[:300]
            lines.append(f"- `{rid.split('::')[-1]}` ({rec['outcome']}, {kind_of(rec.get('msg'))}): {first}")
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return totals, applicable


def verify_skips(results, out_dir):
    """Checks every skipped case failed as its skip line expects."""
    skips = tm_conformance.load_skips()
    bad, ok = [], 0
    for rid, rec in sorted(results.by_id.items()):
        line = tm_conformance.skip_line(rid.split("::")[-1], skips)
        expect = tm_conformance.expect_of(line[1]) if line else None
        msg = rec.get("msg") or ""
        if rec["outcome"] == "skipped":  # skipped by upstream itself (pytest.skip): nothing to check
            ok += 1
        elif rec["outcome"] == "passed":
            bad.append(f"- `{rid.split('::')[-1]}` passes: its skip line `{line[0]}` is not needed")
        elif expect and not re.search(expect, msg):
            first = next((m for m in msg.strip().splitlines() if m.strip()), "")[:300]
            bad.append(f"- `{rid.split('::')[-1]}` fails otherwise than `{expect}` ({line[0]}): {first}")
        else:
            ok += 1
    with open(os.path.join(out_dir, "skips-verified.md"), "w") as f:
        f.write(f"# Skip list check: {ok} cases fail as their reason says, {len(bad)} do not\n\n")
        f.write("\n".join(bad) + "\n")
    print(f"skip list: {ok} cases fail as their reason says; {len(bad)} do not "
          f"(see {out_dir}/skips-verified.md)")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--test-core", required=True)
    ap.add_argument("--internal-testing")
    ap.add_argument("--device", default="cpu", choices=("cpu", "metal-sim", "metal"))
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--sample", type=int, default=8, help="cases per test function (default 8)")
    g.add_argument("--all", action="store_true")
    ap.add_argument("-k", default=None, help="pytest -k expression")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--chunk", type=int, default=150)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-skips", action="store_true")
    ap.add_argument("--verify-skips", action="store_true")
    args = ap.parse_args()
    if args.verify_skips:
        args.no_skips = True
    args.test_core = os.path.abspath(args.test_core)
    out_dir = os.path.abspath(args.out or os.path.join("conformance-out", args.device))
    os.makedirs(out_dir, exist_ok=True)
    work = os.path.join(out_dir, "work")
    os.makedirs(work, exist_ok=True)
    env = base_env(args)
    t0 = time.time()
    ids = collect(args, env)
    sel = ids if args.all else select(ids, args.sample)
    if args.verify_skips:
        skips = tm_conformance.load_skips()
        sel = [i for i in sel if tm_conformance.skip_reason(i.split("::")[-1], skips) is not None]
    print(f"collected {len(ids)} cases; running {len(sel)} on {args.device} "
          f"with {args.jobs} processes", flush=True)
    results = Results(os.path.join(out_dir, "results.jsonl"))
    queue = list(enumerate(chunks(sel, args.chunk)))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                n, ids_ = queue.pop(0)
            run_chunk(args, env, ids_, results, work, n)
            with lock:
                print(f"  chunk {n} done ({len(results.by_id)}/{len(sel)} cases, "
                      f"{time.time() - t0:.0f} s)", flush=True)

    threads = [threading.Thread(target=worker) for _ in range(max(1, args.jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if args.verify_skips:
        return verify_skips(results, out_dir)
    totals, applicable = summarize(results, out_dir, time.time() - t0, args)
    print(f"passed {totals['passed']}, failed {totals['failed']}, skipped {totals['skipped']}, "
          f"crash {totals['crash']}, hang {totals['hang']}: "
          f"{100.0 * totals['passed'] / max(applicable, 1):.1f}% of {applicable} applicable; "
          f"{time.time() - t0:.0f} s; details in {out_dir}/summary.md")
    return 0 if totals["crash"] == totals["hang"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
