"""tl.device_print (per program and element, as upstream) and tl.device_assert /
`assert` on device values (active with debug=True, a no-op otherwise)."""
import os

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def print_kernel(x_ptr, n, B: tl.constexpr):
    offs = tl.arange(0, B)
    x = tl.load(x_ptr + offs, mask=offs < n, other=-1)
    tl.device_print("x=", x)
    tl.device_print("pid ", tl.program_id(0), n)


def test_device_print_every_element(capfd):
    """Upstream's format (PrintOpToLLVM): `pid (x, y, z) idx (i)<prefix><value>`,
    the prefix given a leading space and a trailing ": "; several values print
    one line each with `(operand n) `; a scalar is printed by every thread of
    the program (4 warps: 128 lines)."""
    x = np.array([3, -5, 7, 11], np.int32)
    print_kernel[(2,)](x, 4, B=4)
    out = capfd.readouterr().out.splitlines()
    for pid in (0, 1):
        for i, v in enumerate(x):
            assert out.count(f"pid ({pid}, 0, 0) idx ({i}) x=: {v}") == 1
        assert out.count(f"pid ({pid}, 0, 0) idx () pid: (operand 0) {pid}") == 128
        assert out.count(f"pid ({pid}, 0, 0) idx () pid: (operand 1) 4") == 128
    assert len(out) == 2 * 4 + 2 * 2 * 128


@triton.jit
def float_print_kernel(x_ptr, B: tl.constexpr):
    tl.device_print("v ", tl.load(x_ptr + tl.arange(0, B)), hex=False)


def test_device_print_floats(capfd):
    x = np.array([1.5, -0.25, np.inf, np.nan, 1e-7, -3e38, 0.0, -0.0, 2.5e6, 1 / 3, 7, 8, 9, 10, 11, 12],
                 np.float32)
    float_print_kernel[(1,)](x, B=16)
    out = capfd.readouterr().out.splitlines()
    ref = [f"pid (0, 0, 0) idx ({i:2d}) v: {'%f' % v}" for i, v in enumerate(x.astype(np.float64))]
    assert sorted(out) == sorted(ref)


@triton.jit
def hex_print_kernel(x_ptr, y_ptr, h_ptr, B: tl.constexpr):
    offs = tl.arange(0, B)
    tl.device_print("", tl.load(x_ptr + offs), hex=True)
    tl.device_print("y", tl.load(y_ptr + offs), hex=True)
    tl.device_print("h", tl.load(h_ptr + offs), hex=True)


def test_device_print_hex_pads_to_the_type(capfd):
    x = np.array([0, 1, -1, 2**31 - 1], np.int32)
    y = np.array([0, -128, -2, 127], np.int8)
    h = np.array([1.0, -2.0, np.inf, 0.5], np.float16)
    hex_print_kernel[(1,)](x, y, h, B=4)
    out = capfd.readouterr().out.splitlines()
    ref = [f"pid (0, 0, 0) idx ({i}): 0x{int(v) & 0xFFFFFFFF:08x}" for i, v in enumerate(x)]
    ref += [f"pid (0, 0, 0) idx ({i}) y: 0x{int(v) & 0xFF:02x}" for i, v in enumerate(y)]
    ref += [f"pid (0, 0, 0) idx ({i}) h: 0x{int(b):04x}" for i, b in enumerate(h.view(np.uint16))]
    assert sorted(out) == sorted(ref)


@triton.jit
def print_2d_kernel(x_ptr, u_ptr, M: tl.constexpr, N: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :])
    print("", x)
    tl.device_print("u", tl.load(u_ptr + tl.arange(0, N)))
    print("done")
    tl.device_print("p", x_ptr + tl.arange(0, 2))


def test_builtin_print_2d_unsigned_no_values_and_pointers(capfd):
    """The builtin print is device_print (as upstream); 2-D indices are padded
    to their dimension's digits; unsigned values print as unsigned; a print of
    no values prints the prefix once per thread; pointers print as addresses."""
    x = np.arange(-64, 64, dtype=np.int32).reshape(16, 8)
    u = np.array([0, 1, 2**31, 2**32 - 1, 5, 6, 7, 8], np.uint32)
    print_2d_kernel[(1,)](x, u, M=16, N=8, num_warps=1)
    out = capfd.readouterr().out.splitlines()
    ref = [f"pid (0, 0, 0) idx ({i:2d}, {j}): {x[i, j]}" for i in range(16) for j in range(8)]
    ref += [f"pid (0, 0, 0) idx ({j}) u: {u[j]}" for j in range(8)]
    ref += ["pid (0, 0, 0) done"] * 32
    ptrs = sorted(ln for ln in out if " p: " in ln)
    assert sorted(ln for ln in out if " p: " not in ln) == sorted(ref)
    # the addresses the kernel sees (the array's own on the cpu emulator, a
    # buffer's on the Metal kinds), 4 bytes apart
    assert [ln.split(" p: ")[0] for ln in ptrs] == ["pid (0, 0, 0) idx (0)", "pid (0, 0, 0) idx (1)"]
    a0, a1 = (int(ln.split(" p: ")[1], 16) for ln in ptrs)
    assert a1 - a0 == 4 and a0 % 4 == 0
    if os.environ.get("TRITON_METAL_DEVICE", "cpu") == "cpu":
        assert a0 == x.ctypes.data


@triton.jit
def assert_kernel(x_ptr, n, B: tl.constexpr):
    offs = tl.arange(0, B)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0)
    tl.device_assert(x < 100, "x must stay below 100")
    assert x >= 0, "x must be non-negative"


def test_device_assert_in_debug_mode():
    good = np.array([1, 2, 3, 99], np.int32)
    assert_kernel[(1,)](good, 4, B=8, debug=True)
    bad = np.array([1, 200, 3, -4], np.int32)
    with pytest.raises(AssertionError, match="x must stay below 100.*element 1"):
        assert_kernel[(1,)](bad, 4, B=8, debug=True)
    with pytest.raises(AssertionError, match="x must be non-negative.*element 3"):
        assert_kernel[(1,)](np.array([1, 2, 3, -4], np.int32), 4, B=8, debug=True)
    assert_kernel[(1,)](bad, 4, B=8)  # inactive without debug, as upstream


@triton.jit
def static_print_kernel(x_ptr, B: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, B))
    tl.static_print("BLOCK is", B, "and x is", x, x.dtype)
    tl.store(x_ptr + tl.arange(0, B), x + 1)


def test_static_print_at_compile_time(capfd, tmp_path, monkeypatch):
    monkeypatch.setenv("TRITON_METAL_CACHE_DIR", str(tmp_path))  # a compile, not a disk-cache hit
    x = np.zeros(8, np.float32)
    static_print_kernel[(1,)](x, B=8)
    # upstream's str() of each value: a block as dtype[constexpr[dims]]
    assert "BLOCK is 8 and x is fp32[constexpr[8]] fp32\n" in capfd.readouterr().out
    static_print_kernel[(1,)](x, B=8)  # cached: not compiled again, nothing printed
    assert "BLOCK is" not in capfd.readouterr().out
    assert (x == 2).all()


@triton.jit
def static_values_kernel(p_ptr, F: tl.constexpr, G: tl.constexpr):
    x = tl.load(p_ptr + tl.arange(0, 4)[:, None] + tl.arange(0, 2)[None, :])
    tl.static_print(F, G, 1.5, 1e16, 0.0001, 2.5e-05, (1, 'a'), None, True, sep="|", end="<\n")
    tl.static_print(p_ptr, x, p_ptr.dtype, end="")
    tl.static_print("!")


def test_static_print_formats_values_as_python(capfd, tmp_path, monkeypatch):
    monkeypatch.setenv("TRITON_METAL_CACHE_DIR", str(tmp_path))
    x = np.zeros(8, np.int16)
    static_values_kernel[(1,)](x, F=0.1, G=-3)
    out = capfd.readouterr().out
    assert "0.1|-3|1.5|1e+16|0.0001|2.5e-05|(1, 'a')|None|True<\n" \
           "pointer<int16>[] int16[constexpr[4], constexpr[2]] pointer<int16>!\n" in out


@triton.jit
def arith_kernel(x_ptr, y_ptr, z_ptr, OP: tl.constexpr, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs)
    y = tl.load(y_ptr + offs)
    if OP == "add":
        z = x + y
    elif OP == "sub":
        z = x - y
    elif OP == "mul":
        z = x * y
    elif OP == "neg":
        z = -x
    elif OP == "add_unchecked":
        z = tl.add(x, y, sanitize_overflow=False)
    else:
        z = tl.mul(x, y)
    tl.store(z_ptr + offs, z)


WRAP = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "neg": lambda x, y: -x,
        "add_unchecked": np.add, "tl.mul": np.multiply}


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.uint8, np.uint32])
@pytest.mark.parametrize("op", list(WRAP))
def test_integer_overflow_sanitizer_in_debug_mode(op, dtype, rng):
    """As upstream: with debug, an integer +, -, *, unary - (and tl.add/tl.mul
    unless sanitize_overflow=False) narrower than 64 bits asserts when the exact
    result does not fit; without debug it wraps."""
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, 16, endpoint=True).astype(dtype)
    y = rng.integers(info.min, info.max, 16, endpoint=True).astype(dtype)
    exact = {"add": lambda: x.astype(object) + y.astype(object), "sub": lambda: x.astype(object) - y.astype(object),
             "mul": lambda: x.astype(object) * y.astype(object), "neg": lambda: -x.astype(object),
             "add_unchecked": lambda: x.astype(object) + y.astype(object),
             "tl.mul": lambda: x.astype(object) * y.astype(object)}[op]()
    overflows = any(v < info.min or v > info.max for v in exact)
    z = np.zeros(16, dtype)
    with np.errstate(over="ignore"):
        ref = WRAP[op](x, y).astype(dtype)
    arith_kernel[(1,)](x, y, z, OP=op, N=16)  # no debug: wraps
    np.testing.assert_array_equal(z, ref)
    z[:] = 0
    if overflows and op != "add_unchecked":
        with pytest.raises(RuntimeError, match=f"device-side assert.*int{8 * x.itemsize} overflow detected"):
            arith_kernel[(1,)](x, y, z, OP=op, N=16, debug=True)
    else:
        arith_kernel[(1,)](x, y, z, OP=op, N=16, debug=True)
        np.testing.assert_array_equal(z, ref)
    small = (x // 4).astype(dtype) if op != "neg" or info.min == 0 else x // 4
    if info.min == 0 and op in ("sub", "neg"):
        return
    z[:] = 0
    arith_kernel[(1,)](small, np.ones(16, dtype), z, OP=op, N=16, debug=True)  # no overflow: no assert
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(z, WRAP[op](small, np.ones(16, dtype)).astype(dtype))


@triton.jit
def const_assert_kernel(x_ptr, COND: tl.constexpr):
    tl.device_assert(COND, "constant")
    tl.store(x_ptr, 1)


def test_constant_device_assert_follows_debug(monkeypatch):
    """A compile-time condition is checked only with debug, and then when the
    kernel runs (as upstream); TRITON_DEBUG=1 turns debug on at launch."""
    x = np.zeros(1, np.int32)
    const_assert_kernel[(1,)](x, False)
    assert x[0] == 1
    with pytest.raises(AssertionError, match="device-side assert triggered.*constant"):
        const_assert_kernel[(1,)](x, False, debug=True)
    const_assert_kernel[(1,)](x, True, debug=True)
    monkeypatch.setenv("TRITON_DEBUG", "1")
    with pytest.raises(RuntimeError, match="constant"):
        const_assert_kernel[(1,)](x, False, debug=False)
