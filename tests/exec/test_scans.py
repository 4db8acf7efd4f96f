"""Scans: cumsum, cumprod, associative_scan with a @jit combine (tuples too),
reverse=, along either axis of 2-D blocks; against NumPy."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from exec_data import kernel_body


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


# ------------------------------------------------------------------ in parallel (src/emit_scan.c)

@triton.jit
def affine(a1, b1, a2, b2):
    # x -> a*x + b, composed: first (a1, b1), then (a2, b2). Associative, not commutative.
    return a1 * a2, b1 * a2 + b2


@triton.jit
def affine_scan_kernel(a_ptr, b_ptr, oa_ptr, ob_ptr, s_ptr, M: tl.constexpr, N: tl.constexpr, AXIS: tl.constexpr,
                       REV: tl.constexpr):
    offs = tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :]
    a = tl.load(a_ptr + offs)
    b = tl.load(b_ptr + offs)
    ra, rb = tl.associative_scan((a, b), AXIS, affine, reverse=REV)
    tl.store(oa_ptr + offs, ra)
    tl.store(ob_ptr + offs, rb)
    x = tl.load(s_ptr + offs)
    tl.store(s_ptr + offs, tl.cumsum(x, AXIS, reverse=REV))


def affine_ref(a, b, axis, rev):
    """The sequential definition: the running composition, earlier map first."""
    a, b = np.moveaxis(a.astype(np.int64), axis, -1), np.moveaxis(b.astype(np.int64), axis, -1)
    oa, ob = np.empty_like(a), np.empty_like(b)
    order = range(a.shape[-1] - 1, -1, -1) if rev else range(a.shape[-1])
    ca = cb = None
    for j in order:
        if ca is None:
            ca, cb = a[..., j], b[..., j]
        else:
            ca, cb = (ca * a[..., j]) % 2**32, (cb * a[..., j] + b[..., j]) % 2**32
        oa[..., j], ob[..., j] = ca, cb
    wrap = lambda v: np.moveaxis(v, -1, axis).astype(np.uint32).view(np.int32)  # noqa: E731
    return wrap(oa), wrap(ob)


# shapes whose scanned dim spans one thread's run, lanes, SIMD-groups and
# several tiles, in both directions, with 1 to 8 SIMD-groups
SHAPES = [(1, 4096, 1, 4), (1, 1024, 1, 8), (1, 512, 1, 1), (1, 64, 1, 2), (64, 32, 0, 4), (64, 32, 1, 4),
          (8, 256, 0, 8), (8, 256, 1, 2), (256, 4, 0, 4), (2, 2, 0, 1)]


@pytest.mark.parametrize("rev", [False, True])
@pytest.mark.parametrize("M,N,axis,nw", SHAPES)
def test_scan_order_preserved(M, N, axis, nw, rev, rng):
    a = rng.integers(-5, 6, (M, N)).astype(np.int32)
    b = rng.integers(-1000, 1000, (M, N)).astype(np.int32)
    s = rng.integers(-50, 50, (M, N)).astype(np.float32)
    s.flat[rng.choice(M * N, min(3, M * N), replace=False)] = [np.nan, np.inf, -np.inf][:min(3, M * N)]
    with np.errstate(invalid="ignore"):  # inf + -inf
        want_s = np.flip(np.cumsum(np.flip(s, axis), axis), axis) if rev else np.cumsum(s, axis)
    oa, ob = np.zeros_like(a), np.zeros_like(b)
    k = affine_scan_kernel[(1,)](a, b, oa, ob, s, M=M, N=N, AXIS=axis, REV=rev, num_warps=nw)
    ea, eb = affine_ref(a, b, axis, rev)
    np.testing.assert_array_equal(oa, ea)
    np.testing.assert_array_equal(ob, eb)
    np.testing.assert_array_equal(s, want_s)  # integer-valued: exact in any order; NaN/inf propagate
    if M * N >= 64 and (N if axis else M) >= 32:
        body = kernel_body(k)
        assert "tm_shfl_" in body and "for (uint line = tm_tid" not in body


@triton.jit
def cumsum_dtypes_kernel(x_ptr, y_ptr, m_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(y_ptr + offs, tl.cumsum(tl.load(x_ptr + offs), 0))
    tl.store(m_ptr + offs, tl.cumsum(tl.load(x_ptr + offs) > 0, 0))  # bool: counted as int32


def test_scan_int64_and_bool(rng):
    N = 2048
    x = rng.integers(-2**40, 2**40, N).astype(np.int64)
    y, m = np.zeros(N, np.int64), np.zeros(N, np.int32)
    cumsum_dtypes_kernel[(1,)](x, y, m, N=N)
    np.testing.assert_array_equal(y, np.cumsum(x))
    np.testing.assert_array_equal(m, np.cumsum(x > 0))


def test_scan_barriers_and_opt_none(rng):
    """A 1-D cumsum over 4 SIMD-groups: two barriers per tile step; opt level
    none keeps the sequential scan, with the same results."""
    N = 1024
    x = rng.integers(-100, 100, N).astype(np.int32)
    s, p, rs = np.zeros(N, np.int32), np.zeros(N, np.int32), np.zeros(N, np.int32)
    k = cum_kernel[(1,)](x, s, p, rs, N=N)
    msl = kernel_body(k)
    assert msl.count("tm_shfl_up(") >= 2 and msl.count("threadgroup_barrier(") == 3 * 2  # two per scan
    s2, p2, rs2 = np.zeros(N, np.int32), np.zeros(N, np.int32), np.zeros(N, np.int32)
    k2 = cum_kernel[(1,)](x, s2, p2, rs2, N=N, metal_optimization_level="none")
    assert "tm_shfl_up" not in kernel_body(k2) and "for (uint line = tm_tid" in kernel_body(k2)
    for got, want in ((s, s2), (p, p2), (rs, rs2)):
        np.testing.assert_array_equal(got, want)
    text = cum_kernel.explain(x, s, p, rs, N=N)
    # the int32 sums by the SIMD-group's prefix sum, the product by shuffles
    assert text.count("one SIMD-group prefix sum over 32 lanes, 4 SIMD-groups through threadgroup memory") == 1
    assert text.count("a SIMD-group prefix sum and a shuffle over 32 lanes, 4 SIMD-groups") == 1  # reverse
    assert text.count("SIMD-group shuffles over 32 lanes, 4 SIMD-groups through threadgroup memory (2 barriers)") == 1
    assert "sequential" in cum_kernel.explain(x, s, p, rs, N=N, metal_optimization_level="none")


@triton.jit
def cumsum_any_kernel(x_ptr, y_ptr, R: tl.constexpr, C: tl.constexpr, AX: tl.constexpr, REV: tl.constexpr):
    offs = tl.arange(0, R)[:, None] * C + tl.arange(0, C)[None, :]
    tl.store(y_ptr + offs, tl.cumsum(tl.load(x_ptr + offs), AX, reverse=REV))


def wrapped_cumsum(x, axis, rev):
    """NumPy's cumsum modulo 2**32, in x's 32-bit dtype (Triton's integers wrap)."""
    xs = np.flip(x, axis) if rev else x
    r = (np.cumsum(xs.astype(np.int64), axis=axis) % (1 << 32)).astype(np.uint32).view(x.dtype)
    return np.flip(r, axis) if rev else r


@pytest.mark.parametrize("R,C", [(1, 256), (2, 1024), (4, 64), (16, 16), (8, 32), (64, 4)])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("rev", [0, 1])
@pytest.mark.parametrize("dt", [np.int32, np.uint32])
@pytest.mark.parametrize("nw", [1, 4])
def test_int_cumsum_by_simd_prefix_sum(R, C, axis, rev, dt, nw, rng):
    """Integer sums whose lanes along the axis are a SIMD-group's low lane
    bits take simd_prefix_inclusive_sum (a segment of fewer than 32 lanes, or
    the reverse order, one shuffle more); the others keep the shuffles. Values
    across the whole 32-bit range: every sum wraps, and the differences the
    prefix path takes must be exact."""
    x = rng.integers(-2**31, 2**31 - 1, size=(R, C)).astype(np.int64).astype(dt)
    y = np.zeros_like(x)
    k = cumsum_any_kernel[(1,)](x, y, R=R, C=C, AX=axis, REV=rev, num_warps=nw)
    np.testing.assert_array_equal(y, wrapped_cumsum(x, axis, rev))
    text = cumsum_any_kernel.explain(x, y, R=R, C=C, AX=axis, REV=rev, num_warps=nw)
    assert ("prefix sum" in text) == ("simd_prefix_inclusive_sum" in kernel_body(k))
    if axis == 1 and "no lanes along the axis" not in text:  # the row's lanes are the low lane bits
        assert "prefix sum" in text, text


def test_prefix_sum_paths_taken(rng):
    """Which path each shape takes (the layouts of num_warps=4): whole rows,
    16-lane segments, and a column scan whose lanes are not the low bits."""
    def explain(R, C, axis, rev, dt=np.int32):
        x = np.zeros((R, C), dt)
        return cumsum_any_kernel.explain(x, x, R=R, C=C, AX=axis, REV=rev)
    assert "one SIMD-group prefix sum over 32 lanes" in explain(1, 256, 1, 0)
    assert "a SIMD-group prefix sum and a shuffle over 32 lanes" in explain(1, 256, 1, 1)
    assert "a SIMD-group prefix sum and a shuffle over 8 lanes" in explain(16, 16, 1, 0)
    assert "SIMD-group shuffles over 16 lanes" in explain(64, 4, 0, 0)
    # floats keep the shuffles: a prefix sum's float rounding order is unspecified
    assert "prefix" not in explain(1, 256, 1, 0, np.float32)
