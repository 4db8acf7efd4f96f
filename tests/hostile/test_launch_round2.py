"""Hostile use, round two (issue 16): the launch-path items.

  2  a grid callable that resizes an argument before returning: the grid is
     evaluated before any argument is read, so the kernel gets the new memory
  3  a truncated or swapped cached emulator object: verified against the hash
     recorded when it was built, rebuilt on mismatch
  5  cache entries replaced by FIFOs (or other non-regular files): skipped,
     never opened for reading in a way that blocks

Each scenario that could crash or hang the process runs in a subprocess with
a timeout, so a regression fails the test instead of killing or stalling the
run."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@triton.jit
def fill_index(out_ptr, n, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + i, i.to(tl.float32) * 0.5, mask=i < n)


def run_script(body, env_extra=None, timeout=120):
    """Runs body in a fresh interpreter with the in-tree package; returns
    (returncode, stdout + stderr)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(REPO, "python")
    env.update(env_extra or {})
    src = textwrap.dedent(body)
    p = subprocess.run([sys.executable, "-c", src], env=env, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr


# ------------------------------------------------------------ 2: grid callables

GRID_SCRIPT = """
import os, sys
import numpy as np
sys.path.insert(0, {here!r})
import triton_metal as triton
from test_launch_round2 import fill_index

N, BIG = 1000, 1 << 16
for attempt in range(3):  # 1st: compile (Python path); then the C fast path
    {make}
    def grid(meta):
        {resize}
        return (triton.cdiv(N, 128),)
    fill_index[grid](out, N, BLOCK=128)
    got = {read}
    want = np.arange(N, dtype=np.float32) * 0.5
    assert (got[:N] == want).all(), (attempt, got[:8])
print("OK")
"""


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_grid_callable_resizing_an_argument(kind):
    if kind == "torch":
        pytest.importorskip("torch")
        make = "import torch; out = torch.zeros(N)"
        resize = "out.resize_(BIG)  # new, larger storage: the old memory is freed"
        read = "out.numpy()"
    else:
        make = "out = np.zeros(N, np.float32)"
        resize = "out.resize(BIG, refcheck=False)  # reallocates: the old memory is freed"
        read = "out"
    body = GRID_SCRIPT.format(here=os.path.dirname(__file__), make=make, resize=resize, read=read)
    rc, out = run_script(body)
    assert rc == 0 and "OK" in out, out[-3000:]


def test_grid_callable_runs_once_per_launch():
    calls = []

    def grid(meta):
        calls.append(meta["n"])
        return (1,)

    out = np.zeros(64, np.float32)
    fill_index[grid](out, 64, BLOCK=64)  # may compile
    fill_index[grid](out, 64, BLOCK=64)  # the C path
    fill_index[grid](out.copy(), 32, BLOCK=64)  # a new key: the C path misses, Python runs
    assert calls == [64, 64, 32]


# ------------------------------------------------------------ 3, 5: the disk cache

CACHE_SCRIPT = """
import sys
import numpy as np
sys.path.insert(0, {here!r})
import triton_metal as triton
from test_launch_round2 import fill_index

out = np.zeros(300, np.float32)
fill_index[(3,)](out, 300, BLOCK=128)
assert (out == np.arange(300, dtype=np.float32) * 0.5).all()
print("OK")
"""


def _cache_files(root, suffix):
    found = []
    for folder, _dirs, names in os.walk(root):
        found += [os.path.join(folder, n) for n in names if n.endswith(suffix)]
    return found


@pytest.mark.parametrize("what", ["kernel entry", "cpu object", "object hash", "shim header"])
def test_fifo_in_place_of_a_cache_file(tmp_path, what):
    """Each file the launch path reads from the cache, replaced by a FIFO: the
    next process rebuilds it instead of blocking forever on the read."""
    env = {"TRITON_METAL_CACHE_DIR": str(tmp_path), "TRITON_METAL_DEVICE": "cpu"}
    body = CACHE_SCRIPT.format(here=os.path.dirname(__file__))
    rc, out = run_script(body, env)
    assert rc == 0 and "OK" in out, out[-2000:]
    paths = {"kernel entry": _cache_files(tmp_path / "kernels", ".json"),
             "cpu object": _cache_files(tmp_path / "cpu", ".so"),
             "object hash": _cache_files(tmp_path / "cpu", ".sum"),
             "shim header": [p for p in _cache_files(tmp_path / "cpu", "metal_stdlib")]}[what]
    assert paths, what
    for p in paths:
        os.unlink(p)
        os.mkfifo(p)
    if what == "shim header":  # read by the C++ compiler: make the next launch compile
        for p in _cache_files(tmp_path / "cpu", ".so") + _cache_files(tmp_path / "kernels", ".json"):
            os.unlink(p)
    rc, out = run_script(body, env, timeout=120)  # a hang raises TimeoutExpired
    assert rc == 0 and "OK" in out, out[-2000:]
    for p in paths:
        assert os.path.isfile(p), p  # rebuilt as a regular file


def test_truncated_cpu_object_is_rebuilt(tmp_path):
    env = {"TRITON_METAL_CACHE_DIR": str(tmp_path), "TRITON_METAL_DEVICE": "cpu"}
    body = CACHE_SCRIPT.format(here=os.path.dirname(__file__))
    rc, out = run_script(body, env)
    assert rc == 0, out[-2000:]
    (so,) = _cache_files(tmp_path / "cpu", ".so")
    size = os.path.getsize(so)
    os.truncate(so, size // 2)
    rc, out = run_script(body, env)  # SIGBUS (rc -7) before the fix
    assert rc == 0 and "OK" in out, (rc, out[-2000:])
    assert os.path.getsize(so) == size


# ------------------------------------------------------------ 11: kernel names in errors
# A kernel whose name MSL reserves (kernel, main, float, ...) gets a suffixed MSL
# name; every error still names it as its source does, fresh or from the disk cache.

NAMES_SCRIPT = """
import os, sys
import numpy as np
import triton_metal as triton
import triton_metal.language as tl
src = '''
import triton_metal as triton
import triton_metal.language as tl
@triton.jit
def {name}(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs + n, offs)
'''
path = os.path.join({tmp!r}, "k_{name}.py")
open(path, "w").write(src)
import importlib.util
spec = importlib.util.spec_from_file_location("k_{name}", path)
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
k = m.{name}
x = np.zeros(16, np.int32)
try:
    k[(1,)](x, 100, BLOCK=16)
except triton.LaunchError as e:
    print("ERR", e)
c = k.warmup(x, 0, BLOCK=16, grid=(1,))
print("NAME", c.name, c.metadata.name)
"""


@pytest.mark.parametrize("device", ["cpu", "metal-sim"])
@pytest.mark.parametrize("name", ["kernel", "main", "float", "k"])
def test_errors_name_the_kernel_as_written(tmp_path, name, device):
    cache = str(tmp_path / "cache")
    for attempt in ("fresh", "from the disk cache"):
        rc, out = run_script(NAMES_SCRIPT.format(name=name, tmp=str(tmp_path)),
                             {"TRITON_METAL_CACHE_DIR": cache, "TRITON_METAL_DEVICE": device})
        assert rc == 0, out
        assert f"in kernel '{name}' at" in out, (attempt, out)
        assert f"NAME {name} {name}" in out, (attempt, out)
        assert f"'{name}_'" not in out, (attempt, out)


# ------------------------------------------------------------ fiber stacks of -O0 code

DEEP_SCRIPT = """
import sys
import numpy as np
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def resorted(x_ptr, o_ptr, N: tl.constexpr, R: tl.constexpr):
    # 32 bitonic sorts, unrolled: at -O0 every temporary has a stack slot of
    # its own, about 150 KB of frame for per-thread arrays of a few bytes
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs)
    for i in tl.static_range(R):
        x = tl.sort(x + i, descending=(i % 2 == 1))
    tl.store(o_ptr + offs, x)


rng = np.random.default_rng(0)
x = rng.integers(-1000, 1000, 256).astype(np.int64)
o = np.zeros(256, np.int64)
resorted[(1,)](x, o, N=256, R=32, num_warps=4)
print("sorted", np.array_equal(o, np.sort(x + sum(range(32)))[::-1]))
"""


def test_fiber_stacks_hold_the_frames_of_unoptimized_code(tmp_path):
    # the emulator sized fiber stacks from the per-thread arrays (64 KiB here):
    # the -O0 build's frame overflowed it and the process died of SIGSEGV.
    # Now the compiler's -fstack-usage report sizes them.
    script = tmp_path / "deep.py"
    script.write_text(DEEP_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "python"), TRITON_METAL_OPT="fast",
               TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"))
    for run in range(2):   # built, then from the cache (the figure kept in its record)
        p = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0 and "sorted True" in p.stdout, (run, p.returncode, p.stdout + p.stderr[-2000:])
    (rec,) = list((tmp_path / "cache" / "cpu").glob("*.sum"))
    assert int(rec.read_text().split()[-2]) > 64 * 1024, rec.read_text()
