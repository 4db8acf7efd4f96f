"""Reductions (sum, max, min, argmax, argmin, xor_sum, reduce_or, tl.reduce with
a @jit combine function, keep_dims, axis=None) and multi-dimensional blocks
(x[:, None], broadcasting, layout conversions), against NumPy."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from exec_data import kernel_body, special_floats


@triton.jit
def softmax_kernel(out_ptr, in_ptr, in_stride, out_stride, n_rows, n_cols, BLOCK: tl.constexpr):
    row_start = tl.program_id(0)
    row_step = tl.num_programs(0)
    for row_idx in tl.range(row_start, n_rows, row_step, num_stages=2):
        offs = tl.arange(0, BLOCK)
        mask = offs < n_cols
        row = tl.load(in_ptr + row_idx * in_stride + offs, mask=mask, other=-float("inf"))
        shifted = row - tl.max(row, axis=0)
        num = tl.where(mask, shifted * 0.5 + 1.0, 0.0)
        den = tl.sum(num, axis=0)
        tl.store(out_ptr + row_idx * out_stride + offs, num / den, mask=mask)


@pytest.mark.parametrize("n_cols,block", [(1, 16), (100, 128), (128, 128), (781, 1024)])
@pytest.mark.parametrize("num_warps", [1, 4])
def test_row_reductions_persistent_loop(n_cols, block, num_warps, rng):
    n_rows = 37
    x = (rng.standard_normal((n_rows, n_cols)) * 3).astype(np.float32)
    out = np.zeros_like(x)
    softmax_kernel[(8,)](out, x, x.shape[1], out.shape[1], n_rows, n_cols, BLOCK=block, num_warps=num_warps)
    shifted = x - x.max(axis=1, keepdims=True)
    num = shifted * np.float32(0.5) + np.float32(1.0)
    exp = num / num.sum(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    np.testing.assert_allclose(out, exp, rtol=2e-6, atol=1e-7)


@triton.jit
def reduce2d_kernel(x_ptr, out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    rm = tl.arange(0, BM)
    rn = tl.arange(0, BN)
    mask = (rm[:, None] < M) & (rn[None, :] < N)
    x = tl.load(x_ptr + rm[:, None] * N + rn[None, :], mask=mask, other=0)
    s1 = tl.sum(x, axis=1)                 # [BM]
    s0 = tl.sum(x, axis=0)                 # [BN]
    mx = tl.max(x, axis=1)
    mn = tl.min(x, axis=0)
    total = tl.sum(x)                      # all elements
    tl.store(out_ptr + rm, s1, mask=rm < M)
    tl.store(out_ptr + BM + rn, s0, mask=rn < N)
    tl.store(out_ptr + BM + BN + rm, mx, mask=rm < M)
    tl.store(out_ptr + 2 * BM + BN + rn, mn, mask=rn < N)
    tl.store(out_ptr + 2 * BM + 2 * BN, total)


@pytest.mark.parametrize("M,N,BM,BN", [(5, 7, 8, 8), (16, 64, 16, 64), (33, 20, 64, 32), (1, 1, 2, 2), (100, 3, 128, 4)])
@pytest.mark.parametrize("num_warps", [1, 2, 4])
def test_2d_reductions(M, N, BM, BN, num_warps, rng):
    x = rng.integers(-1000, 1000, (M, N)).astype(np.int32)
    out = np.zeros(2 * BM + 2 * BN + 1, np.int32)
    reduce2d_kernel[(1,)](x, out, M, N, BM=BM, BN=BN, num_warps=num_warps)
    xp = np.zeros((BM, BN), np.int32)
    xp[:M, :N] = x
    np.testing.assert_array_equal(out[:M], x.sum(1))
    np.testing.assert_array_equal(out[BM:BM + N], x.sum(0))
    np.testing.assert_array_equal(out[BM + BN:BM + BN + M], xp.max(1)[:M])
    np.testing.assert_array_equal(out[2 * BM + BN:2 * BM + BN + N], xp.min(0)[:N])
    assert out[-1] == x.sum()


@triton.jit
def minmax_nan_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=float("nan"))
    tl.store(out_ptr + 0, tl.max(x, axis=0))
    tl.store(out_ptr + 1, tl.min(x, axis=0))
    tl.store(out_ptr + 2, tl.argmax(x, axis=0).to(tl.float32))
    tl.store(out_ptr + 3, tl.argmin(x, axis=0).to(tl.float32))


@pytest.mark.parametrize("vals", [[np.nan, 6, 8], [3, 5, np.nan], [1, np.inf, np.nan, -np.inf], [2, 2, 1, 1]])
def test_max_min_argmax_ignore_nan(vals):
    x = np.array(vals, np.float32)
    out = np.zeros(4, np.float32)
    minmax_nan_kernel[(1,)](x, out, len(x), BLOCK=4)
    assert out[0] == np.nanmax(x) and out[1] == np.nanmin(x)
    assert out[2] == np.nanargmax(x) and out[3] == np.nanargmin(x)


@triton.jit
def argmax2d_kernel(x_ptr, out_ptr, M, N: tl.constexpr, BM: tl.constexpr):
    rm = tl.arange(0, BM)
    rn = tl.arange(0, N)
    x = tl.load(x_ptr + rm[:, None] * N + rn[None, :], mask=rm[:, None] < M, other=-1)
    v, i = tl.max(x, axis=1, return_indices=True)
    tl.store(out_ptr + rm, i, mask=rm < M)
    tl.store(out_ptr + BM + rn, tl.argmin(x, axis=0))
    tl.store(out_ptr + BM + N + rm, v, mask=rm < M)


def test_argmax_ties_leftmost_2d(rng):
    M, N, BM = 13, 16, 16
    x = rng.integers(0, 5, (M, N)).astype(np.int32)  # many ties
    out = np.zeros(BM + N + BM, np.int32)
    argmax2d_kernel[(1,)](x, out, M, N=N, BM=BM)
    xp = np.full((BM, N), -1, np.int32)
    xp[:M] = x
    np.testing.assert_array_equal(out[:M], x.argmax(1))
    np.testing.assert_array_equal(out[BM:BM + N], xp.argmin(0))
    np.testing.assert_array_equal(out[BM + N:BM + N + M], x.max(1))


@triton.jit
def bitwise_reduce_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, BLOCK))
    tl.store(out_ptr, tl.xor_sum(x, axis=0))
    tl.store(out_ptr + 1, tl.reduce_or(x, axis=0))
    tl.store(out_ptr + 2, x.sum(axis=0))


def test_xor_sum_reduce_or_and_small_int_sum(rng):
    x = rng.integers(0, 255, 256).astype(np.uint8)
    out = np.zeros(3, np.uint32)
    bitwise_reduce_kernel[(1,)](x, out, BLOCK=256)
    assert out[0] == np.bitwise_xor.reduce(x)
    assert out[1] == np.bitwise_or.reduce(x)
    assert out[2] == x.astype(np.uint32).sum()  # uint8 sums upcast to uint32


@triton.jit
def pick_larger_abs(a, ia, b, ib):
    take_a = (tl.abs(a) > tl.abs(b)) | ((tl.abs(a) == tl.abs(b)) & (ia < ib)) if False else (a * a > b * b) | ((a * a == b * b) & (ia < ib))
    return tl.where(take_a, a, b), tl.where(take_a, ia, ib)


@triton.jit
def user_reduce_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    v, i = tl.reduce((x, offs), 0, pick_larger_abs)
    tl.store(out_ptr, v)
    tl.store(out_ptr + 1, i)


def test_user_combine_with_tuples(rng):
    x = rng.integers(-50, 50, 64).astype(np.int32)
    out = np.zeros(2, np.int32)
    user_reduce_kernel[(1,)](x, out, BLOCK=64)
    i = int(np.argmax(x.astype(np.int64) ** 2))
    assert out[1] == i and out[0] == x[i]


@triton.jit
def keepdims_kernel(x_ptr, out_ptr, BM: tl.constexpr, BN: tl.constexpr):
    rm = tl.arange(0, BM)
    rn = tl.arange(0, BN)
    x = tl.load(x_ptr + rm[:, None] * BN + rn[None, :])
    centered = x - tl.sum(x, axis=1, keep_dims=True) / BN      # [BM, 1] broadcast back
    tl.store(out_ptr + rm[:, None] * BN + rn[None, :], centered)


def test_keep_dims_broadcasts_back(rng):
    x = rng.standard_normal((32, 16)).astype(np.float32)
    out = np.zeros_like(x)
    keepdims_kernel[(1,)](x, out, BM=32, BN=16)
    np.testing.assert_allclose(out, x - x.sum(1, keepdims=True) / 16, rtol=1e-5, atol=1e-6)


@triton.jit
def transpose_kernel(x_ptr, out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    rm = tl.arange(0, BM)
    rn = tl.arange(0, BN)
    mask = (rm[:, None] < M) & (rn[None, :] < N)
    x = tl.load(x_ptr + rm[:, None] * N + rn[None, :], mask=mask)
    # the same offsets used as rows and as columns need two layouts
    tl.store(out_ptr + rn[None, :] * M + rm[:, None], x, mask=mask)
    r = tl.arange(0, BM)
    tl.store(out_ptr + M * N + r[:, None] * 0 + r[None, :] * 0 + r[:, None], x * 0 + 1, mask=(r[:, None] < M) & (rn[None, :] < 1))


def test_transpose_store_and_reused_offsets(rng):
    M, N = 19, 23
    x = rng.standard_normal((M, N)).astype(np.float32)
    out = np.zeros(M * N + M, np.float32)
    transpose_kernel[(1,)](x, out, M, N, BM=32, BN=32)
    np.testing.assert_array_equal(out[:M * N].reshape(N, M), x.T)
    np.testing.assert_array_equal(out[M * N:], np.ones(M, np.float32))


@triton.jit
def broadcast_kernel(a_ptr, b_ptr, out_ptr, BM: tl.constexpr, BN: tl.constexpr):
    a = tl.load(a_ptr + tl.arange(0, BM))           # column vector
    b = tl.load(b_ptr + tl.arange(0, BN))           # row vector
    outer = a[:, None] * b[None, :] + tl.zeros([BM, BN], dtype=tl.float32)
    bias = tl.broadcast_to(b[None, :], (BM, BN))
    tl.store(out_ptr + tl.arange(0, BM)[:, None] * BN + tl.arange(0, BN)[None, :], outer - bias)


def test_outer_product_broadcasting(rng):
    a = rng.standard_normal(8).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    out = np.zeros((8, 64), np.float32)
    broadcast_kernel[(1,)](a, b, out, BM=8, BN=64)
    np.testing.assert_array_equal(out, a[:, None] * b[None, :] - b[None, :])


@triton.jit
def row_minmax_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    # one row per program; BLOCK over num_warps * 32 lanes: each SIMD-group
    # folds its lanes with one simd_max / simd_min
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + tl.program_id(0) * n + offs, mask=offs < n, other=float("nan"))
    tl.store(out_ptr + 2 * tl.program_id(0), tl.max(x, axis=0))
    tl.store(out_ptr + 2 * tl.program_id(0) + 1, tl.min(x, axis=0))


@triton.jit
def row_minmax_int_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + tl.program_id(0) * n + offs, mask=offs < n, other=0)
    tl.store(out_ptr + 2 * tl.program_id(0), tl.max(x, axis=0))
    tl.store(out_ptr + 2 * tl.program_id(0) + 1, tl.min(x, axis=0))


def nan_rows(dtype, block, rng):
    """rows of block elements: NaN here and there, a whole SIMD-group's lanes
    NaN (elements a thread holds are consecutive: a lane's run and its 31
    neighbours'), whole rows NaN, infinities, signed zeros"""
    per = block // 128  # elements per thread over 4 SIMD-groups of 32
    rows = [rng.standard_normal(block) * 100]
    r = rng.standard_normal(block); r[rng.random(block) < 0.3] = np.nan; rows.append(r)
    r = rng.standard_normal(block); r[: 32 * per] = np.nan; rows.append(r)  # SIMD-group 0: all NaN
    r = np.full(block, np.nan); r[block - 1] = -3.5; rows.append(r)  # one value, the last lane's
    rows.append(np.full(block, np.nan))
    r = np.full(block, -np.inf); r[5] = np.nan; rows.append(r)
    r = np.full(block, np.inf); r[::3] = np.nan; rows.append(r)
    r = rng.standard_normal(block); r[7] = np.inf; r[9] = -np.inf; rows.append(r)
    r = np.zeros(block); r[::2] = -0.0; rows.append(r)
    return np.array(rows).astype(dtype)


def nanmax_rows(x, fn):
    with np.errstate(invalid="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return fn(x.astype(np.float64), axis=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("block,n", [(128, 128), (256, 256), (256, 200), (512, 512)])
def test_whole_simdgroup_max_min_ignore_nan(dtype, block, n, rng):
    """tl.max / tl.min whose axis spans whole SIMD-groups: one simd_max /
    simd_min of order-preserving integer keys with NaN lanes lowest / highest,
    NaN only where every element is NaN (maxnum, as upstream); against
    NumPy's nanmax / nanmin (a zero's sign is left open, as fmax leaves it)."""
    x = nan_rows(dtype, block, rng)
    xs = np.ascontiguousarray(x[:, :n])
    out = np.zeros(2 * len(x), dtype)
    h = row_minmax_kernel[(len(x),)](xs, out, n, BLOCK=block, num_warps=4)
    np.testing.assert_array_equal(out[0::2], nanmax_rows(xs, np.nanmax).astype(dtype))
    np.testing.assert_array_equal(out[1::2], nanmax_rows(xs, np.nanmin).astype(dtype))
    if block // 128 <= 4:  # up to four results a thread: one SIMD-group operation each
        msl = kernel_body(h)
        assert "tm_key = simd_max(tm_key);" in msl and "tm_key = simd_min(tm_key);" in msl, msl
        assert "simd_all" not in msl and "tm_shfl_xor(" not in msl


@pytest.mark.parametrize("dtype", [np.int32, np.uint32])
def test_whole_simdgroup_max_min_integers(dtype, rng):
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, size=(5, 256), dtype=dtype, endpoint=True)
    x[1, 100] = info.max
    x[2, 3] = info.min
    x[3, :] = info.min
    x[4, :] = info.max
    out = np.zeros(10, dtype)
    h = row_minmax_int_kernel[(5,)](x, out, 256, BLOCK=256, num_warps=4)
    np.testing.assert_array_equal(out[0::2], x.max(1))
    np.testing.assert_array_equal(out[1::2], x.min(1))
    assert "a0[k] = simd_max(a0[k]);" in kernel_body(h) and "a0[k] = simd_min(a0[k]);" in kernel_body(h)


@triton.jit
def rows_in_a_loop_kernel(x_ptr, out_ptr, n_rows, n_cols, BLOCK: tl.constexpr):
    # one reduction per iteration: its closing barrier must be emitted at the
    # end of the loop body, or the next iteration's partials overwrite what a
    # slow SIMD-group still reads (the race checker is on in tests/exec)
    for r in range(tl.program_id(0), n_rows, tl.num_programs(0)):
        offs = tl.arange(0, BLOCK)
        x = tl.load(x_ptr + r * n_cols + offs, mask=offs < n_cols, other=0.0)
        tl.store(out_ptr + r, tl.sum(x * x, axis=0))


@triton.jit
def reduce_then_branch_kernel(x_ptr, out_ptr, idx_ptr, n, FLAG: tl.constexpr, BLOCK: tl.constexpr):
    # a held-back barrier followed by a branch whose one side uses threadgroup
    # memory (a max, then an argmax of another dtype in one branch only)
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=-float("inf"))
    m = tl.max(x, axis=0)
    if m > FLAG:
        tl.store(idx_ptr, tl.argmax(x, axis=0))
    tl.store(out_ptr, tl.sum(tl.where(offs < n, x - m, 0.0), axis=0))


@pytest.mark.parametrize("n_rows,n_cols", [(37, 512), (8, 300)])
def test_one_reduction_per_loop_iteration(n_rows, n_cols, rng):
    x = rng.standard_normal((n_rows, n_cols)).astype(np.float32)
    out = np.zeros(n_rows, np.float32)
    h = rows_in_a_loop_kernel[(3,)](x, out, n_rows, n_cols, BLOCK=512, num_warps=4)
    np.testing.assert_allclose(out, (x.astype(np.float64) ** 2).sum(1), rtol=1e-5)
    assert kernel_body(h).count("threadgroup_barrier") == 2, kernel_body(h)


@pytest.mark.parametrize("flag", [-10.0, 10.0])
def test_reduction_then_a_branch_using_threadgroup_memory(flag, rng):
    n = 1000
    x = rng.standard_normal(n).astype(np.float32)
    out, idx = np.zeros(1, np.float32), np.full(1, -1, np.int32)
    reduce_then_branch_kernel[(1,)](x, out, idx, n, FLAG=flag, BLOCK=1024, num_warps=4)
    assert idx[0] == (np.argmax(x) if x.max() > flag else -1)
    np.testing.assert_allclose(out[0], (x.astype(np.float64) - x.max()).sum(), rtol=1e-4)


def test_chained_reductions_hold_back_one_barrier_each(rng):
    """softmax's max then sum across SIMD-groups: one barrier each, the sum in
    the other half of the scratch array; against NumPy."""
    x = rng.standard_normal((8, 512)).astype(np.float32)
    x[3, 7] = np.inf
    y = np.zeros_like(x)
    import test_lowering
    h = test_lowering.row_softmax_kernel[(8,)](x, y, N=512)
    msl = kernel_body(h)
    assert msl.count("threadgroup_barrier") == 2, msl
    with np.errstate(invalid="ignore"):
        e = np.exp(x - x.max(1, keepdims=True))
        np.testing.assert_allclose(y, e / e.sum(1, keepdims=True), rtol=1e-6, atol=1e-7)


@triton.jit
def tile_rows_kernel(x_ptr, mx_ptr, sm_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.arange(0, BN)
    m = (rm[:, None] < M) & (rn[None, :] < N)
    x = tl.load(x_ptr + rm[:, None] * N + rn[None, :], mask=m, other=-float("inf"))
    tl.store(mx_ptr + rm, tl.max(x, axis=1), mask=rm < M)
    tl.store(sm_ptr + rm, tl.sum(tl.where(m, x, 0.0), axis=1), mask=rm < M)


@pytest.mark.parametrize("num_warps", [1, 4])
def test_in_thread_reduction_unrolled(num_warps, rng):
    """A tile's row max and row sum, several elements of each row to a thread:
    the in-thread loop is written for unrolling whole (TM_UNROLL: each row's
    accumulator a constant slot), combining in k's order as before; against
    NumPy with NaN, infinities and masked rows and columns (37 x 50 in 64 x 64
    tiles)."""
    M, N = 37, 50
    x = (rng.standard_normal((M, N)) * 4).astype(np.float32)
    x[0, :5] = np.nan
    x[1, 7], x[2, 3], x[3, :] = np.inf, -np.inf, np.nan
    mx, sm = np.zeros(M, np.float32), np.zeros(M, np.float32)
    h = tile_rows_kernel[(1,)](x, mx, sm, M, N, BM=64, BN=64, num_warps=num_warps)
    padded = np.full((M, 64), -np.inf, np.float32)  # the masked columns load as -inf
    padded[:, :N] = x
    with np.errstate(invalid="ignore"):
        # tl.max ignores NaN: the all-NaN row 3 is the max of its -inf padding
        np.testing.assert_array_equal(mx, nanmax_rows(padded, np.nanmax).astype(np.float32))
        want = x.astype(np.float64).sum(axis=1)
    np.testing.assert_allclose(sm, want.astype(np.float32), rtol=1e-5, atol=1e-5, equal_nan=True)
    msl = kernel_body(h)
    loops = msl.split("uint kr = ")[:-1]  # the text before each in-thread loop's slot line
    assert len(loops) == 2, msl
    for before in loops:
        head = before[before.rfind("for (uint k = 0;"):]
        assert before[:before.rfind("for (uint k = 0;")].rstrip().endswith("TM_UNROLL"), head


@triton.jit
def chained_2d_kernel(x_ptr, out_ptr, R, C, BR: tl.constexpr, BC: tl.constexpr):
    # chains of reductions whose results differ in width per thread: an axis-0
    # sum of a [BR x BC] block keeps several values per thread, the sum of that
    # one (FlagGems' group norm: a whole-block mean, then the variance)
    r = tl.arange(0, BR)
    c = tl.arange(0, BC)
    m = r[:, None] < R and c[None, :] < C
    v = tl.load(x_ptr + r[:, None] * C + c[None, :], mask=m, other=0.0)
    tl.store(out_ptr, tl.sum(tl.sum(v, 0), 0))
    tl.store(out_ptr + 1, tl.sum(tl.sum(v, 1), 0))
    mean = tl.sum(v) / (R * C)
    d = tl.where(m, v - mean, 0.0)
    tl.store(out_ptr + 2, tl.sum(d * d))
    tl.store(out_ptr + 3, tl.max(tl.sum(v, 0), 0))
    tl.store(out_ptr + 4, tl.min(tl.max(v, 1), 0))


@pytest.mark.parametrize("num_warps", [1, 2, 4, 8])
@pytest.mark.parametrize("R,C", [(2, 256), (3, 256), (4, 256), (4, 128), (8, 64), (16, 32), (2, 1024), (1, 512), (5, 200)])
def test_chained_reductions_of_different_widths(rng, R, C, num_warps):
    x = rng.integers(-40, 41, (R, C)).astype(np.float32)   # small integers: sums exact in any order
    out = np.full(5, np.nan, np.float32)
    BR, BC = triton.next_power_of_2(R), triton.next_power_of_2(C)
    chained_2d_kernel[(1,)](x, out, R, C, BR=BR, BC=BC, num_warps=num_warps)
    x64 = np.zeros((BR, BC))          # the block as the kernel sees it: masked lanes read 0
    x64[:R, :C] = x
    mean = np.float32(x64.sum()) / np.float32(R * C)
    d = x - mean
    np.testing.assert_array_equal(out[[0, 1, 3, 4]], [x64.sum(), x64.sum(), x64.sum(0).max(), x64.max(1).min()])
    np.testing.assert_allclose(out[2], (d.astype(np.float64) ** 2).sum(), rtol=1e-5)
