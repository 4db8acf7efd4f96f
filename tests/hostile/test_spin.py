"""A kernel that spins forever spins on the emulator too (issue 15 item 9, in
part): C++ lets a compiler assume every loop without side effects ends, and
clang deleted such a loop, so the store after it ran; a GPU would spin. The
emulator compiles kernels with -fno-finite-loops. (Interrupting a spinning
kernel with Ctrl-C and a watchdog are not done yet.)"""
import os
import subprocess
import sys
import textwrap

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import triton_metal as triton, triton_metal.language as tl

    @triton.jit
    def spin(flag_ptr, out_ptr):
        x = tl.load(flag_ptr)
        while x == 0:  # no side effect in the loop: C++ may assume it ends
            x = x * 1
        tl.store(out_ptr, 1.0)

    flag = np.zeros(1, np.int32)
    out = np.memmap(sys.argv[1], dtype=np.float32, mode="r+", shape=(1,))
    print("launching", flush=True)
    spin[(1,)](flag, out)
    out.flush()
    print("returned", flush=True)
""")


def test_an_endless_loop_is_not_deleted(tmp_path):
    script = tmp_path / "spin.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out.bin"
    np.full(1, -1.0, np.float32).tofile(out)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"), TRITON_METAL_DEVICE="cpu",
               TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"))
    p = subprocess.Popen([sys.executable, str(script), str(out)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()  # compiled; the launch starts
        assert line.strip() == "launching", (line, p.stderr.read()[-2000:] if p.poll() is not None else "")
        try:
            p.wait(timeout=5)
            raise AssertionError(f"the kernel returned (exit {p.returncode}): {p.stdout.read()}")
        except subprocess.TimeoutExpired:
            pass  # still spinning, as on a GPU
    finally:
        p.kill()
        p.communicate()
    assert np.fromfile(out, np.float32)[0] == -1.0  # the store after the loop never ran
