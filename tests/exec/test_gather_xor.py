"""tl.gather(x, c ^ M, axis), c the coordinate along the axis and M a power of
two (each compare-and-swap step of tl.sort and tl.topk): where the layout puts
every element's partner in the same thread or in another lane of its
SIMD-group, the emitter reads it from registers or by one xor-shuffle instead
of staging the block through threadgroup memory (src/emit.c
gather_xor_partner). Against NumPy's take_along_axis on random values with
NaN, infinities and negatives, for every bit of the axis, both axes, several
layouts and dtypes; explain says which path each took."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from exec_data import kernel_body


@triton.jit
def xor_gather(x_ptr, y_ptr, R: tl.constexpr, C: tl.constexpr, AX: tl.constexpr, M: tl.constexpr):
    rows = tl.arange(0, R)[:, None]
    cols = tl.arange(0, C)[None, :]
    x = tl.load(x_ptr + rows * C + cols)
    if AX == 1:
        c = tl.broadcast_to(cols, (R, C))
    else:
        c = tl.broadcast_to(rows, (R, C))
    tl.store(y_ptr + rows * C + cols, tl.gather(x, c ^ M, AX))


def values(rng, shape, dt):
    if np.dtype(dt).kind == "f":
        x = (rng.standard_normal(shape) * 100).astype(dt)
        flat = x.reshape(-1)
        flat[rng.integers(0, flat.size, 5)] = np.nan
        flat[rng.integers(0, flat.size, 3)] = np.inf
        flat[rng.integers(0, flat.size, 3)] = -np.inf
        return x
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, shape, dtype=np.int64 if info.bits < 64 else dt).astype(dt)


def expected(x, axis, m):
    idx = np.arange(x.shape[axis]) ^ m
    return np.take(x, idx, axis=axis)


SHAPES = [(1, 256), (4, 64), (16, 16), (2, 1024), (64, 4), (8, 8)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("nw", [1, 4])
def test_every_partner_bit(shape, axis, nw, rng):
    R, C = shape
    n = shape[axis]
    x = values(rng, shape, np.float32)
    paths = set()
    for b in range(n.bit_length() - 1):
        m = 1 << b
        y = np.zeros_like(x)
        xor_gather[(1,)](x, y, R=R, C=C, AX=axis, M=m, num_warps=nw)
        want = expected(x, axis, m)
        # bit for bit, NaN payloads included: the values are moved, never computed
        assert np.array_equal(y.view(np.uint32), want.view(np.uint32)), (shape, axis, nw, m)
        text = xor_gather.explain(x, y, R=R, C=C, AX=axis, M=m, num_warps=nw)
        paths.add("registers" if "same thread" in text else "shuffle" if "xor-shuffle" in text
                  else "memory")
    if n > 1 and shape == (1, 256) and axis == 1 and nw == 1:
        assert paths == {"registers", "shuffle"}  # one SIMD-group holds the row
    if n > 1 and shape == (2, 1024) and axis == 1 and nw == 4:
        assert paths == {"registers", "shuffle", "memory"}  # and across the SIMD-groups


@pytest.mark.parametrize("dt", [np.int8, np.int16, np.uint32, np.int64, np.float16],
                         ids=lambda d: np.dtype(d).name)
def test_dtypes(dt, rng):
    R, C = 4, 128
    x = values(rng, (R, C), dt)
    for m in (1, 2, 4, 8, 16, 32, 64):
        y = np.zeros_like(x)
        xor_gather[(1,)](x, y, R=R, C=C, AX=1, M=m, num_warps=4)
        assert np.array_equal(y, expected(x, 1, m)) if np.dtype(dt).kind != "f" else \
            np.array_equal(y.view(np.uint16), expected(x, 1, m).view(np.uint16)), m


@triton.jit
def not_partner(x_ptr, y_ptr, C: tl.constexpr, M: tl.constexpr):
    c = tl.arange(0, C)
    x = tl.load(x_ptr + c)
    tl.store(y_ptr + c, tl.gather(x, (c + 1) ^ M, 0))  # not the coordinate: memory


def test_other_indices_keep_threadgroup_memory(rng):
    C = 64
    x = values(rng, (C,), np.float32)
    y = np.zeros_like(x)
    not_partner[(1,)](x, y, C=C, M=2, num_warps=1)
    idx = np.minimum((np.arange(C) + 1) ^ 2, C - 1)  # out of range clamps
    assert np.array_equal(y.view(np.uint32), x[idx].view(np.uint32))
    assert "through threadgroup memory" in not_partner.explain(x, y, C=C, M=2, num_warps=1)


@triton.jit
def sort_rows(x_ptr, y_ptr, R: tl.constexpr, C: tl.constexpr):
    offs = tl.arange(0, R)[:, None] * C + tl.arange(0, C)[None, :]
    tl.store(y_ptr + offs, tl.sort(tl.load(x_ptr + offs)))


def test_sort_barriers(rng):
    """A row sort of 256 in one SIMD-group: all 36 compare-and-swap steps
    in registers or by shuffles, no barrier; the same rows as NumPy's sort."""
    R, C = 1, 256
    x = rng.standard_normal((R, C)).astype(np.float32)
    y = np.zeros_like(x)
    k = sort_rows[(1,)](x, y, R=R, C=C, num_warps=1)
    np.testing.assert_array_equal(y, np.sort(x, axis=1))
    assert "threadgroup_barrier" not in kernel_body(k)
    text = sort_rows.explain(x, y, R=R, C=C, num_warps=1)
    assert text.count("same thread") + text.count("xor-shuffle") == 36 and "through threadgroup" not in text
    assert "xor-shuffles of 4 elements" in text  # 8 slots a thread: two vector shuffles a step
