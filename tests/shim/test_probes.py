"""The emulator refuses what Metal refuses.

Each probe in probes/ is MSL that Apple's compiler rejects; its first line says
`// rejects: TEXT` (or `TEXT & TEXT ...`), and checked as the cpu emulator builds
MSL (`_C.msl_check`, i.e. `tm_msl_check`: the MSL lint of runtime/cpu/msl_lint.c,
then a syntax-only compile against the shim with the emulator's compiler and
flags) it must fail with each TEXT in the message (so a kernel we emit with
that construct fails on the emulator, as it would on a Mac). Probes named ok_*
say `// compiles:` and must pass: the legal neighbours of the refused
constructs, and a check that the probes fail for their construct, not for the
harness. A line `// msl: X.Y` in the header builds the probe for that MSL
version (TRITON_METAL_MSL_VERSION); otherwise 3.1.

defects/ holds MSL in the same form that Metal compiles (with a warning at
most) but whose behaviour is undefined or not what it says: the warnings the
emulator makes errors (runtime/cpu/cpu_build.c, clang_warnings), one file each.

The address-space probes (as_*, ok_as_*) and the defects need clang: g++ has
no address spaces on C++ types, so under it they are erased (docs/metal.md:
overloads by address space collide, `constant` is plain const), and its
warnings have other names and texts; these are skipped there."""
import pathlib

import pytest

from triton_metal import _C

HERE = pathlib.Path(__file__).parent
PROBES = sorted((HERE / "probes").glob("*.metal")) + sorted((HERE / "defects").glob("*.metal"))


def header(probe):
    lines = probe.read_text().splitlines()
    kind, _, text = lines[0].partition(": ")
    assert kind in ("// rejects", "// compiles"), f"{probe.name}: first line must say what to expect"
    msl = next((l.split(": ", 1)[1] for l in lines[1:4] if l.startswith("// msl: ")), "3.1")
    return kind, text, msl


def clang_toolchain():
    import os
    import shutil
    want = os.environ.get("TRITON_METAL_CXX")
    for name in ([want] if want else ["clang++-19", "clang++", "g++", "c++"]):
        path = shutil.which(name)
        if path:
            return "clang" in os.path.basename(path) or "clang" in os.path.realpath(path)
    return False


@pytest.mark.parametrize("probe", PROBES, ids=[f"{p.parent.name}/{p.stem}" for p in PROBES])
def test_probe(probe, monkeypatch):
    kind, text, msl = header(probe)
    if (probe.stem.startswith(("as_", "ok_as_")) or probe.parent.name == "defects") and not clang_toolchain():
        pytest.skip("clang only: address spaces are erased under g++, its warnings differ")
    monkeypatch.setenv("TRITON_METAL_MSL_VERSION", msl)
    out = _C.msl_check(probe.read_text())
    if kind == "// compiles":
        assert out is None, out[-3000:]
    else:
        assert out is not None, f"{probe.name}: the emulator accepts what Metal rejects ({text})"
        for part in text.split(" & "):
            assert part in out, out[-3000:]
