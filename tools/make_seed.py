"""tools/make_seed.py: fills the folder the package points
TRITON_METAL_CPU_SEED at (runtime/cpu/cpu_build.c "seed"): the toolchain
record and the precompiled shims (-O0 plain and with code, -O2; each also
with the race checker's flags) that a new kernel cache would otherwise make
first, for the C++ compiler the emulator finds now.

    python3 tools/make_seed.py [--package-root DIR] [--dest DIR]

`make all` runs it after the extension (python/triton_metal/_seed/cpu);
setup.py runs it on the package it has just built (`pip install .`), with
--package-root naming that build.

It builds kernels into a temporary cache and keeps only the toolchain record
and the shim folders. Without a usable compiler it says so and leaves no
seed (the emulator then makes these files in each new cache, as before).
"""
import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Builds (compiles and links, no launch: no arrays, so no NumPy, which a
# pip build's environment may lack) specializations argv[1]..argv[2]-1 of a
# small kernel on the cpu emulator.
KERNELS = '''
import sys
import triton_metal as triton
import triton_metal.language as tl
from triton_metal.compiler import ASTSource, compile


@triton.jit
def scale(x, o, n, A: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(o + offs, tl.load(x + offs, mask=m) * A, mask=m)


for a in range(int(sys.argv[1]), int(sys.argv[2])):
    src = ASTSource(scale, {"x": "*fp32", "o": "*fp32", "n": "i32"}, {"A": a, "BLOCK": 128})
    compile(src)._init_handles()  # the emulator's build of the kernel
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--package-root", default=str(ROOT / "python"),
                    help="the folder that holds the built triton_metal package (default: the checkout's python/)")
    ap.add_argument("--dest", help="the seed folder (default: <package-root>/triton_metal/_seed/cpu)")
    a = ap.parse_args()
    root = pathlib.Path(a.package_root).resolve()
    dest = pathlib.Path(a.dest).resolve() if a.dest else root / "triton_metal" / "_seed" / "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        cache = pathlib.Path(tmp) / "cache"
        script = pathlib.Path(tmp) / "seed_kernels.py"  # @jit reads a kernel's source from its file
        script.write_text(KERNELS)
        env = dict(os.environ, TRITON_METAL_CACHE_DIR=str(cache), TRITON_METAL_DEVICE="cpu",
                   TRITON_METAL_CPU_SEED="", PYTHONPATH=str(root))
        for v in ("TRITON_METAL_RACECHECK", "TRITON_METAL_CHECK_OVERFLOW", "TRITON_METAL_BUILD_LOG"):
            env.pop(v, None)
        # -O0: ten builds make the plain PCH and (from the eighth with it) the
        # one with code, which the process waits for as it exits; -O2: one.
        # Then the same with the race checker's flags (TRITON_METAL_RACECHECK=1,
        # as tests/exec runs every kernel): its PCHs are others.
        runs = [(opt, race, lo, hi) for race in ("", "1") for opt, lo, hi in (("fast", 2, 12), ("full", 12, 13))]
        for opt, race, lo, hi in runs:
            run_env = dict(env, TRITON_METAL_OPT=opt)
            if race:
                run_env["TRITON_METAL_RACECHECK"] = race
            try:
                r = subprocess.run([sys.executable, str(script), str(lo), str(hi)], env=run_env,
                                   capture_output=True, text=True, timeout=600)
                failed = r.returncode != 0
                why = (r.stderr or r.stdout)[-2000:]
            except subprocess.TimeoutExpired:
                failed, why = True, "the builds took more than 600 s"
            if failed:
                print("make_seed: no seed (the emulator could not build a kernel here):\n" + why, file=sys.stderr)
                shutil.rmtree(dest, ignore_errors=True)
                return 0
        new = dest.with_name(dest.name + ".new")
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir(parents=True)
        for p in sorted((cache / "cpu").iterdir()):
            if p.name.startswith("toolchain-"):
                shutil.copy2(p, new / p.name)
            elif p.name.startswith("shim-") and p.is_dir():
                shutil.copytree(p, new / p.name)
        shutil.rmtree(dest, ignore_errors=True)
        new.rename(dest)
        pchs = sorted(q.name for q in dest.rglob("*.pch"))
        shown = dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest
        print(f"make_seed: {shown}: {len(pchs)} precompiled shims")
    return 0


if __name__ == "__main__":
    sys.exit(main())
