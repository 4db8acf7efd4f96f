"""Scans: cumsum, cumprod, associative_scan with a @jit combine (tuples too),
reverse=, along either axis of 2-D blocks; against NumPy."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def cum_kernel(x_ptr, s_ptr, p_ptr, rs_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs)
    tl.store(s_ptr + offs, tl.cumsum(x, axis=0))
    tl.store(p_ptr + offs, tl.cumprod(x % 3 + 1, 0))
    tl.store(rs_ptr + offs, tl.cumsum(x, 0, reverse=True))


@pytest.mark.parametrize("N", [1, 16, 128, 1024])
def test_cumsum_cumprod_1d(N, rng):
    x = rng.integers(-100, 100, N).astype(np.int32)
    s, p, rs = np.zeros(N, np.int32), np.zeros(N, np.int32), np.zeros(N, np.int32)
    cum_kernel[(1,)](x, s, p, rs, N=N)
    np.testing.assert_array_equal(s, np.cumsum(x))
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(p, np.cumprod(np.fmod(x, 3) + 1).astype(np.int32))
    np.testing.assert_array_equal(rs, np.cumsum(x[::-1])[::-1])


@triton.jit
def cum2d_kernel(x_ptr, a0_ptr, a1_ptr, M: tl.constexpr, N: tl.constexpr):
    rm = tl.arange(0, M)[:, None]
    rn = tl.arange(0, N)[None, :]
    x = tl.load(x_ptr + rm * N + rn)
    tl.store(a0_ptr + rm * N + rn, tl.cumsum(x, 0))
    tl.store(a1_ptr + rm * N + rn, x.cumsum(1))


@pytest.mark.parametrize("M,N", [(4, 8), (32, 16), (1, 64)])
def test_cumsum_2d_axes(M, N, rng):
    x = rng.standard_normal((M, N)).astype(np.float32)
    a0, a1 = np.zeros_like(x), np.zeros_like(x)
    cum2d_kernel[(1,)](x, a0, a1, M=M, N=N)
    np.testing.assert_allclose(a0, np.cumsum(x, 0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a1, np.cumsum(x, 1), rtol=1e-5, atol=1e-5)


@triton.jit
def keep_max_with_index(v1, i1, v2, i2):
    take2 = v2 >= v1
    return tl.where(take2, v2, v1), tl.where(take2, i2, i1)


@triton.jit
def running_argmax_kernel(x_ptr, v_ptr, i_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs)
    v, i = tl.associative_scan((x, offs), 0, keep_max_with_index)
    tl.store(v_ptr + offs, v)
    tl.store(i_ptr + offs, i)


def test_associative_scan_tuple(rng):
    N = 64
    x = rng.integers(0, 20, N).astype(np.int32)
    v, i = np.zeros(N, np.int32), np.zeros(N, np.int32)
    running_argmax_kernel[(1,)](x, v, i, N=N)
    np.testing.assert_array_equal(v, np.maximum.accumulate(x))
    # the last index reaching the running maximum (v2 >= v1 keeps later ties)
    exp_i = [max(j for j in range(k + 1) if x[j] == v[k]) for k in range(N)]
    np.testing.assert_array_equal(i, exp_i)
