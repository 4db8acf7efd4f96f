"""bench/cold_steps.py: where the cpu emulator's build of one kernel spends its
time, step by step (the profile behind runtime/cpu/cpu_build.c's design).

    python3 bench/cold_steps.py [--reps N] [--example vector_add]

Builds the example's first kernel once through a wrapper compiler that keeps
the C++ source the emulator writes (MSL + trampoline) and its flags, then
times each step as its own process, N times, interleaved, and prints the
medians: the compiler starting on an empty file, compiles with and without
the precompiled shim at -O0 and -O2, building the PCH, and linking through
the driver or with ld directly.
"""
import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--example", default="vector_add")
    a = ap.parse_args()
    cxx = os.environ.get("TRITON_METAL_CXX") or shutil.which("clang++-19") or shutil.which("clang++")
    work = tempfile.mkdtemp(prefix="tm-cold-steps-")
    wrap = os.path.join(work, "cxx")
    with open(wrap, "w") as f:  # keeps the first -c compile's source and argv
        f.write(f'#!/bin/sh\nfor a in "$@"; do case "$a" in *.cc) [ -e {work}/k.cc ] || '
                f'{{ cp "$a" {work}/k.cc; echo "$@" > {work}/argv; }};; esac; done\n'
                f'exec {shlex.quote(cxx)} "$@"\n')
    os.chmod(wrap, 0o755)
    env = dict(os.environ, TRITON_METAL_CXX=wrap, TRITON_METAL_OPT="full", TRITON_METAL_DEVICE="cpu",
               TRITON_METAL_CACHE_DIR=os.path.join(work, "cache"), PYTHONPATH=os.path.join(ROOT, "python"))
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", a.example + ".py")], env=env, check=True,
                   capture_output=True)
    argv = open(os.path.join(work, "argv")).read().split()
    # the flags of the compile, without -O, the PCH, the source and output
    flags, skip = [], 0
    for x in argv:
        if skip:
            skip -= 1
            continue
        if x in ("-include-pch", "-o"):
            skip = 1
            continue
        if x.startswith("-O") or x.endswith(".cc") or x in ("-c",):
            continue
        flags.append(x)
    inc = flags[flags.index("-I") + 1]
    src, obj, so, empty = (os.path.join(work, n) for n in ("k.cc", "k.o", "k.so", "empty.cc"))
    open(empty, "w").close()
    rtlib = subprocess.run([cxx, "-print-libgcc-file-name"], capture_output=True, text=True).stdout.strip()
    ld = shutil.which("ld")
    pch = {o: os.path.join(work, f"shim{o}.pch") for o in ("-O0", "-O2")}
    fl = [f for f in flags if f not in ("-x", "c++")]

    def pch_build(o):
        return [cxx, *fl, o, "-Xclang", "-fno-pch-timestamp", "-x", "c++-header", f"{inc}/metal_stdlib",
                "-o", pch[o]]
    for o in pch:
        subprocess.run(pch_build(o), check=True)
    steps = [
        ("compiler start (empty file, -c)", [cxx, "-c", empty, "-o", os.path.join(work, "e.o")]),
        ("compiler --version (identity, once per process)", [cxx, "--version"]),
        ("-print-libgcc-file-name (once per process)", [cxx, "-print-libgcc-file-name"]),
        ("compile -O2 (before: shim parsed, .so by the driver)",
         [cxx, *fl, "-O2", "-shared", "-x", "c++", src, "-o", so, "-lm"]),
        ("compile -O2 -c, no PCH", [cxx, *fl, "-O2", "-c", "-x", "c++", src, "-o", obj]),
        ("compile -O2 -c, PCH", [cxx, *fl, "-O2", "-include-pch", pch["-O2"], "-c", "-x", "c++", src, "-o", obj]),
        ("compile -O1 -c, no PCH", [cxx, *fl, "-O1", "-c", "-x", "c++", src, "-o", obj]),
        ("compile -O0 -c, no PCH", [cxx, *fl, "-O0", "-c", "-x", "c++", src, "-o", obj]),
        ("compile -O0 -c, PCH", [cxx, *fl, "-O0", "-include-pch", pch["-O0"], "-c", "-x", "c++", src, "-o", obj]),
        ("build the PCH (-O0; once per toolchain, flags, shim)", pch_build("-O0")),
        ("link: driver (cxx -shared k.o -lm)", [cxx, "-shared", "-fPIC", obj, "-o", so, "-lm"]),
    ]
    if ld and rtlib:
        steps.append(("link: ld -shared k.o -lm <rtlib>", [ld, "-shared", "-z", "noexecstack", "-o", so, obj,
                                                          "-lm", rtlib]))
    times = {name: [] for name, _ in steps}
    for _ in range(a.reps):
        for name, cmd in steps:
            if "link" in name:  # an object of the current flags to link
                subprocess.run([cxx, *fl, "-O0", "-c", "-x", "c++", src, "-o", obj], check=True)
            t0 = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True)
            times[name].append((time.perf_counter() - t0) * 1e3)
            if r.returncode:
                sys.exit(f"{name}: failed\n{r.stderr.decode()[:2000]}")
    print(f"{a.example}, {cxx}; load average {os.getloadavg()[0]:.2f}; medians of {a.reps}, ms")
    print("| step | ms |\n| --- | --- |")
    for name, _ in steps:
        print(f"| {name} | {statistics.median(times[name]):.0f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
