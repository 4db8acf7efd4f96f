"""Masks the same over each vector (axis.c's runs of equal values, `cst`).

A block load or store moved as vectors reads its mask once per vector when
the analysis proves the mask equal over each vector (for instance
`offs < n` with n specialized as a multiple of 16): the vector is then one
predicated access with no per-element fallback. A wrong proof would drop or
add elements at the edge of the mask, so every case here puts the edge inside
a vector where it can, fills the masked-off input with NaN and the output
with a sentinel, and compares with NumPy; `explain` shows which accesses
got the single read, and the cases that must not get it are checked too.
"""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

SENT = -7.0  # never a result of the kernels below


@triton.jit
def copy_lt(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=m, other=1.5) * 2, mask=m)


@triton.jit
def copy_mirrored(x_ptr, y_ptr, n, lo, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = (n > offs) & (lo <= offs)  # offs < n and offs >= lo, operands swapped
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=m, other=1.5) * 2, mask=m)


@triton.jit
def copy_window(x_ptr, y_ptr, n, lo, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = (offs >= lo) & (offs < n)
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=m, other=1.5) * 2, mask=m)


@triton.jit
def copy_le(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    # offs <= n is not constant over aligned runs: offs == n is the run's first element
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs <= n
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=m, other=1.5) * 2, mask=m)


@triton.jit
def copy_shifted_mask(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    # the mask's index is one off the pointer's: its runs are not aligned to the vectors
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = (offs + 1) < n
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=m, other=1.5) * 2, mask=m)


@triton.jit
def copy_gt(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    # offs > n: not constant over aligned runs either (offs == n ends one run as false)
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs > n
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=m, other=1.5) * 2, mask=m)


@triton.jit
def copy_2d(x_ptr, y_ptr, M, N, stride, BM: tl.constexpr, BN: tl.constexpr):
    rows = tl.program_id(0) * BM + tl.arange(0, BM)
    cols = tl.program_id(1) * BN + tl.arange(0, BN)
    m = (rows[:, None] < M) & (cols[None, :] < N)
    p = rows[:, None] * stride + cols[None, :]
    tl.store(y_ptr + p, tl.load(x_ptr + p, mask=m, other=1.5) * 2, mask=m)


@triton.jit
def copy_loop(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    # one program walks the row in chunks: the mask inside the loop
    for c0 in range(0, n, BLOCK):
        offs = c0 + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=m, other=1.5) * 2, mask=m)


def make(n, dtype, rng):
    x = rng.standard_normal(n).astype(dtype)
    x[::7] = -x[::7]
    x[3::11] = np.inf
    return x


def expect(x, keep):
    y = np.full_like(x, SENT)
    y[keep] = x[keep] * 2
    return y


def run_1d(kern, x, n, *extra, BLOCK=256, grid=None):
    y = np.full_like(x, SENT)
    grid = grid or (triton.cdiv(x.size, BLOCK),)
    kern[grid](x, y, n, *extra, BLOCK=BLOCK)
    return y


DT = [np.float32, np.float16]


@pytest.mark.parametrize("dtype", DT)
@pytest.mark.parametrize("n", [1024, 1040, 1000, 1003, 16, 0])  # multiples of 16 (specialized) and not
def test_lt(dtype, n, rng):
    x = make(1280, dtype, rng)
    y = run_1d(copy_lt, x, n)
    np.testing.assert_array_equal(y, expect(x, np.arange(x.size) < n))


@pytest.mark.parametrize("dtype", DT)
@pytest.mark.parametrize("n,lo", [(1024, 256), (1040, 48), (1001, 35), (512, 512), (1280, 0)])
def test_mirrored_and_window(dtype, n, lo, rng):
    x = make(1280, dtype, rng)
    i = np.arange(x.size)
    want = expect(x, (i < n) & (i >= lo))
    np.testing.assert_array_equal(run_1d(copy_mirrored, x, n, lo), want)
    np.testing.assert_array_equal(run_1d(copy_window, x, n, lo), want)


@pytest.mark.parametrize("dtype", DT)
@pytest.mark.parametrize("n", [1024, 512, 1008, 1000])
def test_comparisons_that_are_not_constant_over_runs(dtype, n, rng):
    x = make(1280, dtype, rng)
    i = np.arange(x.size)
    np.testing.assert_array_equal(run_1d(copy_le, x, n), expect(x, i <= n))
    np.testing.assert_array_equal(run_1d(copy_gt, x, n), expect(x, i > n))
    np.testing.assert_array_equal(run_1d(copy_shifted_mask, x, n), expect(x, i + 1 < n))


@pytest.mark.parametrize("dtype", DT)
@pytest.mark.parametrize("M,N", [(64, 128), (50, 96), (64, 100), (33, 7)])
def test_2d(dtype, M, N, rng):
    x = make(64 * 128, dtype, rng).reshape(64, 128)
    y = np.full_like(x, SENT)
    copy_2d[(2, 2)](x, y, M, N, 128, BM=32, BN=64)
    r, c = np.indices(x.shape)
    np.testing.assert_array_equal(y, expect(x, (r < M) & (c < N)))


@pytest.mark.parametrize("dtype", DT)
@pytest.mark.parametrize("n", [1024, 1008, 777, 64])
def test_in_a_loop(dtype, n, rng):
    x = make(1024, dtype, rng)
    y = np.full_like(x, SENT)
    copy_loop[(1,)](x, y, n, BLOCK=256)
    np.testing.assert_array_equal(y, expect(x, np.arange(x.size) < n))


ONCE = "mask the same over each vector (read once)"
PER = "mask checked per vector"


@pytest.mark.parametrize("dtype", DT)
def test_explain_says_which_masks_are_read_once(dtype, rng):
    x = make(1280, dtype, rng)
    y = np.zeros_like(x)
    t = copy_lt.explain(x, y, 1024, BLOCK=256)
    assert t.count(ONCE) == 2 and PER not in t, t
    t = copy_lt.explain(x, y, 1000, BLOCK=256)  # n not a multiple of 16: no proof
    assert t.count(PER) == 2 and ONCE not in t, t
    for k in (copy_le, copy_gt, copy_shifted_mask):
        t = k.explain(x, y, 1024, BLOCK=256)
        assert t.count(PER) == 2 and ONCE not in t, (k.__name__, t)
    t = copy_window.explain(x, y, 1024, 512, BLOCK=256)
    assert t.count(ONCE) == 2, t
    t = copy_window.explain(x, y, 1024, 8, BLOCK=256)  # lo = 8: only multiples of 16 are specialized
    assert t.count(PER) == 2 and ONCE not in t, t
    t = copy_loop.explain(x, y, 1024, BLOCK=256)
    assert t.count(ONCE) == 2, t
    x2 = x[:1024].reshape(8, 128)
    t = copy_2d.explain(x2, np.zeros_like(x2), 64, 128, 128, BM=32, BN=64)
    assert t.count(ONCE) == 2, t
