"""The emulator checks every device-memory access against the bound buffers and
reports a violation with the kernel name and Python line; the process goes on."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from exec_data import emulator_only


@triton.jit
def unmasked_copy(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    tl.store(out_ptr + offs, x)


@emulator_only
def test_out_of_bounds_load_is_reported_and_process_continues():
    x = np.arange(100, dtype=np.float32)
    out = np.zeros(128, dtype=np.float32)
    with pytest.raises(triton.LaunchError) as e:
        unmasked_copy[(1,)](x, out, BLOCK=128)
    msg = str(e.value)
    line = unmasked_copy.fn.__code__.co_firstlineno + 3  # the tl.load line
    assert "out-of-bounds load" in msg and "unmasked_copy" in msg
    assert f"test_bounds.py:{line}" in msg, msg
    assert "x_ptr" in msg
    # the process is intact and the next (valid) launch works
    x2 = np.arange(128, dtype=np.float32)
    unmasked_copy[(1,)](x2, out, BLOCK=128)
    np.testing.assert_array_equal(out, x2)


@emulator_only
def test_out_of_bounds_store_is_reported():
    x = np.arange(256, dtype=np.float32)
    out = np.zeros(200, dtype=np.float32)
    with pytest.raises(triton.LaunchError, match="out-of-bounds store"):
        unmasked_copy[(2,)](x, out, BLOCK=128)


@triton.jit
def faulty_groups(x_ptr, out_ptr, FROM: tl.constexpr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    acc = tl.load(x_ptr + offs)
    # threadgroup FROM faults last (after a long loop), the ones after it at once
    for i in range(tl.where(pid == FROM, 20000, 0)):
        acc = acc * 0.5 + 1.0
    bad = tl.where(pid >= FROM, offs + 1000000, offs)  # far past `out` from threadgroup FROM on
    tl.store(out_ptr + bad, acc)


@emulator_only
def test_the_reported_error_is_the_lowest_threadgroups():
    """Several threadgroups fault, spread over the worker threads, the
    lowest of them last in time: the launch reports the first error of the
    lowest one, the same message every time, whichever worker got there
    first."""
    x = np.random.default_rng(3).standard_normal(64 * 128).astype(np.float32)
    seen = set()
    for _ in range(25):
        out = np.zeros_like(x)
        with pytest.raises(triton.LaunchError) as e:
            faulty_groups[(64,)](x, out, FROM=5, BLOCK=128, num_warps=1)
        seen.add(str(e.value))
    assert len(seen) == 1, seen
    msg = seen.pop()
    assert "out-of-bounds store" in msg and "threadgroup (5,0,0) thread 0" in msg, msg


@emulator_only
def test_negative_offset_is_reported():
    x = np.arange(128, dtype=np.float32)
    out = np.zeros(128, dtype=np.float32)
    with pytest.raises(triton.LaunchError, match="out-of-bounds"):
        unmasked_copy[(1,)](x[1:], out, BLOCK=128) if False else shifted[(1,)](x, out, BLOCK=128)


@triton.jit
def shifted(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK) - 1
    tl.store(out_ptr + offs + 1, tl.load(x_ptr + offs))
