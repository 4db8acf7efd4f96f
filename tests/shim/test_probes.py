"""The emulator's shim (runtime/metal_stdlib) refuses what Metal refuses.

Each probe in probes/ is MSL that Apple's compiler rejects; its first line says
`// rejects: TEXT` (or `TEXT & TEXT ...`), and compiled against the shim with the
emulator's flags it must fail with each TEXT in the compiler's message (so a kernel we emit with that
construct fails on the emulator, as it would on a Mac). Probes named ok_* say
`// compiles:` and must compile: the way around each refused construct, and a
check that the probes fail for their construct, not for the harness."""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
PROBES = sorted((pathlib.Path(__file__).parent / "probes").glob("*.metal"))
# runtime/cpu_build.c's flags, checking syntax only (warnings silent; clang's -w
# would silence -Werror=vla too, so -Wno-everything there)
FLAGS = ["-std=c++17", "-ffp-contract=off", "-fwrapv", "-fno-math-errno", "-fno-exceptions", "-fno-rtti",
         "-fsigned-char", "-nostdinc", "-fno-finite-loops", "-Werror=vla", "-fsyntax-only"]


def compiler():
    """the C++ compiler the emulator uses (runtime/cpu_build.c's search order)"""
    want = os.environ.get("TRITON_METAL_CXX")
    for name in ([want] if want else ["clang++-19", "clang++", "g++"]):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no C++ compiler for the emulator")


@pytest.mark.parametrize("probe", PROBES, ids=[p.stem for p in PROBES])
def test_probe(probe):
    first = probe.read_text().splitlines()[0]
    kind, _, text = first.partition(": ")
    assert kind in ("// rejects", "// compiles"), f"{probe.name}: first line must say what to expect"
    cxx = compiler()
    quiet = ["-Wno-everything"] if "clang" in os.path.basename(cxx) else []
    p = subprocess.run([cxx, *quiet, *FLAGS, "-I", str(ROOT / "runtime"), "-x", "c++", str(probe)],
                       capture_output=True, text=True, timeout=120)
    if kind == "// compiles":
        assert p.returncode == 0, p.stderr[-3000:]
    else:
        assert p.returncode != 0, f"{probe.name}: the shim accepts what Metal rejects ({text})"
        for part in text.split(" & "):
            assert part in p.stderr, p.stderr[-3000:]
