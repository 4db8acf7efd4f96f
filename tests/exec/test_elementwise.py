"""Executable tests of the walking skeleton's language: loads and stores with
masks and `other=`, pointer arithmetic, scalar arguments, arithmetic with
Triton's promotion rules, integer // and % with C semantics, comparisons,
bitwise ops, where, casts, program ids. Every result is compared with an
independent NumPy computation."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from exec_data import SIZES, random_ints, special_floats


@triton.jit
def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    y = tl.load(y_ptr + offs, mask=m)
    tl.store(out_ptr + offs, x + y, mask=m)


@pytest.mark.parametrize("n", SIZES + [1_000_003])
@pytest.mark.parametrize("block", [16, 128, 1024])
def test_vector_add_f32(n, block, rng):
    x = special_floats(n, np.float32, rng)
    y = special_floats(n, np.float32, rng)
    out = np.full(n + 5, 12345.0, dtype=np.float32)  # a tail the kernel must not touch
    add_kernel[(triton.cdiv(n, block),)](x, y, out, n, BLOCK=block)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(out[:n], x + y)
    assert (out[n:] == 12345.0).all()


@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.int64, np.int8, np.uint8, np.int16, np.uint32])
def test_vector_add_dtypes(dtype, rng):
    n = 1000
    if np.dtype(dtype).kind == "f":
        x, y = special_floats(n, dtype, rng), special_floats(n, dtype, rng)
    else:
        x, y = random_ints(n, dtype, rng), random_ints(n, dtype, rng)
    out = np.zeros(n, dtype=dtype)
    add_kernel[(triton.cdiv(n, 256),)](x, y, out, n, BLOCK=256)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(out, x + y)


@triton.jit
def masked_other_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=-7.5)
    tl.store(out_ptr + offs, x)


@pytest.mark.parametrize("n", [0, 1, 5, 64])
def test_masked_lanes_take_other(n, rng):
    x = special_floats(max(n, 1), np.float32, rng)[:n]
    out = np.zeros(64, dtype=np.float32)
    src = np.concatenate([x, np.zeros(1, np.float32)])  # buffer never empty
    masked_other_kernel[(1,)](src, out, n, BLOCK=64)
    np.testing.assert_array_equal(out[:n], x)
    assert (out[n:] == np.float32(-7.5)).all()


@triton.jit
def int_ops_kernel(a_ptr, b_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    a = tl.load(a_ptr + offs, mask=m)
    b = tl.load(b_ptr + offs, mask=m)
    tl.store(out_ptr + 0 * n + offs, a // b, mask=m)
    tl.store(out_ptr + 1 * n + offs, a % b, mask=m)
    tl.store(out_ptr + 2 * n + offs, a * b - a, mask=m)
    tl.store(out_ptr + 3 * n + offs, (a & b) | (a ^ 5), mask=m)
    tl.store(out_ptr + 4 * n + offs, a >> 3, mask=m)
    tl.store(out_ptr + 5 * n + offs, (a << 2) + ~b, mask=m)
    tl.store(out_ptr + 6 * n + offs, tl.where(a < b, a, b), mask=m)
    tl.store(out_ptr + 7 * n + offs, -a + tl.cdiv(a, 7), mask=m)


def c_div(a, b):
    """C's truncating division with our defined results for b == 0 and MIN // -1."""
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    q = np.zeros_like(a64)
    nz = b64 != 0
    q[nz] = np.abs(a64[nz]) // np.abs(b64[nz]) * np.sign(a64[nz]) * np.sign(b64[nz])
    q[~nz] = -1
    return q.astype(a.dtype)  # MIN // -1 wraps to MIN


def c_rem(a, b):
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    r = a64.copy()
    nz = b64 != 0
    r[nz] = np.fmod(a64[nz], b64[nz])
    return r.astype(a.dtype)


@pytest.mark.parametrize("dtype", [np.int32, np.int8, np.int16])
@pytest.mark.parametrize("n", [37, 1000])
def test_int_ops_c_semantics(dtype, n, rng):
    a = random_ints(n, dtype, rng)
    b = random_ints(n, dtype, rng, lo=-40, hi=40)
    b[1::17] = 0  # division by zero has a defined result
    b[2] = -1     # MIN // -1
    a[2] = np.iinfo(dtype).min
    out = np.zeros(8 * n, dtype=dtype)
    int_ops_kernel[(triton.cdiv(n, 128),)](a, b, out, n, BLOCK=128)
    with np.errstate(over="ignore"):
        exp = [c_div(a, b), c_rem(a, b), a * b - a, (a & b) | (a ^ dtype(5)), a >> 3,
               (a << 2) + ~b, np.where(a < b, a, b),
               -a + c_div((a.astype(np.int64) + 6).astype(dtype), np.full(n, 7, dtype))]
    names = ["//", "%", "*-", "&|^", ">>", "<<~", "where", "cdiv"]
    for i, (e, name) in enumerate(zip(exp, names)):
        np.testing.assert_array_equal(out[i * n:(i + 1) * n], e, err_msg=name)


@triton.jit
def unsigned_kernel(a_ptr, b_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    a = tl.load(a_ptr + offs, mask=m)
    b = tl.load(b_ptr + offs, mask=m)
    tl.store(out_ptr + offs, a // b + (a >> 1) + a % b, mask=m)


def test_unsigned_div_shift(rng):
    n = 200
    a = random_ints(n, np.uint32, rng)
    b = random_ints(n, np.uint32, rng, lo=0, hi=1000)
    b[::13] = 0
    out = np.zeros(n, np.uint32)
    unsigned_kernel[(1,)](a, b, out, n, BLOCK=256)
    q = np.where(b == 0, np.uint32(0xFFFFFFFF), a // np.where(b == 0, 1, b))
    r = np.where(b == 0, a, a % np.where(b == 0, 1, b))
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(out, (q + (a >> 1) + r).astype(np.uint32))


@triton.jit
def float_ops_kernel(x_ptr, y_ptr, out_ptr, fout_ptr, n, s, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    y = tl.load(y_ptr + offs, mask=m)
    tl.store(fout_ptr + 0 * n + offs, x / y, mask=m)
    tl.store(fout_ptr + 1 * n + offs, x % y, mask=m)
    tl.store(fout_ptr + 2 * n + offs, x * s - y, mask=m)
    tl.store(fout_ptr + 3 * n + offs, tl.minimum(x, y), mask=m)
    tl.store(fout_ptr + 4 * n + offs, tl.maximum(x, y), mask=m)
    tl.store(fout_ptr + 5 * n + offs, -x, mask=m)
    tl.store(out_ptr + 0 * n + offs, x == y, mask=m)
    tl.store(out_ptr + 1 * n + offs, x != y, mask=m)
    tl.store(out_ptr + 2 * n + offs, x < y, mask=m)
    tl.store(out_ptr + 3 * n + offs, x >= y, mask=m)
    tl.store(out_ptr + 4 * n + offs, (x > 0) & (y <= 0), mask=m)


def test_float_ops_nan_inf(rng):
    n = 777
    x = special_floats(n, np.float32, rng)
    y = special_floats(n, np.float32, rng)
    y[:20] = x[:20]  # equal pairs, including NaN == NaN (false) and NaN != NaN (true)
    out = np.zeros(5 * n, dtype=np.bool_)
    fout = np.zeros(6 * n, dtype=np.float32)
    float_ops_kernel[(triton.cdiv(n, 128),)](x, y, out, fout, n, 1.5, BLOCK=128)
    with np.errstate(all="ignore"):
        fexp = [x / y, np.fmod(x, y), x * np.float32(1.5) - y, np.fmin(x, y), np.fmax(x, y), -x]
        bexp = [x == y, x != y, x < y, x >= y, (x > 0) & (y <= 0)]
    for i, e in enumerate(fexp):
        got = fout[i * n:(i + 1) * n]
        if i == 0:  # division: correctly rounded on the emulator
            np.testing.assert_array_equal(got, e, err_msg=f"float op {i}")
        else:
            np.testing.assert_array_equal(got, e, err_msg=f"float op {i}")
    for i, e in enumerate(bexp):
        np.testing.assert_array_equal(out[i * n:(i + 1) * n], e, err_msg=f"compare {i}")


@triton.jit
def promote_kernel(h_ptr, i_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    h = tl.load(h_ptr + offs, mask=m)          # fp16
    i = tl.load(i_ptr + offs, mask=m)          # int32
    a = h * 2.5                                # Python float keeps fp16
    b = h / h                                  # fp16 / fp16 -> fp32
    c = i / 4                                  # int / int -> fp32
    d = h + i                                  # fp16 tensor + int32 tensor -> fp16
    tl.store(out_ptr + 0 * n + offs, a.to(tl.float32), mask=m)
    tl.store(out_ptr + 1 * n + offs, b, mask=m)
    tl.store(out_ptr + 2 * n + offs, c, mask=m)
    tl.store(out_ptr + 3 * n + offs, d.to(tl.float32), mask=m)


def test_promotion_rules(rng):
    n = 100
    h = (rng.standard_normal(n) * 4).astype(np.float16)
    i = rng.integers(-1000, 1000, n).astype(np.int32)
    out = np.zeros(4 * n, np.float32)
    promote_kernel[(1,)](h, i, out, n, BLOCK=128)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(out[:n], (h * np.float16(2.5)).astype(np.float32))
        np.testing.assert_array_equal(out[n:2 * n], h.astype(np.float32) / h.astype(np.float32))
        np.testing.assert_array_equal(out[2 * n:3 * n], i.astype(np.float32) / np.float32(4))
        np.testing.assert_array_equal(out[3 * n:], (h + i.astype(np.float16)).astype(np.float32))


@triton.jit
def cast_kernel(x_ptr, i_ptr, h_ptr, b_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    tl.store(i_ptr + offs, x.to(tl.int32), mask=m)
    tl.store(h_ptr + offs, x.to(tl.float16), mask=m)
    tl.store(b_ptr + offs, x.to(tl.int1), mask=m)


def test_casts(rng):
    n = 500
    x = (rng.standard_normal(n) * 1000).astype(np.float32)
    x[:6] = [0.0, -0.0, 0.5, -0.5, 70000.0, -1e-8]
    i = np.zeros(n, np.int32)
    h = np.zeros(n, np.float16)
    b = np.zeros(n, np.bool_)
    cast_kernel[(1,)](x, i, h, b, n, BLOCK=512)
    np.testing.assert_array_equal(i, np.trunc(x).astype(np.int32))
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(h, x.astype(np.float16))
    np.testing.assert_array_equal(b, x != 0)


@triton.jit
def bool_kernel(a_ptr, b_ptr, out_ptr, n, flag, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    a = tl.load(a_ptr + offs, mask=m, other=False)
    b = tl.load(b_ptr + offs, mask=m, other=True)
    tl.store(out_ptr + offs, (a & b) ^ flag, mask=m)


@pytest.mark.parametrize("flag", [False, True])
def test_bool_arrays(flag, rng):
    n = 300
    a = rng.random(n) < 0.5
    b = rng.random(n) < 0.5
    out = np.zeros(n, np.bool_)
    bool_kernel[(1,)](a, b, out, n, flag, BLOCK=512)
    np.testing.assert_array_equal(out, (a & b) ^ flag)


@triton.jit
def grid_kernel(out_ptr):
    x = tl.program_id(0)
    y = tl.program_id(1)
    z = tl.program_id(2)
    nx = tl.num_programs(0)
    ny = tl.num_programs(1)
    idx = (z * ny + y) * nx + x
    tl.store(out_ptr + idx * 3 + 0, x)
    tl.store(out_ptr + idx * 3 + 1, y)
    tl.store(out_ptr + idx * 3 + 2, z + tl.num_programs(2) * 100)


def test_program_ids_3d():
    # the first launch compiles (the Python path); the next ones take the C
    # dispatcher's fast path (python/triton_metal/launcher.c), which parses the
    # grid itself
    for gx, gy, gz in ((5, 3, 2), (2, 4, 3), (1, 1, 7)):
        out = np.full(gx * gy * gz * 3, -1, np.int32)
        grid_kernel[(gx, gy, gz)](out)
        got = out.reshape(gz, gy, gx, 3)
        zz, yy, xx = np.meshgrid(np.arange(gz), np.arange(gy), np.arange(gx), indexing="ij")
        np.testing.assert_array_equal(got[..., 0], xx)
        np.testing.assert_array_equal(got[..., 1], yy)
        np.testing.assert_array_equal(got[..., 2], zz + gz * 100)


@triton.jit
def scale_shift(x, a, b: tl.constexpr = 3):
    return x * a + b, x - b


@triton.jit
def helper_kernel(x_ptr, out_ptr, n, a, BLOCK: tl.constexpr, USE_SECOND: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    first, second = scale_shift(x, a)
    if USE_SECOND:
        r = second
    else:
        r = first
    for i in tl.static_range(3):
        r = r + i
    tl.store(out_ptr + offs, r, mask=m)


@pytest.mark.parametrize("use_second", [False, True])
def test_jit_helpers_constexpr_if_and_static_loop(use_second, rng):
    n = 100
    x = rng.integers(-50, 50, n).astype(np.int64)
    out = np.zeros(n, np.int64)
    helper_kernel[(1,)](x, out, n, 7, BLOCK=128, USE_SECOND=use_second)
    exp = (x - 3 if use_second else x * 7 + 3) + 3
    np.testing.assert_array_equal(out, exp)


@triton.jit
def i64_offsets_kernel(x_ptr, out_ptr, base, n, BLOCK: tl.constexpr):
    offs = base + tl.arange(0, BLOCK)
    m = offs < base + n
    tl.store(out_ptr + (offs - base), tl.load(x_ptr + (offs - base), mask=m) * 2, mask=m)


def test_int64_scalar_argument(rng):
    n = 50
    x = rng.standard_normal(n).astype(np.float32)
    out = np.zeros(n, np.float32)
    i64_offsets_kernel[(1,)](x, out, 2**40, n, BLOCK=64)  # base does not fit in int32
    np.testing.assert_array_equal(out, x * 2)


def test_torch_cpu_tensors():
    torch = pytest.importorskip("torch")
    n = 4099
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, generator=g)
    y = torch.randn(n, generator=g)
    out = torch.empty(n)
    add_kernel[lambda meta: (triton.cdiv(n, meta["BLOCK"]),)](x, y, out, n, BLOCK=512)
    assert torch.equal(out, x + y)


@triton.jit
def rtz_kernel(x_ptr, ne_ptr, z_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    tl.store(ne_ptr + offs, x.to(tl.float16), mask=m)
    tl.store(z_ptr + offs, x.to(tl.float16, fp_downcast_rounding="rtz"), mask=m)


def test_fp_downcast_rounding_rtz(rng):
    n = 500
    x = (rng.standard_normal(n) * 1000).astype(np.float32)
    x[:6] = [70000.0, -70000.0, np.nan, np.inf, 1e-9, -2.0 ** -25 * 3]
    ne, z = np.zeros(n, np.float16), np.zeros(n, np.float16)
    rtz_kernel[(1,)](x, ne, z, n, BLOCK=512)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(ne, x.astype(np.float16))
    # the reference: the float16 of largest magnitude not beyond x
    ref = x.astype(np.float16)
    with np.errstate(invalid="ignore", over="ignore"):
        away = np.abs(ref.astype(np.float64)) > np.abs(x.astype(np.float64))
    ref[away] = (ref[away].view(np.uint16) - 1).view(np.float16)
    np.testing.assert_array_equal(z, ref)
    assert z[0] == 65504 and z[1] == -65504 and np.isnan(z[2]) and np.isinf(z[3])
