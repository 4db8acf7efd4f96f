"""Executable tests of the standard library written in the kernel language
(src/stdlib.py): sigmoid, softmax, swizzle2d; and of clamp and flip, which
are built into the compiler here; each against an independent NumPy
computation."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal.jit import get_device
from exec_data import special_floats

# ---------------------------------------------------------------- sigmoid


@triton.jit
def sigmoid_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    tl.store(out_ptr + offs, tl.sigmoid(x), mask=m)


@pytest.mark.parametrize("n", [1, 127, 1000, 4099])
def test_sigmoid(n, rng):
    x = special_floats(n, np.float32, rng)
    x[: min(n, 4)] = np.array([100.0, -100.0, 88.0, -104.0], np.float32)[: min(n, 4)]
    out = np.full(n + 1, 7.0, dtype=np.float32)
    sigmoid_kernel[(triton.cdiv(n, 256),)](x, out, n, BLOCK=256)
    # float32 steps as the kernel does them (exp(100) overflows to inf, so
    # sigmoid(-100) is 0, not a denormal); tl.exp is upstream's 2^(x log2 e),
    # the product in float32, the power rounded once from float64
    with np.errstate(over="ignore"):
        e = np.exp2((-x * np.float32(1.4426950408889634)).astype(np.float64)).astype(np.float32)
        ref = np.float32(1) / (np.float32(1) + e)
    # exp2 is the device's precise::exp2: correctly rounded on the emulator (2 ulp
    # for the sum and the division); a GPU's is within 4 ulp (MSL's precise table;
    # CUDA's exp2f 2), which 1 + e and the division carry to at most 5
    gpu = get_device().name in ("cuda", "metal")
    np.testing.assert_array_max_ulp(out[:n], ref, maxulp=5 if gpu else 2)
    assert out[n] == 7.0


def test_sigmoid_rejects_fp16():
    """tl.exp accepts fp32/fp64 only, so sigmoid of fp16 is an error, as upstream."""
    x = np.zeros(16, np.float16)
    with pytest.raises(triton.CompilationError, match="fp32"):
        sigmoid_kernel[(1,)](x, x, 16, BLOCK=16)


# ---------------------------------------------------------------- softmax


@triton.jit
def softmax1d_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m, other=-float("inf"))
    tl.store(out_ptr + offs, tl.softmax(x), mask=m)


@triton.jit
def softmax2d_kernel(x_ptr, out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr, DIM: tl.constexpr,
                     KEEP: tl.constexpr):
    rm = tl.arange(0, BM)[:, None]
    rn = tl.arange(0, BN)[None, :]
    m = (rm < M) & (rn < N)
    x = tl.load(x_ptr + rm * N + rn, mask=m, other=-float("inf"))
    tl.store(out_ptr + rm * N + rn, tl.softmax(x, dim=DIM, keep_dims=KEEP), mask=m)


def softmax_ref(x, axis):
    x = x.astype(np.float64)
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("n,block", [(1, 16), (100, 128), (1024, 1024)])
def test_softmax_1d(n, block, rng):
    x = (rng.standard_normal(n) * 5).astype(np.float32)
    out = np.zeros(n, dtype=np.float32)
    softmax1d_kernel[(1,)](x, out, n, BLOCK=block)
    np.testing.assert_allclose(out, softmax_ref(x, 0), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dim", [0, 1])
@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("M,N,BM,BN", [(5, 7, 8, 8), (16, 64, 16, 64), (30, 3, 32, 4)])
def test_softmax_2d(dim, keep, M, N, BM, BN, rng):
    x = (rng.standard_normal((M, N)) * 4).astype(np.float32)
    x[0, 0] = 80.0  # exp would overflow without the max subtraction
    out = np.zeros_like(x)
    softmax2d_kernel[(1,)](x, out, M, N, BM=BM, BN=BN, DIM=dim, KEEP=keep)
    np.testing.assert_allclose(out, softmax_ref(x, dim), rtol=1e-5, atol=1e-7)


@triton.jit
def softmax_default_dim_kernel(x_ptr, out_ptr, BM: tl.constexpr, BN: tl.constexpr):
    rm = tl.arange(0, BM)[:, None]
    rn = tl.arange(0, BN)[None, :]
    x = tl.load(x_ptr + rm * BN + rn)
    tl.store(out_ptr + rm * BN + rn, tl.softmax(x))


def test_softmax_default_dim_is_0(rng):
    x = rng.standard_normal((8, 16)).astype(np.float32)
    out = np.zeros_like(x)
    softmax_default_dim_kernel[(1,)](x, out, BM=8, BN=16)
    np.testing.assert_allclose(out, softmax_ref(x, 0), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- swizzle2d


def swizzle2d_ref(i, j, size_i, size_j, size_g):
    """Our own statement of the grouped ordering: enumerate the grid band by
    band (size_g rows each, the last band possibly shorter), column-major
    inside a band; element (i, j) receives the coordinates of the cell that
    comes at its row-major position in that enumeration."""
    order = []
    for top in range(0, size_i, size_g):
        rows = min(size_g, size_i - top)
        for c in range(size_j):
            for r in range(rows):
                order.append((top + r, c))
    k = np.asarray(i) * size_j + np.asarray(j)
    order = np.array(order)
    return order[k, 0], order[k, 1]


@triton.jit
def swizzle_kernel(out_i, out_j, size_i, size_j, G: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < size_i * size_j
    ni, nj = tl.swizzle2d(offs // size_j, offs % size_j, size_i, size_j, G)
    tl.store(out_i + offs, ni, mask=m)
    tl.store(out_j + offs, nj, mask=m)


def test_swizzle2d_docstring_example():
    out_i = np.zeros(16, np.int32)
    out_j = np.zeros(16, np.int32)
    swizzle_kernel[(1,)](out_i, out_j, 4, 4, G=2, BLOCK=16)
    want = np.array([[0, 2, 4, 6], [1, 3, 5, 7], [8, 10, 12, 14], [9, 11, 13, 15]])
    # the renumbered grid: cell (ni, nj) gets the row-major index of (i, j)
    got = np.zeros((4, 4), np.int64)
    got[out_i, out_j] = np.arange(16)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("size_i,size_j,g", [(4, 4, 2), (7, 5, 3), (1, 9, 4), (10, 1, 3), (9, 6, 1), (5, 5, 8),
                                             (13, 11, 4)])
def test_swizzle2d_block(size_i, size_j, g):
    n = size_i * size_j
    block = triton.next_power_of_2(n)
    out_i = np.full(block, -1, np.int32)
    out_j = np.full(block, -1, np.int32)
    swizzle_kernel[(1,)](out_i, out_j, size_i, size_j, G=g, BLOCK=block)
    k = np.arange(n)
    ri, rj = swizzle2d_ref(k // size_j, k % size_j, size_i, size_j, g)
    np.testing.assert_array_equal(out_i[:n], ri)
    np.testing.assert_array_equal(out_j[:n], rj)
    # a permutation of the grid
    assert len(set(zip(out_i[:n].tolist(), out_j[:n].tolist()))) == n
    assert (out_i[n:] == -1).all()


@triton.jit
def swizzle_pid_kernel(out_ptr, SIZE_I: tl.constexpr, SIZE_J: tl.constexpr, G: tl.constexpr):
    """Scalar form with compile-time sizes, as a matmul's program-id remapping."""
    pid = tl.program_id(0)
    ni, nj = tl.swizzle2d(pid // SIZE_J, pid % SIZE_J, SIZE_I, SIZE_J, G)
    tl.store(out_ptr + pid * 2, ni)
    tl.store(out_ptr + pid * 2 + 1, nj)


@pytest.mark.parametrize("size_i,size_j,g", [(7, 5, 3), (8, 8, 4)])
def test_swizzle2d_program_ids(size_i, size_j, g):
    n = size_i * size_j
    out = np.zeros((n, 2), np.int32)
    swizzle_pid_kernel[(n,)](out, SIZE_I=size_i, SIZE_J=size_j, G=g)
    k = np.arange(n)
    ri, rj = swizzle2d_ref(k // size_j, k % size_j, size_i, size_j, g)
    np.testing.assert_array_equal(out, np.stack([ri, rj], axis=1))


# ---------------------------------------------------------------- clamp


@triton.jit
def clamp_kernel(x_ptr, lo_ptr, hi_ptr, out_ptr, n, BLOCK: tl.constexpr, PN: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    lo = tl.load(lo_ptr + offs, mask=m)
    hi = tl.load(hi_ptr + offs, mask=m)
    tl.store(out_ptr + offs, tl.clamp(x, lo, hi, propagate_nan=PN), mask=m)


@triton.jit
def clamp_scalar_kernel(x_ptr, out_ptr, lo, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    tl.store(out_ptr + offs, tl.clamp(x, lo, 2.5), mask=m)


def clamp_ref(x, lo, hi, propagate):
    """NONE: maxnum then minnum (a NaN operand loses to a number);
    ALL: any NaN operand gives NaN."""
    if propagate:
        return np.minimum(np.maximum(x, lo), hi)
    return np.fmin(np.fmax(x, lo), hi)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("pn", [0, 0xFFFF])
@pytest.mark.parametrize("n", [7, 1000])
def test_clamp(dtype, pn, n, rng):
    x = special_floats(n, dtype, rng)
    a = special_floats(n, dtype, rng)
    b = special_floats(n, dtype, rng)
    lo, hi = np.fmin(a, b), np.fmax(a, b)  # lo <= hi where both are numbers
    if n >= 8:
        lo[:3] = np.nan
        hi[3:5] = np.nan
    out = np.zeros(n, dtype)
    clamp_kernel[(triton.cdiv(n, 128),)](x, lo, hi, out, n, BLOCK=128, PN=pn)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(out, clamp_ref(x, lo, hi, pn != 0))


def test_clamp_scalar_bounds(rng):
    n = 500
    x = special_floats(n, np.float32, rng)
    out = np.zeros(n, np.float32)
    clamp_scalar_kernel[(triton.cdiv(n, 128),)](x, out, -1.25, n, BLOCK=128)
    np.testing.assert_array_equal(out, np.fmin(np.fmax(x, np.float32(-1.25)), np.float32(2.5)))


def test_clamp_rejects_ints():
    x = np.zeros(16, np.int32)
    with pytest.raises(triton.CompilationError, match="floating"):
        clamp_kernel[(1,)](x, x, x, x, 16, BLOCK=16, PN=0)


# ---------------------------------------------------------------- flip


@triton.jit
def flip1d_kernel(x_ptr, out_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(out_ptr + offs, tl.flip(tl.load(x_ptr + offs)))


@triton.jit
def flip2d_kernel(x_ptr, out_ptr, M: tl.constexpr, N: tl.constexpr, DIM: tl.constexpr):
    offs = tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :]
    tl.store(out_ptr + offs, tl.flip(tl.load(x_ptr + offs), DIM))


def _bits(x):
    return x.view(np.dtype(f"u{x.dtype.itemsize}"))


@pytest.mark.parametrize("n", [2, 16, 1024])
@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int8, np.uint16, np.int64])
def test_flip_1d(n, dtype, rng):
    if np.dtype(dtype).kind == "f":
        x = special_floats(n, dtype, rng)  # NaN and -0.0 must move bit for bit
    else:
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, size=n, dtype=dtype, endpoint=True)
    out = np.zeros_like(x)
    flip1d_kernel[(1,)](x, out, N=n)
    np.testing.assert_array_equal(_bits(out), _bits(x[::-1]))


@pytest.mark.parametrize("dim", [None, 0, 1, -1, -2])
@pytest.mark.parametrize("M,N", [(4, 8), (16, 2), (2, 64)])
def test_flip_2d(dim, M, N, rng):
    x = special_floats(M * N, np.float32, rng).reshape(M, N)
    out = np.zeros_like(x)
    flip2d_kernel[(1,)](x, out, M=M, N=N, DIM=dim)
    want = np.flip(x, -1 if dim is None else dim)
    np.testing.assert_array_equal(_bits(out), _bits(np.ascontiguousarray(want)))
