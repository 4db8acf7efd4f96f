"""Tuples as kernel arguments, as upstream: nested tuples of arrays, numbers,
None and constexprs; named tuples (fields by name, classes called inside the
kernel); @jit functions passed as arguments; `f(*t)`; `t[i] = v`."""
from typing import NamedTuple

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def _bump(values):
    for i in tl.static_range(len(values)):
        values[i] = values[i] + 1
    return values


@triton.jit
def scatter_kernel(ptrs, values, N, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    values = _bump(values)
    for i in tl.static_range(len(ptrs)):
        tl.store(ptrs[i] + offs, values[i] * offs, mask=offs < N)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_tuple_of_arrays_and_numbers(k):
    n = 37
    outs = tuple(np.full(n + 5, -7, np.int32) for _ in range(k))
    vals = tuple(range(-1, k - 1))  # includes 1 (a constexpr leaf) and 0, -1
    scatter_kernel[(1,)](outs, vals, n, BLOCK=64)
    for o, v in zip(outs, vals):
        np.testing.assert_array_equal(o[:n], (v + 1) * np.arange(n))
        assert (o[n:] == -7).all()


@triton.jit
def nested_kernel(out, t, c: tl.constexpr):
    tl.static_assert(t[1][1] is None)
    tl.static_assert(t[1][3] == 4)
    tl.store(out + 0, tl.load(t[0]))
    tl.store(out + 1, t[1][0])
    tl.store(out + 2, tl.load(t[1][2] + 1))
    tl.store(out + 3, c + t[2])


def test_nested_tuple_with_none_and_constexpr():
    a = np.array([11], np.int32)
    b = np.array([0, -13], np.int32)
    out = np.zeros(4, np.int32)
    nested_kernel[(1,)](out, (a, (-5, None, b, tl.constexpr(4)), 7), 20)
    np.testing.assert_array_equal(out, [11, -5, -13, 27])


class Mat(NamedTuple):
    ptr: object
    shape: tuple
    stride: tuple


class Fn(NamedTuple):
    fn: object
    captured: tuple


@triton.jit
def _mask(m, BM: tl.constexpr, BN: tl.constexpr):
    rm = tl.arange(0, BM)
    rn = tl.arange(0, BN)
    return (rm[:, None] < m.shape[0]) & (rn[None, :] < m.shape[1])


@triton.jit
def _make(ptr, shape, stride):
    return Mat(shape=shape, ptr=ptr, stride=stride)


@triton.jit
def scale_shift(x, s, b):
    return x * tl.load(s) + b


@triton.jit
def map_kernel(closure, X, Y, BM: tl.constexpr, BN: tl.constexpr):
    rm = tl.arange(0, BM)
    rn = tl.arange(0, BN)
    X = _make(X.ptr, X.shape, X.stride)
    xs = X.ptr + rm[:, None] * X.stride[0] + rn[None, :] * X.stride[1]
    ys = Y.ptr + rm[:, None] * Y.stride[0] + rn[None, :] * Y.stride[1]
    x = tl.load(xs, mask=_mask(X, BM, BN), other=0.0)
    tl.store(ys, closure.fn(x, *closure.captured), mask=_mask(Y, BM, BN))


def test_named_tuples_and_a_function_argument():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((21, 30)).astype(np.float32)
    x[2, 3], x[4, 5], x[0, 1] = np.nan, np.inf, -np.inf
    y = np.full((13, 19), 99.0, np.float32)
    s = np.array([-1.5], np.float32)
    es = x.itemsize
    mx = Mat(x, x.shape, (x.strides[0] // es, x.strides[1] // es))
    my = Mat(y, y.shape, (y.strides[0] // es, y.strides[1] // es))
    map_kernel[(1,)](Fn(scale_shift, (s, 0.25)), mx, my, BM=32, BN=32)
    ref = x[:13, :19] * np.float32(-1.5) + np.float32(0.25)
    np.testing.assert_array_equal(y, ref)


def test_non_contiguous_view_inside_a_named_tuple():
    base = np.arange(40 * 30, dtype=np.float32).reshape(40, 30)
    x = base[::2, ::3]  # 20 x 10, strides (60, 3) elements
    y = np.zeros((20, 10), np.float32)
    s = np.array([2.0], np.float32)
    es = 4
    map_kernel[(1,)](Fn(scale_shift, (s, -1.0)), Mat(x, x.shape, (x.strides[0] // es, x.strides[1] // es)),
                     Mat(y, y.shape, (10, 1)), BM=32, BN=16)
    np.testing.assert_array_equal(y, x * 2 - 1)


@triton.jit
def add_one(x):
    return x + 1


@triton.jit
def negate(x):
    return -x


@triton.jit
def apply_kernel(x_ptr, out, f, N, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < N
    tl.store(out + offs, f(tl.load(x_ptr + offs, mask=m)), mask=m)


@triton.jit
def apply_constexpr_kernel(x_ptr, out, N, f: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < N
    tl.store(out + offs, f(tl.load(x_ptr + offs, mask=m)), mask=m)


def test_jit_function_arguments_are_specializations():
    x = np.array([3, -4, 0, 2**31 - 1, -2**31, 9, 1], np.int32)
    for kern in (apply_kernel, apply_constexpr_kernel):
        for f, ref in ((add_one, x + np.int32(1)), (negate, -x), (add_one, x + np.int32(1))):
            out = np.zeros(x.size + 2, np.int32)
            if kern is apply_kernel:
                kern[(1,)](x, out, f, x.size, BLOCK=8)
            else:
                kern[(1,)](x, out, x.size, f=f, BLOCK=8)
            with np.errstate(over="ignore"):
                np.testing.assert_array_equal(out[:x.size], ref)
            assert (out[x.size:] == 0).all()


@triton.jit
def bad_star_kernel(out, v):
    tl.store(out, add_one(*v))


@triton.jit
def bad_field_kernel(out, p):
    m = Mat(ptr=p, shape=(1,))
    tl.store(m.ptr, 1)


def test_errors_are_located():
    out = np.zeros(1, np.int32)
    with pytest.raises(triton.CompilationError, match="only a tuple can be unpacked"):
        bad_star_kernel[(1,)](out, 3)
    with pytest.raises(triton.CompilationError, match="field 'stride' is not given"):
        bad_field_kernel[(1,)](out, out)
    assert out[0] == 0


def test_tuple_leaves_specialize_as_upstream():
    a = np.zeros(16, np.int32)
    specs = scatter_kernel._specialize((a, a), (1, 32), 5, BLOCK=16)
    from triton_metal import _tm
    kinds = [s[0] for s in specs]
    # ptrs: TUPLE, ptr, ptr; values: TUPLE, constexpr 1, scalar DIV16; N; BLOCK
    assert kinds == [_tm.PARAM_TUPLE, _tm.PARAM_POINTER, _tm.PARAM_POINTER, _tm.PARAM_TUPLE,
                     _tm.PARAM_CONSTEXPR, _tm.PARAM_SCALAR, _tm.PARAM_SCALAR, _tm.PARAM_CONSTEXPR]
    assert specs[4][4] == 1 and specs[5][2] & _tm.PF_DIV16


@triton.jit(repr=lambda spec: f"{spec.name}_{spec.signature['t']}_{spec.constants['C']}")
def repr_kernel(out, t, C: tl.constexpr):
    tl.store(out, tl.load(t[0]) + t[1][0] + C)


def test_repr_hook_sees_tuple_signatures():
    a = np.array([5], np.int32)
    out = np.zeros(1, np.int32)
    k = repr_kernel[(1,)](out, (a, (7, 1.5)), 3)
    assert out[0] == 15
    assert k.name == "repr_kernel_('*i32', ('i32', 'fp32'))_3"
