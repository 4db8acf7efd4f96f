# test_disk_cache.py: the on-disk kernel cache across processes: miss then hit,
# invalidation by source/global/helper/option changes, corrupt entries detected
# and rebuilt, several processes compiling the same kernel at once.
# Each test runs kernels in fresh interpreters with TRITON_METAL_DEBUG=1 and
# reads the compile log (stderr) to see where each kernel came from.
import glob
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("triton_metal._C", reason="triton_metal._C is not built")

PYTHON_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "python")

KERNEL = '''
import sys
import numpy as np
import triton_metal as triton
import triton_metal.language as tl

SCALE = {scale}


@triton.jit
def helper(x):
    return x * {helper_factor}


@triton.jit
def scale(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(y_ptr + offs, helper(tl.load(x_ptr + offs, mask=m)) * SCALE, mask=m)


x = np.arange(300, dtype=np.float32)
y = np.zeros_like(x)
k = scale[(3,)](x, y, 300, BLOCK=128, **{opts})
np.testing.assert_array_equal(y, x * {helper_factor} * SCALE)
print("OK", k.hash)
'''


def run_script(tmp_path, cache, scale=2, helper_factor=3, opts="{}", name="k.py", check=True):
    path = tmp_path / name
    path.write_text(KERNEL.format(scale=scale, helper_factor=helper_factor, opts=opts))
    env = dict(os.environ, TRITON_METAL_CACHE_DIR=str(cache), TRITON_METAL_DEBUG="1",
               PYTHONPATH=os.path.abspath(PYTHON_DIR))
    p = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True,
                       timeout=300)
    if check:
        assert p.returncode == 0, p.stderr
        assert "OK" in p.stdout, p.stdout + p.stderr
    return p


def compile_lines(p):
    return [l for l in p.stderr.splitlines() if "] compile scale" in l]


def entries(cache):
    return sorted(glob.glob(os.path.join(cache, "kernels", "*", "*.json")))


def kernel_hash(p):
    return p.stdout.split()[-1]


def test_miss_then_hit(tmp_path):
    cache = tmp_path / "cache"
    first = run_script(tmp_path, cache)
    assert "compiled" in compile_lines(first)[0]
    assert len(entries(cache)) == 1
    second = run_script(tmp_path, cache)
    assert "disk cache" in compile_lines(second)[0]
    assert kernel_hash(first) == kernel_hash(second)
    assert len(entries(cache)) == 1


@pytest.mark.parametrize("change", [
    {"scale": 5},                 # a global the kernel uses
    {"helper_factor": 7},         # the source of a @jit helper it calls
    {"opts": "dict(num_warps=2)"},
    {"opts": "dict(metal_optimization_level='none')"},
    {"opts": "dict(debug_info=True)"},
    {"name": "other.py"},         # the file name (it is in the runtime's messages)
])
def test_invalidation(tmp_path, change):
    cache = tmp_path / "cache"
    base = run_script(tmp_path, cache)
    changed = run_script(tmp_path, cache, **change)
    assert "compiled" in compile_lines(changed)[0]
    assert kernel_hash(base) != kernel_hash(changed)
    assert len(entries(cache)) == 2


def test_target_in_key(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    base = run_script(tmp_path, cache)
    monkeypatch.setenv("TRITON_METAL_HW", "M3-Max")
    other = run_script(tmp_path, cache)
    assert kernel_hash(base) != kernel_hash(other)


@pytest.mark.parametrize("damage", ["empty", "truncate", "garbage", "checksum", "bad_descriptor"])
def test_corrupt_entry_is_rebuilt(tmp_path, damage):
    # entries are not synced to disk: a crash may leave one empty or cut short
    cache = tmp_path / "cache"
    run_script(tmp_path, cache)
    (path,) = entries(cache)
    raw = open(path).read()
    if damage == "empty":
        text = ""
    elif damage == "truncate":
        text = raw[: len(raw) // 2]
    elif damage == "garbage":
        text = "\x00\xff not json"
    elif damage == "checksum":  # the MSL changed behind the checksum's back
        d = json.loads(raw)
        d["body"]["msl"] = d["body"]["msl"].replace("kernel", "kernal", 1)
        text = json.dumps(d)
    else:  # valid checksum, but a descriptor Device.load would refuse
        import hashlib
        d = json.loads(raw)
        d["body"]["args"][0][2] = 99
        d["sha256"] = hashlib.sha256(json.dumps(d["body"], sort_keys=True).encode()).hexdigest()
        text = json.dumps(d)
    with open(path, "w", errors="surrogateescape") as f:
        f.write(text)
    p = run_script(tmp_path, cache)
    assert ("corrupt entry" in p.stderr) or ("unusable entry" in p.stderr), p.stderr
    assert "compiled" in compile_lines(p)[0]
    # rebuilt: the next process reads it back
    assert json.load(open(path))["body"]["msl"] == json.loads(raw)["body"]["msl"]
    assert "disk cache" in compile_lines(run_script(tmp_path, cache))[0]


def test_concurrent_processes(tmp_path):
    cache = tmp_path / "cache"
    script = tmp_path / "k.py"
    script.write_text(KERNEL.format(scale=4, helper_factor=2, opts="{}"))
    env = dict(os.environ, TRITON_METAL_CACHE_DIR=str(cache), TRITON_METAL_DEBUG="1",
               PYTHONPATH=os.path.abspath(PYTHON_DIR))
    procs = [subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "OK" in out
    assert len({o.split()[-1] for o, _ in outs}) == 1
    (path,) = entries(cache)
    json.load(open(path))  # whole and valid
    leftovers = [f for f in glob.glob(os.path.join(cache, "kernels", "*", "*"))
                 if not f.endswith(".json")]
    assert leftovers == []
    assert "disk cache" in compile_lines(run_script(tmp_path, cache, scale=4,
                                                    helper_factor=2))[0]


def test_unwritable_cache_warns_and_runs(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "kernels").write_text("a file where the folder should be")
    p = run_script(tmp_path, cache)
    assert "cannot write the kernel cache" in p.stderr


def test_in_process_debug_log(tmp_path):
    p = run_script(tmp_path, tmp_path / "cache")
    assert any("] launch scale grid=(3, 1, 1)" in l for l in p.stderr.splitlines())


def test_default_cache_dir(monkeypatch, tmp_path):
    from triton_metal import cache
    monkeypatch.delenv("TRITON_METAL_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.root() == os.path.join(str(tmp_path), "triton-metal")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.root() == os.path.join(str(tmp_path), "home", ".cache", "triton-metal")




RELATIVE = '''
import os
import numpy as np
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def times(x_ptr, n, A: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=m) * A, mask=m)


def go(a):
    x = np.linspace(-2, 2, 300).astype(np.float32)
    want = x * np.float32(a)
    times[(3,)](x, 300, A=a, BLOCK=128)
    np.testing.assert_array_equal(x, want)


go(2)
os.chdir("elsewhere")  # a test that changes folders (monkeypatch.chdir)
go(3)
go(2)
print("OK")
'''


def test_relative_cache_folder_is_one_folder_when_the_process_changes_folders(tmp_path):
    """TRITON_METAL_CACHE_DIR=.cache (as CI setups keep a cache between runs):
    resolved against the folder the process starts in, once; a later chdir
    does not start another cache under the new folder."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "k.py").write_text(RELATIVE)
    env = dict(os.environ, TRITON_METAL_CACHE_DIR=".cache", TRITON_METAL_DEBUG="1",
               PYTHONPATH=os.path.abspath(PYTHON_DIR))
    for run in range(2):
        p = subprocess.run([sys.executable, "k.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0 and "OK" in p.stdout, p.stderr
        origins = [line for line in p.stderr.splitlines() if "] compile times" in line]
        assert len(origins) == 2, p.stderr  # A=2 and A=3 (A=2 again: in memory)
        assert all(("compiled" in line) == (run == 0) for line in origins), origins  # the second: disk cache
    assert not (tmp_path / "elsewhere" / ".cache").exists()
    assert len(entries(str(tmp_path / ".cache"))) == 2
    assert len(glob.glob(str(tmp_path / ".cache" / "cpu" / "*.so"))) >= 2
