"""Compile-time language features: dtype predicates and pointer element types,
isinstance, tuple arithmetic and membership, uint64 literals, tl.to_tensor,
constexpr folding with Python semantics; checked through kernel results."""
import math

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def dtype_query_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    flags = 0
    if x.dtype.is_floating():
        flags += 1
    if x.dtype.is_int_signed():
        flags += 2
    if x.dtype.is_int_unsigned():
        flags += 4
    if x_ptr.dtype.is_ptr():
        flags += 8
    if x_ptr.dtype.element_ty == x.dtype:
        flags += 16
    if isinstance(BLOCK, tl.constexpr):
        flags += 32
    if isinstance(x, tl.tensor):
        flags += 64
    bits = x.dtype.primitive_bitwidth
    y = x.to(out_ptr.dtype.element_ty)
    tl.store(out_ptr + offs, y * 0 + flags + bits * 1000)


@pytest.mark.parametrize("dtype,flags", [(np.float32, 1 + 8 + 16 + 32 + 64), (np.int16, 2 + 8 + 16 + 32 + 64),
                                         (np.uint8, 4 + 8 + 16 + 32 + 64)])
def test_dtype_predicates_and_element_ty(dtype, flags):
    x = np.arange(16).astype(dtype)
    out = np.zeros(16, np.int32)
    dtype_query_kernel[(1,)](x, out, BLOCK=16)
    assert (out == flags + np.dtype(dtype).itemsize * 8 * 1000).all()


@triton.jit
def tuple_kernel(out_ptr, N: tl.constexpr):
    shape = (N,) * 2 + (1,)
    total = 0
    for i in tl.static_range(len(shape)):
        total += shape[i]
    if 7 in (1, 7, 9):
        total += 100
    if 3 not in (1, 7, 9):
        total += 1000
    z = tl.zeros(shape[:1] if False else (shape[0],), dtype=tl.int32)
    tl.store(out_ptr + tl.arange(0, N), z + total)


def test_tuple_repetition_concat_membership():
    out = np.zeros(4, np.int32)
    tuple_kernel[(1,)](out, N=4)
    assert (out == 4 + 4 + 1 + 100 + 1000).all()


@triton.jit
def u64_kernel(out_ptr):
    big = 0xD2E7470EE14C6C93          # above 2**63: typed uint64 as upstream
    x = tl.to_tensor(3).to(tl.uint64)
    tl.store(out_ptr, x * big)
    tl.store(out_ptr + 1, tl.to_tensor(big) >> 60)


def test_uint64_literals():
    out = np.zeros(2, np.uint64)
    u64_kernel[(1,)](out)
    big = 0xD2E7470EE14C6C93
    assert int(out[0]) == (3 * big) % 2**64
    assert int(out[1]) == big >> 60


@triton.jit
def python_semantics_kernel(out_ptr, A: tl.constexpr, B: tl.constexpr):
    # constexpr arithmetic folds with Python semantics (floor division, sign of divisor)
    tl.store(out_ptr + 0, A // B)
    tl.store(out_ptr + 1, A % B)
    tl.store(out_ptr + 2, -A // B)
    tl.store(out_ptr + 3, (A << 3) ^ B)
    tl.store(out_ptr + 4, max(A, B, 3) - min(A, B))


@pytest.mark.parametrize("a,b", [(7, 2), (-7, 2), (7, -2), (-7, -2), (100, 7)])
def test_constexpr_python_semantics(a, b):
    out = np.zeros(5, np.int64)
    python_semantics_kernel[(1,)](out, A=a, B=b)
    assert list(out) == [a // b, a % b, -a // b, (a << 3) ^ b, max(a, b, 3) - min(a, b)]


@triton.jit
def methods_kernel(x_ptr, out_ptr, mask_ptr, M: tl.constexpr, N: tl.constexpr):
    offs = tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :]
    x = tl.load(x_ptr + offs)
    lead = x.shape[:-1]                        # tuple slice
    m = tl.load(mask_ptr + offs) != 0
    if m is not None:                          # decided at compile time
        x = tl.where(m, x, 0.0)
    y = x.exp().sum(axis=1) + x.abs().max(1)   # tl functions as tensor methods
    tl.store(out_ptr + tl.arange(0, lead[0]), y)


def test_tensor_methods_tuple_slices_is_none(rng):
    M, N = 8, 16
    x = rng.standard_normal((M, N)).astype(np.float32)
    mask = (rng.random((M, N)) < 0.7).astype(np.int32)
    out = np.zeros(M, np.float32)
    methods_kernel[(1,)](x, out, mask, M=M, N=N)
    xm = np.where(mask != 0, x, 0.0)
    np.testing.assert_allclose(out, np.exp(xm).sum(1) + np.abs(xm).max(1), rtol=1e-5)


@triton.jit
def huge_kernel(x_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    a = tl.load(x_ptr + offs)
    for i in range(4):
        a = a * 2 + tl.load(x_ptr + offs)
    tl.store(x_ptr + offs, a)


def test_per_thread_memory_limit_is_a_compile_error():
    x = np.zeros(1 << 20, np.float32)
    with pytest.raises(triton.CompilationError, match="bytes of per-thread arrays"):
        huge_kernel[(1,)](x, N=1 << 20, num_warps=1)


@triton.jit
def ptr_cast_kernel(x_ptr, out_ptr, N: tl.constexpr):
    bits = x_ptr.to(tl.pointer_type(tl.int32))       # reinterpret float32 memory as int32
    offs = tl.arange(0, N)
    tl.store(out_ptr + offs, tl.load(bits + offs))


def test_pointer_cast_reinterprets_memory(rng):
    x = rng.standard_normal(16).astype(np.float32)
    out = np.zeros(16, np.int32)
    ptr_cast_kernel[(1,)](x, out, N=16)
    np.testing.assert_array_equal(out, x.view(np.int32))


@pytest.mark.parametrize("body,msg", [
    ("x = tl.load(p).to(tl.float8e5)", "fp8 data is not supported on Apple GPUs"),
    ("q = p.to(tl.int32)", "a pointer can only become a 64-bit integer or int1, not int32"),
    ("y = tl.inline_asm_elementwise('mov', '=r', [tl.load(p)], tl.float32, True, 1)", "inline assembly has no Metal equivalent"),
])
def test_refused_constructs_are_located(tmp_path, body, msg):
    import pathlib
    import subprocess
    root = pathlib.Path(__file__).resolve().parents[2]
    k = tmp_path / "k.py"
    k.write_text(f"import triton_metal.language as tl\n\ndef k(p):\n    {body}\n")
    r = subprocess.run([str(root / "build" / "triton-metal"), "compile", str(k), "--signature", "*fp32"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and msg in r.stderr and "k.py:4:" in r.stderr, r.stderr


@triton.jit
def int_ptr_kernel(x_ptr, out_ptr, N: tl.constexpr):
    addr = x_ptr.to(tl.int64) + 4 * 8          # eight float32 further on
    p = addr.to(tl.pointer_type(tl.float32))
    offs = tl.arange(0, N)
    tl.store(out_ptr + offs, tl.load(p + offs))


def test_pointer_int_round_trip(rng):
    x = rng.standard_normal(24).astype(np.float32)
    out = np.zeros(16, np.float32)
    int_ptr_kernel[(1,)](x, out, N=16)
    np.testing.assert_array_equal(out, x[8:24])


@triton.jit
def ptr_truth_kernel(x_ptr, w_ptr, out_ptr, flags_ptr, addr, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs)
    if w_ptr:                                  # as upstream: a pointer is true unless its address is 0
        x = x * tl.load(w_ptr + offs)
    tl.store(out_ptr + offs, x)
    p = addr.to(tl.int64).to(tl.pointer_type(tl.float32))   # an address the host chose: 0 or not
    tl.store(flags_ptr, p.to(tl.int1).to(tl.int32))
    tl.store(flags_ptr + 1, tl.where(p, 7, 3))


@pytest.mark.parametrize("with_w", [True, False])
@pytest.mark.parametrize("addr", [0, 4096, -8])
def test_pointer_truth_is_a_non_null_address(rng, with_w, addr):
    x = rng.standard_normal(16).astype(np.float32)
    w = rng.standard_normal(16).astype(np.float32)
    out = np.zeros(16, np.float32)
    flags = np.full(2, -1, np.int32)
    ptr_truth_kernel[(1,)](x, w if with_w else None, out, flags, addr, N=16)
    np.testing.assert_array_equal(out, x * w if with_w else x)
    np.testing.assert_array_equal(flags, [int(addr != 0), 7 if addr else 3])


@triton.jit
def logical_methods_kernel(x_ptr, y_ptr, and_ptr, or_ptr, N: tl.constexpr, M: tl.constexpr):
    a = tl.load(x_ptr + tl.arange(0, N)).to(tl.int1)[:, None]        # nonzero -> true
    b = tl.load(y_ptr + tl.arange(0, M)).to(tl.int1)[None, :]
    offs = tl.arange(0, N)[:, None] * M + tl.arange(0, M)[None, :]
    tl.store(and_ptr + offs, a.logical_and(b))                       # broadcast to [N, M]
    tl.store(or_ptr + offs, a.logical_or(b))


def test_logical_and_or_tensor_methods(rng):
    x = rng.integers(-2, 3, 16).astype(np.float32)
    x[3] = np.nan                                                    # NaN is nonzero: true
    y = rng.integers(-1, 2, 8).astype(np.int32)
    got_and = np.zeros((16, 8), np.bool_)
    got_or = np.ones((16, 8), np.bool_)
    logical_methods_kernel[(1,)](x, y, got_and, got_or, N=16, M=8)
    np.testing.assert_array_equal(got_and, (x != 0)[:, None] & (y != 0)[None, :])
    np.testing.assert_array_equal(got_or, (x != 0)[:, None] | (y != 0)[None, :])


@triton.jit
def logical_method_on_ints_kernel(x_ptr):
    v = tl.load(x_ptr + tl.arange(0, 16))
    tl.store(x_ptr + tl.arange(0, 16), v.logical_and(v).to(tl.int32))


def test_logical_method_on_ints_is_refused():
    with pytest.raises(triton.CompilationError, match=r"logical_and\(\) takes int1 \(boolean\) operands.*got int32"):
        logical_method_on_ints_kernel[(1,)](np.zeros(16, np.int32))


@triton.jit
def raise_in_untaken_branch_kernel(x_ptr, o_ptr):
    # FlagGems' topk: an if-chain on the dtype's width whose else raises
    x = tl.load(x_ptr + tl.arange(0, 16))
    if tl.core.constexpr(x.dtype.primitive_bitwidth) == 16:
        idtype = tl.int16
    elif x.dtype.primitive_bitwidth == 32:
        idtype = tl.int32
    else:
        raise ValueError("Unsupported dtype")
    tl.store(o_ptr + tl.arange(0, 16), x.to(idtype, bitcast=True))


@pytest.mark.parametrize("dt,it", [(np.float16, np.int16), (np.float32, np.int32)])
def test_raise_in_a_branch_compile_time_values_never_take(rng, dt, it):
    x = rng.standard_normal(16).astype(dt)
    out = np.zeros(16, it)
    raise_in_untaken_branch_kernel[(1,)](x, out)
    np.testing.assert_array_equal(out, x.view(it))


def test_raise_where_it_is_compiled_is_a_located_error():
    with pytest.raises(triton.CompilationError, match=r"raises here.*\n.*raise ValueError\(\"Unsupported dtype\"\)"):
        raise_in_untaken_branch_kernel[(1,)](np.zeros(16, np.int8), np.zeros(16, np.int8))


@triton.jit
def raise_on_device_value_kernel(x_ptr):
    if tl.load(x_ptr) > 0:
        raise RuntimeError("positive") from None
    tl.store(x_ptr, 1)


def test_raise_in_a_branch_on_a_device_value_is_refused():
    with pytest.raises(triton.CompilationError, match="raises here"):
        raise_on_device_value_kernel[(1,)](np.zeros(1, np.int32))


@triton.jit
def static_assert_kernel(x_ptr, N: tl.constexpr):
    tl.static_assert(N % 2 == 0, "N must be even")
    tl.store(x_ptr, N)


@triton.jit
def bad_arange_kernel(x_ptr):
    tl.store(x_ptr + tl.arange(2, 7), 1)


@triton.jit
def bad_full_kernel(x_ptr):
    tl.store(x_ptr + tl.arange(0, 32), tl.sum(tl.full((4, 33), 0, tl.int64), axis=1).to(tl.int32))


def test_compile_errors_as_upstream_raises_them():
    """A failed static_assert is a CompileTimeAssertionFailure (a CompilationError,
    no __cause__); shape errors say what upstream's say."""
    from triton_metal.errors import CompileTimeAssertionFailure
    x = np.zeros(64, np.int32)
    static_assert_kernel[(1,)](x, N=4)
    assert x[0] == 4
    with pytest.raises(CompileTimeAssertionFailure, match="N must be even") as e:
        static_assert_kernel[(1,)](x, N=3)
    assert isinstance(e.value, triton.CompilationError) and e.value.__cause__ is None
    with pytest.raises(triton.CompilationError) as e:
        bad_arange_kernel[(1,)](x)
    assert str(e.value.__cause__) == "arange's range must be a power of 2"
    with pytest.raises(triton.CompilationError) as e:
        bad_full_kernel[(1,)](x)
    assert str(e.value.__cause__) == "Shape element 1 must be a power of 2"
    assert (x[1:] == 0).all()


@triton.jit
def bool_offset_kernel(x_ptr, flag, N: tl.constexpr):
    offs = tl.arange(0, N)
    b = offs < 2  # int1 block
    tl.store(x_ptr + 2 * offs + b, offs)      # a bool block as an offset: 0 or 1
    tl.store(x_ptr + 2 * N + flag, 7)         # a bool scalar


def test_bool_pointer_offsets_count_zero_or_one():
    x = np.full(2 * 8 + 2, -1, np.int32)
    bool_offset_kernel[(1,)](x, True, N=8)
    ref = np.full(18, -1, np.int32)
    for i in range(8):
        ref[2 * i + (1 if i < 2 else 0)] = i
    ref[17] = 7
    np.testing.assert_array_equal(x, ref)


I16_PTR = tl.pointer_type(tl.int16)


@triton.jit
def pointer_type_global_kernel(x_ptr, out_ptr):
    p = x_ptr.to(I16_PTR)  # an int32 array read as int16 halves
    tl.static_assert(p.dtype == I16_PTR)
    offs = tl.arange(0, 8)
    tl.store(out_ptr + offs, tl.load(p + offs).to(tl.int32))


def test_pointer_type_global_is_a_dtype():
    x = np.array([0x00020001, -1, 0x7fff8000, 5], np.int32)
    out = np.zeros(8, np.int32)
    pointer_type_global_kernel[(1,)](x, out)
    np.testing.assert_array_equal(out, x.view(np.int16).astype(np.int32))


@triton.jit
def where_kernel(c_ptr, out_ptr, N: tl.constexpr, AS_BOOL: tl.constexpr):
    offs = tl.arange(0, N)
    c = tl.load(c_ptr + offs)
    if AS_BOOL:
        c = c != 0
    tl.store(out_ptr + offs, tl.where(c, 1.0, -1.0))


def test_where_warns_on_a_non_boolean_condition(tmp_path, monkeypatch):
    import warnings
    monkeypatch.setenv("TRITON_METAL_CACHE_DIR", str(tmp_path))  # compiled here, so warned here
    c = np.array([0, 3, 0, 2**31, 1, 0, 7, 0], np.uint32)
    out = np.zeros(8, np.float32)
    with pytest.warns(UserWarning, match="tl.where with a non-boolean condition .* Got uint32"):
        where_kernel[(1,)](c, out, N=8, AS_BOOL=False)
    np.testing.assert_array_equal(out, np.where(c != 0, 1.0, -1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        where_kernel[(1,)](c, out, N=8, AS_BOOL=True)
    np.testing.assert_array_equal(out, np.where(c != 0, 1.0, -1.0))


@triton.jit
def math_module_kernel(x_ptr, out_ptr, N: tl.constexpr):
    log2e: tl.constexpr = math.log2(math.e)   # Python's math, run at compile time (as upstream)
    k: tl.constexpr = math.floor(math.sqrt(N))
    offs = tl.arange(0, N)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs) * log2e + k)


def test_python_math_functions_run_at_compile_time():
    import math as m
    x = np.array([1.0, -2.5, 0.0, 3.0, np.inf, -np.inf, 1e-3, 7.0], np.float32)
    out = np.zeros(8, np.float32)
    math_module_kernel[(1,)](x, out, N=8)
    np.testing.assert_array_equal(out, x * np.float32(m.log2(m.e)) + np.float32(2))
