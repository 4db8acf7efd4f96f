"""A parameter annotated with a type takes that type, as upstream's
KernelParam.annotation_type: `v: tl.uint8`, `v: "tl.int16"`, `scale: float`
(fp32), `n: int` (i32), `X: "*fp16"` (the memory read as fp16). The value is
converted to it; one that does not fit is an error before anything runs."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def typed_scalars(out, v: tl.uint8, w: "tl.int16", s: float, h: tl.float16, b: "bf16"):
    tl.static_assert(v.dtype == tl.uint8)
    tl.static_assert(w.dtype == tl.int16)
    tl.static_assert(s.dtype == tl.float32)
    tl.static_assert(h.dtype == tl.float16)
    tl.static_assert(b.dtype == tl.bfloat16)
    tl.store(out + 0, (v * 2).to(tl.float32))       # wraps in 8 bits
    tl.store(out + 1, (w * 2).to(tl.float32))       # wraps in 16 bits
    tl.store(out + 2, s / 2)
    tl.store(out + 3, h.to(tl.float32))
    tl.store(out + 4, b.to(tl.float32))


def bf16_round(x):
    u = np.array([x], np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16
    return float(u.astype(np.uint32).view(np.float32)[0])


@pytest.mark.parametrize("v, w, s, h, b", [
    (200, 20000, 3, 1.0001, 1.00390625 + 2**-9),
    (1, -1, 1, 65504.0, -3.0e38),
    (255, -32768, -7.5, 2**-24, 1.0e-30),
    (np.uint8(17), np.int16(-3), np.float32(0.1), np.float16(-2.5), 7),
])
def test_annotated_scalars_take_their_type(v, w, s, h, b):
    out = np.full(6, -1.0, np.float32)
    typed_scalars[(1,)](out, v, w, s, h, b)
    ref = [float(np.uint8((int(v) * 2) % 256)), float(np.int16(((int(w) * 2 + 2**15) % 2**16) - 2**15)),
           float(np.float32(s) / np.float32(2)), float(np.float16(h)), bf16_round(float(b))]
    np.testing.assert_array_equal(out[:5], np.array(ref, np.float32))
    assert out[5] == -1.0


def test_annotated_value_that_does_not_fit_is_refused_before_running():
    out = np.full(6, -1.0, np.float32)
    typed_scalars[(1,)](out, 3, 4, 1.0, 1.0, 1.0)  # cached: the next launches take the C path
    out[:] = -1.0
    with pytest.raises(OverflowError, match="argument 1.*out of range for uint8|does not fit"):
        typed_scalars[(1,)](out, 256, 4, 1.0, 1.0, 1.0)
    with pytest.raises(OverflowError, match="argument 2.*out of range for int16|does not fit"):
        typed_scalars[(1,)](out, 3, 40000, 1.0, 1.0, 1.0)
    with pytest.raises(OverflowError):
        typed_scalars[(1,)](out, -1, 4, 1.0, 1.0, 1.0)
    with pytest.raises(TypeError, match="integer"):
        typed_scalars[(1,)](out, 2.5, 4, 1.0, 1.0, 1.0)
    assert (out == -1.0).all()


@triton.jit
def int_annotated(out, n: int, m):
    tl.static_assert(n.dtype == tl.int32)
    tl.store(out, n + m)


def test_int_annotation_is_i32_and_never_the_constant_one():
    out = np.zeros(1, np.int64)
    int_annotated[(1,)](out, 1, 2**40)
    assert out[0] == 2**40 + 1
    with pytest.raises(OverflowError, match="'n'"):
        int_annotated[(1,)](out, 2**31, 0)
    assert out[0] == 2**40 + 1


@triton.jit
def as_half(x_ptr: "*fp16", out, N, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < N
    x = tl.load(x_ptr + offs, mask=m)
    tl.static_assert(x.dtype == tl.float16)
    tl.store(out + offs, x.to(tl.float32), mask=m)


def test_pointer_annotation_reads_the_memory_as_its_type():
    rng = np.random.default_rng(5)
    h = np.concatenate([rng.standard_normal(37), [np.inf, -np.inf, np.nan, -0.0]]).astype(np.float16)
    out = np.zeros(h.size, np.float32)
    as_half[(1,)](h.view(np.int16), out, h.size, BLOCK=64)
    np.testing.assert_array_equal(out, h.astype(np.float32))


@triton.jit
def f64_annotated(out, s: tl.float64):
    tl.store(out, s)


def test_float64_annotation_is_refused():
    out = np.zeros(1, np.float32)
    with pytest.raises(TypeError, match="float64"):
        f64_annotated[(1,)](out, 1.5)
    with pytest.raises(TypeError, match="scalar"):
        int_annotated[(1,)](out, out, 0)
