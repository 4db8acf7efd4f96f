"""tools/make_seed.py: fills python/triton_metal/_seed/cpu, the folder the
package points TRITON_METAL_CPU_SEED at (runtime/cpu/cpu_build.c "seed"):
the toolchain record and the precompiled shims (-O0 plain and with code,
-O2; each also with the race checker's flags) that a new kernel cache would
otherwise make first, for the C++ compiler the emulator finds now. `make all` runs it after the extension.

It builds kernels into a temporary cache and keeps only the toolchain record
and the shim folders. Without a usable compiler it says so and leaves no
seed (the emulator then makes these files in each new cache, as before).
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEST = ROOT / "python" / "triton_metal" / "_seed" / "cpu"

KERNELS = '''
import sys
import numpy as np
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def scale(x, o, n, A: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(o + offs, tl.load(x + offs, mask=m) * A, mask=m)


x = np.ones(100, np.float32)
o = np.zeros_like(x)
for a in range(int(sys.argv[1]), int(sys.argv[2])):
    scale[(1,)](x, o, x.size, A=a, BLOCK=128)
    assert (o == a).all()
'''


def main():
    with tempfile.TemporaryDirectory() as tmp:
        cache = pathlib.Path(tmp) / "cache"
        script = pathlib.Path(tmp) / "seed_kernels.py"  # @jit reads a kernel's source from its file
        script.write_text(KERNELS)
        env = dict(os.environ, TRITON_METAL_CACHE_DIR=str(cache), TRITON_METAL_DEVICE="cpu",
                   TRITON_METAL_CPU_SEED="", PYTHONPATH=str(ROOT / "python"))
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
            r = subprocess.run([sys.executable, str(script), str(lo), str(hi)], env=run_env,
                               capture_output=True, text=True, timeout=600)
            if r.returncode:
                print("make_seed: no seed (the emulator could not build a kernel here):\n"
                      + (r.stderr or r.stdout)[-2000:], file=sys.stderr)
                shutil.rmtree(DEST, ignore_errors=True)
                return 0
        new = DEST.with_name("cpu.new")
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir(parents=True)
        for p in sorted((cache / "cpu").iterdir()):
            if p.name.startswith("toolchain-"):
                shutil.copy2(p, new / p.name)
            elif p.name.startswith("shim-") and p.is_dir():
                shutil.copytree(p, new / p.name)
        shutil.rmtree(DEST, ignore_errors=True)
        new.rename(DEST)
        pchs = sorted(q.name for q in DEST.rglob("*.pch"))
        print(f"make_seed: {DEST.relative_to(ROOT)}: {len(pchs)} precompiled shims")
    return 0


if __name__ == "__main__":
    sys.exit(main())
