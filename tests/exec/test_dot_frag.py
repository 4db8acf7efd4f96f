"""Dot results in the matrices' own layout (layout.c layout_frag, emit_dot.c
`frag`): in a kernel that reduces a dot's result along its rows (flash
attention's max and sum of each row of scores), the whole kernel's family is
the 8x8 tiles' element layout, so the scores reach the reductions, the row
scale reaches the carried accumulator and the probabilities reach the next
dot's A operand in registers instead of through threadgroup memory.

The results run where tl.dot takes the simdgroup_matrix path: the M3-Max and
M5 subprocesses of test_dot_simdgroup.py::test_dot_suites_on_simdgroup_path
(Metal's thread_elements() order, reached by shuffles) and the GPU proxy's
cuda targets (the mma.sync fragments, the layout itself). References are
float64; the exact cases use small integers, whose every product and partial
sum is exact in float32, so any order of summation must give their bits."""
import importlib
import math
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
CLI = ROOT / "build" / "triton-metal"
EXAMPLE = ROOT / "examples" / "attention.py"  # its forward kernel is the flash attention these tests run
sys.path.insert(0, str(EXAMPLE.parent))
attention = importlib.import_module("attention")
HW = os.environ.get("TRITON_METAL_HW", "")
INNER = HW in ("M3-Max", "M5") or HW.startswith("cuda")
inner = pytest.mark.skipif(not INNER, reason="runs in the M3-Max subprocess of test_dot_suites_on_simdgroup_path")


@triton.jit
def dot_epilogue(a_ptr, b_ptr, c_ptr, b2_ptr, s_ptr, rmax_ptr, csum_ptr, t_ptr, M: tl.constexpr, N: tl.constexpr,
                 K: tl.constexpr, N2: tl.constexpr):
    """One dot with an acc operand (added in registers), its rows reduced, its
    columns reduced, stored, and fed as A to a second dot."""
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    r2 = tl.arange(0, N2)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
    c = tl.load(c_ptr + rm[:, None] * N + rn[None, :])
    s = tl.dot(a, b, c)
    tl.store(s_ptr + rm[:, None] * N + rn[None, :], s)
    tl.store(rmax_ptr + rm, tl.max(s, 1))
    tl.store(csum_ptr + rn, tl.sum(s, 0))
    b2 = tl.load(b2_ptr + rn[:, None] * N2 + r2[None, :])
    t = tl.dot(s.to(b2.dtype), b2)
    tl.store(t_ptr + rm[:, None] * N2 + r2[None, :], t)


@triton.jit
def carried_from_memory(a_ptr, b_ptr, c_ptr, r_ptr, init_ptr, out_ptr, side_ptr, STEPS: tl.constexpr, M: tl.constexpr,
                        N: tl.constexpr, K: tl.constexpr, D: tl.constexpr):
    """acc loaded (not a splat: it enters the loop's matrices from registers),
    rescaled by rows each step and accumulating the product of another dot's
    rows: acc = acc * r[:, None] + (a @ b) @ c; side sums the rows of a @ b."""
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    rd = tl.arange(0, D)
    acc = tl.load(init_ptr + rm[:, None] * D + rd[None, :])
    side = tl.zeros((M,), dtype=tl.float32)
    for s in range(STEPS):
        a = tl.load(a_ptr + s * M * K + rm[:, None] * K + rk[None, :])
        b = tl.load(b_ptr + s * K * N + rk[:, None] * N + rn[None, :])
        c = tl.load(c_ptr + s * N * D + rn[:, None] * D + rd[None, :])
        r = tl.load(r_ptr + s * M + rm)
        p = tl.dot(a, b)
        side += tl.sum(p, 1)
        acc = acc * r[:, None] + tl.dot(p.to(c.dtype), c)
    tl.store(out_ptr + rm[:, None] * D + rd[None, :], acc)
    tl.store(side_ptr + rm, side)


def attention_reference(q, k, v, causal):
    """The output and the row's log-sum-exp in base 2 of the scaled scores (what the
    example's forward kernel saves for its backward pass)."""
    q, k, v = (t.astype(np.float64) for t in (q, k, v))
    s = q @ np.swapaxes(k, 1, 2) / math.sqrt(q.shape[-1])
    if causal:
        n = s.shape[-1]
        s = np.where(np.tril(np.ones((n, n), bool)), s, -np.inf)
    with np.errstate(invalid="ignore"):
        m = s.max(-1, keepdims=True)
        p = np.exp(s - m)
        lse = (m[..., 0] + np.log(p.sum(-1))) / math.log(2)
        return (p / p.sum(-1, keepdims=True)) @ v, lse


def run_attention(q, k, v, causal, BM, BN, nw):
    """q, k, v: NumPy arrays, or torch tensors (bfloat16), [heads, context, head dim]"""
    BH, ctx, hd = q.shape
    o = q.new_zeros(q.shape) if hasattr(q, "new_zeros") else np.zeros_like(q)
    lse = np.zeros((BH, ctx), np.float32)
    attention.attn_fwd_kernel[(triton.cdiv(ctx, BM), BH)](q, k, v, o, lse, 1 / math.sqrt(hd), 0, hd * ctx, hd, BH, ctx,
                                                         CAUSAL=causal, BLOCK_M=BM, BLOCK_N=BN, HEAD_DIM=hd,
                                                         num_warps=nw)
    return o, lse


# (heads, context, head dim, BLOCK_M, BLOCK_N, num_warps): contexts that are not multiples of
# the blocks (masked rows and columns); 8 and 16 rows a SIMD-group; one SIMD-group
ATTENTION = [(2, 200, 64, 128, 64, 8), (2, 130, 64, 64, 64, 4), (1, 96, 128, 64, 32, 4), (2, 77, 32, 32, 16, 2),
             (1, 40, 16, 16, 16, 1), (1, 64, 64, 64, 64, 2)]


@inner
@pytest.mark.parametrize("BH,ctx,hd,BM,BN,nw", ATTENTION)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_attention(BH, ctx, hd, BM, BN, nw, causal, dtype, rng):
    x = [rng.standard_normal((BH, ctx, hd)) for _ in range(3)]
    if dtype == "bfloat16":
        torch = pytest.importorskip("torch")
        t = [torch.from_numpy(a).to(torch.bfloat16) for a in x]
        o, lse = run_attention(*t, causal, BM, BN, nw)
        o = o.float().numpy().astype(np.float64)
        want, want_lse = attention_reference(*(a.float().numpy() for a in t), causal)
    else:
        q, k, v = (a.astype(dtype) for a in x)
        o, lse = run_attention(q, k, v, causal, BM, BN, nw)
        want, want_lse = attention_reference(q, k, v, causal)
    tol = {"float16": 2e-3, "bfloat16": 2e-2, "float32": 1e-4}[dtype]
    np.testing.assert_allclose(o.astype(np.float64), want, rtol=tol, atol=tol)
    np.testing.assert_allclose(lse, want_lse, rtol=tol, atol=tol)


@inner
def test_attention_nan_stays_in_its_row(rng):
    """A NaN in one query row: that row's output is NaN, no other (the row
    reductions and the row scale never mix rows); a NaN in one key row
    poisons every output row that sees it, as in the reference."""
    BH, ctx, hd = 1, 100, 64
    q, k, v = (rng.standard_normal((BH, ctx, hd)).astype(np.float16) for _ in range(3))
    q[0, 37, 5] = np.nan
    o = run_attention(q, k, v, False, 64, 32, 4)[0].astype(np.float64)
    assert np.isnan(o[0, 37]).all()
    rest = np.delete(o[0], 37, axis=0)
    assert np.isfinite(rest).all()
    np.testing.assert_allclose(rest, np.delete(attention_reference(q, k, v, False)[0][0], 37, axis=0), rtol=2e-3, atol=2e-3)
    k[0, 70, 1] = np.nan  # causal: rows before 70 never see key 70
    q[0, 37, 5] = 0.0
    o = run_attention(q, k, v, True, 64, 32, 4)[0].astype(np.float64)
    assert np.isfinite(o[0, :70]).all() and np.isnan(o[0, 70:]).all()


@inner
@pytest.mark.parametrize("M,N,K,N2,nw", [(64, 32, 16, 16, 4), (128, 64, 32, 32, 8), (32, 16, 8, 8, 2), (16, 8, 8, 8, 1)])
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_dot_epilogue_exact(M, N, K, N2, nw, dtype, rng):
    a = rng.integers(-3, 4, (M, K)).astype(dtype)
    b = rng.integers(-3, 4, (K, N)).astype(dtype)
    c = rng.integers(-8, 9, (M, N)).astype(np.float32)
    b2 = rng.integers(-2, 3, (N, N2)).astype(dtype)
    s, rmax, csum, t = (np.zeros(sh, np.float32) for sh in ((M, N), M, N, (M, N2)))
    dot_epilogue[(1,)](a, b, c, b2, s, rmax, csum, t, M=M, N=N, K=K, N2=N2, num_warps=nw)
    want = a.astype(np.float64) @ b.astype(np.float64) + c
    np.testing.assert_array_equal(s, want)
    np.testing.assert_array_equal(rmax, want.max(1))
    np.testing.assert_array_equal(csum, want.sum(0))
    np.testing.assert_array_equal(t, want.astype(dtype).astype(np.float64) @ b2.astype(np.float64))


@inner
@pytest.mark.parametrize("M,N,K,D,nw", [(64, 32, 16, 32, 4), (128, 64, 32, 64, 8), (32, 16, 16, 8, 2)])
def test_carried_accumulator_from_memory_exact(M, N, K, D, nw, rng):
    steps = 3
    a = rng.integers(-2, 3, (steps, M, K)).astype(np.float16)
    b = rng.integers(-2, 3, (steps, K, N)).astype(np.float16)
    c = rng.integers(-2, 3, (steps, N, D)).astype(np.float16)
    r = rng.choice(np.array([0.5, 1.0, 2.0, -1.0, -0.5], np.float32), (steps, M))
    init = rng.integers(-8, 9, (M, D)).astype(np.float32)
    out = np.zeros((M, D), np.float32)
    side = np.zeros(M, np.float32)
    carried_from_memory[(1,)](a, b, c, r, init, out, side, STEPS=steps, M=M, N=N, K=K, D=D, num_warps=nw)
    acc, want_side = init.astype(np.float64), np.zeros(M)
    for s in range(steps):
        p = a[s].astype(np.float64) @ b[s].astype(np.float64)
        want_side += p.sum(1)
        acc = acc * r[s][:, None] + p @ c[s].astype(np.float64)
    np.testing.assert_array_equal(out, acc)
    np.testing.assert_array_equal(side, want_side)


# ------------------------------------------------------------------ which path

SIGNATURE = "*fp16:16,*fp16:16,*fp16:16,*fp16:16,*fp32:16,fp32,i32:16,i32:16,i32:16,i32,i32"


def explain(target, hd=64, bm=128, nw=8):
    args = [str(CLI), "explain", str(EXAMPLE), "--kernel", "attn_fwd_kernel", "--signature", SIGNATURE, "-D", "CAUSAL=0",
            "-D", f"BLOCK_M={bm}", "-D", "BLOCK_N=64", "-D", f"HEAD_DIM={hd}", "--num-warps", str(nw), "--target", target]
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("target", ["M3-Max", "M5", "cuda-sm90"])
def test_attention_keeps_scores_in_the_matrices_layout(target):
    ex = explain(target)
    assert "layout family: rank 2, sizePerThread [1, 2], threadsPerWarp [8, 4], warpsPerCTA [8, 1], order [1, 0]" in ex, ex
    # q @ k.T: its result reaches the layout in registers; p @ v takes p from registers and
    # rescales the carried accumulator by alpha from registers
    assert "its tile rows 64 apart; to the matrices' layout in registers, where acc is added" in ex, ex
    assert "A 128x64 from its registers (the matrices' layout), B 64x64 staged" in ex, ex
    assert "(acc * r[:, None], r from registers); to the matrices' layout in registers once, after the loop" in ex, ex
    # no layout conversion through threadgroup memory anywhere in the kernel; the loads of
    # q, k and v keep the family's vectors (a layout of their own: they feed only the dots;
    # 8 bytes, as the kernel's widest access, the fp32 lse, sets them)
    assert "layout conversion @" not in ex, ex
    assert len(re.findall(r"load +@\d+:\d+ +<\d+x64x\*fp16> +vector of 4 \(8 bytes\)", ex)) == 5, ex


@pytest.mark.parametrize("target", ["M3-Max", "cuda-sm90"])
def test_head_dim_128_loads_one_tile_ahead(target):
    """In the matrices' layout the K and V tiles of head size 128 (64 bytes a
    thread at 8 SIMD-groups) are loaded one iteration ahead, as head size
    64's are; in the blocked family the limit stays 32 bytes (the scores'
    blocked copy beside the accumulators would spill). The executable
    attention cases run such a kernel (head size 128, 4 SIMD-groups)."""
    ahead = "the next iteration's tile, loaded before the dot (pipelined: one iteration ahead)"
    ex = explain(target, hd=128)
    assert len(re.findall(r"load +@\d+:\d+ +<64x128x\*fp16> .*" + re.escape(ahead), ex)) == 2, ex
    assert ahead not in explain("generic", hd=128)


def test_blocked_family_where_the_matrices_layout_does_not_apply():
    # the emulator's own target has no simdgroup_matrix; on M3-Max a block of rows smaller
    # than 8 rows a SIMD-group keeps the blocked family
    for ex in (explain("generic"), explain("M3-Max", bm=32, nw=8)):
        assert "sizePerThread [1, 2], threadsPerWarp [8, 4]" not in ex, ex
        assert "from its registers" not in ex, ex


@pytest.mark.parametrize("target", ["M3-Max", "cuda-sm90"])
def test_attention_waits_once_per_dot_a_turn(target):
    """The two dots of a turn stage into different elements of the scratch
    (the second after the first's), so neither's closing barrier is needed
    before the other stages: one barrier per dot a turn (after its staging),
    not two. Every executable test runs under the emulator's race checker
    (conftest.py), which fails a launch on a missing barrier."""
    args = [str(CLI), "compile", str(EXAMPLE), "--kernel", "attn_fwd_kernel", "--signature", SIGNATURE, "-D", "CAUSAL=0",
            "-D", "BLOCK_M=128", "-D", "BLOCK_N=64", "-D", "HEAD_DIM=64", "--num-warps", "8", "--target", target]
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    ex = subprocess.run([str(CLI), "explain", *args[2:]], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert "staged after the previous dot's operands, without waiting for their readers" in ex, ex
    loop = re.split(r"for \(int r\d+_0 = 0;", r.stdout)
    assert len(loop) == 2, r.stdout[-3000:]
    assert loop[1].count("threadgroup_barrier(") == 2, loop[1]
    # K's rows (64 of 64 + 8 halves) from element 0, V's after them
    assert re.search(r"TM_TG_VSTORE\(uint\d?, TM_TGM\(tm_smem_half, \d+\), 4608 \+ ", loop[1]), loop[1]
