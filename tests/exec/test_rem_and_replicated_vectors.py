"""Two facts axis.c proves for vector accesses (each a silent wrong answer if
proved wrongly, so every case compares with NumPy on random data, with the
wrap or the duplicate placed where a vector would straddle it):

- `x % n` for a uniform n: x's runs split where x passes a multiple of n, so
  runs of the largest power of two dividing x's run length, its start and n
  stay whole (x non-negative, as upstream's analysis takes it). The tutorial
  matmul's `offs_bn = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N` gets
  vector loads when N is specialized as a multiple of 16, scalar ones when not.
- a load whose layout holds duplicates (a block smaller than the layout's
  tile, as a dot's K-wide operand tile) moves as vectors too: a duplicate
  reads the same run its original reads. (A store of such a layout stays
  scalar: only the original writes.)
"""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def gather_rem(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = (tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)) % n
    tl.store(y_ptr + tl.program_id(0) * BLOCK + tl.arange(0, BLOCK), tl.load(x_ptr + offs) + 1.0)


@pytest.mark.parametrize("n", [16, 48, 64, 80, 256, 1000, 1024, 7, 20, 100])
@pytest.mark.parametrize("BLOCK", [64, 256])
def test_rem_offsets(n, BLOCK, rng):
    progs = 5
    x = rng.standard_normal(max(n, 1)).astype(np.float32)
    y = np.full(progs * BLOCK, -7.0, np.float32)
    gather_rem[(progs,)](x, y, n, BLOCK=BLOCK)
    np.testing.assert_array_equal(y, x[np.arange(progs * BLOCK) % n] + np.float32(1.0))
    text = gather_rem.explain(x, y, n, BLOCK=BLOCK)
    load = [l for l in text.splitlines() if l.strip().startswith("load")][0]
    if n % 16 == 0:  # specialized as a multiple of 16: runs of 16 stay whole
        assert "vector of" in load or "contiguity 16," in load, load  # (a vector where a thread has 2+)
    else:
        assert "scalar" in load and "contiguity 1," in load, load


@triton.jit
def rem_2d(a_ptr, c_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    # the tutorial's wrapped row and column offsets, a 2-D tile
    rm = (tl.program_id(0) * BM + tl.arange(0, BM)) % M
    rn = (tl.program_id(1) * BN + tl.arange(0, BN)) % N
    a = tl.load(a_ptr + rm[:, None] * N + rn[None, :])
    om = tl.program_id(0) * BM + tl.arange(0, BM)
    on = tl.program_id(1) * BN + tl.arange(0, BN)
    tl.store(c_ptr + om[:, None] * (BN * tl.num_programs(1)) + on[None, :], a * 2.0)


@pytest.mark.parametrize("M,N", [(48, 32), (100, 80), (64, 48), (30, 20)])
def test_rem_tile(M, N, rng):
    BM, BN, gm, gn = 32, 64, 3, 2
    a = rng.standard_normal((M, N)).astype(np.float32)
    c = np.zeros((gm * BM, gn * BN), np.float32)
    rem_2d[(gm, gn)](a, c, M, N, BM=BM, BN=BN, num_warps=4)
    r = np.arange(gm * BM) % M
    s = np.arange(gn * BN) % N
    np.testing.assert_array_equal(c, a[r][:, s] * np.float32(2.0))


@triton.jit
def tiled_matmul(a_ptr, b_ptr, c_ptr, M, N, K, stride_am, stride_bk, stride_cm,
                 BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    # upstream's tutorial shape: wrapped row and column offsets, pointers
    # advanced through the K loop, K masked; its A tile (BM x BK) takes the
    # family of the BM x BN accumulator, whose tile along K is wider than BK:
    # every element of it is held twice
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_am = (pid_m * BM + tl.arange(0, BM)) % M
    offs_bn = (pid_n * BN + tl.arange(0, BN)) % N
    offs_k = tl.arange(0, BK)
    a_ptrs = a_ptr + offs_am[:, None] * stride_am + offs_k[None, :]
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_bn[None, :]
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BK)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BK, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BK, other=0.0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BK
        b_ptrs += BK * stride_bk
    offs_cm = pid_m * BM + tl.arange(0, BM)
    offs_cn = pid_n * BN + tl.arange(0, BN)
    tl.store(c_ptr + offs_cm[:, None] * stride_cm + offs_cn[None, :], acc,
             mask=(offs_cm[:, None] < M) & (offs_cn[None, :] < N))


@pytest.mark.parametrize("M,N,K", [(64, 64, 32), (96, 80, 48), (128, 64, 80), (100, 70, 40), (64, 128, 256)])
def test_replicated_vector_loads(M, N, K, rng):
    BM, BN, BK = 64, 64, 32
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    c = np.full((M, N), -7.0, np.float32)
    grid = (triton.cdiv(M, BM), triton.cdiv(N, BN))
    args = (a, b, c, M, N, K, K, N, N)
    tiled_matmul[grid](*args, BM=BM, BN=BN, BK=BK, num_warps=4)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    text = tiled_matmul.explain(*args, BM=BM, BN=BN, BK=BK, num_warps=4)
    values = [l for l in text.splitlines() if " load " in l and "<64x32xfp32>" in l]
    assert values and "replicated" in values[0], text  # the A tile: duplicates
    loads = [l for l in text.splitlines() if l.strip().startswith("load")]
    if all(x % 16 == 0 for x in (M, N, K)):  # specialized multiples of 16: vectors
        assert len(loads) == 2 and all("vector of 4" in l for l in loads), loads
