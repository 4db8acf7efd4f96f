"""tl.dot operand loads issued one iteration ahead (src/pipeline.c): the loop
carries the loaded tile, and the body loads the next iteration's before the
dot, masked off past the loop's end.

The results run where tl.dot takes the simdgroup_matrix path: the M3-Max / M5
subprocesses of test_dot_simdgroup.py::test_dot_suites_on_simdgroup_path and
the GPU proxy's CUDA runs (the emulator's own target has no latency to hide,
so no pipelining); the path checks read the CLI's output. On the emulator
every access is bounds-checked: a prefetch past the end that was not masked
off fails the launch."""
import os
import pathlib
import subprocess

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
CLI = ROOT / "build" / "triton-metal"
HW = os.environ.get("TRITON_METAL_HW", "")
INNER = HW in ("M3-Max", "M5") or HW.startswith("cuda")
inner = pytest.mark.skipif(not INNER, reason="runs in the M3-Max subprocess of test_dot_suites_on_simdgroup_path")


@triton.jit
def mm_loop(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, MASKED: tl.constexpr,
            FORM: tl.constexpr):
    rm = tl.arange(0, BM)
    rn = tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    a_ptrs = a_ptr + rm[:, None] * K + rk[None, :]
    b_ptrs = b_ptr + rk[:, None] * N + rn[None, :]
    for k0 in range(0, K, BK):
        if FORM == 0:  # carried pointers, advanced after the dot (the tutorial's loop)
            if MASKED:
                a = tl.load(a_ptrs, mask=(rm[:, None] < M) & (rk[None, :] < K - k0), other=0.0)
                b = tl.load(b_ptrs, mask=(rk[:, None] < K - k0) & (rn[None, :] < N), other=0.0)
            else:
                a = tl.load(a_ptrs)
                b = tl.load(b_ptrs)
            acc = tl.dot(a, b, acc)
            a_ptrs += BK
            b_ptrs += BK * N
        else:  # addresses from the induction variable; B as the transpose of a tile of B^T
            ka = k0 + rk
            a = tl.load(a_ptr + rm[:, None] * K + ka[None, :], mask=(rm[:, None] < M) & (ka[None, :] < K), other=0.0)
            bt = tl.load(b_ptr + ka[None, :] * N + rn[:, None], mask=(ka[None, :] < K) & (rn[:, None] < N), other=0.0)
            acc += tl.dot(a, tl.trans(bt))
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.jit
def mm_loop_reduce(a_ptr, b_ptr, c_ptr, m_ptr, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    # a reduction in the body besides the dot (the carried acc read twice: not kept in matrices)
    rm = tl.arange(0, BM)
    rn = tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    big = tl.full((BM,), -float("inf"), dtype=tl.float32)
    for k0 in range(0, K, BK):
        a = tl.load(a_ptr + rm[:, None] * K + (k0 + rk)[None, :], mask=(k0 + rk)[None, :] < K, other=0.0)
        b = tl.load(b_ptr + (k0 + rk)[:, None] * BN + rn[None, :], mask=(k0 + rk)[:, None] < K, other=0.0)
        acc = tl.dot(a, b, acc)
        big = tl.maximum(big, tl.max(acc, axis=1))
    tl.store(c_ptr + rm[:, None] * BN + rn[None, :], acc)
    tl.store(m_ptr + rm, big)


@triton.jit
def mm_loop_with_store(a_ptr, b_ptr, c_ptr, log_ptr, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    # a store in the body: nothing is moved (a later iteration could read what it wrote)
    rm = tl.arange(0, BM)
    rn = tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, K, BK):
        a = tl.load(a_ptr + rm[:, None] * K + (k0 + rk)[None, :])
        b = tl.load(b_ptr + (k0 + rk)[:, None] * BN + rn[None, :])
        acc = tl.dot(a, b, acc)
        tl.store(log_ptr + k0 // BK, tl.sum(tl.sum(acc, axis=1), axis=0))
    tl.store(c_ptr + rm[:, None] * BN + rn[None, :], acc)


def run_mm(M, N, K, BM, BN, BK, masked, form, dtype, rng, nw=4):
    a = rng.integers(-3, 4, (M, K)).astype(dtype)
    b = rng.integers(-3, 4, (K, N)).astype(dtype)
    c = np.full((M, N), np.nan, np.float32)
    mm_loop[(1,)](a, b, c, M, N, K, BM=BM, BN=BN, BK=BK, MASKED=masked, FORM=form, num_warps=nw)
    return a, b, c


@inner
@pytest.mark.parametrize("M,N,K,BM,BN,BK", [(32, 32, 64, 32, 32, 16), (30, 27, 50, 32, 32, 16), (64, 64, 16, 64, 64, 16),
                                            (16, 16, 8, 16, 16, 16), (64, 32, 0, 64, 32, 16), (48, 64, 100, 64, 64, 32)])
@pytest.mark.parametrize("form", [0, 1])
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_pipelined_k_loop(M, N, K, BM, BN, BK, form, dtype, rng):
    """Ragged M, N and K, one iteration, a partial one, none (K = 0: the first
    tile's load is masked off entirely): exact integers, the reference's bits."""
    a, b, c = run_mm(M, N, K, BM, BN, BK, 1, form, dtype, rng)
    want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_array_equal(c, want.astype(np.float32))


@inner
@pytest.mark.parametrize("K", [16, 64, 112])
def test_pipelined_unmasked_loads_stop_at_the_end(K, rng):
    """Unmasked loads: the last iteration's prefetch of the next tile would
    read past both matrices; it is masked off (the emulator checks every
    access against its buffer, so a read past the end fails the launch)."""
    a, b, c = run_mm(32, 32, K, 32, 32, 16, 0, 0, np.float16, rng)
    np.testing.assert_array_equal(c, (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32))


@inner
def test_store_in_the_loop_keeps_its_order(rng):
    BM = BN = 32
    BK, K = 16, 64
    a = rng.integers(-3, 4, (BM, K)).astype(np.float16)
    b = rng.integers(-3, 4, (K, BN)).astype(np.float16)
    c, log = np.zeros((BM, BN), np.float32), np.zeros(K // BK, np.float32)
    mm_loop_with_store[(1,)](a, b, c, log, K, BM=BM, BN=BN, BK=BK)
    want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_array_equal(c, want.astype(np.float32))
    parts = [(a[:, :k].astype(np.float64) @ b[:k].astype(np.float64)).sum() for k in range(BK, K + 1, BK)]
    np.testing.assert_array_equal(log, np.array(parts, np.float32))


@inner
@pytest.mark.parametrize("K", [0, 16, 40, 64])
def test_pipelined_with_a_reduction_in_the_body(K, rng):
    BM = BN = 32
    a = rng.integers(-3, 4, (BM, K)).astype(np.float16)
    b = rng.integers(-3, 4, (K, BN)).astype(np.float16)
    c, m = np.zeros((BM, BN), np.float32), np.zeros(BM, np.float32)
    mm_loop_reduce[(1,)](a, b, c, m, K, BM=BM, BN=BN, BK=16)
    np.testing.assert_array_equal(c, (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32))
    want = np.full(BM, -np.inf)
    for k in range(16, K + 15, 16):
        want = np.maximum(want, (a[:, :k].astype(np.float64) @ b[:k].astype(np.float64)).max(1))
    np.testing.assert_array_equal(m, want.astype(np.float32))


# ------------------------------------------------------------------ which loads

def explain(target, kernel="mm_loop", defines=("BM=32", "BN=32", "BK=16", "MASKED=1", "FORM=0"), sig=None):
    sig = sig or "*fp16,*fp16,*fp32,i32,i32,i32"
    args = [str(CLI), "explain", __file__, "--kernel", kernel, "--signature", sig, "--target", target]
    for d in defines:
        args += ["-D", d]
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("target", ["M3-Max", "cuda-sm90"])
@pytest.mark.parametrize("form", [0, 1])
def test_dot_operand_loads_are_pipelined(target, form):
    ex = explain(target, defines=("BM=32", "BN=32", "BK=16", "MASKED=1", f"FORM={form}"))
    assert ex.count("the loop's first tile, loaded before the loop") == 2, ex
    assert ex.count("the next iteration's tile, loaded before the dot") == 2, ex
    assert ex.count("load   @") == 4, ex  # the loads in their old place are gone
    ex = explain(target, kernel="mm_loop_reduce", defines=("BM=32", "BN=32", "BK=16"), sig="*fp16,*fp16,*fp32,*fp32,i32")
    assert ex.count("the next iteration's tile, loaded before the dot") == 2 and ex.count("load   @") == 4, ex


def test_what_is_not_pipelined():
    # the emulator's own target: no simdgroup_matrix, nothing moved
    assert "one iteration ahead" not in explain("generic")
    # a store in the body
    ex = explain("M3-Max", kernel="mm_loop_with_store", defines=("BM=32", "BN=32", "BK=16"),
                 sig="*fp16,*fp16,*fp32,*fp32,i32")
    assert "one iteration ahead" not in ex, ex
    # a tile of more than 32 bytes a thread (64x64 fp32 on 4 SIMD-groups: 32 elements)
    ex = explain("M3-Max", defines=("BM=64", "BN=64", "BK=64", "MASKED=1", "FORM=0"), sig="*fp32,*fp32,*fp32,i32,i32,i32")
    assert "one iteration ahead" not in ex, ex
