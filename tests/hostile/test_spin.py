"""A kernel that never ends (issue 15 item 9).

On a GPU such a kernel spins until the machine's watchdog kills it. On the
emulator:
- it spins too: C++ lets a compiler assume every loop without side effects
  ends, and clang deleted such a loop, so the store after it ran; the
  emulator compiles kernels with -fno-finite-loops;
- Ctrl-C stops it within a second (every Triton loop polls, TM_POLL; the
  extension's SIGINT handler calls tm_interrupt, then Python's), raising
  KeyboardInterrupt, and the process stays usable;
- TRITON_METAL_TIMEOUT=seconds ends a launch that runs longer, with an error
  that says so.
Each case runs in a child process (a hang there cannot hang the suite), on the
kernel kinds that stop differently: threads run one after another on the
worker's stack (no barrier: a long jump back), threads as fibers (barriers:
the threadgroup is abandoned), across several threadgroups on the launching
thread alone (a small launch, cpu_pool.c) and on every worker, and under the
interleaving schedule.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    import triton_metal as triton, triton_metal.language as tl
    from triton_metal.errors import LaunchError

    @triton.jit
    def spin(flag_ptr, out_ptr):
        x = tl.load(flag_ptr)
        while x == 0:  # no side effect in the loop: C++ may assume it ends
            x = x * 1
        tl.store(out_ptr + tl.program_id(0), 1.0)

    @triton.jit
    def spin_reduce(flag_ptr, x_ptr, out_ptr, BLOCK: tl.constexpr):
        # a reduction in the loop: barriers, so the threads run as fibers
        offs = tl.arange(0, BLOCK)
        acc = tl.zeros([BLOCK], tl.float32)
        f = tl.load(flag_ptr)
        i = 0
        while f == 0 or i < 3:
            acc += tl.load(x_ptr + offs)
            s = tl.sum(acc, axis=0)
            f = tl.load(flag_ptr) + (s < -1.0).to(tl.int32)
            i += 1
        tl.store(out_ptr + tl.program_id(0), tl.sum(acc, axis=0))

    @triton.jit
    def add(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) + tl.load(y_ptr + offs, mask=m), mask=m)

    kind = sys.argv[1]
    flag = np.zeros(1, np.int32)
    out = np.full(1024, -1.0, np.float32)
    x = np.arange(256, dtype=np.float32) / 256
    def launch(flag):
        if kind == "single":
            spin[(1,)](flag, out)
        elif kind == "grid":
            spin[(8,)](flag, out)  # small: after its first launch it runs on the launching thread
        elif kind == "biggrid":
            spin[(1024,)](flag, out)  # enough threadgroups for every worker
        else:
            spin_reduce[(8,)](flag, x, out, BLOCK=256, num_warps=4)
    launch(np.ones(1, np.int32))  # compiled and run once: the next launch starts at once
    out[:] = -1.0
    print("launching", flush=True)
    t0 = time.monotonic()
    try:
        launch(flag)
        print("returned", flush=True)
    except KeyboardInterrupt as e:
        print(f"interrupted {time.monotonic() - t0:.3f}", flush=True)
    except LaunchError as e:
        print(f"error {time.monotonic() - t0:.3f} {e}".replace("\\n", " "), flush=True)
    # the process, the device and the kernel stay usable
    n = 1000
    a, b = np.random.rand(n).astype(np.float32), np.random.rand(n).astype(np.float32)
    c = np.zeros(n, np.float32)
    add[(4,)](a, b, c, n, BLOCK=256)
    assert np.array_equal(c, a + b)
    out[:] = -1.0
    launch(np.ones(1, np.int32))
    assert (out[:1 if kind == "single" else 8] != -1.0).all(), out
    print("usable", flush=True)
""")


def _start(tmp_path, kind, **env):
    script = tmp_path / "spin.py"
    script.write_text(SCRIPT)
    full = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"),
                TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"))
    full.setdefault("TRITON_METAL_DEVICE", "cpu")
    full.pop("TRITON_METAL_TIMEOUT", None)
    full.update(env)
    p = subprocess.Popen([sys.executable, str(script), kind], env=full, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if line.strip() != "launching":
        p.kill()
        raise AssertionError((line, p.communicate()))
    return p


def _finish(p, timeout=20):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"the child did not end: {out} {err[-2000:]}")
    assert p.returncode == 0, (out, err[-3000:])
    return out.split("\n")


def test_an_endless_loop_spins(tmp_path):
    p = _start(tmp_path, "single")
    try:
        p.wait(timeout=3)
        raise AssertionError(f"the kernel returned (exit {p.returncode}): {p.communicate()}")
    except subprocess.TimeoutExpired:
        pass  # still spinning, as on a GPU (the store after the loop has not run)
    finally:
        p.kill()
        p.communicate()


SCHEDULES = [("single", "default"), ("grid", "default"), ("biggrid", "default"), ("reduce", "default"),
             ("reduce", "interleave:3"), ("grid", "interleave:3")]


@pytest.mark.parametrize("kind,schedule", SCHEDULES)
def test_ctrl_c_stops_a_spinning_kernel(tmp_path, kind, schedule):
    p = _start(tmp_path, kind, TRITON_METAL_CPU_SCHEDULE=schedule)
    time.sleep(0.3)
    assert p.poll() is None  # spinning
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    lines = _finish(p)
    took = time.monotonic() - t0
    assert lines[0].startswith("interrupted"), lines
    assert took < 1.0 + 0.5, took  # within a second (+ the child's exit)
    assert lines[1] == "usable", lines


@pytest.mark.parametrize("kind", ["single", "reduce"])
@pytest.mark.parametrize("device", ["cpu", "metal-sim"])
def test_timeout_ends_a_spinning_kernel(tmp_path, kind, device):
    p = _start(tmp_path, kind, TRITON_METAL_TIMEOUT="0.5", TRITON_METAL_DEVICE=device)
    lines = _finish(p)
    assert lines[0].startswith("error "), lines
    took = float(lines[0].split()[1])
    assert 0.45 <= took < 2.0, lines[0]
    assert "TRITON_METAL_TIMEOUT=0.5" in lines[0] and "spin" in lines[0], lines[0]
    assert "in the loop at" in lines[0], lines[0]
    assert lines[1] == "usable", lines


def test_bad_timeout_is_refused():
    import triton_metal as triton
    import triton_metal.language as tl

    @triton.jit
    def one(out_ptr):
        i = 0
        while i < 3:
            i += 1
        tl.store(out_ptr, i)

    out = np.zeros(1, np.int32)
    old = os.environ.get("TRITON_METAL_TIMEOUT")
    try:
        os.environ["TRITON_METAL_TIMEOUT"] = "soon"
        with pytest.raises(Exception, match="TRITON_METAL_TIMEOUT=soon"):
            one[(1,)](out)
        os.environ["TRITON_METAL_TIMEOUT"] = "30"
        one[(1,)](out)  # a timeout that is not reached changes nothing
        assert out[0] == 3
    finally:
        if old is None:
            os.environ.pop("TRITON_METAL_TIMEOUT", None)
        else:
            os.environ["TRITON_METAL_TIMEOUT"] = old


FORK_SCRIPT = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import triton_metal as triton, triton_metal.language as tl
    from triton_metal.errors import LaunchError

    @triton.jit
    def spin(flag_ptr, out_ptr):
        x = tl.load(flag_ptr)
        while x == 0:
            x = x * 1
        tl.store(out_ptr, 1.0)

    def timed_out(who):
        t0 = time.monotonic()
        try:
            spin[(1,)](np.zeros(1, np.int32), np.zeros(1, np.float32))
        except LaunchError as e:
            assert "TRITON_METAL_TIMEOUT" in str(e), e
            print(who, "stopped", round(time.monotonic() - t0, 2), flush=True)
            return
        raise SystemExit(who + ": the spin returned")

    timed_out("parent")  # the parent's watchdog thread exists now
    pid = os.fork()
    if pid == 0:  # the child has none: its first watched launch starts its own
        timed_out("child")
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    timed_out("parent")
""")


def test_timeout_after_fork(tmp_path):
    script = tmp_path / "fork.py"
    script.write_text(FORK_SCRIPT)
    # TRITON_METAL_OPT=fast: no background -O2 build thread at the fork. Under the
    # ASan extension (make asan-py) a fork while that thread is inside ASan's
    # allocator leaves the allocator's lock held in the child, whose watchdog
    # thread then blocks in malloc and never stops the spin (seen under load:
    # the child spinning for good). glibc's malloc is fork-safe; ASan's is not.
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"), TRITON_METAL_DEVICE="cpu",
               TRITON_METAL_TIMEOUT="0.3", TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"),
               TRITON_METAL_OPT="fast")
    p = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr[-2000:])
    lines = p.stdout.split("\n")
    assert [line.split()[:2] for line in lines[:3]] == [["parent", "stopped"], ["child", "stopped"],
                                                        ["parent", "stopped"]], p.stdout
    assert all(float(line.split()[2]) < 2.0 for line in lines[:3]), p.stdout
