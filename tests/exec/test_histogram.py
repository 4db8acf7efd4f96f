"""tl.histogram (src/stdlib.py: a one-hot count) against np.bincount: bins
of width 1 from 0, int32 counts of shape [num_bins]; values outside
[0, num_bins) -- negatives, values just past the last bin, 64-bit values
whose low bits fall in range -- and masked lanes are not counted."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

# Every test runs under both emulator schedules (conftest.py): the interleaved
# one catches tl.atomic_add done as a plain load and store (test_histogram_grid
# loses counts), which the default schedule lets pass.
pytestmark = pytest.mark.usefixtures("cpu_schedule")

INTS = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64]


def ref_hist(x, bins):
    x = x.astype(np.int64)
    return np.bincount(x[(x >= 0) & (x < bins)], minlength=bins).astype(np.int32)


def random_values(n, bins, dtype, rng):
    """Mostly in [0, bins) with duplicates, some below 0 (signed types) and
    some at or past bins, where the type can hold them."""
    info = np.iinfo(dtype)
    lo = max(int(info.min), -bins)
    hi = min(int(info.max), 2 * bins)
    x = rng.integers(lo, hi, size=n, endpoint=True)
    x = np.where(rng.random(n) < 0.6, rng.integers(0, bins, size=n), x)
    if n >= 2:
        x[0] = min(bins, int(info.max))   # first value past the last bin
        x[1] = bins - 1
    return x.astype(dtype)


@triton.jit
def hist_block_kernel(x_ptr, o_ptr, n, N: tl.constexpr, BINS: tl.constexpr):
    offs = tl.arange(0, N)
    m = offs < n
    # masked lanes load 0, a valid bin: only the mask keeps them out
    x = tl.load(x_ptr + offs, mask=m, other=0)
    tl.store(o_ptr + tl.arange(0, BINS), tl.histogram(x, BINS, mask=m))


@triton.jit
def hist_nomask_kernel(x_ptr, o_ptr, N: tl.constexpr, BINS: tl.constexpr):
    h = tl.histogram(tl.load(x_ptr + tl.arange(0, N)), BINS)
    tl.static_assert(h.dtype == tl.int32)
    tl.store(o_ptr + tl.arange(0, BINS), h)


@pytest.mark.parametrize("dtype", INTS, ids=lambda d: np.dtype(d).name)
def test_histogram_block_masked(dtype, rng):
    N = int(rng.choice([16, 128, 512]))
    BINS = int(rng.choice([1, 2, 8, 64]))
    n = int(rng.integers(1, N + 1))
    x = random_values(N, BINS, dtype, rng)
    out = np.full(BINS, -7, np.int32)
    hist_block_kernel[(1,)](x, out, n, N=N, BINS=BINS)
    np.testing.assert_array_equal(out, ref_hist(x[:n], BINS), err_msg=f"N={N} BINS={BINS} n={n}")


@pytest.mark.parametrize("N,BINS", [(1, 1), (2, 4), (64, 16), (256, 256), (1024, 32)])
def test_histogram_unmasked(N, BINS, rng):
    x = random_values(N, BINS, np.int32, rng)
    out = np.zeros(BINS, np.int32)
    hist_nomask_kernel[(1,)](x, out, N=N, BINS=BINS)
    np.testing.assert_array_equal(out, ref_hist(x, BINS))


def test_histogram_int64_high_bits(rng):
    """64-bit values are compared whole: 2**32 + 3 is not bin 3."""
    x = rng.integers(0, 16, size=64).astype(np.int64)
    x[::3] += np.int64(1) << 32
    x[1::5] = -(np.int64(1) << 40) + 2
    out = np.zeros(16, np.int32)
    hist_nomask_kernel[(1,)](x, out, N=64, BINS=16)
    np.testing.assert_array_equal(out, ref_hist(x, 16))


def test_histogram_uint32_large(rng):
    """uint32 values >= 2**31 stay large (no wrap to negative or to a bin)."""
    x = rng.integers(0, 8, size=32).astype(np.uint32)
    x[::4] = np.uint32(0xFFFFFFFF)
    x[1::4] = np.uint32(0x80000002)
    out = np.zeros(8, np.int32)
    hist_nomask_kernel[(1,)](x, out, N=32, BINS=8)
    np.testing.assert_array_equal(out, ref_hist(x, 8))


@triton.jit
def hist_grid_kernel(x_ptr, o_ptr, n, BLOCK: tl.constexpr, BINS: tl.constexpr):
    # each program counts its block; the partial histograms add up atomically
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m, other=-1)
    tl.atomic_add(o_ptr + tl.arange(0, BINS), tl.histogram(x, BINS, mask=m))


@pytest.mark.parametrize("n", [1, 127, 1000, 4099])
def test_histogram_grid(n, rng):
    BLOCK, BINS = 256, 32
    x = random_values(n, BINS, np.int16, rng)
    out = np.zeros(BINS, np.int32)
    hist_grid_kernel[(triton.cdiv(n, BLOCK),)](x, out, n, BLOCK=BLOCK, BINS=BINS)
    np.testing.assert_array_equal(out, ref_hist(x, BINS))


@triton.jit
def hist_scalar_mask_kernel(x_ptr, o_ptr, flag, N: tl.constexpr, BINS: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, N))
    tl.store(o_ptr + tl.arange(0, BINS), tl.histogram(x, BINS, mask=flag > 0))


def test_histogram_scalar_mask(rng):
    """A scalar mask broadcasts over the input, as upstream."""
    x = random_values(64, 8, np.int32, rng)
    for flag, ref in ((1, ref_hist(x, 8)), (0, np.zeros(8, np.int32))):
        out = np.full(8, -1, np.int32)
        hist_scalar_mask_kernel[(1,)](x, out, flag, N=64, BINS=8)
        np.testing.assert_array_equal(out, ref)


@triton.jit
def hist_float_kernel(x_ptr, o_ptr, N: tl.constexpr):
    tl.store(o_ptr + tl.arange(0, 4), tl.histogram(tl.load(x_ptr + tl.arange(0, N)), 4))


@triton.jit
def hist_2d_kernel(x_ptr, o_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)[:, None] * N + tl.arange(0, N)[None, :]
    tl.store(o_ptr + tl.arange(0, 4), tl.histogram(tl.load(x_ptr + offs), 4))


@triton.jit
def hist_intmask_kernel(x_ptr, o_ptr, N: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, N))
    tl.store(o_ptr + tl.arange(0, 4), tl.histogram(x, 4, mask=x))


def test_histogram_refusals():
    o = np.zeros(4, np.int32)
    with pytest.raises(triton.CompilationError, match="integers"):
        hist_float_kernel[(1,)](np.zeros(8, np.float32), o, N=8)
    with pytest.raises(triton.CompilationError, match="1-D"):
        hist_2d_kernel[(1,)](np.zeros(16, np.int32), o, N=4)
    with pytest.raises(triton.CompilationError, match="boolean"):
        hist_intmask_kernel[(1,)](np.zeros(8, np.int32), o, N=8)
