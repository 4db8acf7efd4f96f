# test_emu_pool.py: the cpu emulator's worker threads are kept off the
# launching thread's CPU (runtime/cpu/cpu_pool.c, steer): with CPUs enough,
# each pool thread may run on every CPU the launching thread may but the one
# it launched from; with more workers than CPUs, or a launching thread
# pinned to one CPU, they may run wherever it may. Each case runs in its own
# process (the pool threads are the threads its first launches create).
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("triton_metal._C", reason="triton_metal._C is not built")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CPU affinity is Linux's")

SCRIPT = textwrap.dedent('''
    import ctypes, json, os, sys
    import numpy as np
    import triton_metal as triton
    import triton_metal.language as tl

    @triton.jit
    def twice(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=m) * 2 - 1, mask=m)

    libc = ctypes.CDLL(None)

    def allowed(tid):
        for line in open(f"/proc/self/task/{tid}/status"):
            if line.startswith("Cpus_allowed_list:"):
                out = set()
                for part in line.split(":")[1].strip().split(","):
                    a, _, b = part.partition("-")
                    out |= set(range(int(a), int(b or a) + 1))
                return sorted(out)

    pin = json.loads(sys.argv[1])
    if pin is not None:
        os.sched_setaffinity(0, pin)
    before = set(os.listdir("/proc/self/task"))
    x = np.random.default_rng(0).standard_normal(100_003).astype(np.float32)
    y = np.full_like(x, np.nan)
    cpus = []
    for _ in range(3):
        c0 = libc.sched_getcpu()
        twice[(98,)](x, y, x.size, BLOCK=1024)  # 98 threadgroups: the pool takes part
        cpus.append((c0, libc.sched_getcpu()))
    np.testing.assert_array_equal(y, x * np.float32(2) - np.float32(1))
    new = sorted(set(os.listdir("/proc/self/task")) - before)
    print(json.dumps({"cpus": cpus, "main": allowed(os.getpid()), "pool": [allowed(t) for t in new]}))
''')


def run(tmp_path, threads, pin=None):
    script = tmp_path / "steer.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, TRITON_METAL_DEVICE="cpu", TRITON_METAL_OPT="fast", TRITON_METAL_CPU_THREADS=str(threads),
               TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=os.path.join(ROOT, "python"))
    import json
    r = subprocess.run([sys.executable, str(script), json.dumps(pin)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
needs_two = pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs this process may run on")


@needs_two
def test_pool_threads_leave_the_launchers_cpu(tmp_path):
    got = run(tmp_path, 2)
    assert got["main"] == CPUS
    assert len(got["pool"]) == 1, got  # one pool thread beside the launching one
    left = set(got["main"]) - set(got["pool"][0])
    assert len(left) == 1 and set(got["pool"][0]) < set(got["main"]), got
    c0, c1 = got["cpus"][-1]
    if c0 == c1:  # the launching thread stayed on one CPU around its last launch: that is the one left out
        assert left == {c0}, got


@needs_two
def test_more_workers_than_cpus_run_anywhere(tmp_path):
    got = run(tmp_path, len(CPUS) + 1)
    assert len(got["pool"]) == len(CPUS), got
    assert all(p == CPUS for p in got["pool"]), got


@needs_two
def test_a_pinned_launcher_keeps_its_pool_with_it(tmp_path):
    """A launching thread that may run on one CPU only: its pool threads may
    run there too, as threads it started would (none is sent elsewhere)."""
    got = run(tmp_path, 2, pin=[CPUS[-1]])
    assert got["main"] == [CPUS[-1]]
    assert got["pool"] == [[CPUS[-1]]], got
