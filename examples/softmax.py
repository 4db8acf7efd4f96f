"""Fused row softmax: the workload of the second Triton tutorial, run on triton-metal.

Each program owns a strided set of rows (a persistent kernel: the grid is
smaller than the number of rows). A whole row sits in one block, so the max,
the exponentials, their sum and the division all happen on data that was read
from memory once and is written once.

    python examples/softmax.py
"""
import numpy as np

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def softmax_kernel(out_ptr, in_ptr, in_row_stride, out_row_stride, n_rows, n_cols,
                   BLOCK_COLS: tl.constexpr, NUM_STAGES: tl.constexpr):
    first_row = tl.program_id(0)
    row_step = tl.num_programs(0)
    cols = tl.arange(0, BLOCK_COLS)
    in_bounds = cols < n_cols
    for row in tl.range(first_row, n_rows, row_step, num_stages=NUM_STAGES):
        # lanes past the end of the row read -inf: they never win the max and
        # their exponential is exactly 0, so they drop out of the sum too
        x = tl.load(in_ptr + row * in_row_stride + cols, mask=in_bounds, other=-float("inf"))
        shifted = x - tl.max(x, axis=0)
        e = tl.exp(shifted)
        y = e / tl.sum(e, axis=0)
        tl.store(out_ptr + row * out_row_stride + cols, y, mask=in_bounds)


def softmax(x: np.ndarray, num_programs: int = 8, num_warps: int = 4) -> np.ndarray:
    """Softmax over the last axis of a 2-D float32 array."""
    n_rows, n_cols = x.shape
    out = np.empty_like(x)
    block = triton.next_power_of_2(n_cols)
    grid = (min(num_programs, n_rows),)
    softmax_kernel[grid](out, x, x.strides[0] // x.itemsize, out.strides[0] // out.itemsize,
                         n_rows, n_cols, BLOCK_COLS=block, NUM_STAGES=2, num_warps=num_warps)
    return out


def softmax_reference(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main(n_rows: int = 1823, n_cols: int = 781) -> bool:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((n_rows, n_cols)) * 4).astype(np.float32)
    out = softmax(x)
    # float32 exp and a sum over n_cols terms: a few ulps per element
    ok = np.allclose(out, softmax_reference(x), rtol=1e-5, atol=1e-7)
    ok &= np.allclose(out.sum(axis=1), 1.0, rtol=0, atol=1e-5)
    print(f"fused softmax of {n_rows}x{n_cols} float32: {'matches' if ok else 'DOES NOT MATCH'} NumPy")
    return bool(ok)


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
