"""The MSL version asked of Metal follows the OS (issue 15 item 3).

runtime/metal/metal.c asks for the version the target's OS offers (3.0 on macOS 13,
3.1 on 14, 3.2 on 15, 4.0 on 26), not a fixed 3.1; metal-sim, like Metal,
refuses a version newer than its OS has. Before, every launch on a macOS 13
machine (the README supports 13.5) asked for 3.1 and failed to build."""
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

SCRIPT = textwrap.dedent("""
    import numpy as np, triton_metal as triton, triton_metal.language as tl

    @triton.jit
    def twice(x_ptr, n, BLOCK: tl.constexpr):
        i = tl.arange(0, BLOCK)
        tl.store(x_ptr + i, tl.load(x_ptr + i, mask=i < n) * 2, mask=i < n)

    x = np.arange(-5, 10, dtype=np.float32)
    x[3] = np.nan
    want = x * 2
    twice[(1,)](x, 15, BLOCK=16)
    np.testing.assert_array_equal(x, want)
    print("ran")
""")


def run(tmp_path, **env):
    script = tmp_path / "k.py"
    script.write_text(SCRIPT)
    e = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"), TRITON_METAL_DEVICE="metal-sim",
             TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"))
    e.pop("TRITON_METAL_MSL_VERSION", None)
    e.update(env)
    return subprocess.run([sys.executable, str(script)], env=e, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("hw", ["M2@13.5", "M1@14.0", "M3", "M5"])
def test_the_os_version_is_asked_for(tmp_path, hw):
    p = run(tmp_path, TRITON_METAL_HW=hw)
    assert p.returncode == 0 and "ran" in p.stdout, p.stderr[-2000:]


def test_a_version_the_os_lacks_is_refused(tmp_path):
    p = run(tmp_path, TRITON_METAL_HW="M2@13.5", TRITON_METAL_MSL_VERSION="3.1")
    assert p.returncode != 0
    assert "MTLLanguageVersion 3.1 is not available on this OS (it offers MSL 3.0)" in p.stderr, p.stderr[-2000:]
