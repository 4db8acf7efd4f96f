"""Shared helpers for the executable tests: random data with the values that
break kernels (negatives, NaN, +-inf, zeros) and sizes that are not multiples
of the block."""
import numpy as np

SIZES = [1, 7, 127, 128, 1000, 1025, 4099]


def special_floats(n, dtype, rng):
    x = (rng.standard_normal(n) * 10).astype(dtype)
    if n >= 8:
        idx = rng.choice(n, size=max(4, n // 16), replace=False)
        vals = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-3, -65504.0], dtype=dtype)
        x[idx] = vals[rng.integers(0, len(vals), size=len(idx))]
    return x


def random_ints(n, dtype, rng, lo=None, hi=None):
    info = np.iinfo(dtype)
    lo = info.min if lo is None else lo
    hi = info.max if hi is None else hi
    x = rng.integers(lo, hi, size=n, dtype=np.int64 if info.min < 0 else np.uint64, endpoint=True).astype(dtype)
    if n >= 4:
        x[:4] = np.array([info.min, info.max, 0, -1 if info.min < 0 else 1], dtype=np.int64 if info.min < 0 else np.uint64).astype(dtype)
    return x


def kernel_body(k):
    """The kernel function's text, without the dialect's prelude: the prelude
    defines the SIMD-group functions and barriers by name (the CUDA one spells
    out every Metal function it stands in for), so a test that asks whether the
    kernel uses one must look at the kernel alone, on either dialect."""
    text = k.asm["msl"]
    i = max(text.rfind("kernel void "), text.rfind("__global__ void"))
    assert i >= 0, "no kernel function in the emitted text"
    return text[i:]
