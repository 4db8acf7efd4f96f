"""Threadgroup memory is shared by operations that never use it at once
(src/emit.c layout_smem).

Every staging operation ends with a barrier after its last read, so the
scratch arrays of different operations may overlap, whatever their dtype; only
the arrays one operation uses together (a reduction's values, indices and
flags; a dot's operands and accumulator) are kept apart. A kernel with several
large layout changes of different dtypes then fits where the sum of its
arrays would not (fla's fused_chunk backward needed 32832 bytes of 32768).

Mutants: lay every array at offset 0 (the kept-apart rule dropped): a
reduction's values and indices overwrite each other and the argmax below
fails; sum the arrays again: the three transposes need 40960 bytes and are
refused."""
import re

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def three_transposes(f_ptr, i_ptr, h_ptr, fo_ptr, io_ptr, ho_ptr, B: tl.constexpr):
    r = tl.arange(0, B)
    o = r[:, None] * B + r[None, :]
    tl.store(fo_ptr + o, tl.trans(tl.load(f_ptr + o)))
    tl.store(io_ptr + o, tl.trans(tl.load(i_ptr + o)))
    tl.store(ho_ptr + o, tl.trans(tl.load(h_ptr + o)))


@triton.jit
def col_argmax_then_transpose(x_ptr, v_ptr, i_ptr, t_ptr, R: tl.constexpr, C: tl.constexpr):
    r = tl.arange(0, R)
    c = tl.arange(0, C)
    x = tl.load(x_ptr + r[:, None] * C + c[None, :])
    v, i = tl.max(x, 0, return_indices=True)
    tl.store(v_ptr + c, v)
    tl.store(i_ptr + c, i)
    tl.store(t_ptr + c[:, None] * R + r[None, :], tl.trans(x))


def arrays(msl):
    """{name: (offset, bytes)} of the kernel's threadgroup arrays, and the block's bytes"""
    size = {"float": 4, "int": 4, "half": 2, "bool": 1, "short": 2, "long": 8, "uint": 4, "bfloat": 2}
    out = {}
    for t, name, n, off in re.findall(r"TM_TG_ARRAY\((\w+), (\w+), (\d+), (\d+)\);", msl):
        out[name] = (int(off), int(n) * size[t])
    base = re.search(r"TM_TG_BASE\((\d+)\);", msl)
    return out, int(base.group(1)) if base else 0


def test_layout_changes_of_several_dtypes_share_memory(cpu_schedule, rng):
    B = 64
    f = rng.standard_normal((B, B)).astype(np.float32)
    f[::5, ::3] = np.nan
    i = rng.integers(-2**31, 2**31 - 1, (B, B), dtype=np.int64).astype(np.int32)
    h = (rng.standard_normal((B, B)) * 1e3).astype(np.float16)
    h[1, 2] = np.inf
    fo, io, ho = np.zeros_like(f), np.zeros_like(i), np.zeros_like(h)
    k = three_transposes[(1,)](f, i, h, fo, io, ho, B=B)
    np.testing.assert_array_equal(fo, f.T)
    np.testing.assert_array_equal(io, i.T)
    np.testing.assert_array_equal(ho, h.T)
    arr, total = arrays(k.asm["msl"])
    assert sum(b for _, b in arr.values()) == 40960  # more than the 32768 a threadgroup has
    assert total == max(o + b for o, b in arr.values()) == 16384 == k.metadata.shared


@pytest.mark.parametrize("R,C", [(512, 4), (256, 8)])
def test_arrays_one_operation_uses_together_are_apart(cpu_schedule, rng, R, C):
    x = rng.standard_normal((R, C)).astype(np.float32)
    x[rng.integers(0, R, 3), rng.integers(0, C, 3)] = -np.inf
    v = np.zeros(C, np.float32)
    i = np.zeros(C, np.int32)
    t = np.zeros((C, R), np.float32)
    k = col_argmax_then_transpose[(1,)](x, v, i, t, R=R, C=C, num_warps=8)
    np.testing.assert_array_equal(v, x.max(0))
    np.testing.assert_array_equal(i, x.argmax(0))
    np.testing.assert_array_equal(t, x.T)
    arr, total = arrays(k.asm["msl"])
    assert len(arr) >= 2, arr  # the reduction stages values and indices (and flags) at once
    spans = sorted(arr.values())
    for (o1, b1), (o2, _) in zip(spans, spans[1:]):
        assert o1 + b1 <= o2, arr  # every array here is used with the others by the reduction
    assert total == k.metadata.shared <= 32768
