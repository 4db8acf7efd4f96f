# test_pch_code.py: the -O0 precompiled shim carries its code (runtime/cpu/
# cpu_build.c "Shared shim code"): built once per cache with the PCH, linked by
# every -O0 kernel compiled with that PCH, and a kernel still builds and runs
# right when that code disappears between the PCH's check and the link.
import glob
import os
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
        xd = x.astype(np.float64) * a
        e = np.exp(xd - xd.max(axis=1, keepdims=True))
        np.testing.assert_allclose(y, e / e.sum(axis=1, keepdims=True), rtol=3e-6, atol=1e-7)
    print("ok")
''')


def run(tmp_path, args, cxx=None, extra=None):
    script = tmp_path / "k.py"
    script.write_text(SCRIPT)
    log = tmp_path / "build.log"
    if log.exists():
        log.unlink()
    env = dict(os.environ, TRITON_METAL_DEVICE="cpu", TRITON_METAL_OPT="fast",
               TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"), TRITON_METAL_BUILD_LOG=str(log),
               PYTHONPATH=os.path.join(ROOT, "python"))
    env.pop("TRITON_METAL_CXX", None)
    if cxx:
        env["TRITON_METAL_CXX"] = cxx
    env.update(extra or {})
    r = subprocess.run([sys.executable, str(script)] + [str(a) for a in args], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr
    return [line.split() for line in log.read_text().splitlines()]


def kinds(lines):
    return [k for k, *_ in lines]


def test_the_code_is_built_once_and_linked(tmp_path):
    first = run(tmp_path, [2, 3])
    # a new cache: the first kernel compiles without the PCH while it is built
    # with its code; the second compiles with it
    assert kinds(first).count("pch") == 1 and kinds(first).count("shim") == 1
    assert kinds(first).count("build") == 2
    objs = glob.glob(str(tmp_path / "cache" / "cpu" / "shim-*" / "*.pch.o"))
    assert len(objs) == 1 and os.path.getsize(objs[0]) > 10000
    sums = glob.glob(str(tmp_path / "cache" / "cpu" / "shim-*" / "*.pch.sum"))
    assert len(sums) == 1 and len(open(sums[0]).read().split()) == 7  # tag (4 words), key, two hashes
    # a later process: neither is built again
    later = run(tmp_path, [4, 1])
    assert "pch" not in kinds(later) and "shim" not in kinds(later) and kinds(later).count("build") == 2


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
    run(tmp_path, [2, 3], cxx=str(wrap), extra=no_fork)
    lines = run(tmp_path, [5], cxx=str(wrap), extra=dict(no_fork, TM_TEST_DROP="1"))
    # with the PCH (its code then gone: ld and the driver fail to link), then without it
    assert [code for k, _, _, code, _ in lines if k == "build"] == ["0", "0"], lines
    links = [code for k, _, _, code, _ in lines if k == "link"]
    assert links[0] != "0" and links[-1] == "0", lines
