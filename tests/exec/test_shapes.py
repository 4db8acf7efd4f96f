"""Shape operations: reshape/view, trans/permute/.T, join/split/interleave, cat,
ravel, flip, gather, expand_dims/broadcast_to; against NumPy."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def load2d(ptr, M: tl.constexpr, N: tl.constexpr):
    return tl.load(ptr + tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :])


@triton.jit
def store2d(ptr, x, M: tl.constexpr, N: tl.constexpr):
    tl.store(ptr + tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :], x)


@triton.jit
def reshape_trans_kernel(x_ptr, r_ptr, t_ptr, p_ptr, f_ptr, M: tl.constexpr, N: tl.constexpr):
    x = load2d(x_ptr, M, N)
    store2d(r_ptr, tl.reshape(x, (N, M)), N, M)           # same row-major order, new shape
    store2d(t_ptr, x.T + tl.trans(x) * 0, N, M)
    y = tl.reshape(x, 2, M // 2, N)
    p = tl.permute(y, (2, 0, 1))                            # [N, 2, M//2]
    flat = tl.ravel(p)
    tl.store(p_ptr + tl.arange(0, M * N), flat)
    store2d(f_ptr, tl.flip(x, 0), M, N)


@pytest.mark.parametrize("M,N", [(4, 8), (16, 32), (2, 2), (64, 4)])
def test_reshape_trans_permute_flip(M, N, rng):
    x = rng.integers(-100, 100, (M, N)).astype(np.int32)
    r = np.zeros((N, M), np.int32)
    t = np.zeros((N, M), np.int32)
    p = np.zeros(M * N, np.int32)
    f = np.zeros((M, N), np.int32)
    reshape_trans_kernel[(1,)](x, r, t, p, f, M=M, N=N)
    np.testing.assert_array_equal(r, x.reshape(N, M))
    np.testing.assert_array_equal(t, x.T)
    np.testing.assert_array_equal(p, x.reshape(2, M // 2, N).transpose(2, 0, 1).ravel())
    np.testing.assert_array_equal(f, x[::-1])


@triton.jit
def join_split_kernel(a_ptr, b_ptr, j_ptr, i_ptr, s_ptr, c_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    a = tl.load(a_ptr + offs)
    b = tl.load(b_ptr + offs)
    j = tl.join(a, b)                                       # [N, 2]
    store2d(j_ptr, j, N, 2)
    tl.store(i_ptr + tl.arange(0, 2 * N), tl.interleave(a, b))
    lo, hi = tl.split(j)
    tl.store(s_ptr + offs, lo * 10 + hi)
    tl.store(c_ptr + tl.arange(0, 2 * N), tl.cat(a, b, can_reorder=True))


def test_join_split_interleave_cat(rng):
    N = 32
    a = rng.integers(-50, 50, N).astype(np.int32)
    b = rng.integers(-50, 50, N).astype(np.int32)
    j = np.zeros((N, 2), np.int32)
    i = np.zeros(2 * N, np.int32)
    s = np.zeros(N, np.int32)
    c = np.zeros(2 * N, np.int32)
    join_split_kernel[(1,)](a, b, j, i, s, c, N=N)
    np.testing.assert_array_equal(j, np.stack([a, b], -1))
    np.testing.assert_array_equal(i, np.stack([a, b], -1).ravel())
    np.testing.assert_array_equal(s, a * 10 + b)
    np.testing.assert_array_equal(c, np.concatenate([a, b]))


@triton.jit
def gather_kernel(src_ptr, idx_ptr, out_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    src = load2d(src_ptr, M, N)
    idx = tl.load(idx_ptr + tl.arange(0, M)[:, None] * K + tl.arange(0, K)[None, :])
    store2d(out_ptr, tl.gather(src, idx, 1), M, K)


def test_gather_axis1(rng):
    M, N, K = 8, 16, 4
    src = rng.standard_normal((M, N)).astype(np.float32)
    idx = rng.integers(0, N, (M, K)).astype(np.int32)
    out = np.zeros((M, K), np.float32)
    gather_kernel[(1,)](src, idx, out, M=M, N=N, K=K)
    np.testing.assert_array_equal(out, np.take_along_axis(src, idx, 1))
