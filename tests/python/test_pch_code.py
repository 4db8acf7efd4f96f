# test_pch_code.py: -O0's second precompiled shim, the one that carries its
# code (runtime/cpu/cpu_build.c "Shared shim code"): built in the background
# once a process has made eight -O0 builds with the plain PCH (and waited for
# as that process exits), then taken by
# -O0 builds of later processes, which link its code; checked and rebuilt
# when damaged; and a kernel still builds and runs right when that code
# disappears between the PCH's check and the link.
import glob
import os
import pathlib
import re
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("triton_metal._C", reason="triton_metal._C is not built")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLANG = shutil.which("clang++-19") or shutil.which("clang++")
pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the PCH carries code on Linux only"),
    pytest.mark.skipif(CLANG is None, reason="only clang builds a PCH"),
]

SCRIPT = textwrap.dedent('''
    import os
    import sys
    import numpy as np
    import triton_metal as triton
    import triton_metal.language as tl

    @triton.jit
    def rowsm(x_ptr, y_ptr, n, A: tl.constexpr, BLOCK: tl.constexpr):
        r = tl.program_id(0)
        offs = tl.arange(0, BLOCK)
        m = offs < n
        x = tl.load(x_ptr + r * n + offs, mask=m, other=-float("inf")) * A
        e = tl.exp(x - tl.max(x, axis=0))
        tl.store(y_ptr + r * n + offs, e / tl.sum(e, axis=0), mask=m)

    for a in [int(v) for v in sys.argv[1:]]:
        rng = np.random.default_rng(a + 100)
        x = rng.standard_normal((5, 300)).astype(np.float32)
        x[1, 7] = -np.inf
        y = np.full_like(x, 9.0)
        rowsm[(5,)](x, y, 300, A=a, BLOCK=512)
        if os.environ.get("TM_TEST_DUMP"):  # the result's bits, for test_the_same_bits
            with open(os.environ["TM_TEST_DUMP"], "ab") as f:
                f.write(y.tobytes())
        xd = (x * np.float32(a)).astype(np.float64)  # the product rounded as the kernel's
        e = np.exp(xd - xd.max(axis=1, keepdims=True))
        np.testing.assert_allclose(y, e / e.sum(axis=1, keepdims=True), rtol=3e-6, atol=1e-7)
    print("ok")
''')


def run(tmp_path, args, cxx=None, extra=None, cache="cache"):
    script = tmp_path / "k.py"
    script.write_text(SCRIPT)
    log = tmp_path / "build.log"
    if log.exists():
        log.unlink()
    env = dict(os.environ, TRITON_METAL_DEVICE="cpu", TRITON_METAL_OPT="fast",
               TRITON_METAL_CACHE_DIR=str(tmp_path / cache), TRITON_METAL_BUILD_LOG=str(log),
               PYTHONPATH=os.path.join(ROOT, "python"), TRITON_METAL_CPU_SEED="")
    env.pop("TRITON_METAL_CXX", None)
    env.pop("TRITON_METAL_RACECHECK", None)
    if cxx:
        env["TRITON_METAL_CXX"] = cxx
    env.update(extra or {})
    r = subprocess.run([sys.executable, str(script)] + [str(a) for a in args], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr
    return [line.split() for line in log.read_text().splitlines()]


def kinds(lines):
    return [k for k, *_ in lines]


def shim_files(tmp_path, pattern):
    return glob.glob(str(tmp_path / "cache" / "cpu" / "shim-*" / pattern))


def code_pch(tmp_path):
    """The PCH with code's object (beside it, a sum line with two hashes)."""
    for s in shim_files(tmp_path, "*.pch.sum"):
        words = open(s).read().split()
        if len(words) == 7 and os.path.exists(s[:-4] + ".o"):  # tag (4 words), key, two hashes
            return s[:-4] + ".o"
    raise AssertionError("no PCH with code: " + str(shim_files(tmp_path, "*")))


EIGHT = list(range(3, 11))


def unwind_entries(so):
    """How many functions of a shared object have unwind (FDE) entries: the
    PCH's code is compiled without, a kernel's own functions with."""
    out = subprocess.run(["readelf", "--debug-dump=frames", so], capture_output=True, text=True).stdout
    return len(re.findall(r" FDE ", out))


def kernels(tmp_path):
    return set(glob.glob(str(tmp_path / "cache" / "cpu" / ("?" * 64 + ".so"))))


@pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf reads the objects")
def test_built_in_the_background_then_linked(tmp_path):
    # a new cache: the first kernel compiles without a PCH while the plain one
    # is built; a few kernels leave the PCH with code alone
    first = run(tmp_path, [1, 2])
    assert kinds(first).count("pch") == 1 and "shim" not in kinds(first)
    assert not shim_files(tmp_path, "*.o")
    plain = kernels(tmp_path)
    # the eighth -O0 build with the plain PCH starts it in the background; the
    # process waits for it as it exits
    second = run(tmp_path, EIGHT)
    assert kinds(second).count("pch") == 1 and kinds(second).count("shim") == 1
    obj = code_pch(tmp_path)
    assert os.path.getsize(obj) > 10000
    before = kernels(tmp_path)
    later = run(tmp_path, [60, 61])
    assert "pch" not in kinds(later) and "shim" not in kinds(later) and kinds(later).count("build") == 2
    new = kernels(tmp_path) - before
    assert len(new) == 2
    # the new kernels carry unwind entries for their own few functions only;
    # one built with the plain PCH has them for every shim function it calls
    fewest_plain = min(unwind_entries(p) for p in plain)
    assert all(unwind_entries(k) < fewest_plain for k in new), (
        [unwind_entries(k) for k in new], fewest_plain)


def test_damaged_code_is_rebuilt(tmp_path):
    run(tmp_path, [1] + EIGHT)
    obj = code_pch(tmp_path)
    size = os.path.getsize(obj)
    with open(obj, "r+b") as f:  # garbled in place
        f.seek(size // 2)
        f.write(b"\x5a" * 256)
    # not taken (its sum does not match): the plain PCH serves, and the
    # background build makes it anew, whole
    again = run(tmp_path, [a + 20 for a in EIGHT])
    assert kinds(again).count("shim") == 1
    assert os.path.getsize(code_pch(tmp_path)) == size
    with open(obj, "rb") as f:
        f.seek(size // 2)
        assert f.read(256) != b"\x5a" * 256


def test_code_gone_before_the_link(tmp_path):
    """A compiler that deletes the PCH's code as it compiles with the PCH (as a
    process rebuilding a PCH it found half written would): the kernel is
    compiled again without the PCH and runs right."""
    wrap = tmp_path / "clang-wrap"
    wrap.write_text(textwrap.dedent(f'''\
        #!/bin/sh
        if [ -n "$TM_TEST_DROP" ]; then
          prev=""
          for a in "$@"; do
            if [ "$prev" = "-include-pch" ]; then rm -f "$a.o"; fi
            prev="$a"
          done
        fi
        exec {CLANG} "$@"
        '''))
    wrap.chmod(wrap.stat().st_mode | stat.S_IXUSR)
    no_fork = {"TRITON_METAL_CXX_FORK": "0"}  # the wrapper runs for every compile
    run(tmp_path, [1] + EIGHT, cxx=str(wrap), extra=no_fork)
    code_pch(tmp_path)
    lines = run(tmp_path, [50], cxx=str(wrap), extra=dict(no_fork, TM_TEST_DROP="1"))
    # with the PCH (its code then gone: ld and the driver fail to link), then without it
    assert [code for k, _, _, code, _ in lines if k == "build"] == ["0", "0"], lines
    links = [code for k, _, _, code, _ in lines if k == "link"]
    assert links[0] != "0" and links[-1] == "0", lines


def test_abandoned_temporaries_are_swept(tmp_path):
    """What a process that died while building left in the shim folder (its
    temporaries carry its process id) is removed by the next background
    build; a live process's are left alone."""
    run(tmp_path, [1])
    shim = pathlib.Path(shim_files(tmp_path, "metal_stdlib")[0]).parent
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    left = [shim / f"0123abcd.pch.{dead}.Ab12Cd.pch", shim / f"0123abcd.pch.{dead}.Ef34Gh.o"]
    alive = shim / f"0123abcd.pch.{os.getpid()}.Ij56Kl.pch"
    for p in left + [alive]:
        p.write_bytes(b"half written")
    run(tmp_path, EIGHT)
    code_pch(tmp_path)
    assert not any(p.exists() for p in left) and alive.exists()


def test_a_new_cache_from_the_seed(tmp_path):
    """TRITON_METAL_CPU_SEED (make all's python/triton_metal/_seed/cpu): a new
    cache takes the toolchain record and the precompiled shims from it, so its
    first process neither asks the compiler who it is nor builds a PCH; each
    kernel is still compiled. A seeded PCH that does not match its sum is
    built anew."""
    run(tmp_path, [1] + EIGHT)
    code_pch(tmp_path)
    seed = tmp_path / "seed"
    seed.mkdir()
    for p in (tmp_path / "cache" / "cpu").iterdir():
        if p.name.startswith("toolchain-"):
            shutil.copy(p, seed / p.name)
        elif p.name.startswith("shim-"):
            shutil.copytree(p, seed / p.name)
    lines = run(tmp_path, [2, 3], cache="new", extra={"TRITON_METAL_CPU_SEED": str(seed)})
    assert kinds(lines).count("build") == 2 and not {"version", "pch", "shim"} & set(kinds(lines)), lines
    cpu = tmp_path / "new" / "cpu"
    assert list(cpu.glob("toolchain-*")) and list(cpu.glob("shim-*/*.pch.o"))
    # -O0 took the PCH with code: only the kernels' own functions have unwind entries
    if shutil.which("readelf"):
        plain = min(unwind_entries(k) for k in kernels(tmp_path) if "/cache/" in k)
        assert all(unwind_entries(str(k)) < plain for k in cpu.glob("?" * 64 + ".so"))
    for pch in seed.glob("shim-*/*.pch"):  # garbled in the seed
        with open(pch, "r+b") as f:
            f.seek(pch.stat().st_size // 2)
            f.write(b"\x5a" * 4096)
    again = run(tmp_path, [4], cache="newer", extra={"TRITON_METAL_CPU_SEED": str(seed)})
    assert "version" not in kinds(again) and kinds(again).count("pch") == 1, again


def test_the_same_bits_with_the_shims_code(tmp_path):
    """The PCH's code is compiled at -O2, the kernels that link it at -O0:
    the same kernels give the same bits as when each compiles the shim's
    functions itself (plain PCH) and at -O2 throughout."""
    args = [1] + EIGHT
    run(tmp_path, args)  # builds the PCH with code in the background
    code_pch(tmp_path)
    dumps = {}
    for name, cache, opt in (("plain", "cache-plain", "fast"), ("code", "cache", "fast"), ("O2", "cache-o2", "full")):
        out = tmp_path / f"{name}.bin"
        # specializations none of these caches has: each is built (in "cache",
        # with the PCH with code; in "cache-plain" the first without a PCH)
        lines = run(tmp_path, [2, 12, 13, 14], extra={"TM_TEST_DUMP": str(out), "TRITON_METAL_OPT": opt}, cache=cache)
        assert kinds(lines).count("build") == 4, lines
        dumps[name] = out.read_bytes()
    assert len(dumps["plain"]) == 4 * 5 * 300 * 4
    assert dumps["code"] == dumps["plain"] == dumps["O2"]


PACKAGE_SEED = pathlib.Path(ROOT) / "python" / "triton_metal" / "_seed" / "cpu"


@pytest.mark.skipif(not (PACKAGE_SEED / ".made").exists(), reason="no seed: `make all` makes it")
@pytest.mark.parametrize("race", ["", "1"])
@pytest.mark.parametrize("opt", ["fast", "full"])
def test_the_package_seed_has_every_shim(tmp_path, opt, race):
    """The seed `make all` makes (tools/make_seed.py) holds the PCHs of both
    levels, plain and with the race checker's flags (tests/exec's): a new
    cache's first process builds kernels and nothing else."""
    extra = {"TRITON_METAL_CPU_SEED": str(PACKAGE_SEED), "TRITON_METAL_OPT": opt}
    if race:
        extra["TRITON_METAL_RACECHECK"] = race
    lines = run(tmp_path, [2, 3], extra=extra)
    assert kinds(lines).count("build") == 2 and not {"version", "pch", "shim"} & set(kinds(lines)), lines


def test_make_seed_into_a_folder(tmp_path):
    """tools/make_seed.py --dest (setup.py runs it on the package it built,
    with --package-root): the folder holds the toolchain record and the six
    PCHs, and a new cache seeded from it builds kernels and nothing else."""
    dest = tmp_path / "seed"
    env = dict(os.environ)
    env.pop("TRITON_METAL_CXX", None)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_seed.py"), "--package-root",
                        os.path.join(ROOT, "python"), "--dest", str(dest)], env=env, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0 and "6 precompiled shims" in r.stdout, r.stdout + r.stderr
    assert len(list(dest.glob("toolchain-*"))) == 1 and len(list(dest.glob("shim-*/*.pch.o"))) == 2
    lines = run(tmp_path, [2, 3], extra={"TRITON_METAL_CPU_SEED": str(dest), "TRITON_METAL_RACECHECK": "1"})
    assert kinds(lines).count("build") == 2 and not {"version", "pch", "shim"} & set(kinds(lines)), lines
