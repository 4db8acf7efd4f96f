"""Shared helpers for the executable tests: random data with the values that
break kernels (negatives, NaN, +-inf, zeros) and sizes that are not multiples
of the block."""
import os

import numpy as np
import pytest

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


# Where the executable tests run other than on the emulator (the GPU proxy:
# TRITON_METAL_HW=cuda-sm90 TRITON_METAL_DEVICE=cuda, bench/proxy_gpu.sh),
# the few that check something only the emulator or the MSL dialect has say so.
ON_CUDA_TARGET = os.environ.get("TRITON_METAL_HW", "").startswith("cuda")
ON_CUDA_DEVICE = os.environ.get("TRITON_METAL_DEVICE", "") == "cuda"
msl_text = pytest.mark.skipif(ON_CUDA_TARGET, reason="checks the MSL dialect's text or an Apple target's choice of path; "
                                                     "the CUDA dialect spells and chooses otherwise (results are checked "
                                                     "by the other tests)")
emulator_only = pytest.mark.skipif(ON_CUDA_DEVICE, reason="checks the emulator's own reports or schedules, or runs a "
                                                          "subprocess for an Apple target on it")


def rebuild(*kernels):
    """Drops the kernels' compiled specializations, so that their next launch
    loads its object again under the environment as it is then (the emulator
    reads TRITON_METAL_RACECHECK, like its other build settings, when it builds
    an object; a kernel keeps the module it first loaded)."""
    for k in kernels:
        with k._cache_lock:
            k.cache = {}
        if k.fast_cache is not None:
            k.fast_cache.clear()
