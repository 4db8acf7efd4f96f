"""tl.dot: fp32, fp16 (fp32 accumulate, out_dtype), int8 (int32 accumulate),
acc=, batched 3-D operands, masked K loops; the tutorial-style matmul with
grouped program ordering and a leaky-ReLU epilogue. References in float64/int64."""
import re

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from exec_data import kernel_body, rebuild


@triton.jit
def dot_kernel(a_ptr, b_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr, ADD_ACC: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
    if ADD_ACC:
        acc = tl.load(c_ptr + rm[:, None] * N + rn[None, :]).to(tl.float32)
        c = tl.dot(a, b, acc)
    else:
        c = tl.dot(a, b)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], c)


@pytest.mark.parametrize("M,N,K", [(16, 16, 16), (32, 64, 8), (8, 8, 128), (64, 32, 32)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("add_acc", [False, True])
def test_dot_float(M, N, K, dtype, add_acc, rng):
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    c = rng.standard_normal((M, N)).astype(np.float32)
    c0 = c.copy()
    dot_kernel[(1,)](a, b, c, M=M, N=N, K=K, ADD_ACC=add_acc)
    exp = a.astype(np.float64) @ b.astype(np.float64) + (c0 if add_acc else 0)
    np.testing.assert_allclose(c, exp, rtol=1e-5, atol=1e-4 * np.sqrt(K))


@triton.jit
def dot_trans_kernel(a_ptr, b_ptr, c_ptr, m, n, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr,
                     TRANS_A: tl.constexpr, TRANS_B: tl.constexpr):
    # a is stored as (M, K) or, TRANS_A, as (K, M) and transposed in the kernel
    # (likewise b: (K, N) or (N, K)); rows past m / columns past n are masked
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    if TRANS_A:
        a = tl.trans(tl.load(a_ptr + rk[:, None] * M + rm[None, :], mask=rm[None, :] < m, other=0.0))
    else:
        a = tl.load(a_ptr + rm[:, None] * K + rk[None, :], mask=rm[:, None] < m, other=0.0)
    if TRANS_B:
        b = tl.trans(tl.load(b_ptr + rn[:, None] * K + rk[None, :], mask=rn[:, None] < n, other=0.0))
    else:
        b = tl.load(b_ptr + rk[:, None] * N + rn[None, :], mask=rn[None, :] < n, other=0.0)
    c = tl.dot(a, b)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], c, mask=(rm[:, None] < m) & (rn[None, :] < n))


@pytest.mark.parametrize("M,N,K", [(16, 32, 16), (64, 32, 64), (32, 64, 128)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("trans", ["a", "b", "ab"])
def test_dot_transposed_operands(M, N, K, dtype, trans, rng):
    """tl.trans feeding tl.dot (attention's q @ k.T): the permuted value keeps its
    input's elements in place (layout.c permute_views); masked rows and columns."""
    m, n = M - 3, N - 5
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    a[m:] = np.nan  # masked off: never read
    b[:, n:] = np.inf
    a_mem = np.ascontiguousarray(a.T) if "a" in trans else a
    b_mem = np.ascontiguousarray(b.T) if "b" in trans else b
    c = np.full((M, N), -7.0, np.float32)
    dot_trans_kernel[(1,)](a_mem, b_mem, c, m, n, M=M, N=N, K=K, TRANS_A="a" in trans, TRANS_B="b" in trans)
    exp = a[:m].astype(np.float64) @ b[:, :n].astype(np.float64)
    np.testing.assert_allclose(c[:m, :n], exp, rtol=1e-5, atol=1e-4 * np.sqrt(K))
    assert (c[m:] == -7.0).all() and (c[:, n:] == -7.0).all()


@triton.jit
def dot_loop_invariant_a_kernel(a_ptr, b_ptr, c_ptr, nb, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr,
                                TRANS_B: tl.constexpr, CARRIED: tl.constexpr):
    # a is loaded once before the loop and multiplies nb blocks of b (emit_dot.c
    # em_dot_hoist_a: its fragments are loaded once on simdgroup targets)
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    acc = tl.zeros((M, N), dtype=tl.float32)
    for j in range(nb):
        if TRANS_B:
            b = tl.trans(tl.load(b_ptr + j * K * N + rn[:, None] * K + rk[None, :]))
        else:
            b = tl.load(b_ptr + j * K * N + rk[:, None] * N + rn[None, :])
        if CARRIED:
            acc = tl.dot(a, b, acc)
        else:
            acc = acc * 0.5 + tl.dot(a, b)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc)


# (32, 32, 128) with 8 warps: A hoisted on simdgroup targets and staged in two K chunks;
# (64, 64, 128): fragments too many to hoist (staged every iteration)
@pytest.mark.parametrize("M,N,K,warps", [(32, 32, 16, 4), (32, 32, 128, 8), (64, 64, 128, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("carried", [False, True])
def test_dot_loop_invariant_a(M, N, K, warps, dtype, trans_b, carried, rng):
    nb = 3
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((nb, K, N)).astype(dtype)
    b_mem = np.ascontiguousarray(b.transpose(0, 2, 1)) if trans_b else b
    c = np.empty((M, N), np.float32)
    dot_loop_invariant_a_kernel[(1,)](a, b_mem, c, nb, M=M, N=N, K=K, TRANS_B=trans_b, CARRIED=carried, num_warps=warps)
    exp = np.zeros((M, N))
    for j in range(nb):
        exp = (exp if carried else exp * 0.5) + a.astype(np.float64) @ b[j].astype(np.float64)
    np.testing.assert_allclose(c, exp, rtol=1e-5, atol=1e-4 * np.sqrt(K * nb))


@triton.jit
def k_loop_kernel(a_ptr, b_ptr, c_ptr, K, stride_a, M: tl.constexpr, N: tl.constexpr, BK: tl.constexpr,
                  MASKED: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, BK)
    a_ptrs = a_ptr + rm[:, None] * stride_a + rk[None, :]
    b_ptrs = b_ptr + rk[:, None] * N + rn[None, :]
    acc = tl.zeros((M, N), dtype=tl.float32)
    for k0 in range(0, K, BK):
        if MASKED:
            a = tl.load(a_ptrs, mask=rk[None, :] < K - k0, other=0.0)
            b = tl.load(b_ptrs, mask=rk[:, None] < K - k0, other=0.0)
        else:
            a = tl.load(a_ptrs)
            b = tl.load(b_ptrs)
        acc = tl.dot(a, b, acc)
        a_ptrs += BK
        b_ptrs += BK * N
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc)


@pytest.mark.parametrize("K", [0, 8, 16, 40, 64])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_dot_k_loop_edges(K, dtype, rng):
    """No iteration, one, a partial last chunk; NaN past K in A's rows and in
    B's rows past K must never be read."""
    M, N, BK, pad = 32, 32, 16, 24
    a = np.full((M, K + pad), np.nan, dtype)
    a[:, :K] = rng.standard_normal((M, K))
    b = np.full((K + pad, N), np.nan, dtype)
    b[:K] = rng.standard_normal((K, N))
    c = np.full((M, N), 5.0, np.float32)
    k_loop_kernel[(1,)](a, b, c, K, a.shape[1], M=M, N=N, BK=BK, MASKED=True)
    exp = a[:, :K].astype(np.float64) @ b[:K].astype(np.float64)
    np.testing.assert_allclose(c, exp, rtol=1e-5, atol=1e-4 * np.sqrt(max(K, 1)))


@pytest.mark.parametrize("K", [0, 16, 64])
def test_dot_k_loop_stays_in_bounds(K, rng):
    """Unmasked loads over arrays that end exactly at K: nothing is read past
    them (the emulator's bounds check fails a launch on any read past an
    argument's memory), also when the loop runs no iteration."""
    M, N, BK = 32, 32, 16
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    c = np.full((M, N), 5.0, np.float32)
    k_loop_kernel[(1,)](a, b, c, K, K, M=M, N=N, BK=BK, MASKED=False)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5, atol=1e-3)


@triton.jit
def dot_i8_kernel(a_ptr, b_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], tl.dot(a, b))


def test_dot_int8_exact(rng):
    M, N, K = 32, 16, 64
    a = rng.integers(-128, 128, (M, K)).astype(np.int8)
    b = rng.integers(-128, 128, (K, N)).astype(np.int8)
    c = np.zeros((M, N), np.int32)
    dot_i8_kernel[(1,)](a, b, c, M=M, N=N, K=K)
    np.testing.assert_array_equal(c, a.astype(np.int64) @ b.astype(np.int64))


@triton.jit
def dot_f16_out_kernel(a_ptr, b_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], tl.dot(a, b, out_dtype=tl.float16))


def test_dot_out_dtype_f16(rng):
    M, N, K = 16, 16, 32
    a = rng.standard_normal((M, K)).astype(np.float16)
    b = rng.standard_normal((K, N)).astype(np.float16)
    c = np.zeros((M, N), np.float16)
    dot_f16_out_kernel[(1,)](a, b, c, M=M, N=N, K=K)
    np.testing.assert_allclose(c.astype(np.float64), a.astype(np.float64) @ b.astype(np.float64), rtol=2e-3, atol=2e-2)


@triton.jit
def bmm_kernel(a_ptr, b_ptr, c_ptr, B: tl.constexpr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rb = tl.arange(0, B)[:, None, None]
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rb * M * K + rm[None, :, None] * K + rk[None, None, :])
    b = tl.load(b_ptr + rb * K * N + rk[None, :, None] * N + rn[None, None, :])
    c = tl.dot(a, b)
    tl.store(c_ptr + rb * M * N + rm[None, :, None] * N + rn[None, None, :], c)


def test_batched_dot(rng):
    B, M, N, K = 2, 16, 8, 16
    a = rng.standard_normal((B, M, K)).astype(np.float32)
    b = rng.standard_normal((B, K, N)).astype(np.float32)
    c = np.zeros((B, M, N), np.float32)
    bmm_kernel[(1,)](a, b, c, B=B, M=M, N=N, K=K)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5, atol=1e-5)


@triton.jit
def leaky_relu(x):
    return tl.where(x >= 0, x, 0.01 * x)


@triton.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
                  BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr, BLOCK_SIZE_K: tl.constexpr,
                  GROUP_SIZE_M: tl.constexpr, ACTIVATION: tl.constexpr):
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_SIZE_M)
    num_pid_n = tl.cdiv(N, BLOCK_SIZE_N)
    num_pid_in_group = GROUP_SIZE_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_SIZE_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_SIZE_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m
    offs_am = (pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)) % M
    offs_bn = (pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)) % N
    offs_k = tl.arange(0, BLOCK_SIZE_K)
    a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)
    accumulator = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_SIZE_K)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_SIZE_K, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_SIZE_K, other=0.0)
        accumulator = tl.dot(a, b, accumulator)
        a_ptrs += BLOCK_SIZE_K * stride_ak
        b_ptrs += BLOCK_SIZE_K * stride_bk
    if ACTIVATION == "leaky_relu":
        accumulator = leaky_relu(accumulator)
    c = accumulator.to(tl.float16)
    offs_cm = pid_m * BLOCK_SIZE_M + tl.arange(0, BLOCK_SIZE_M)
    offs_cn = pid_n * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + stride_cn * offs_cn[None, :]
    c_mask = (offs_cm[:, None] < M) & (offs_cn[None, :] < N)
    tl.store(c_ptrs, c, mask=c_mask)


@pytest.mark.parametrize("M,N,K", [(64, 64, 64), (100, 70, 45), (33, 129, 17)])
@pytest.mark.parametrize("act", ["", "leaky_relu"])
def test_tutorial_matmul(M, N, K, act, rng):
    a = rng.standard_normal((M, K)).astype(np.float16)
    b = rng.standard_normal((K, N)).astype(np.float16)
    c = np.zeros((M, N), np.float16)
    BM, BN, BK = 32, 32, 16
    grid = lambda META: (triton.cdiv(M, META["BLOCK_SIZE_M"]) * triton.cdiv(N, META["BLOCK_SIZE_N"]),)
    matmul_kernel[grid](a, b, c, M, N, K, a.strides[0] // 2, a.strides[1] // 2, b.strides[0] // 2, b.strides[1] // 2,
                        c.strides[0] // 2, c.strides[1] // 2, BLOCK_SIZE_M=BM, BLOCK_SIZE_N=BN, BLOCK_SIZE_K=BK,
                        GROUP_SIZE_M=8, ACTIVATION=act)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    if act:
        ref = np.where(ref >= 0, ref, 0.01 * ref)
    np.testing.assert_allclose(c.astype(np.float64), ref, rtol=2e-3, atol=2e-2)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("batched", [False, True])
def test_portable_dot_vector_reads_of_b(dtype, batched, rng, monkeypatch):
    """The portable path (the generic target) reads a thread's neighbouring
    columns of staged B as one vector (TM_TG_VLOAD): the same bits with the
    race checker on (element by element, each read seen) and off (the range
    checked once, one copy), against float64; NaN and inf in A and B."""
    B, M, N, K = (2, 16, 32, 32) if batched else (1, 64, 64, 32)
    a = rng.standard_normal((B, M, K)).astype(dtype)
    b = rng.standard_normal((B, K, N)).astype(dtype)
    a[0, 3, 5] = np.nan
    b[0, 7, 9] = np.inf
    outs = []
    for rc in ("1", "0"):
        monkeypatch.setenv("TRITON_METAL_RACECHECK", rc)
        rebuild(bmm_kernel, dot_kernel)  # else the second launch reuses the first's object
        c = np.zeros((B, M, N), np.float32)
        if batched:
            h = bmm_kernel[(1,)](a, b, c, B=B, M=M, N=N, K=K)
        else:
            h = dot_kernel[(1,)](a[0], b[0], c[0], M=M, N=N, K=K, ADD_ACC=False)
        outs.append(c)
    msl = h.asm["msl"]
    if "simdgroup_matrix" not in msl:  # the portable path (test_dot_simdgroup.py reruns this file on M3-Max)
        assert re.search(r"tm_dot_fma_v<\d+, 4, %d, %d, %d, %d, \d+, %s4>\(" % (B, M, N, K, "float" if dtype == np.float32 else "half"),
                         msl) and "V b = TM_TG_VLOAD(V, sm, " in msl, msl
        lines = kernel_body(h).split("\n")  # each operand's staging loop is written for unrolling whole
        stages = [i for i, line in enumerate(lines) if re.match(r"\s*for \(uint kv? = 0; kv? < \d+u;", line)
                  and re.search(r"TM_TG_VSTORE\(|TM_TGM\([^)]*\)\[[^\]]*\] = ", "\n".join(lines[i + 1:i + 12]))]
        assert len(stages) == 2 and all(lines[i - 1].strip() == "TM_UNROLL" for i in stages), stages
    np.testing.assert_array_equal(outs[0].view(np.uint32), outs[1].view(np.uint32))
    with np.errstate(invalid="ignore"):
        exp = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(outs[0], exp, rtol=1e-5, atol=1e-4 * np.sqrt(K))


def test_dot_sums_are_fused():
    """Each step of an fp32 dot's sum rounds once (a fused multiply-add), as
    upstream's FMA dot and our simdgroup_matrix tiles do: row 0 of a is
    [1, 1 + e, 0, ...] and column 0 of b is [-1, 1 + e, 0, ...], e = 2^-12,
    so the sum is -1 + (1 + 2e + e^2) = 2e + e^2, exact in fp32. The product
    rounded on its own loses the e^2 (half an ulp of 1 + 2e, a tie to even)
    and gives 2e. (Products of fp16 values are exact in fp32: there the two
    agree.) The other rows and columns hold exact sums of small integers."""
    M = N = K = 16
    e = 2.0 ** -12
    a = np.zeros((M, K), np.float32)
    b = np.zeros((K, N), np.float32)
    a[:, 0], a[:, 1] = 1, 1 + e
    b[0, :], b[1, :] = -1, 1 + e
    a[1:, 2] = np.arange(1, M) % 7 - 3
    b[2, 1:] = np.arange(1, N) % 5 - 2
    c = np.zeros((M, N), np.float32)
    dot_kernel[(1,)](a, b, c, M=M, N=N, K=K, ADD_ACC=False)
    exp = a.astype(np.float64) @ b.astype(np.float64)
    assert exp[0, 0] == 2 * e + e * e and np.float32(1 + e) * np.float32(1 + e) - 1 == 2 * e
    np.testing.assert_array_equal(c, exp.astype(np.float32))
