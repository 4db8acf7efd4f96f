"""tl.device_print (per program and element, as upstream) and tl.device_assert /
`assert` on device values (active with debug=True, a no-op otherwise)."""
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
    x = np.array([3, -5, 7, 11], np.int32)
    print_kernel[(2,)](x, 4, B=4)
    out = capfd.readouterr().out.splitlines()
    for pid in (0, 1):
        for i, v in enumerate(x):
            assert f"pid ({pid}, 0, 0) idx ({i}) x={v}" in out
        assert f"pid ({pid}, 0, 0) idx (0) pid {pid} 4" in out
    assert len(out) == 2 * 4 + 2


@triton.jit
def float_print_kernel(x_ptr, B: tl.constexpr):
    tl.device_print("v ", tl.load(x_ptr + tl.arange(0, B)), hex=False)


def test_device_print_floats(capfd):
    x = np.array([1.5, -0.25, np.inf, np.nan], np.float32)
    float_print_kernel[(1,)](x, B=4)
    out = capfd.readouterr().out
    for i, v in enumerate(["1.5", "-0.25", "inf", "nan"]):
        assert f"idx ({i}) v {v}" in out


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
    assert "BLOCK is 8 and x is <8xfp32> fp32" in capfd.readouterr().out
    static_print_kernel[(1,)](x, B=8)  # cached: not compiled again, nothing printed
    assert "BLOCK is" not in capfd.readouterr().out
    assert (x == 2).all()
