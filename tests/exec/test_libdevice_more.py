"""libdevice functions beyond the common math library (src/mathfns.c): bit
reinterpretation, int32/uint32 helpers (hadd rhadd mul24 sad byte_perm),
ilogb/logb/remainder/llrint/llround, reciprocal roots and norms, the normal
distribution and erfc's relatives, arithmetic with a rounding mode and the
rounding conversions between float and integers.

References are independent of the kernels' methods: exact rationals
(fractions.Fraction, rounded to float32 in the asked direction by `round_f32`
below) and Python integers for everything that must be bit-exact; NumPy
float64 and mpmath for the transcendental ones, whose error is measured in
float32 ulps against a stated bound (the one quoted in the helper's comment,
plus a little).  Inputs span many magnitudes, both signs, +-0, subnormals,
+-inf, NaN and rounding boundaries; sizes are not a multiple of the block and
the masked tail must stay untouched."""
import math
from fractions import Fraction as Fr

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal.language.extra import libdevice

mpmath = pytest.importorskip("mpmath")
F32 = np.float32
BLOCK = 128
TINY = float(np.finfo(F32).tiny)
FMAX = Fr(2 ** 128 - 2 ** 104)
MODES = ["rn", "rz", "rd", "ru"]


# --------------------------------------------------------------- kernels

@triton.jit
def k1(x_ptr, o_ptr, n, FN: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    r = getattr(libdevice, FN)(tl.load(x_ptr + offs, mask=m))
    tl.static_assert(r.dtype == o_ptr.dtype.element_ty)
    tl.store(o_ptr + offs, r, mask=m)


@triton.jit
def k2(x_ptr, y_ptr, o_ptr, n, FN: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    r = getattr(libdevice, FN)(tl.load(x_ptr + offs, mask=m), tl.load(y_ptr + offs, mask=m))
    tl.static_assert(r.dtype == o_ptr.dtype.element_ty)
    tl.store(o_ptr + offs, r, mask=m)


@triton.jit
def k3(x_ptr, y_ptr, z_ptr, o_ptr, n, FN: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    r = getattr(libdevice, FN)(tl.load(x_ptr + offs, mask=m), tl.load(y_ptr + offs, mask=m),
                               tl.load(z_ptr + offs, mask=m))
    tl.static_assert(r.dtype == o_ptr.dtype.element_ty)
    tl.store(o_ptr + offs, r, mask=m)


@triton.jit
def k4(x_ptr, y_ptr, z_ptr, w_ptr, o_ptr, n, FN: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    r = getattr(libdevice, FN)(tl.load(x_ptr + offs, mask=m), tl.load(y_ptr + offs, mask=m),
                               tl.load(z_ptr + offs, mask=m), tl.load(w_ptr + offs, mask=m))
    tl.static_assert(r.dtype == o_ptr.dtype.element_ty)
    tl.store(o_ptr + offs, r, mask=m)


def run(fn, *args, out=F32):
    """fn over the arrays args; the result array must have dtype out (checked
    in the kernel) and the 5 elements past n stay as they were"""
    n = len(args[0])
    o = np.full(n + 5, 77, dtype=out)
    [k1, k2, k3, k4][len(args) - 1][(triton.cdiv(n, BLOCK),)](*args, o, n, FN=fn, BLOCK=BLOCK)
    assert (o[n:] == 77).all(), f"{fn} wrote past n"
    return o[:n]


# --------------------------------------------------------------- inputs

def bits_f32(u):
    return np.asarray(u, dtype=np.uint32).view(F32)


EDGES = np.concatenate([
    F32([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, 0.49999997,
         -0.49999997, 16777216.0, 16777215.0, -16777217.0, 8388608.5, 2147483520.0, 2147483648.0,
         -2147483648.0, -2147483904.0, 4294967040.0, 4294967296.0, 9.2233715e18, 9.223372e18,
         -9.223372e18, -9.2233725e18, 1.8446743e19, 1.8446744e19, 3.0, 7.0, 1e-30, -1e-30, 100.0]),
    bits_f32([0x00000001, 0x80000001, 0x007fffff, 0x00800000, 0x80800000, 0x7f7fffff, 0xff7fffff,
              0x00400000, 0x3f800001, 0xbf7fffff, 0x4b000001, 0x7fc00001, 0xffc12345]),
])


def wide(rng, n, lo=-149, hi=128):
    """log-uniform magnitudes 2^lo..2^hi, random signs, as float32"""
    return (np.exp2(rng.uniform(lo, hi, n)) * rng.choice([-1.0, 1.0], n)).astype(F32)


def floats(rng, n=1200):
    return np.concatenate([wide(rng, n // 2), wide(rng, n // 4, -30, 30), rng.uniform(-40, 40, n // 4).astype(F32),
                           np.round(rng.uniform(-40, 40, 64) * 2).astype(F32) / 2, EDGES])


def f64(x):
    return np.asarray(x, dtype=np.float64)


def same_bits(got, ref):
    """float32 results equal bit for bit (zeros' signs included); NaNs only as NaNs"""
    got, ref = np.asarray(got, F32), np.asarray(ref, F32)
    return (got.view(np.uint32) == ref.view(np.uint32)) | (np.isnan(got) & np.isnan(ref))


def assert_bits(name, got, ref, *xs):
    ok = same_bits(got, ref)
    bad = np.flatnonzero(~ok)[:5]
    assert ok.all(), f"{name}: " + "; ".join(
        f"args={[repr(x[i]) for x in xs]} got {got[i]!r} want {ref[i]!r}" for i in bad)


# --------------------------------------------------------------- exact rounding

def signbit(v):
    return math.copysign(1.0, float(v)) < 0


def round_f32(q, mode):
    """the rational q rounded to float32 in mode rn (nearest even), rz, rd, ru;
    subnormal results, overflow (inf, or the largest finite value where the
    mode rounds toward zero); a nonzero q that rounds to zero keeps its sign"""
    neg = q < 0
    a = -q if neg else q
    if a == 0:
        return F32(0.0)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fr(2) ** e > a:
        e -= 1
    qe = max(e - 23, -149)  # exponent of the last kept bit
    s = a / Fr(2) ** qe
    k = s.numerator // s.denominator
    rem = s - k
    if mode == "rn":
        k += rem > Fr(1, 2) or (rem == Fr(1, 2) and k % 2 == 1)
    elif mode == "rd":
        k += neg and rem != 0
    elif mode == "ru":
        k += (not neg) and rem != 0
    v = Fr(k) * Fr(2) ** qe
    if v > FMAX:
        toinf = mode == "rn" or (mode == "ru" and not neg) or (mode == "rd" and neg)
        r = math.inf if toinf else float(FMAX)
    else:
        r = float(v)
    return F32(-r if neg else r)


def test_round_f32_reference():
    """the reference itself, against NumPy's own nearest rounding and hand cases"""
    rng = np.random.default_rng(5)
    with np.errstate(over="ignore"):
        for v in rng.standard_normal(300) * np.exp2(rng.uniform(-160, 130, 300)):
            assert same_bits(round_f32(Fr(float(v)), "rn"), F32(v)), v
    one = Fr(1)
    assert round_f32(one + Fr(1, 2 ** 24), "rn") == 1.0  # tie to even
    assert round_f32(one + Fr(3, 2 ** 24), "rn") == F32(1 + 2 ** -22)
    assert round_f32(one + Fr(1, 2 ** 60), "ru") == F32(1 + 2 ** -23)
    assert round_f32(-one - Fr(1, 2 ** 60), "rd") == F32(-1 - 2 ** -23)
    assert round_f32(-one - Fr(1, 2 ** 60), "rz") == -1.0
    assert round_f32(Fr(1, 2 ** 151), "ru") == F32(2 ** -149)
    assert same_bits(round_f32(-Fr(1, 2 ** 151), "ru"), F32(-0.0))
    assert round_f32(Fr(2 ** 129), "rz") == np.finfo(F32).max
    assert round_f32(Fr(2 ** 129), "rn") == np.inf
    assert round_f32(-Fr(2 ** 129), "ru") == -np.finfo(F32).max
    assert round_f32(-Fr(2 ** 129), "rd") == -np.inf


# --------------------------------------------------------------- bit reinterpretation

def test_bit_reinterpretation(rng):
    x = floats(rng)
    u = x.view(np.uint32)
    np.testing.assert_array_equal(run("float_as_int", x, out=np.int32), u.view(np.int32))
    np.testing.assert_array_equal(run("float_as_uint", x, out=np.int32), u.view(np.int32))
    i = np.concatenate([rng.integers(-2 ** 31, 2 ** 31, 1000), [0, -1, 2 ** 31 - 1, -2 ** 31, 0x7f800000,
                                                                 0x7fc00000, 0x7f800001, -8388608, 1]]).astype(np.int32)
    np.testing.assert_array_equal(run("int_as_float", i).view(np.int32), i)
    np.testing.assert_array_equal(run("uint_as_float", i.view(np.uint32)).view(np.int32), i)


# --------------------------------------------------------------- int32/uint32 helpers

def ints(rng, dtype, n=1500):
    info = np.iinfo(dtype)
    edge = [0, 1, 2, 3, info.max, info.max - 1, info.min, info.min + 1, 0x7fffff, 0x800000, 0xffffff, 0x1000000]
    if info.min < 0:
        edge += [-1, -2, -3, -0x800000, -0x800001]
    return np.concatenate([rng.integers(info.min, info.max, n, endpoint=True, dtype=np.int64),
                           rng.integers(-300, 300, 200) if info.min < 0 else rng.integers(0, 600, 200),
                           edge]).astype(dtype)


def wrap(v, dtype):
    bits = np.iinfo(dtype).bits
    v &= (1 << bits) - 1
    return v - (1 << bits) if np.iinfo(dtype).min < 0 and v >> (bits - 1) else v


def sext24(v, signed):
    v &= 0xffffff
    return v - (1 << 24) if signed and v >> 23 else v


INT_REF = {
    "hadd": lambda a, b, dt: (a + b) >> 1,
    "rhadd": lambda a, b, dt: (a + b + 1) >> 1,
    "mul24": lambda a, b, dt: wrap(sext24(a, dt == np.int32) * sext24(b, dt == np.int32), dt),
}


@pytest.mark.parametrize("dtype", [np.int32, np.uint32])
@pytest.mark.parametrize("fn", ["hadd", "rhadd", "mul24"])
def test_int_pairs(fn, dtype, rng):
    a, b = ints(rng, dtype), ints(rng, dtype)
    b[-12:] = a[-12:][::-1]
    ref = np.array([INT_REF[fn](int(p), int(q), dtype) for p, q in zip(a, b)], dtype=dtype)
    np.testing.assert_array_equal(run(fn, a, b, out=dtype), ref)


@pytest.mark.parametrize("dtype", [np.int32, np.uint32])
def test_sad(dtype, rng):
    a, b = ints(rng, dtype), ints(rng, dtype)
    c = rng.integers(0, 2 ** 32, a.size).astype(np.uint32)
    c[:4] = [0, 0xffffffff, 1, 0x80000000]
    ref = np.array([wrap(abs(int(p) - int(q)) + int(r), dtype) for p, q, r in zip(a, b, c)], dtype=dtype)
    np.testing.assert_array_equal(run("sad", a, b, c, out=dtype), ref)


def test_byte_perm(rng):
    x, y = ints(rng, np.int32), ints(rng, np.int32)
    s = rng.integers(-2 ** 31, 2 ** 31, x.size).astype(np.int32)  # high bits and nibble bit 3 are ignored
    s[:4] = [0x3210, 0x7654, 0x0123, 0x4444]

    def ref(x, y, s):
        v = (int(y) & 0xffffffff) << 32 | (int(x) & 0xffffffff)
        r = 0
        for n in range(4):
            r |= ((v >> (8 * ((int(s) >> (4 * n)) & 7))) & 0xff) << (8 * n)
        return wrap(r, np.int32)

    want = np.array([ref(*t) for t in zip(x, y, s)], dtype=np.int32)
    np.testing.assert_array_equal(run("byte_perm", x, y, s, out=np.int32), want)
    assert want[0] == x[0] and want[1] == y[1]


# --------------------------------------------------------------- exponents, remainder, llrint

def test_ilogb_logb(rng):
    x = floats(rng)
    want = []
    for v in x:
        if np.isnan(v) or v == 0:
            want.append(-2 ** 31)
        elif np.isinf(v):
            want.append(2 ** 31 - 1)
        else:
            want.append(math.frexp(float(v))[1] - 1)  # exact, subnormals included
    want = np.array(want, dtype=np.int32)
    np.testing.assert_array_equal(run("ilogb", x, out=np.int32), want)
    lw = np.where(np.isnan(x), np.nan, np.where(x == 0, -np.inf, np.where(np.isinf(x), np.inf, want)))
    assert_bits("logb", run("logb", x), lw.astype(F32), x)


def test_remainder(rng):
    x = floats(rng)
    y = np.concatenate([wide(rng, x.size // 2), wide(rng, x.size - x.size // 2, -20, 20)])
    rng.shuffle(y)
    y[:10] = [2.0, 2.0, -2.0, 3.0, np.inf, 0.0, -0.0, np.nan, 1e-45, 3.4e38]
    x[:10] = [3.0, 5.0, 1.0, -4.5, 7.0, 1.0, np.inf, 2.0, 3e-45, -3.4e38]
    x[10:20], y[10:20] = F32(np.arange(10) + 0.5), F32(1.0)  # ties: n even
    want = []
    for a, b in zip(f64(x), f64(y)):
        if np.isnan(a) or np.isnan(b) or np.isinf(a) or b == 0:
            want.append(np.nan)
        elif np.isinf(b):
            want.append(a)
        else:
            want.append(math.remainder(a, b))  # exact in float64, and representable in float32
    assert_bits("remainder", run("remainder", x, y), np.array(want, dtype=F32), x, y)


def to_int(x, mode):
    q = Fr(float(x))
    if mode == "rn":
        return round(q)  # half to even
    if mode == "rz":
        return int(q)
    if mode == "rd":
        return math.floor(q)
    if mode == "ru":
        return math.ceil(q)
    return int(math.floor(abs(q) + Fr(1, 2))) * (1 if q >= 0 else -1)  # "away": half away from zero


def cvt_ref(x, mode, lo, hi):
    """PTX cvt: rounded in the mode, saturated, NaN to 0"""
    out = []
    for v in x:
        if np.isnan(v):
            out.append(0)
        elif np.isinf(v):
            out.append(hi if v > 0 else lo)
        else:
            out.append(min(max(to_int(v, mode), lo), hi))
    return out


CVT = {"int": (np.int32, -2 ** 31, 2 ** 31 - 1, np.int32), "uint": (np.int32, 0, 2 ** 32 - 1, np.uint32),
       "ll": (np.int64, -2 ** 63, 2 ** 63 - 1, np.int64), "ull": (np.int64, 0, 2 ** 64 - 1, np.uint64)}


@pytest.mark.parametrize("kind", list(CVT))
@pytest.mark.parametrize("mode", MODES)
def test_float_to_integer(kind, mode, rng):
    out, lo, hi, view = CVT[kind]
    x = np.concatenate([floats(rng, 800), rng.uniform(-3e9, 5e9, 200).astype(F32),
                        wide(rng, 300, 20, 66), F32(rng.integers(-60, 60, 100)) + F32(0.5)])
    got = run(f"float2{kind}_{mode}", x, out=out).view(view)
    np.testing.assert_array_equal(got, np.array(cvt_ref(x, mode, lo, hi), dtype=view))


@pytest.mark.parametrize("fn,mode", [("llrint", "rn"), ("llround", "away")])
def test_llrint_llround(fn, mode, rng):
    x = np.concatenate([floats(rng, 800), F32(rng.integers(-60, 60, 100)) + F32(0.5), wide(rng, 200, 20, 66)])
    np.testing.assert_array_equal(run(fn, x, out=np.int64), np.array(cvt_ref(x, mode, -2 ** 63, 2 ** 63 - 1), dtype=np.int64))


INT_SRC = {"int": np.int32, "uint": np.uint32, "ll": np.int64, "ull": np.uint64}


def int_inputs(rng, dtype):
    info = np.iinfo(dtype)
    bits = info.bits
    v = [rng.integers(info.min, info.max, 600, endpoint=True, dtype=dtype)]
    # random magnitudes of every width, and the integers next to multiples of large powers of two
    for _ in range(600):
        w = int(rng.integers(1, bits + 1 if info.min == 0 else bits))
        m = int(rng.integers(0, 2 ** w, dtype=np.uint64)) if w < 64 else int(rng.integers(0, 2 ** 63)) * 2
        v.append(np.array([m if info.min == 0 or rng.random() < 0.5 else -m], dtype=object))
    edge = [0, 1, 2 ** 24, 2 ** 24 + 1, 2 ** 24 + 2, 2 ** 24 + 3, 2 ** 25 + 2, 2 ** 25 + 6, 2 ** 25 + 8,
            info.max, info.max - 1, info.max - 127, info.max - 128, info.max - 129, info.max // 2 + 1]
    if info.min < 0:
        edge += [-1, info.min, info.min + 1, -(2 ** 24 + 1), -(2 ** 24 + 3), -(2 ** 30 + 64), -(2 ** 30 + 65)]
    v.append(np.array(edge, dtype=object))
    return np.concatenate([np.asarray(a, dtype=object) for a in v]).astype(dtype)


@pytest.mark.parametrize("kind", list(INT_SRC))
@pytest.mark.parametrize("mode", MODES)
def test_integer_to_float(kind, mode, rng):
    x = int_inputs(rng, INT_SRC[kind])
    want = np.array([round_f32(Fr(int(v)), mode) for v in x], dtype=F32)
    assert_bits(f"{kind}2float_{mode}", run(f"{kind}2float_{mode}", x), want, x)


# --------------------------------------------------------------- arithmetic with a rounding mode

def arith_pairs(rng, n=1500):
    x = np.concatenate([wide(rng, n // 3), wide(rng, n // 3, -20, 20), rng.uniform(-4, 4, n // 3).astype(F32), EDGES])
    y = np.concatenate([wide(rng, n // 3), wide(rng, n // 3, -20, 20), rng.uniform(-4, 4, n // 3).astype(F32),
                        rng.permutation(EDGES)])
    k = x.size
    # near-cancellation, products and quotients that underflow or overflow, exact and tie cases
    y[:100] = -x[:100] * F32(1 + 2 ** -20)
    y[100:150] = -x[100:150]
    x[150:200], y[150:200] = wide(rng, 50, -90, -60), wide(rng, 50, -90, -60)
    x[200:250], y[200:250] = wide(rng, 50, 60, 127), wide(rng, 50, 60, 127)
    x[250:300], y[250:300] = wide(rng, 50, -149, -126), wide(rng, 50, -60, 60)
    x[300:310], y[300:310] = F32(1.0), F32([2 ** -24, 3 * 2 ** -24, -2 ** -25, 2 ** -23, 1.0, 3.0, 2 ** -150 * 3,
                                            0.0, -0.0, 2 ** -149])
    x[310:316], y[310:316] = F32([-0.0, 0.0, -0.0, 3.0, 3.4e38, -3.4e38]), F32([-0.0, -0.0, 0.0, -3.0, 3.4e38, -3.4e38])
    assert k == y.size
    return x, y


def exact_op(op, a, b, mode):
    """float32 a op b rounded in mode, from exact rationals; specials as IEEE"""
    A, B = float(a), float(b)
    if op == "add" or op == "sub":
        if op == "sub":
            B = -B
        if not (math.isfinite(A) and math.isfinite(B)):
            return F32(A + B)
        q = Fr(A) + Fr(B)
        if q == 0:
            zs = (signbit(A) or signbit(B)) if mode == "rd" else (signbit(A) and signbit(B))
            return F32(-0.0 if zs else 0.0)
        return round_f32(q, mode)
    with np.errstate(all="ignore"):
        if op == "mul":
            if not (math.isfinite(A) and math.isfinite(B)) or A == 0 or B == 0:
                return F32(A) * F32(B)
            return round_f32(Fr(A) * Fr(B), mode)
        if not (math.isfinite(A) and math.isfinite(B)) or A == 0 or B == 0:
            return F32(A) / F32(B)
        return round_f32(Fr(A) / Fr(B), mode)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("mode", MODES)
def test_arithmetic_rounding_modes(op, mode, rng):
    x, y = arith_pairs(rng)
    want = np.array([exact_op(op, a, b, mode) for a, b in zip(x, y)], dtype=F32)
    assert_bits(f"{op}_{mode}", run(f"{op}_{mode}", x, y), want, x, y)


def sqrt_proxy(q, recip=False):
    """a rational r with the same rounding as sqrt(q) (or 1/sqrt(q)) in every
    mode: the root itself when exact, else the midpoint of the 2^-200-wide
    interval holding it (no float nor midpoint between floats lies inside)"""
    K = 200
    p, d = q.numerator, q.denominator
    if recip:
        p, d = d, p
    t = math.isqrt((p << (2 * K)) // d)
    if t * t * d == p << (2 * K):
        return Fr(t, 2 ** K)
    return Fr(2 * t + 1, 2 ** (K + 1))


def root_ref(x, mode, recip=False):
    v = float(x)
    if math.isnan(v) or v < 0:
        return F32(np.nan)
    if v == 0:
        return F32(math.copysign(math.inf, v)) if recip else F32(v)
    if math.isinf(v):
        return F32(0.0) if recip else F32(v)
    return round_f32(sqrt_proxy(Fr(v), recip), mode)


def root_inputs(rng):
    x = np.concatenate([np.abs(floats(rng, 1500)), wide(rng, 200, -149, -120), F32(np.arange(1, 200)) ** 2,
                        F32([2.0, 0.25, 1e-45, 4e-45, 2 ** -148, 2 ** 126, 2 ** 127, -1.0, -0.0, -np.inf])])
    # squares of floats and their neighbours: the root is exact or within 2^-24 ulp of one
    s = np.abs(wide(rng, 100, -60, 60)).astype(np.float64)
    sq = (s * s).astype(F32)
    return np.concatenate([x, sq, np.nextafter(sq, F32(np.inf)), np.nextafter(sq, F32(0))])


@pytest.mark.parametrize("fn", ["sqrt_rn", "sqrt_rz", "sqrt_rd", "sqrt_ru", "rsqrt_rn"])
def test_roots(fn, rng):
    x = root_inputs(rng)
    want = np.array([root_ref(v, fn[-2:], fn.startswith("r")) for v in x], dtype=F32)
    assert_bits(fn, run(fn, x), want, x)


@pytest.mark.parametrize("mode", MODES)
def test_reciprocal(mode, rng):
    x = np.concatenate([floats(rng), F32([3.0, 7.0, -3.0, 2 ** -127, 2 ** -126 * 1.5, 2 ** 126 * 1.5, 2 ** 127 * 1.5])])
    want = np.array([exact_op("div", F32(1.0), v, mode) for v in x], dtype=F32)
    assert_bits(f"rcp_{mode}", run(f"rcp_{mode}", x), want, x)


def test_fma_rn(rng):
    x, y = arith_pairs(rng)
    with np.errstate(all="ignore"):
        z = np.concatenate([-(x[:500].astype(np.float64) * y[:500]).astype(F32), wide(rng, x.size - 500)])
    z[:50] = -z[:50]
    want = []
    for a, b, c in zip(f64(x), f64(y), f64(z)):
        if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
            with np.errstate(all="ignore"):
                want.append(F32(a * b + c))  # float64 holds any float32 product: the special result is exact
            continue
        q = Fr(a) * Fr(b) + Fr(c)
        if q == 0:
            want.append(F32(-0.0 if signbit(a * b) and signbit(c) and a * b == 0 else 0.0))
        else:
            want.append(round_f32(q, "rn"))
    assert_bits("fma_rn", run("fma_rn", x, y, z), np.array(want, dtype=F32), x, y, z)


# --------------------------------------------------------------- transcendental: errors in ulps

def ulps(got, ref):
    """|got - ref| in float32 ulps of ref (2^-149 at least); NaN-ness and
    infinities must match (a ref beyond float32's range is inf); a subnormal ref may come back as 0 (Metal may
    flush subnormal results)"""
    got, ref = f64(got), f64(ref)
    ref = np.where(np.abs(ref) >= 2.0 ** 128 - 2.0 ** 103, np.copysign(np.inf, ref), ref)  # rounds to inf
    bad = (np.isnan(got) != np.isnan(ref)) | (np.isinf(ref) & (got != ref)) | (np.isinf(got) & (got != ref))
    with np.errstate(all="ignore"):
        _, e = np.frexp(np.where(np.isfinite(ref), np.abs(ref), 1.0))
        err = np.abs(got - ref) / np.exp2(np.maximum(e - 1, -126) - 23.0)
    err = np.where(np.isnan(ref) | np.isinf(ref), 0.0, err)
    err = np.where((np.abs(ref) < TINY) & (got == 0), 0.0, err)
    return np.where(bad, np.inf, err)


def check_ulps(name, got, ref, bound, *xs):
    err = ulps(got, ref)
    i = int(np.argmax(err))
    assert err[i] <= bound, f"{name}: {err[i]:.2f} ulp > {bound} at {[x[i] for x in xs]}: got {got[i]!r}, want {ref[i]!r}"
    return float(err[i])


def mp_vec(f, *xs, dps=30):
    out = []
    with mpmath.workdps(dps):
        for a in zip(*xs):
            out.append(float(f(*[mpmath.mpf(float(v)) for v in a])))
    return np.array(out)


def test_rcbrt(rng):
    x = floats(rng)
    with np.errstate(all="ignore"):
        ref = 1.0 / np.cbrt(f64(x))
    check_ulps("rcbrt", run("rcbrt", x), ref, 0.75, x)


def norm_inputs(rng, k, n=1500):
    cols = []
    scale = np.exp2(rng.uniform(-149, 128, n))
    for _ in range(k):
        # each row's components share a magnitude (or not), so no one term always dominates
        c = (scale * np.exp2(rng.uniform(-12, 0, n)) * rng.choice([-1, 1], n)).astype(F32)
        c[: n // 4] = wide(rng, n // 4)
        cols.append(c)
    specials = [(np.inf, np.nan), (np.nan, 1.0), (-np.inf, 2.0), (0.0, -0.0), (3.4e38, 3.4e38), (1e-45, 1e-45),
                (3.0, 4.0), (1e-30, 1e-30), (2 ** -126, 2 ** -127)]
    for i, (a, b) in enumerate(specials):
        cols[0][i], cols[1][i] = a, b
        for c in cols[2:]:
            c[i] = 0.0 if i != 8 else b
    return cols


def norm_ref(cols, recip):
    v = [f64(c) for c in cols]
    with np.errstate(all="ignore"):
        r = np.sqrt(sum(c * c for c in v))  # float64 holds any float32 square exactly enough
        inf = np.any([np.isinf(c) for c in v], axis=0)
        r = np.where(inf, np.inf, r)
        return 1.0 / r if recip else r


@pytest.mark.parametrize("fn,k", [("rhypot", 2), ("norm3d", 3), ("rnorm3d", 3), ("norm4d", 4), ("rnorm4d", 4)])
def test_norms(fn, k, rng):
    bound = 1.0  # 0.5 measured for normal results, 0.75 where they are subnormal
    cols = norm_inputs(rng, k)
    check_ulps(fn, run(fn, *cols), norm_ref(cols, fn.startswith("r")), bound, *cols)


def test_norm4d_broadcasts_scalars(rng):
    """the fourth operand travels packed with the third: scalars and blocks mix"""
    x = wide(rng, 300, -10, 10)

    @triton.jit
    def kern(x_ptr, o_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        v = tl.load(x_ptr + offs, mask=m)
        tl.store(o_ptr + offs, libdevice.norm4d(2.0, v, 0.5, v * 2.0) + libdevice.rnorm4d(v, 1.0, v, 3.0), mask=m)

    o = np.full(x.size + 5, 77, F32)
    kern[(triton.cdiv(x.size, BLOCK),)](x, o, x.size, BLOCK=BLOCK)
    assert (o[x.size:] == 77).all()
    v = f64(x)
    ref = np.sqrt(4.25 + 5 * v * v) + 1 / np.sqrt(10 + 2 * v * v)
    assert np.allclose(o[:x.size], ref, rtol=3e-7, atol=0)


def erfcx_mp(x):
    return mpmath.exp(x * x) * mpmath.erfc(x)


def erfcinv_mp(y):
    if mpmath.isnan(y):
        return mpmath.nan
    if y <= 0 or y >= 2:
        return mpmath.inf if y == 0 else -mpmath.inf if y == 2 else mpmath.nan
    return mpmath.erfinv(1 - y)


def normcdfinv_mp(p):
    if mpmath.isnan(p):
        return mpmath.nan
    if p <= 0 or p >= 1:
        return -mpmath.inf if p == 0 else mpmath.inf if p == 1 else mpmath.nan
    return -mpmath.sqrt(2) * mpmath.erfinv(1 - 2 * p)


def special(x, f):
    """f over x, NaN for NaN (f gives the limits at +-inf itself)"""
    return [np.nan if np.isnan(v) else f(v) for v in x]


def test_normcdf(rng):
    x = np.concatenate([floats(rng), rng.uniform(-15, 10, 600).astype(F32), F32([-14.2, -14.3, -13.5, -0.70710677])])
    ref = np.array(special(f64(x), lambda v: 0.0 if v == -np.inf else 1.0 if v == np.inf else
                          float(mp_vec(mpmath.ncdf, [v])[0])))
    check_ulps("normcdf", run("normcdf", x), ref, 3.5, x)


def test_erfcx(rng):
    x = np.concatenate([floats(rng), rng.uniform(-9.5, 12, 800).astype(F32),
                        F32([0.5, -0.5, 0.49999997, 9.99999, 10.0, -9.38, -9.4, -9.5, 1e20, 3e38, 1e-40])])
    ref = np.array(special(f64(x), lambda v: 0.0 if v == np.inf else np.inf if v == -np.inf else
                          float(mp_vec(erfcx_mp, [v])[0])))
    check_ulps("erfcx", run("erfcx", x), ref, 2.5, x)


def erfc_domain(rng):
    return np.concatenate([np.exp2(rng.uniform(-149, 1, 1200)).astype(F32), rng.uniform(0, 2, 600).astype(F32),
                           (2 - np.exp2(rng.uniform(-24, 0, 200))).astype(F32),
                           F32([0.0, 1.0, 2.0, 1e-45, 1e-30, 1.1e-30, 1.8e-7, 1.9e-7, 0.5, 1.5, 1.9999999, 2.0000002,
                                -0.0, -1e-45, np.inf, -np.inf, np.nan, 5e-8])])


def test_erfcinv(rng):
    y = erfc_domain(rng)
    ref = mp_vec(erfcinv_mp, y, dps=80)
    check_ulps("erfcinv", run("erfcinv", y), ref, 3.0, y)


def test_normcdfinv(rng):
    p = erfc_domain(rng) / F32(2)
    ref = mp_vec(normcdfinv_mp, p, dps=80)
    check_ulps("normcdfinv", run("normcdfinv", p), ref, 3.5, p)


# --------------------------------------------------------------- dtypes and errors

def test_result_dtypes_follow_upstream():
    """float2uint and float2ull return int32 and int64 as upstream (the kernels'
    static_assert checks every result dtype); the unsigned pairs keep uint32"""
    a = np.array([7, 3], dtype=np.uint32)
    assert run("hadd", a, a[::-1].copy(), out=np.uint32).tolist() == [5, 5]
    assert run("float2uint_rn", F32([3e9, -1.0]), out=np.int32).view(np.uint32).tolist() == [3000000000, 0]
    big = F32(1.8e19)
    assert run("float2ull_rz", F32([big, np.nan]), out=np.int64).view(np.uint64).tolist() == [int(Fr(float(big))), 0]


@pytest.mark.parametrize("fn,args,msg", [
    ("sad", (np.int32, np.int32, np.int32), "sad(): third operand of dtype int32 is not accepted"),
    ("uint2float_rn", (np.int32,), "uint2float_rn() is not defined for int32"),
    ("float2int_rn", (np.int32,), "float2int_rn(): expected dtype ['fp32'] but got int32"),
    ("hadd", (F32, F32), "hadd() is not defined for float32"),
    ("byte_perm", (np.uint32, np.uint32, np.uint32), "byte_perm() is not defined for uint32"),
    ("double2float_rn", (F32,), "libdevice.double2float_rn() computes float64, which Apple GPUs do not"),
    ("ull2double_rz", (np.uint64,), "libdevice.ull2double_rz() computes float64"),
])
def test_errors(fn, args, msg):
    xs = [np.zeros(4, dtype=t) for t in args]
    with pytest.raises(triton.CompilationError) as e:
        [k1, k2, k3][len(xs) - 1][(1,)](*xs, np.zeros(4, F32), 4, FN=fn, BLOCK=4)
    assert msg in str(e.value), str(e.value)


@triton.jit
def fp64_branch_kernel(x_ptr, o_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n)
    r = libdevice.double2int_rz(x) if x.dtype.is_fp64() else libdevice.float2int_rz(x)
    tl.store(o_ptr + offs, r, mask=offs < n)


def test_float64_conversions_named_in_a_branch_not_taken():
    x = F32([1.5, -2.7, 1e10, np.nan, -0.5])
    o = np.full(8, 77, np.int32)
    fp64_branch_kernel[(1,)](x, o, 5, BLOCK=8)
    assert o.tolist() == [1, -2, 2 ** 31 - 1, 0, 0, 77, 77, 77]
