"""Hostile use, round two (issue 16 item 6): an access is checked against the
argument its pointer comes from.

The compiler knows which parameter each pointer derives from (src/ir.c
ir_pointer_roots); the emulator checks an address against that argument's
memory only, so a write through `out_ptr + d` that lands inside `x` is refused
before it lands, and the error names the argument the pointer came from and
the one the address lies in. Where a pointer may come from several
parameters (selected, or carried through a loop from different ones) it is
checked against every bound buffer, as before. Views of one array and the same
array passed twice stay valid: the bound is the memory of the array viewed.

On cpu and metal-sim alike."""
import importlib
import zlib

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal import _C

tmjit = importlib.import_module("triton_metal.jit")  # the module (triton_metal.jit is the decorator)

SENTINEL = -7.0


@triton.jit
def write_at(x_ptr, out_ptr, d, n, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    v = tl.load(x_ptr + i, mask=i < n)
    tl.store(out_ptr + d + i, v * 2.0, mask=i < n)


@triton.jit
def read_at(x_ptr, out_ptr, d, n, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    tl.store(out_ptr + i, tl.load(x_ptr + d + i, mask=i < n), mask=i < n)


@triton.jit
def walk(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    p = x_ptr
    q = out_ptr
    for k in range(0, n, BLOCK):
        i = tl.arange(0, BLOCK)
        m = k + i < n
        tl.store(q + i, tl.load(p + i, mask=m) * 2.0, mask=m)
        p += BLOCK
        q += BLOCK


@triton.jit
def pick(a_ptr, b_ptr, out_ptr, d, n, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    p = tl.where(i % 2 == 0, a_ptr + i, b_ptr + i + d)
    tl.store(out_ptr + i, tl.load(p, mask=i < n), mask=i < n)


KERNELS = (write_at, read_at, walk, pick)


def use(name):
    saved = tmjit._device
    dev = _C.Device(name)
    tmjit._device = dev

    def reset():
        for k in KERNELS:
            for c in k.cache.values():
                c.module = None
            k.fast_cache.clear()

    reset()
    yield dev
    dev.synchronize()
    tmjit._device = saved
    reset()


@pytest.fixture(params=["cpu", "metal-sim"])
def device(request):
    yield from use(request.param)


@pytest.fixture
def rng(request):
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def gap(a, b):
    """the element offset from b's data to a's (both float32)"""
    diff = a.ctypes.data - b.ctypes.data
    assert diff % 4 == 0
    return diff // 4


# The two tests below aim an address at another argument's memory from the
# host addresses of the arrays: on cpu the kernel sees those addresses; on
# metal-sim the arguments live in device buffers at addresses the host does
# not know, so there they run on cpu only (the check itself is the shim's
# tm_chk, the same code on both).

@pytest.fixture
def cpu():
    yield from use("cpu")


def test_write_landing_in_another_argument_is_refused(cpu, rng):
    n = 256
    for trial in range(5):
        x = rng.standard_normal(n).astype(np.float32)
        out = np.full(n, SENTINEL, np.float32)
        before = x.copy()
        with pytest.raises(triton.LaunchError) as e:
            write_at[(1,)](x, out, gap(x, out) + 16 * trial, 64, BLOCK=64)
        msg = str(e.value)
        assert "'out_ptr'" in msg and "the address lies in argument 'x_ptr'" in msg, msg
        np.testing.assert_array_equal(x, before)  # refused before it landed
        assert (out == SENTINEL).all()


def test_read_landing_in_another_argument_is_refused(cpu, rng):
    n = 256
    x = rng.standard_normal(n).astype(np.float32)
    out = np.full(n, SENTINEL, np.float32)
    with pytest.raises(triton.LaunchError) as e:
        read_at[(1,)](x, out, gap(out, x), 64, BLOCK=64)
    msg = str(e.value)
    assert "'x_ptr'" in msg and "the address lies in argument 'out_ptr'" in msg, msg


def test_far_underflow_is_blamed_on_the_pointer_read(device, rng):
    n = 64
    x = rng.standard_normal(n).astype(np.float32)
    out = np.full(n, SENTINEL, np.float32)
    with pytest.raises(triton.LaunchError) as e:
        read_at[(1,)](x, out, -(1 << 31), n, BLOCK=64)
    msg = str(e.value)
    assert "argument 'x_ptr'" in msg and "argument 'out_ptr'" not in msg, msg


def test_views_of_one_array_and_aliases_stay_valid(device, rng):
    n = 100
    base = rng.standard_normal(3 * n).astype(np.float32)
    x, out = base[:n], base[n:2 * n]
    src = x.copy()
    write_at[(1,)](x, out, n, n, BLOCK=128)  # through out_ptr, past its view, inside base
    np.testing.assert_array_equal(base[2 * n:], src * 2)
    got = np.full(n, SENTINEL, np.float32)
    read_at[(1,)](base[2 * n:], got, -2 * n, n, BLOCK=128)  # through x_ptr, before its view
    np.testing.assert_array_equal(got, src)
    y = rng.standard_normal(n).astype(np.float32)
    ref = y * 2
    write_at[(1,)](y, y, 0, n, BLOCK=128)  # one array passed twice
    np.testing.assert_array_equal(y, ref)
    wide = rng.standard_normal(2 * n).astype(np.float32)
    got = np.full(n, SENTINEL, np.float32)
    read_at[(1,)](wide[::2], got, n // 2, n, BLOCK=128)  # a strided view, read densely past its end
    np.testing.assert_array_equal(got, wide[n // 2:n // 2 + n])


@pytest.mark.parametrize("n", [1, 37, 300])
def test_loop_carried_pointers(device, rng, n):
    x = rng.standard_normal(n).astype(np.float32)
    x[::7] = np.nan
    out = np.full(n + 5, SENTINEL, np.float32)
    walk[(1,)](x, out, n, BLOCK=32)
    np.testing.assert_array_equal(out[:n], x * 2)
    assert (out[n:] == SENTINEL).all()


def test_selected_pointers_from_two_arguments(device, rng):
    n = 50
    a = rng.standard_normal(n).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    out = np.full(n, SENTINEL, np.float32)
    pick[(1,)](a, b, out, 0, n, BLOCK=64)
    np.testing.assert_array_equal(out, np.where(np.arange(n) % 2 == 0, a, b))
    # may come from either: checked against every bound buffer, so a wild
    # read is still refused
    with pytest.raises(triton.LaunchError) as e:
        pick[(1,)](a, b, out, 1 << 40, n, BLOCK=64)
    assert "out-of-bounds" in str(e.value), str(e.value)
