"""Structural checks of the generated MSL (the lowering, not just the results):
vector memory access from alignment and contiguity, SIMD-group reductions with
few barriers, optimization levels; results still checked against NumPy."""
import re

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) + tl.load(y_ptr + offs, mask=m), mask=m)


def aligned(n, dtype, rng, offset=0):
    """a NumPy array whose data starts at 16-byte alignment + offset elements"""
    raw = np.empty(n + 64, dtype)
    start = (-raw.ctypes.data % 16) // raw.itemsize + offset
    a = raw[start:start + n]
    a[:] = rng.standard_normal(n).astype(dtype)
    return a


@pytest.mark.parametrize("dtype,vec", [(np.float32, "float4"), (np.float16, "half4")])
def test_aligned_vector_add_moves_vectors(dtype, vec, rng):
    n = 1000  # not a multiple of the block: the last vectors fall back per element
    x, y, out = aligned(n, dtype, rng), aligned(n, dtype, rng), aligned(n, dtype, rng)
    h = add_kernel[(triton.cdiv(n, 1024),)](x, y, out, n, BLOCK=1024)
    msl = h.asm["msl"]
    assert f"*TM_LD((device const {vec}*)" in msl and f"*TM_ST((device {vec}*)" in msl
    np.testing.assert_array_equal(out, x + y)


def test_misaligned_pointer_gets_no_vectors(rng):
    n = 1000
    x, y, out = aligned(n, np.float32, rng, 1), aligned(n, np.float32, rng), aligned(n, np.float32, rng)
    h = add_kernel[(triton.cdiv(n, 1024),)](x, y, out, n, BLOCK=1024)
    loads = re.findall(r"TM_LD\(\(device const float4\*\)", h.asm["msl"])
    assert len(loads) == 1  # y only: x is 4 bytes off 16-byte alignment
    np.testing.assert_array_equal(out, x + y)


def test_opt_level_none_disables_vectorization(rng):
    n = 512
    x, y, out = aligned(n, np.float32, rng), aligned(n, np.float32, rng), aligned(n, np.float32, rng)
    h = add_kernel[(2,)](x, y, out, n, BLOCK=256, metal_optimization_level="none")
    assert "float4" not in h.asm["msl"]
    np.testing.assert_array_equal(out, x + y)


@triton.jit
def row_softmax_kernel(x_ptr, y_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    row = tl.load(x_ptr + tl.program_id(0) * N + offs)
    z = row - tl.max(row, axis=0)
    num = tl.exp(z)
    tl.store(y_ptr + tl.program_id(0) * N + offs, num / tl.sum(num, axis=0))


def test_softmax_uses_simd_reductions_and_few_barriers(rng):
    x = rng.standard_normal((8, 512)).astype(np.float32)
    y = np.zeros_like(x)
    h = row_softmax_kernel[(8,)](x, y, N=512)
    msl = h.asm["msl"]
    assert "tm_shfl_xor" in msl or "simd_" in msl
    # two reductions across SIMD-groups, at most two barriers each
    assert msl.count("threadgroup_barrier") <= 4
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(1, keepdims=True), rtol=1e-6, atol=1e-7)


def test_explain_reports_layouts_vectors_reductions(rng):
    x = rng.standard_normal((8, 512)).astype(np.float32)
    y = np.zeros_like(x)
    text = row_softmax_kernel.explain(x, y, N=512)
    assert text.startswith("kernel row_softmax_kernel")
    assert "threads per threadgroup: 128 (4 SIMD-groups of 32)" in text
    assert "layout family: rank 1, sizePerThread [4]" in text
    assert text.count("reduction @") == 2 and "COALESCED input" in text
    assert "through threadgroup memory (2 barriers)" in text
    n = 1024
    a, b, c = aligned(n, np.float32, rng), aligned(n, np.float32, rng), aligned(n, np.float32, rng)
    t2 = add_kernel.explain(a, b, c, n, BLOCK=1024)
    assert t2.count("vector of 4 (16 bytes)") == 3
    t3 = add_kernel.explain(a, b, c, n, BLOCK=1024, metal_optimization_level="none")
    assert "vector of" not in t3 and "scalar (4 bytes)" in t3


def test_explain_cli(tmp_path):
    import pathlib
    import subprocess
    root = pathlib.Path(__file__).resolve().parents[2]
    r = subprocess.run([str(root / "build" / "triton-metal"), "explain", "tests/golden/vector_add_aligned.py",
                        "--kernel", "add_kernel", "--signature", "*fp32:16,*fp32:16,*fp32:16,i32:16",
                        "-D", "BLOCK_SIZE=1024"], cwd=root, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("vector of 4 (16 bytes), mask checked per vector") == 3
    assert "barriers in the MSL: 0" in r.stdout


def test_debug_info_maps_msl_to_python_lines(rng):
    n = 300
    x, y, out = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    h = add_kernel[(2,)](x, y, out, n, BLOCK=256, debug_info=True)
    msl = h.asm["msl"]
    first = add_kernel.fn.__code__.co_firstlineno
    for offset in (2, 3, 4):  # the offs, mask and store lines of add_kernel
        assert f'#line {first + offset} "{__file__}"' in msl
    np.testing.assert_array_equal(out, x + y)
    plain = add_kernel[(2,)](x, y, out, n, BLOCK=256).asm["msl"]
    assert "#line" not in plain


@triton.jit
def carried_ptr_kernel(x_ptr, out_ptr, n, B: tl.constexpr):
    p = x_ptr + tl.arange(0, B)
    acc = tl.zeros([B], dtype=tl.float32)
    for i in range(n):
        acc += tl.load(p)
        p += B
    tl.store(out_ptr + tl.arange(0, B), acc)


def test_loop_carried_pointers_stay_vectorized(rng):
    B, n = 512, 5
    x = aligned(B * n, np.float32, rng)
    out = aligned(B, np.float32, rng)
    text = carried_ptr_kernel.explain(x, out, n, B=B)
    assert text.count("vector of 4 (16 bytes)") == 2, text
    carried_ptr_kernel[(1,)](x, out, n, B=B)
    np.testing.assert_allclose(out, x.reshape(n, B).sum(0), rtol=1e-6)


@triton.jit(do_not_specialize=["start"])
def hinted_copy_kernel(x_ptr, out_ptr, start, B: tl.constexpr):
    # `start` is a runtime integer: without a hint the compiler cannot know the
    # offsets stay 16-byte aligned
    s = tl.multiple_of(start, 16)
    offs = s + tl.max_contiguous(tl.arange(0, B), B)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs))


@triton.jit(do_not_specialize=["start"])
def plain_copy_kernel(x_ptr, out_ptr, start, B: tl.constexpr):
    offs = start + tl.arange(0, B)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs))


def test_multiple_of_hint_enables_vectors(rng):
    B = 512
    x = aligned(B + 48, np.float32, rng)
    out = aligned(B + 48, np.float32, rng)
    out[:] = 0
    hinted = hinted_copy_kernel.explain(x, out, 48, B=B)
    assert hinted.count("vector of 4") == 2, hinted
    plain = plain_copy_kernel.explain(x, out, 48, B=B)
    assert "vector of" not in plain and "alignment 4" in plain, plain
    hinted_copy_kernel[(1,)](x, out, 48, B=B)
    np.testing.assert_array_equal(out[48:], x[48:])
    assert (out[:48] == 0).all()
