# test_launch_path.py: the C launch path (launcher.c) against the Python
# reference path: each specialization rule makes its own variant, results are
# right on both paths, errors are explained, and a cached launch runs no Python.
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

pytest.importorskip("triton_metal._C", reason="triton_metal._C is not built")


@triton.jit
def fill(out_ptr, n, v, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, offs * 0 + v, mask=offs < n)


@triton.jit(do_not_specialize=["n"])
def fill_dns(out_ptr, n, v, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, offs * 0 + v, mask=offs < n)


def clear(kernel):
    kernel.cache.clear()
    kernel.fast_cache.clear()


def aligned(n, dtype=np.float32, offset=0):
    it = np.dtype(dtype).itemsize
    buf = np.zeros((n + 8) * it + 64, np.uint8)
    off = (-buf.ctypes.data) % 16 + offset
    return buf[off:off + n * it].view(dtype)


def run_fill(kernel, out, n, v, block=64, **kw):
    return kernel[(triton.cdiv(max(n, 1), block),)](out, n, v, BLOCK=block, **kw)


def test_specialization_rules_make_variants():
    clear(fill)
    out = aligned(100)
    seen = {}
    # n == 1 (constant), n % 16 == 0 (DIV16), other n; each launched twice (miss, then C)
    for n in (1, 32, 33, 1, 32, 33):
        out[:] = -1
        seen.setdefault(n, set()).add(run_fill(fill, out, n, 2.5))
        assert (out[:n] == 2.5).all() and (out[n:] == -1).all()
    assert all(len(s) == 1 for s in seen.values())
    assert len({next(iter(s)) for s in seen.values()}) == 3
    assert len(fill.cache) == 3
    # the specs the compiler got for n, per variant
    specs = {k[0][1] for k in fill.cache}
    assert (3, 0, 0, 2, 1) in specs  # CONSTEXPR int 1
    assert any(s[0] == 2 and s[2] == 1 for s in specs)  # SCALAR with DIV16
    assert any(s[0] == 2 and s[2] == 0 for s in specs)  # SCALAR without


def test_do_not_specialize_shares_one_variant():
    clear(fill_dns)
    out = aligned(64)
    a = run_fill(fill_dns, out, 1, 1.0)
    b = run_fill(fill_dns, out, 32, 1.0)
    c = run_fill(fill_dns, out, 33, 1.0)
    assert a is b is c
    assert (out[:33] == 1.0).all()


def test_int_width_variants():
    clear(fill)
    out = aligned(8)
    small = run_fill(fill, out, 3, 1.0)
    big = fill[(1,)](out, 2**40 + 3, 1.0, BLOCK=8)  # i64: the mask covers all 8
    assert small is not big
    assert (out == 1.0).all()


def test_pointer_alignment_and_dtype_variants():
    clear(fill)
    a16 = aligned(40)
    a4 = aligned(40, offset=4)
    i32 = aligned(40, np.int32)
    k1 = run_fill(fill, a16, 40, 3.0)
    k2 = run_fill(fill, a4, 40, 3.0)
    k3 = run_fill(fill, i32, 40, 3.0)
    assert len({id(k1), id(k2), id(k3)}) == 3
    assert (a16 == 3).all() and (a4 == 3).all() and (i32 == 3).all()
    ptr_specs = {k[0][0] for k in fill.cache}
    assert {(s[1], s[2]) for s in ptr_specs} == {(12, 1), (12, 0), (4, 1)}  # F32/I32, DIV16


def test_scalar_kinds_variants():
    clear(fill)
    out = aligned(16)
    run_fill(fill, out, 16, 2)        # int v
    assert (out == 2).all()
    run_fill(fill, out, 16, 0.5)      # float v
    assert (out == 0.5).all()
    run_fill(fill, out, 16, True)     # bool v
    assert (out == 1).all()
    assert len(fill.cache) == 3


def test_cached_launch_runs_no_python(monkeypatch):
    out = aligned(64)
    run_fill(fill, out, 64, 1.0)
    assert len(fill.fast_cache) >= 1

    def boom(*a, **k):
        raise AssertionError("slow path taken")
    monkeypatch.setattr(type(fill), "_slow_run", boom)
    out[:] = 0
    run_fill(fill, out, 64, 1.0)
    assert (out == 1.0).all()
    with pytest.raises(AssertionError, match="slow path"):
        run_fill(fill, out, 64, 1.0, num_warps=2)  # a new key goes to Python


def test_keyword_order_and_defaults_on_fast_path():
    out = aligned(64)
    k1 = fill[(1,)](out, 64, 4.0, BLOCK=64)
    k2 = fill[(1,)](v=4.0, BLOCK=64, n=64, out_ptr=out)
    assert k1 is k2 and (out == 4.0).all()


def test_constexpr_values_keyed_by_type_and_bits():
    @triton.jit
    def store_c(out_ptr, C: tl.constexpr):
        tl.store(out_ptr, C)

    out = np.zeros(1, np.float32)
    a = store_c[(1,)](out, 1)
    b = store_c[(1,)](out, 1.0)
    c = store_c[(1,)](out, True)
    d = store_c[(1,)](out, 0.0)
    e = store_c[(1,)](out, -0.0)
    assert len({id(x) for x in (a, b, c, d, e)}) == 5
    assert np.signbit(out[0])


def test_errors_explained_on_fast_path():
    out = aligned(64)
    run_fill(fill, out, 64, 1.0)
    base = np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="'out_ptr': its shape and strides reach 224 bytes past "
                                         "the end of the memory of the array it views"):
        fill[(1,)](np.lib.stride_tricks.as_strided(base, (64,), (4,)), 64, 1.0, BLOCK=64)
    with pytest.raises(triton.CompilationError, match="float64 is not supported"):
        fill[(1,)](np.zeros(8), 8, 1.0, BLOCK=64)
    with pytest.raises(KeyError, match="Keyword argument nm_warps was specified"):
        fill[(1,)](out, 64, 1.0, BLOCK=64, nm_warps=4)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'BLOCK'"):
        fill[(1,)](out, 64, 1.0)
    with pytest.raises(TypeError, match="multiple values"):
        fill[(1,)](out, 64, 1.0, 64, n=3)
    with pytest.raises(ValueError, match="1 to 3 dimensions"):
        fill[(1, 1, 1, 1)](out, 64, 1.0, BLOCK=64)
    with pytest.raises(ValueError, match=r"\[0, 2\*\*32\)"):
        fill[(-1,)](out, 64, 1.0, BLOCK=64)
    with pytest.raises(OverflowError, match="'n'"):
        fill[(1,)](out, 2**64, 1.0, BLOCK=64)


def test_grid_callable_gets_bound_arguments():
    out = aligned(200)
    seen = {}

    def grid(meta):
        seen.update(meta)
        return (triton.cdiv(meta["n"], meta["BLOCK"]),)
    for _ in range(2):  # miss, then the C path
        seen.clear()
        out[:] = 0
        fill[grid](out, 200, 7.0, BLOCK=64)
        assert (out == 7).all()
        assert seen["n"] == 200 and seen["BLOCK"] == 64 and seen["out_ptr"] is out


def test_empty_grid_launches_nothing():
    out = aligned(8)
    fill[(0,)](out, 8, 1.0, BLOCK=8)
    fill[(0,)](out, 8, 1.0, BLOCK=8)
    assert (out == 0).all()


def test_run_and_warmup_return_handles():
    clear(fill)
    out = aligned(64)
    k = fill.warmup(out, 64, 1.0, BLOCK=64, grid=(1,))
    assert (out == 0).all()
    assert fill.run(out, 64, 1.0, BLOCK=64, grid=(1,)) is k
    assert (out == 1).all()
    assert "kernel" in k.asm["msl"] and 24 <= k.n_regs <= 255 and k.metadata.num_warps == 4
    assert k.metadata.name == k.name and len(k.hash) == 64


def test_torch_tensors_on_fast_path():
    torch = pytest.importorskip("torch")
    out = torch.zeros(100)
    for _ in range(3):
        out.zero_()
        run_fill(fill, out, 100, 2.0)
        assert bool((out == 2).all())
    k = run_fill(fill, torch.zeros(100, dtype=torch.int32), 100, 2.0)
    assert k is not run_fill(fill, out, 100, 2.0)
    # a strided view gets its data pointer; the kernel writes 8 consecutive
    # elements from there, inside the tensor's storage
    wide = torch.zeros(8, 8)
    fill[(1,)](wide[:, 2:], 8, 1.0, BLOCK=64)
    assert wide[0, 2:].eq(1).all() and wide[1, :2].eq(1).all() and wide.sum() == 8


def test_pointer_arg_conversion():
    from triton_metal import _C
    x = aligned(8)
    code, ptr, nbytes, ro, before = _C.pointer_arg(x)
    # x is a view into a larger byte array: its allocation is that array's memory
    lo = x.base.ctypes.data
    assert (code, ptr, nbytes, ro, before) == (12, x.ctypes.data, lo + x.base.nbytes - ptr, 0,
                                               ptr - lo)
    c = np.zeros(8, np.float32)
    assert _C.pointer_arg(c) == (12, c.ctypes.data, 32, 0, 0)
    x.flags.writeable = False
    assert _C.pointer_arg(x)[3] == 1
    m = np.zeros((4, 4), np.float32)
    assert _C.pointer_arg(m[1:, ::2]) == (12, m.ctypes.data + 16, 48, 0, 16)
    assert _C.pointer_arg(np.zeros(4)) is None  # float64: Python explains
    assert _C.pointer_arg(3) is None


def test_kernel_from_parts_round_trip_and_validation():
    from triton_metal import _C
    out = aligned(64)
    k = run_fill(fill, out, 64, 1.0)
    kern = k.kernel
    parts = (kern.msl, kern.name, kern.source_file, kern.args, kern.builtins,
             kern.threads_per_threadgroup, kern.threadgroup_mem_bytes, kern.uses_barriers)
    again = _C.kernel_from_parts(*parts)
    mod = triton.get_device().load(again)
    out[:] = 0
    mod.launch((1, 1, 1), (( out.ctypes.data, out.nbytes, False), 64, 3.0, None))
    assert (out == 3.0).all()
    bad_role = tuple((a[0], a[1], 7, a[3], a[4]) for a in kern.args)
    with pytest.raises(ValueError, match="bad kernel arg"):
        _C.kernel_from_parts(parts[0], parts[1], parts[2], bad_role, *parts[4:])
    with pytest.raises(ValueError, match="bad kernel builtin"):
        _C.kernel_from_parts(*parts[:4], (99,), *parts[5:])
    with pytest.raises(ValueError, match="threads_per_threadgroup"):
        _C.kernel_from_parts(*parts[:5], 0, *parts[6:])
    with pytest.raises(TypeError):
        _C.kernel_from_parts(*parts[:3], [list(a) for a in kern.args], *parts[4:])


def test_device_synchronize():
    assert triton.get_device().synchronize() is None
