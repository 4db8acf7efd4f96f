"""Matrix multiplication: the workload of the third Triton tutorial, run on triton-metal.

C = act(A @ B) with float16 A and B, a float32 accumulator and a float16 result.
Each program computes one BLOCK_M x BLOCK_N tile of C, walking K in BLOCK_K
steps (the last step masked). Programs are numbered so that GROUP_M consecutive
ones share a band of rows of A and sweep the columns of B together:

    pid:   0  3  6  9          without grouping, pids 0..3 would cover one row of
           1  4  7 10          tiles and need all of B; with GROUP_M = 3 the first
           2  5  8 11          four pids need 3 bands of A and 2 of B
          12 13 14 15          (the last group is shorter: GROUP_M is clipped)

so the tiles that run at the same time reuse each other's operands in cache.

    python examples/matmul.py
"""
import numpy as np

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def leaky_relu(x, slope: tl.constexpr):
    return tl.where(x >= 0, x, slope * x)


@triton.jit
def grouped_tile(pid, M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    """The (row tile, column tile) of program pid in grouped order."""
    tiles_m = tl.cdiv(M, BLOCK_M)
    tiles_n = tl.cdiv(N, BLOCK_N)
    per_group = GROUP_M * tiles_n
    group = pid // per_group
    first_m = group * GROUP_M
    rows_in_group = min(tiles_m - first_m, GROUP_M)
    within = pid % per_group
    return first_m + within % rows_in_group, within // rows_in_group


@triton.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K,
                  stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                  GROUP_M: tl.constexpr, ACTIVATION: tl.constexpr):
    tile_m, tile_n = grouped_tile(tl.program_id(0), M, N, BLOCK_M, BLOCK_N, GROUP_M)
    rows = tile_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tile_n * BLOCK_N + tl.arange(0, BLOCK_N)
    ks = tl.arange(0, BLOCK_K)
    a_tile = a_ptr + rows[:, None] * stride_am + ks[None, :] * stride_ak
    b_tile = b_ptr + ks[:, None] * stride_bk + cols[None, :] * stride_bn
    row_ok = rows[:, None] < M
    col_ok = cols[None, :] < N
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k_left = K - k0
        a = tl.load(a_tile, mask=row_ok & (ks[None, :] < k_left), other=0.0)
        b = tl.load(b_tile, mask=(ks[:, None] < k_left) & col_ok, other=0.0)
        acc = tl.dot(a, b, acc)
        a_tile += BLOCK_K * stride_ak
        b_tile += BLOCK_K * stride_bk
    # the epilogue runs on the float32 accumulator, before rounding to float16
    if ACTIVATION == "leaky_relu":
        acc = leaky_relu(acc, 0.01)
    tl.store(c_ptr + rows[:, None] * stride_cm + cols[None, :] * stride_cn,
             acc.to(tl.float16), mask=row_ok & col_ok)


def dense(x: np.ndarray):
    """(a C-contiguous array over x's memory, x's strides in elements). The launcher
    binds C-contiguous arrays; a transposed view is bound through its transpose,
    which is contiguous, and the kernel walks it with the view's strides."""
    if not x.flags.c_contiguous and x.flags.f_contiguous:
        return x.T, tuple(s // x.itemsize for s in x.strides)
    x = np.ascontiguousarray(x)
    return x, tuple(s // x.itemsize for s in x.strides)


def matmul(a: np.ndarray, b: np.ndarray, activation: str = "", block_m: int = 32, block_n: int = 32,
           block_k: int = 32, group_m: int = 4) -> np.ndarray:
    assert a.dtype == b.dtype == np.float16 and a.shape[1] == b.shape[0]
    M, K = a.shape
    N = b.shape[1]
    c = np.empty((M, N), np.float16)
    (a_mem, (sam, sak)), (b_mem, (sbk, sbn)) = dense(a), dense(b)
    grid = (triton.cdiv(M, block_m) * triton.cdiv(N, block_n),)
    matmul_kernel[grid](a_mem, b_mem, c, M, N, K, sam, sak, sbk, sbn, N, 1,
                        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, GROUP_M=group_m,
                        ACTIVATION=activation, num_warps=4)
    return c


def matmul_reference(a: np.ndarray, b: np.ndarray, activation: str = "") -> np.ndarray:
    c = a.astype(np.float64) @ b.astype(np.float64)
    if activation == "leaky_relu":
        c = np.where(c >= 0, c, 0.01 * c)
    return c


def close_to_fp16(c: np.ndarray, a: np.ndarray, b: np.ndarray, ref: np.ndarray) -> bool:
    """Products of float16 values are exact in float32; summing K of them in float32
    errs by at most K * 2**-24 * (|A| @ |B|) (the classic bound), and rounding the
    result to float16 adds at most 2**-11 relative."""
    acc_err = a.shape[1] * 2.0 ** -24 * (np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)))
    bound = 2.0 ** -11 * (np.abs(ref) + acc_err) + acc_err
    return bool(np.all(np.abs(c.astype(np.float64) - ref) <= bound))


def main(M: int = 300, N: int = 200, K: int = 150) -> bool:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((M, K)).astype(np.float16)
    b = rng.standard_normal((K, N)).astype(np.float16)
    ok = True
    for act in ("", "leaky_relu"):
        ok &= close_to_fp16(matmul(a, b, act), a, b, matmul_reference(a, b, act))
    # a transposed (non-contiguous) B goes through the strides
    bt = np.ascontiguousarray(b.T).T
    ok &= close_to_fp16(matmul(a, bt, "leaky_relu"), a, b, matmul_reference(a, b, "leaky_relu"))
    print(f"matmul {M}x{K} @ {K}x{N} float16 (float32 accumulate, leaky ReLU epilogue): "
          f"{'matches' if ok else 'DOES NOT MATCH'} NumPy")
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
