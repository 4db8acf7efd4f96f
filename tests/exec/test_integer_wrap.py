"""Triton's integers wrap; MSL's signed overflow is undefined (issue 15 item 6).

The compiler emits signed +, -, *, << and unary - through the unsigned type
of their width (narrow ones through uint, since C promotes u16 * u16 to int,
where it can overflow), and `MIN // -1` negates the same way. The emulator
compiles kernels with -fwrapv, which would hide a signed overflow left in the
MSL; with TRITON_METAL_CHECK_OVERFLOW=1 it compiles them with a trap on signed
overflow instead, and the last test runs this module so: before the change
every kernel below died of SIGILL there (and would be undefined on a GPU)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def wrap_kernel(x_ptr, y_ptr, o_ptr, n, BLOCK: tl.constexpr, SIGNED: tl.constexpr):
    i = tl.arange(0, BLOCK)
    m = i < n
    x = tl.load(x_ptr + i, mask=m)
    y = tl.load(y_ptr + i, mask=m)
    tl.store(o_ptr + i, x * y + x - y, mask=m)
    tl.store(o_ptr + BLOCK + i, -x, mask=m)
    tl.store(o_ptr + 2 * BLOCK + i, x << 3, mask=m)
    if SIGNED:  # (-1 is out of range for an unsigned type, as upstream says)
        tl.store(o_ptr + 3 * BLOCK + i, x // -1, mask=m)
    tl.store(o_ptr + 4 * BLOCK + i, x * x * x, mask=m)


def wrapped(v, dt):
    """v (Python ints, exact) wrapped to dt"""
    bits = np.dtype(dt).itemsize * 8
    u = [int(a) & ((1 << bits) - 1) for a in v]
    if np.issubdtype(dt, np.signedinteger):
        u = [a - (1 << bits) if a >> (bits - 1) else a for a in u]
    return np.array(u, dtype=dt)


@pytest.mark.parametrize("dt", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64])
def test_integer_arithmetic_wraps(dt, rng):
    info = np.iinfo(dt)
    n, BLOCK = 45, 64
    x = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    y = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    x[:4] = [info.min, info.max, info.min, 0]
    y[:4] = [info.max, info.max, info.min, info.min]
    o = np.zeros(5 * BLOCK, dt)
    signed = bool(np.issubdtype(dt, np.signedinteger))
    wrap_kernel[(1,)](x, y, o, n, BLOCK=BLOCK, SIGNED=signed)
    X, Y = [int(a) for a in x], [int(b) for b in y]
    got = o.reshape(5, BLOCK)[:, :n]
    np.testing.assert_array_equal(got[0], wrapped([a * b + a - b for a, b in zip(X, Y)], dt))
    np.testing.assert_array_equal(got[1], wrapped([-a for a in X], dt))
    np.testing.assert_array_equal(got[2], wrapped([a << 3 for a in X], dt))
    if signed:
        np.testing.assert_array_equal(got[3], wrapped([-a for a in X], dt))  # MIN // -1 == MIN
    np.testing.assert_array_equal(got[4], wrapped([a * a * a for a in X], dt))


def test_no_signed_overflow_is_left_in_the_msl():
    if os.environ.get("TRITON_METAL_CHECK_OVERFLOW") == "1" or os.environ.get("TRITON_METAL_DEVICE", "cpu") != "cpu":
        pytest.skip("runs the module under the trap from the default device")
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    env = dict(os.environ, TRITON_METAL_CHECK_OVERFLOW="1", PYTHONPATH=os.path.join(root, "python"))
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "wraps"],
                       env=env, capture_output=True, text=True, timeout=600, cwd=root)
    assert p.returncode == 0, (p.returncode, p.stdout[-3000:], p.stderr[-3000:])
    assert "8 passed" in p.stdout, p.stdout[-2000:]
