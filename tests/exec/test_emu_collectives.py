"""The emulator's two ways of running SIMD-group collectives give the same bits.

By default the lane that completes a collective computes it for its whole
SIMD-group (folds, votes, prefix sums once; simdgroup_matrix multiplies as whole
8x8 tiles), and without the race checker simdgroup_matrix operations need no
rendezvous at all (the shim's fast path); TRITON_METAL_CPU_COLLECTIVES=per-lane
makes every lane compute its own result from the other lanes' values, the
emulator's original path (runtime/cpu/metal_stdlib, "SIMD-group collectives"). The variable is read at
every launch, so each kernel here is the same compiled object run both ways,
and the outputs must be equal bit for bit: reductions, scans, dots and the
attention forward pass, with NaN, infinities, negative zeros and negatives in
the data, masked lanes and sizes that are not multiples of the block. The
tl.dot cases run again in a subprocess compiled for M3-Max, where tl.dot takes
the simdgroup_matrix path (TRITON_METAL_HW is read once per process).
(tests/unit/test_emu_collectives.c does the same for every collective of the
shim directly.)"""
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from exec_data import emulator_only, rebuild, special_floats

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
M3 = os.environ.get("TRITON_METAL_HW") == "M3-Max"


def both_ways(monkeypatch, launch, outputs, kernels):
    """Runs launch() on the default path and on the per-lane path, with the race
    checker (as every executable test) and without it: without it, on a whole
    SIMD-group, simdgroup_matrix loads, stores and multiplies take the shim's
    fast path (no rendezvous: the first lane's record of each load, each lane's
    two products from the records). The arrays in outputs (filled by launch)
    must come out bit-identical all three ways."""
    got = []
    for mode, race in (("once", "1"), ("per-lane", "1"), ("once", "0")):
        monkeypatch.setenv("TRITON_METAL_CPU_COLLECTIVES", mode)
        monkeypatch.setenv("TRITON_METAL_RACECHECK", race)
        rebuild(*kernels)
        for o in outputs:
            o.fill(0)
        launch()
        got.append([o.copy() for o in outputs])
    for a, b in [p for other in got[1:] for p in zip(got[0], other)]:
        assert a.dtype == b.dtype
        ua, ub = a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}")
        bad = np.flatnonzero(ua != ub)
        assert bad.size == 0, f"{bad.size} elements differ, first at {bad[0]}: {a.flat[bad[0]]!r} vs {b.flat[bad[0]]!r}"
    return got[0]


@triton.jit
def row_stats(x_ptr, sum_ptr, max_ptr, min_ptr, arg_ptr, sm_ptr, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    mask = offs < n_cols
    x = tl.load(x_ptr + row * n_cols + offs, mask=mask, other=0.0)
    tl.store(sum_ptr + row, tl.sum(x, axis=0))
    xm = tl.where(mask, x, -float("inf"))
    tl.store(max_ptr + row, tl.max(xm, axis=0))
    tl.store(min_ptr + row, tl.min(tl.where(mask, x, float("inf")), axis=0))
    tl.store(arg_ptr + row, tl.argmax(xm, axis=0))
    e = tl.exp(xm - tl.max(xm, axis=0))
    tl.store(sm_ptr + row * n_cols + offs, e / tl.sum(e, axis=0), mask=mask)


@pytest.mark.skipif(M3, reason="the generic target's collectives run in the parent")
@pytest.mark.parametrize("n_cols,block,num_warps", [(1, 32, 1), (100, 128, 4), (781, 1024, 4), (1000, 1024, 8)])
def test_reductions(n_cols, block, num_warps, rng, monkeypatch):
    rows = 9
    x = special_floats(rows * n_cols, np.float32, rng).reshape(rows, n_cols)
    x[1] = np.abs(x[1]) + 1  # a row without specials: finite sums that depend on their order
    s, mx, mn = (np.zeros(rows, np.float32) for _ in range(3))
    arg = np.zeros(rows, np.int32)
    sm = np.zeros_like(x)
    both_ways(monkeypatch, lambda: row_stats[(rows,)](x, s, mx, mn, arg, sm, n_cols, BLOCK=block,
                                                        num_warps=num_warps),
              [s, mx, mn, arg, sm], [row_stats])
    np.testing.assert_allclose(s[1], x[1].sum(dtype=np.float64), rtol=1e-5)


@triton.jit
def scans(x_ptr, cs_ptr, cp_ptr, rc_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    tl.store(cs_ptr + offs, tl.cumsum(x, axis=0), mask=mask)
    tl.store(cp_ptr + offs, tl.cumprod(tl.where(mask, x, 1.0), axis=0), mask=mask)
    tl.store(rc_ptr + offs, tl.cumsum(x, axis=0, reverse=True), mask=mask)


@pytest.mark.skipif(M3, reason="the generic target's collectives run in the parent")
@pytest.mark.parametrize("n,block,num_warps", [(37, 64, 1), (1000, 1024, 4), (129, 256, 2)])
def test_scans(n, block, num_warps, rng, monkeypatch):
    x = special_floats(n, np.float32, rng)
    x[: n // 2] = rng.standard_normal(n // 2).astype(np.float32) * 1e4  # order-sensitive sums before the specials
    cs, cp, rc = (np.zeros(n, np.float32) for _ in range(3))
    both_ways(monkeypatch, lambda: scans[(1,)](x, cs, cp, rc, n, BLOCK=block, num_warps=num_warps), [cs, cp, rc],
              [scans])


@triton.jit
def matmul(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    pm, pn = tl.program_id(0), tl.program_id(1)
    rm = pm * BM + tl.arange(0, BM)
    rn = pn * BN + tl.arange(0, BN)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, K, BK):
        rk = k0 + tl.arange(0, BK)
        a = tl.load(a_ptr + rm[:, None] * K + rk[None, :], mask=(rm[:, None] < M) & (rk[None, :] < K), other=0.0)
        b = tl.load(b_ptr + rk[:, None] * N + rn[None, :], mask=(rk[:, None] < K) & (rn[None, :] < N), other=0.0)
        acc = tl.dot(a, b, acc)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("M,N,K", [(37, 45, 29), (64, 64, 64)])
def test_dot(dtype, M, N, K, rng, monkeypatch):
    a = (rng.standard_normal((M, K)) * 3).astype(dtype)
    b = (rng.standard_normal((K, N)) * 3).astype(dtype)
    a[3, 5], a[7, 1], b[2, 4], b[0, 0] = np.nan, np.inf, -np.inf, -0.0
    c = np.zeros((M, N), np.float32)
    grid = (math.ceil(M / 32), math.ceil(N / 32))
    both_ways(monkeypatch, lambda: matmul[grid](a, b, c, M, N, K, BM=32, BN=32, BK=16), [c], [matmul])
    # the rows and columns away from the specials are a real product
    with np.errstate(invalid="ignore"):
        ref = a.astype(np.float64) @ b.astype(np.float64)
    ok = np.isfinite(ref)
    np.testing.assert_allclose(c[ok], ref[ok], rtol=2e-3, atol=2e-2)


@triton.jit
def attn_fwd(Q, K, V, Out, sm_scale, N_CTX, HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # bench/kernels/attention.py's online-softmax forward pass
    start_m = tl.program_id(0)
    base = tl.program_id(1) * N_CTX * HEAD_DIM
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    q = tl.load(Q + base + offs_m[:, None] * HEAD_DIM + offs_d[None, :])
    m_i = tl.zeros([BLOCK_M], dtype=tl.float32) - float("inf")
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32) + 1.0
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    qk_scale = sm_scale * 1.44269504
    for start_n in range(0, N_CTX, BLOCK_N):
        k = tl.load(K + base + (start_n + offs_n)[None, :] * HEAD_DIM + offs_d[:, None])
        qk = tl.dot(q, k) * qk_scale
        m_ij = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.math.exp2(qk - m_ij[:, None])
        alpha = tl.math.exp2(m_i - m_ij)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None]
        v = tl.load(V + base + (start_n + offs_n)[:, None] * HEAD_DIM + offs_d[None, :])
        acc = tl.dot(p, v, acc)
        m_i = m_ij
    acc = acc / l_i[:, None]
    tl.store(Out + base + offs_m[:, None] * HEAD_DIM + offs_d[None, :], acc)


def test_attention(rng, monkeypatch):
    bh, n_ctx, d = 2, 128, 32
    q, k, v = ((rng.standard_normal((bh, n_ctx, d)) * 2).astype(np.float32) for _ in range(3))
    q[0, 5, 3] = np.nan
    k[1, 7, :] = -1e30  # a key no query attends to: exp2 underflows to 0
    out = np.zeros_like(q)
    scale = 1 / math.sqrt(d)
    both_ways(monkeypatch, lambda: attn_fwd[(n_ctx // 32, bh)](q, k, v, out, scale, n_ctx, HEAD_DIM=d, BLOCK_M=32,
                                                               BLOCK_N=32),
              [out], [attn_fwd])
    assert np.isnan(out[0, 5]).all() and np.isfinite(out[1]).all()


@emulator_only
@pytest.mark.skipif(M3, reason="already in the subprocess")
def test_dot_on_simdgroup_path():
    """The tl.dot cases again with TRITON_METAL_HW=M3-Max: simdgroup_matrix tiles."""
    env = dict(os.environ, TRITON_METAL_HW="M3-Max", PYTHONPATH=str(ROOT / "python"))
    env.pop("TRITON_METAL_CPU_COLLECTIVES", None)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
                       cwd=ROOT / "tests" / "exec", env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "failed" not in r.stdout
