# test_runtime_hooks.py: upstream's runtime hooks and the APIs tools build on
# them: JITFunction.cache_hook / compiled_hook, preload of a specialization,
# add_pre_run_hook, device_caches, CompiledKernel.launch_enter_hook /
# launch_exit_hook with @jit(launch_metadata=...), warmup with dtypes.
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal.jit import CompiledKernel, JITFunction

pytest.importorskip("triton_metal._C", reason="triton_metal._C is not built")


def make_kernel():
    @triton.jit(launch_metadata=lambda grid, meta, args: {"grid": grid, "n": args["n"]})
    def scale(x_ptr, n, S: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=m) * S, mask=m)
    return scale


@pytest.fixture(autouse=True)
def no_hooks(tmp_path, monkeypatch):
    monkeypatch.setenv("TRITON_METAL_CACHE_DIR", str(tmp_path))
    yield
    JITFunction.cache_hook = JITFunction.compiled_hook = None
    CompiledKernel.launch_enter_hook = CompiledKernel.launch_exit_hook = None


def test_cache_hooks_see_each_specialization_once():
    seen, done = [], []
    JITFunction.cache_hook = lambda **kw: seen.append(kw)
    JITFunction.compiled_hook = lambda **kw: done.append(kw["key"])
    k = make_kernel()
    x = np.ones(100, np.float32)
    for _ in range(3):
        k[(4,)](x, 100, S=2.0, BLOCK=32)   # one specialization
    k[(4,)](x, 96, S=2.0, BLOCK=32)        # 96 % 16 == 0: another
    k[(4,)](x, 100, S=3.0, BLOCK=32)       # another constexpr value: another
    assert len(seen) == 3 and len(done) == 3
    assert done == [kw["key"] for kw in seen]
    first = seen[0]
    assert first["fn"].name == "scale" and first["fn"].jit_function is k and not first["is_manual_warmup"]
    assert first["compile"]["signature"] == {"x_ptr": "*fp32", "n": "i32", "S": "constexpr", "BLOCK": "constexpr"}
    assert first["compile"]["constants"] == {"S": 2.0, "BLOCK": 32}
    assert first["repr"].startswith("scale[num_warps=4")
    np.testing.assert_array_equal(x[:96], np.float32(2 ** 4 * 3))
    np.testing.assert_array_equal(x[96:], np.float32(2 ** 3 * 3))


def test_a_cache_hook_returning_true_skips_the_compile():
    JITFunction.cache_hook = lambda **kw: True
    k = make_kernel()
    x = np.ones(8, np.float32)
    assert k[(1,)](x, 8, S=2.0, BLOCK=8) is None
    assert (x == 1).all() and len(k.device_caches[0][0]) == 0


def test_preload_rebuilds_a_specialization_a_hook_saw():
    data = []
    JITFunction.cache_hook = lambda **kw: data.append(kw["compile"]["specialization_data"])
    k = make_kernel()
    import torch
    first = k.warmup(torch.float32, 64, S=-1.5, BLOCK=16, grid=(1,))
    assert len(data) == 1 and data[0]
    k.device_caches[0][0].clear()
    pre = k.preload(data[0])
    assert pre.hash == first.hash and len(k.device_caches[0][0]) == 1
    again = k.warmup(torch.float32, 64, S=-1.5, BLOCK=16, grid=(1,))  # found: no hook call
    assert again is pre and len(data) == 1
    x = np.full(64, 2.0, np.float32)
    k[(4,)](x, 64, S=-1.5, BLOCK=16)
    assert (x == -3.0).all() and len(data) == 1
    other = make_kernel()
    other.fn.__name__ = "other"
    with pytest.raises(RuntimeError, match="Specialization data is for scale"):
        other.preload(data[0])


def test_pre_run_hooks_run_before_every_launch():
    k = make_kernel()
    calls = []

    def hook(*args, **kwargs):
        calls.append((args[1], kwargs.get("S")))
        if args[1] < 0:
            raise ValueError("negative n")

    k.add_pre_run_hook(hook)
    x = np.ones(16, np.float32)
    for _ in range(3):
        k[(1,)](x, 16, S=2.0, BLOCK=16)
    assert calls == [(16, 2.0)] * 3 and (x == 8).all()
    with pytest.raises(ValueError, match="negative n"):
        k[(1,)](x, -1, S=2.0, BLOCK=16)
    assert (x == 8).all()


def test_launch_hooks_get_the_launch_metadata():
    got = []
    CompiledKernel.launch_enter_hook = lambda meta: got.append(("enter", meta.get()))
    CompiledKernel.launch_exit_hook = lambda meta: got.append(("exit", meta.get()["name"]))
    k = make_kernel()
    x = np.ones(40, np.float32)
    k[(3, 1, 1)](x, 40, S=2.0, BLOCK=16)
    k[(3, 1, 1)](x, 40, S=2.0, BLOCK=16)  # the C launch path is off while hooks are set
    assert [g[0] for g in got] == ["enter", "exit", "enter", "exit"]
    meta = got[0][1]
    assert meta["grid"] == (3, 1, 1) and meta["n"] == 40 and meta["name"] == "scale"
    CompiledKernel.launch_enter_hook = CompiledKernel.launch_exit_hook = None
    k[(3, 1, 1)](x, 40, S=2.0, BLOCK=16)
    assert len(got) == 4 and (x == 8).all()


def test_cache_key_depends_on_the_first_line(tmp_path):
    import importlib.util
    keys = []
    for i, pad in enumerate(["", "\n\n"]):
        f = tmp_path / f"k{i}.py"
        f.write_text(f"import triton_metal as triton\n{pad}@triton.jit\ndef k(x):\n    x = x + 1\n")
        spec = importlib.util.spec_from_file_location(f"k{i}", f)
        m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m)
        keys.append(m.k.cache_key)
    assert keys[0] != keys[1]
