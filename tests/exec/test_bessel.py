"""libdevice's Bessel functions (j0 j1 y0 y1 jn yn cyl_bessel_i0 cyl_bessel_i1)
against mpmath at 30 digits, on random arguments over many magnitudes, with
negative, zero, infinite and NaN ones."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal.language.extra import libdevice

mpmath = pytest.importorskip("mpmath")
mpmath.mp.dps = 30
F32 = np.float32


@triton.jit
def unary_kernel(x_ptr, y_ptr, n, FN: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(y_ptr + offs, getattr(libdevice, FN)(tl.load(x_ptr + offs, mask=m)), mask=m)


@triton.jit
def order_kernel(n_ptr, x_ptr, y_ptr, n, FN: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    order = tl.load(n_ptr + offs, mask=m)
    tl.store(y_ptr + offs, getattr(libdevice, FN)(order, tl.load(x_ptr + offs, mask=m)), mask=m)


def run(fn, x, order=None):
    out = np.full(x.size + 3, 77.0, F32)
    if order is None:
        unary_kernel[(triton.cdiv(x.size, 128),)](x, out, x.size, FN=fn, BLOCK=128)
    else:
        order_kernel[(triton.cdiv(x.size, 128),)](order, x, out, x.size, FN=fn, BLOCK=128)
    assert (out[x.size:] == 77.0).all()
    return out[:x.size].astype(np.float64)


REF = {
    "j0": lambda x: mpmath.besselj(0, x), "j1": lambda x: mpmath.besselj(1, x),
    "y0": lambda x: mpmath.bessely(0, x), "y1": lambda x: mpmath.bessely(1, x),
    "cyl_bessel_i0": lambda x: mpmath.besseli(0, x), "cyl_bessel_i1": lambda x: mpmath.besseli(1, x),
}


def reference(fn, x, order=None):
    out = []
    for i, v in enumerate(x.astype(np.float64)):
        if np.isnan(v) or (fn.startswith("y") and v < 0):
            out.append(np.nan)
        elif fn.startswith("y") and v == 0:
            out.append(-np.inf if order is None or order[i] >= 0 or order[i] % 2 == 0 else np.inf)
        elif np.isinf(v):
            if fn.startswith("cyl"):
                out.append(np.inf if fn.endswith("0") or v > 0 else -np.inf)
            else:
                out.append(0.0)
        else:
            r = REF[fn](v) if order is None else (mpmath.besselj if fn == "jn" else mpmath.bessely)(int(order[i]), v)
            r = float(r.real if isinstance(r, mpmath.mpc) else r)
            out.append(r if abs(r) < 3.4028235e38 else np.copysign(np.inf, r))
    return np.array(out)


def check(got, ref, x, atol, rtol):
    nan = np.isnan(ref)
    assert np.isnan(got[nan]).all(), x[nan][~np.isnan(got[nan])]
    inf = np.isinf(ref)
    assert (got[inf] == ref[inf]).all(), (x[inf], got[inf], ref[inf])
    fin = ~nan & ~inf
    err = np.abs(got[fin] - ref[fin])
    bad = err > atol + rtol * np.abs(ref[fin])
    assert not bad.any(), list(zip(x[fin][bad][:5], got[fin][bad][:5], ref[fin][bad][:5]))


def arguments(rng, n, signed=True):
    x = np.concatenate([rng.standard_normal(n // 4) * 3, rng.uniform(0, 30, n // 4),
                        np.exp2(rng.uniform(-20, 13, n // 2)) * (rng.choice([-1, 1], n // 2) if signed else 1),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, 7.99999, 8.0, 2.404825, 3.831706,
                         0.893577, 2.197141, 1e-30, 1e4, -3.0]])
    return x.astype(F32)


@pytest.mark.parametrize("fn", ["j0", "j1", "y0", "y1"])
def test_first_and_second_kind(fn, rng):
    x = arguments(rng, 600)
    check(run(fn, x), reference(fn, x), x, atol=3e-7, rtol=2e-6)


@pytest.mark.parametrize("fn", ["cyl_bessel_i0", "cyl_bessel_i1"])
def test_modified(fn, rng):
    x = np.concatenate([arguments(rng, 400), rng.uniform(-95, 95, 200).astype(F32),
                        F32([88.0, 91.0, 92.0, -92.0, 100.0, 9.99999, 10.0])])
    check(run(fn, x), reference(fn, x), x, atol=0.0, rtol=1e-6)


@pytest.mark.parametrize("fn", ["jn", "yn"])
def test_integer_orders(fn, rng):
    x = np.concatenate([rng.uniform(0, 60, 300), np.exp2(rng.uniform(-8, 9, 100)) * rng.choice([-1, 1], 100),
                        [0.0, np.inf, np.nan]]).astype(F32)
    order = rng.integers(-25, 26, x.size).astype(np.int32)
    order[:20] = [0, 1, -1, 2, 5, 50, 100, -100, 3, 4] * 2
    check(run(fn, x, order), reference(fn, x, order), x, atol=1e-6, rtol=1e-5)


def test_bessel_functions_refuse_integers():
    x = np.arange(8, dtype=np.int32)
    with pytest.raises(triton.CompilationError, match="j0"):
        unary_kernel[(1,)](x, x.astype(F32), 8, FN="j0", BLOCK=8)
