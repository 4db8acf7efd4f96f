"""Fused attention, forward and backward: the workload of the sixth Triton
tutorial (flash attention), run on triton-metal.

    O = softmax(Q K^T * sm_scale [+ causal mask]) V        per (batch, head)

Forward: one program per BLOCK_M query rows of one head. It walks the keys in
BLOCK_N blocks and never holds a whole row of scores: it keeps, per query row,
the running maximum m and the running sum l of exp(score - m), and rescales the
partial output whenever m grows (the online softmax). Scores are taken in base 2:
multiplying by sm_scale * log2(e) once lets every exponential be an exp2. The
row's log-sum-exp (base 2), m + log2(l), is saved for the backward pass.

With the causal mask a query block only needs the key blocks up to its diagonal:

    key blocks:   0   1   2   3
    q block 2:  [ full  full diag ]   full blocks need no mask; only the
                                      diagonal ones compare row and column

Backward, with D_i = sum_j dO_ij O_ij (a small kernel):
    P = exp2(S * scale * log2 e - lse)   recomputed from Q, K and the saved lse
    dV = P^T dO     dP = dO V^T     dS = P * (dP - D)     dQ = dS K * scale     dK = dS^T Q * scale
one kernel per BLOCK_N keys (dK, dV: loops over the query blocks that see them)
and one per BLOCK_M queries (dQ: loops over the key blocks they see).

    python examples/attention.py
"""
import math

import numpy as np

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def attn_fwd_block(acc, l_i, m_i, q, k_base, v_base, stride_n, offs_m, n_lo, n_hi, N_CTX, qk_scale,
                   ON_DIAGONAL: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr):
    """Folds key blocks [n_lo, n_hi) into the running (acc, l_i, m_i)."""
    offs_d = tl.arange(0, HEAD_DIM)
    for start_n in range(n_lo, n_hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        key_ok = offs_n < N_CTX
        k = tl.load(k_base + offs_n[:, None] * stride_n + offs_d[None, :], mask=key_ok[:, None], other=0.0)
        v = tl.load(v_base + offs_n[:, None] * stride_n + offs_d[None, :], mask=key_ok[:, None], other=0.0)
        s = tl.dot(q, tl.trans(k)) * qk_scale
        keep = key_ok[None, :]
        if ON_DIAGONAL:
            keep = keep & (offs_m[:, None] >= offs_n[None, :])
        s = tl.where(keep, s, -float("inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        p = tl.math.exp2(s - m_new[:, None])
        alpha = tl.math.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def attn_fwd_kernel(q_ptr, k_ptr, v_ptr, o_ptr, lse_ptr, sm_scale, stride_z, stride_h, stride_n, H, N_CTX,
                    CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr):
    start_m = tl.program_id(0) * BLOCK_M
    zh = tl.program_id(1)
    head = (zh // H).to(tl.int64) * stride_z + (zh % H).to(tl.int64) * stride_h
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    row_ok = offs_m < N_CTX
    q = tl.load(q_ptr + head + offs_m[:, None] * stride_n + offs_d[None, :], mask=row_ok[:, None], other=0.0)
    qk_scale = sm_scale * 1.4426950408889634  # log2(e): exp(x) == exp2(x * log2(e))
    m_i = tl.full((BLOCK_M,), -float("inf"), dtype=tl.float32)
    l_i = tl.zeros((BLOCK_M,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_M, HEAD_DIM), dtype=tl.float32)
    if CAUSAL:
        # key blocks entirely left of the diagonal, then the ones it crosses
        acc, l_i, m_i = attn_fwd_block(acc, l_i, m_i, q, k_ptr + head, v_ptr + head, stride_n, offs_m,
                                       0, start_m, N_CTX, qk_scale, False, BLOCK_N, HEAD_DIM)
        acc, l_i, m_i = attn_fwd_block(acc, l_i, m_i, q, k_ptr + head, v_ptr + head, stride_n, offs_m,
                                       start_m, tl.minimum(start_m + BLOCK_M, N_CTX), N_CTX, qk_scale,
                                       True, BLOCK_N, HEAD_DIM)
    else:
        acc, l_i, m_i = attn_fwd_block(acc, l_i, m_i, q, k_ptr + head, v_ptr + head, stride_n, offs_m,
                                       0, N_CTX, N_CTX, qk_scale, False, BLOCK_N, HEAD_DIM)
    out = acc / l_i[:, None]
    tl.store(lse_ptr + zh * N_CTX + offs_m, m_i + tl.math.log2(l_i), mask=row_ok)
    tl.store(o_ptr + head + offs_m[:, None] * stride_n + offs_d[None, :], out.to(o_ptr.dtype.element_ty),
             mask=row_ok[:, None])


@triton.jit
def attn_bwd_delta_kernel(o_ptr, do_ptr, delta_ptr, stride_z, stride_h, stride_n, H, N_CTX,
                          BLOCK_M: tl.constexpr, HEAD_DIM: tl.constexpr):
    zh = tl.program_id(1)
    head = (zh // H).to(tl.int64) * stride_z + (zh % H).to(tl.int64) * stride_h
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    row_ok = offs_m < N_CTX
    offs = head + offs_m[:, None] * stride_n + offs_d[None, :]
    o = tl.load(o_ptr + offs, mask=row_ok[:, None], other=0.0).to(tl.float32)
    do = tl.load(do_ptr + offs, mask=row_ok[:, None], other=0.0).to(tl.float32)
    tl.store(delta_ptr + zh * N_CTX + offs_m, tl.sum(o * do, axis=1), mask=row_ok)


@triton.jit
def attn_bwd_dkdv_kernel(q_ptr, k_ptr, v_ptr, do_ptr, dk_ptr, dv_ptr, lse_ptr, delta_ptr, sm_scale,
                         stride_z, stride_h, stride_n, H, N_CTX, CAUSAL: tl.constexpr,
                         BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr):
    start_n = tl.program_id(0) * BLOCK_N
    zh = tl.program_id(1)
    head = (zh // H).to(tl.int64) * stride_z + (zh % H).to(tl.int64) * stride_h
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    key_ok = offs_n < N_CTX
    kv_offs = head + offs_n[:, None] * stride_n + offs_d[None, :]
    k = tl.load(k_ptr + kv_offs, mask=key_ok[:, None], other=0.0)
    v = tl.load(v_ptr + kv_offs, mask=key_ok[:, None], other=0.0)
    qk_scale = sm_scale * 1.4426950408889634
    dk = tl.zeros((BLOCK_N, HEAD_DIM), dtype=tl.float32)
    dv = tl.zeros((BLOCK_N, HEAD_DIM), dtype=tl.float32)
    # causal: queries before this key block never see it
    lo = (start_n // BLOCK_M) * BLOCK_M if CAUSAL else 0
    for start_m in range(lo, N_CTX, BLOCK_M):
        offs_m = start_m + tl.arange(0, BLOCK_M)
        row_ok = offs_m < N_CTX
        q = tl.load(q_ptr + head + offs_m[:, None] * stride_n + offs_d[None, :], mask=row_ok[:, None], other=0.0)
        do = tl.load(do_ptr + head + offs_m[:, None] * stride_n + offs_d[None, :], mask=row_ok[:, None],
                     other=0.0)
        lse = tl.load(lse_ptr + zh * N_CTX + offs_m, mask=row_ok, other=0.0)
        delta = tl.load(delta_ptr + zh * N_CTX + offs_m, mask=row_ok, other=0.0)
        # transposed scores: keys down, queries across
        s_t = tl.dot(k, tl.trans(q)) * qk_scale
        keep = key_ok[:, None] & row_ok[None, :]
        if CAUSAL:
            keep = keep & (offs_m[None, :] >= offs_n[:, None])
        p_t = tl.where(keep, tl.math.exp2(s_t - lse[None, :]), 0.0)
        dv += tl.dot(p_t.to(do.dtype), do)
        dp_t = tl.dot(v, tl.trans(do))
        ds_t = p_t * (dp_t - delta[None, :])
        dk += tl.dot(ds_t.to(q.dtype), q)
    tl.store(dk_ptr + kv_offs, (dk * sm_scale).to(dk_ptr.dtype.element_ty), mask=key_ok[:, None])
    tl.store(dv_ptr + kv_offs, dv.to(dv_ptr.dtype.element_ty), mask=key_ok[:, None])


@triton.jit
def attn_bwd_dq_kernel(q_ptr, k_ptr, v_ptr, do_ptr, dq_ptr, lse_ptr, delta_ptr, sm_scale,
                       stride_z, stride_h, stride_n, H, N_CTX, CAUSAL: tl.constexpr,
                       BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr):
    start_m = tl.program_id(0) * BLOCK_M
    zh = tl.program_id(1)
    head = (zh // H).to(tl.int64) * stride_z + (zh % H).to(tl.int64) * stride_h
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    row_ok = offs_m < N_CTX
    q_offs = head + offs_m[:, None] * stride_n + offs_d[None, :]
    q = tl.load(q_ptr + q_offs, mask=row_ok[:, None], other=0.0)
    do = tl.load(do_ptr + q_offs, mask=row_ok[:, None], other=0.0)
    lse = tl.load(lse_ptr + zh * N_CTX + offs_m, mask=row_ok, other=0.0)
    delta = tl.load(delta_ptr + zh * N_CTX + offs_m, mask=row_ok, other=0.0)
    qk_scale = sm_scale * 1.4426950408889634
    dq = tl.zeros((BLOCK_M, HEAD_DIM), dtype=tl.float32)
    # causal: keys after this query block are never seen
    hi = tl.minimum(start_m + BLOCK_M, N_CTX) if CAUSAL else N_CTX
    for start_n in range(0, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        key_ok = offs_n < N_CTX
        k = tl.load(k_ptr + head + offs_n[:, None] * stride_n + offs_d[None, :], mask=key_ok[:, None], other=0.0)
        v = tl.load(v_ptr + head + offs_n[:, None] * stride_n + offs_d[None, :], mask=key_ok[:, None], other=0.0)
        s = tl.dot(q, tl.trans(k)) * qk_scale
        keep = row_ok[:, None] & key_ok[None, :]
        if CAUSAL:
            keep = keep & (offs_m[:, None] >= offs_n[None, :])
        p = tl.where(keep, tl.math.exp2(s - lse[:, None]), 0.0)
        dp = tl.dot(do, tl.trans(v))
        ds = p * (dp - delta[:, None])
        dq += tl.dot(ds.to(k.dtype), k)
    tl.store(dq_ptr + q_offs, (dq * sm_scale).to(dq_ptr.dtype.element_ty), mask=row_ok[:, None])


def attention_forward(q, k, v, causal, sm_scale, block_m=32, block_n=32):
    """q, k, v: (Z, H, N_CTX, HEAD_DIM) C-contiguous. Returns (o, lse)."""
    Z, H, N_CTX, D = q.shape
    o = np.empty_like(q)
    lse = np.empty((Z * H, N_CTX), np.float32)
    s = [st // q.itemsize for st in q.strides[:3]]
    grid = (triton.cdiv(N_CTX, block_m), Z * H)
    attn_fwd_kernel[grid](q, k, v, o, lse, sm_scale, *s, H, N_CTX, CAUSAL=causal,
                          BLOCK_M=block_m, BLOCK_N=block_n, HEAD_DIM=D, num_warps=4)
    return o, lse


def attention_backward(do, q, k, v, o, lse, causal, sm_scale, block_m=32, block_n=32):
    Z, H, N_CTX, D = q.shape
    s = [st // q.itemsize for st in q.strides[:3]]
    delta = np.empty((Z * H, N_CTX), np.float32)
    attn_bwd_delta_kernel[(triton.cdiv(N_CTX, block_m), Z * H)](o, do, delta, *s, H, N_CTX,
                                                                BLOCK_M=block_m, HEAD_DIM=D)
    dq, dk, dv = np.empty_like(q), np.empty_like(k), np.empty_like(v)
    attn_bwd_dkdv_kernel[(triton.cdiv(N_CTX, block_n), Z * H)](
        q, k, v, do, dk, dv, lse, delta, sm_scale, *s, H, N_CTX, CAUSAL=causal,
        BLOCK_M=block_m, BLOCK_N=block_n, HEAD_DIM=D, num_warps=4)
    attn_bwd_dq_kernel[(triton.cdiv(N_CTX, block_m), Z * H)](
        q, k, v, do, dq, lse, delta, sm_scale, *s, H, N_CTX, CAUSAL=causal,
        BLOCK_M=block_m, BLOCK_N=block_n, HEAD_DIM=D, num_warps=4)
    return dq, dk, dv


# ---------------------------------------------------------------- NumPy check


def attention_reference(q, k, v, do, causal, sm_scale):
    """Forward and backward in float64 on whole score matrices."""
    q, k, v, do = (t.astype(np.float64) for t in (q, k, v, do))
    n = q.shape[2]
    s = q @ k.swapaxes(-1, -2) * sm_scale
    if causal:
        s = np.where(np.tril(np.ones((n, n), bool)), s, -np.inf)
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    o = p @ v
    dv = p.swapaxes(-1, -2) @ do
    dp = do @ v.swapaxes(-1, -2)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
    return o, ds @ k * sm_scale, ds.swapaxes(-1, -2) @ q * sm_scale, dv


def close(got, ref, dtype) -> bool:
    """float32: dots of HEAD_DIM or N_CTX terms, a few ulps each. float16: the
    operands of each dot are rounded to float16 (P and dS included), 2**-11
    relative each, so the error scales with the largest terms summed, not with
    the result; four such roundings is the allowance."""
    got = got.astype(np.float64)
    scale = np.abs(ref).max()
    if dtype == np.float32:
        return bool(np.allclose(got, ref, rtol=1e-4, atol=1e-5 * scale))
    return bool(np.allclose(got, ref, rtol=2 ** -9, atol=2 ** -9 * scale))


def main(Z: int = 2, H: int = 3, N_CTX: int = 100, HEAD_DIM: int = 32, dtype=np.float32) -> bool:
    rng = np.random.default_rng(0)
    shape = (Z, H, N_CTX, HEAD_DIM)
    q, k, v, do = (rng.standard_normal(shape).astype(dtype) for _ in range(4))
    sm_scale = 1 / math.sqrt(HEAD_DIM)
    bad = []
    for causal in (False, True):
        o, lse = attention_forward(q, k, v, causal, sm_scale)
        dq, dk, dv = attention_backward(do, q, k, v, o, lse, causal, sm_scale)
        refs = attention_reference(q, k, v, do, causal, sm_scale)
        for name, got, ref in zip(("o", "dq", "dk", "dv"), (o, dq, dk, dv), refs):
            if not close(got, ref, dtype):
                bad.append(f"{name}{' causal' if causal else ''}")
    ok = not bad
    print(f"fused attention forward + backward, {Z}x{H} heads of {N_CTX}x{HEAD_DIM} {np.dtype(dtype).name}, "
          f"causal and not: {'matches' if ok else 'DOES NOT MATCH'} NumPy"
          + (f" ({', '.join(bad)} differ)" if bad else ""))
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
