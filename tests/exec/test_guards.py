"""Guards and analyses of the compiler that no other test reached, each with a
test that fails when the guard is loosened (the mutant is named in the test's
comment; tools/mutants applies each and runs these tests).

The simdgroup_matrix tests need a target that has it: they run in a
subprocess with TRITON_METAL_HW=M3-Max (the emulator runs simdgroup_matrix;
its own target, "generic", does not choose it)."""
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from exec_data import emulator_only, msl_text

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
CLI = ROOT / "build" / "triton-metal"
M3 = os.environ.get("TRITON_METAL_HW") == "M3-Max"
on_m3 = pytest.mark.skipif(not M3, reason="runs in the M3-Max subprocess of test_guards_on_m3_max")
# the portable tl.dot's tests: a target with simdgroup_matrix (M3-Max) takes that path instead
portable_dot = pytest.mark.skipif(M3, reason="checks the portable tl.dot, which M3-Max's simdgroup_matrix replaces")


@emulator_only
@pytest.mark.skipif(M3, reason="already in the subprocess")
def test_guards_on_m3_max():
    env = dict(os.environ, TRITON_METAL_HW="M3-Max", PYTHONPATH=str(ROOT / "python"))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", __file__, "-k", "m3"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "passed" in r.stdout and "M3-Max subprocess" not in r.stdout, r.stdout[-2000:]


# ------------------------------------------------------------------ a K loop's accumulator
#
# src/emit_dot.c em_dot_carried keeps `acc = tl.dot(a, b, acc)` in simdgroup
# matrices across the loop only when the loop body reads the carried acc once
# (as that dot's acc). Mutant: `reads != 1` -> `reads < 1`: a body that also
# reads acc then reads the blocked-layout copy, which the loop never updates,
# and the sums below come out wrong (acc itself stays right, so only READ shows).

@triton.jit
def kloop_read_kernel(a_ptr, b_ptr, c_ptr, s_ptr, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
                      READ: tl.constexpr):
    rm = tl.arange(0, BM)
    rn = tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    s = tl.zeros((BM,), dtype=tl.float32)
    for k0 in range(0, K, BK):
        a = tl.load(a_ptr + rm[:, None] * K + (k0 + rk)[None, :])
        b = tl.load(b_ptr + (k0 + rk)[:, None] * BN + rn[None, :])
        if READ == 1:  # the running sums, before this step's dot
            s += tl.sum(acc, axis=1)
        if READ == 2:  # the largest element so far, kept per row
            s = tl.maximum(s, tl.max(acc, axis=1))
        acc = tl.dot(a, b, acc)
    tl.store(c_ptr + rm[:, None] * BN + rn[None, :], acc)
    tl.store(s_ptr + rm, s)


@on_m3
@pytest.mark.parametrize("read", [1, 2])
def test_m3_kloop_acc_read_in_the_body(read, rng):
    M, N, K, BK = 32, 32, 64, 16
    a = rng.standard_normal((M, K)).astype(np.float16)
    b = rng.standard_normal((K, N)).astype(np.float16)
    c = np.full((M, N), np.nan, np.float32)
    s = np.full(M, np.nan, np.float32)
    k = kloop_read_kernel[(1,)](a, b, c, s, K, BM=M, BN=N, BK=BK, READ=read)
    assert "simdgroup_multiply_accumulate" in k.asm["msl"]
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    partial = [a64[:, :k0] @ b64[:k0] for k0 in range(0, K, BK)]  # acc before each step
    want = sum(p.sum(1) for p in partial) if read == 1 else np.max([p.max(1) for p in partial], axis=0)
    np.testing.assert_allclose(c, a64 @ b64, rtol=1e-5, atol=1e-4 * np.sqrt(K))
    np.testing.assert_allclose(s, want, rtol=1e-5, atol=1e-3 * np.sqrt(K))


@on_m3
def test_m3_kloop_acc_read_once_stays_in_matrices(rng):
    # the guard's other side: read only as the dot's acc, acc is carried (so the
    # test above is about the reads, not about a loop that never takes the path)
    a = np.zeros((32, 64), np.float16)
    b = np.zeros((64, 32), np.float16)
    k = kloop_read_kernel.warmup(a, b, np.zeros((32, 32), np.float32), np.zeros(32, np.float32), 64, BM=32, BN=32,
                                 BK=16, READ=0, grid=(1,))
    assert "accumulator in simdgroup matrices across the loop" in k.asm["msl"]
    k = kloop_read_kernel.warmup(a, b, np.zeros((32, 32), np.float32), np.zeros(32, np.float32), 64, BM=32, BN=32,
                                 BK=16, READ=1, grid=(1,))
    assert "simdgroup_multiply_accumulate" in k.asm["msl"]
    assert "accumulator in simdgroup matrices across the loop" not in k.asm["msl"]


# ------------------------------------------------------------------ uniform - arange
#
# src/axis.c: `u - arange` runs downwards, so it is not contiguous (only
# `u + arange` is). Mutant: `a.uniform && in->op == O_ADD` -> `a.uniform`: the
# reversed loads below, whose first address is 16-byte aligned, are moved as
# float4 vectors in the wrong order.

@triton.jit
def reverse_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr, FORM: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    if FORM == 0:  # y[i] = x[BLOCK - i] within each block (x has one element more)
        src = pid * BLOCK + (BLOCK - tl.arange(0, BLOCK))
    elif FORM == 1:  # y[i] = x[BLOCK - 1 - i] within each block
        src = pid * BLOCK + (BLOCK - 1 - tl.arange(0, BLOCK))
    else:  # a column of a row-major matrix read bottom up: stride 1 but descending
        src = (pid + 1) * BLOCK - tl.arange(0, BLOCK)
    x = tl.load(x_ptr + src, mask=offs < n, other=-1.0)
    tl.store(y_ptr + offs, x, mask=offs < n)


@pytest.mark.parametrize("form", [0, 1, 2])
@pytest.mark.parametrize("n", [4096, 3000])
def test_reversed_loads_are_not_vectorized(form, n, rng):
    BLOCK = 1024
    x = rng.standard_normal(n + BLOCK + 1).astype(np.float32)
    y = np.full(n, np.nan, np.float32)
    k = reverse_kernel[(triton.cdiv(n, BLOCK),)](x, y, n, BLOCK=BLOCK, FORM=form)
    i = np.arange(n)
    base = i // BLOCK * BLOCK
    src = {0: base + BLOCK - i % BLOCK, 1: base + BLOCK - 1 - i % BLOCK, 2: base + BLOCK - i % BLOCK}[form]
    np.testing.assert_array_equal(y, x[src])
    msl = k.asm["msl"]
    assert not re.search(r"\*TM_LDA?\(\(device const float4\*\)", msl)  # the load is element by element
    assert "float4" in msl or n % 4  # (the store of offs is vectorized: the analysis is on)


def test_reversed_load_analysis():
    # what explain says: contiguity 1 for every reversed load, 4 for the store
    src = pathlib.Path(__file__)
    for form in (0, 1, 2):
        r = subprocess.run([str(CLI), "explain", str(src), "--kernel", "reverse_kernel", "--signature",
                            "*fp32:16,*fp32:16,i32:16", "-D", "BLOCK=1024", "-D", f"FORM={form}"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        load = next(l for l in r.stdout.splitlines() if l.strip().startswith("load "))
        store = next(l for l in r.stdout.splitlines() if l.strip().startswith("store "))
        assert "scalar" in load and "contiguity 1," in load, load
        assert "vector of 4" in store, store


# ------------------------------------------------------------------ integer arguments' divisibility
#
# src/axis.c: what an integer argument is a multiple of comes from the launch-time
# specialization only (divisible by 16, or nothing known). Mutant: every integer
# argument taken as a multiple of 16: the loads at an odd offset below become
# float4 loads from misaligned addresses, which Metal does not allow and the
# emulator reports (runtime/cpu/metal_stdlib tm_chk), where x86 would not care.

@triton.jit
def shifted_copy_kernel(x_ptr, y_ptr, off, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(y_ptr + offs, tl.load(x_ptr + off + offs, mask=m, other=-1.0), mask=m)


@msl_text
@pytest.mark.parametrize("off", [0, 1, 2, 3, 16, 17, 36])
def test_integer_argument_alignment_comes_from_the_specialization(off, rng):
    n = 3000
    x = rng.standard_normal(n + 40).astype(np.float32)
    y = np.full(n, np.nan, np.float32)
    k = shifted_copy_kernel[(triton.cdiv(n, 1024),)](x, y, off, n, BLOCK=1024)
    np.testing.assert_array_equal(y, x[off:off + n])
    vector_load = bool(re.search(r"\*TM_LDA?\(\(device const float4\*\)", k.asm["msl"]))
    assert vector_load == (off % 16 == 0), off  # only a multiple of 16 is specialized as one


# The same for pointers: a 16-byte aligned pointer is specialized as one
# (python/triton_metal/jit.py on the first launch, launcher.c's fast path on the
# next ones). Mutants: the test of the address loosened to 4 bytes, in either
# place: a view starting 4 bytes into an array then gets float4 loads from
# misaligned addresses.

@emulator_only
@pytest.mark.parametrize("start", [0, 1, 2, 3, 4])
def test_pointer_alignment_comes_from_the_address(start, rng):
    n = 3000
    base = rng.standard_normal(n + 8).astype(np.float32)
    x = base[start:start + n]  # a view: its data starts 4 * start bytes into base's
    assert x.ctypes.data % 16 == (base.ctypes.data + 4 * start) % 16
    for _ in range(2):  # the compiling launch, then the dispatcher's fast path
        y = np.full(n, np.nan, np.float32)
        k = shifted_copy_kernel[(triton.cdiv(n, 1024),)](x, y, 0, n, BLOCK=1024)
        np.testing.assert_array_equal(y, x)
        vector_load = bool(re.search(r"\*TM_LDA?\(\(device const float4\*\)", k.asm["msl"]))
        assert vector_load == (x.ctypes.data % 16 == 0), start


# ------------------------------------------------------------------ fp16 / and % a Python float
#
# src/sema.c computation_type: an fp16 (or bf16) tensor divided by, or taken
# modulo, a Python float computes in fp32 and gives fp32, as upstream does.
# Mutant: drop `if (divmod && (tensor == TM_F16 || tensor == TM_BF16)) return
# TM_F32;`: the result is an fp16 quotient, and the static_asserts and the
# exact fp32 comparisons below fail.

@triton.jit
def half_divmod_kernel(x_ptr, q_ptr, r_ptr, rq_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m, other=1.0)
    q = x / 3.0
    r = x % 1.7
    rq = 10.0 / x
    tl.static_assert(q.dtype == tl.float32)
    tl.static_assert(r.dtype == tl.float32)
    tl.static_assert(rq.dtype == tl.float32)
    tl.store(q_ptr + offs, q, mask=m)
    tl.store(r_ptr + offs, r, mask=m)
    tl.store(rq_ptr + offs, rq, mask=m)


@pytest.mark.parametrize("dtype", [np.float16, "bfloat16"])
def test_half_tensor_divmod_python_float_in_fp32(dtype, rng):
    n = 1000
    x32 = (rng.standard_normal(n) * 30).astype(np.float32)
    x32[:6] = [np.nan, np.inf, -np.inf, -0.0, 0.0, 65504.0]
    if dtype == "bfloat16":
        torch = pytest.importorskip("torch")
        x = torch.from_numpy(x32).to(torch.bfloat16)
        xf = x.float().numpy()
    else:
        x = x32.astype(np.float16)
        xf = x.astype(np.float32)
    q, r, rq = (np.full(n, 7.0, np.float32) for _ in range(3))
    half_divmod_kernel[(triton.cdiv(n, 256),)](x, q, r, rq, n, BLOCK=256)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(q, xf / np.float32(3.0))
        np.testing.assert_array_equal(r, np.fmod(xf, np.float32(1.7)))
        np.testing.assert_array_equal(rq, np.float32(10.0) / xf)


# ------------------------------------------------------------------ the portable dot, K in chunks
#
# src/emit_dot.c emit_dot stages A and B through threadgroup memory K-chunk by
# K-chunk when the whole K does not fit 16 KB. These shapes take 2 to 4
# chunks on the default target (the explain test checks it). Mutants: the
# staging bound `c < k0 + kc` -> `c <= k0 + kc` (one row past the chunk: B's
# stripe then writes past the end of threadgroup memory, a located LaunchError
# from the emulator's bounds check, where it used to crash the process); the
# chunk loop's step `k0 += kc` -> `k0 += 2 * kc` (chunks skipped: wrong sums).

@triton.jit
def chunked_dot_kernel(a_ptr, b_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
    c = tl.load(c_ptr + rm[:, None] * N + rn[None, :])
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], tl.dot(a, b, c))


# (M, N, K, dtype, chunk): the operands' chunks fill up to 32 KB of
# threadgroup memory: fp32 64x64x64 (whole: 32 KB), fp32 64x64x128 (2 chunks
# of 64), fp16 64x64x512 (4 of 128), int8 64x32x1024 (4 of 256), fp32
# 32x16x512 (4 of 128)
CHUNKED = [(64, 64, 64, np.float32, 64), (64, 64, 128, np.float32, 64), (64, 64, 512, np.float16, 128),
           (64, 32, 1024, np.int8, 256), (32, 16, 512, np.float32, 128)]


@msl_text
@portable_dot
@pytest.mark.parametrize("M,N,K,dtype,chunk", CHUNKED)
def test_portable_dot_k_in_chunks(M, N, K, dtype, chunk, rng):
    if dtype == np.int8:
        a = rng.integers(-128, 128, (M, K)).astype(np.int8)
        b = rng.integers(-128, 128, (K, N)).astype(np.int8)
        c = rng.integers(-1000, 1000, (M, N)).astype(np.int32)
        want = a.astype(np.int64) @ b.astype(np.int64) + c
    else:
        a = rng.standard_normal((M, K)).astype(dtype)
        b = rng.standard_normal((K, N)).astype(dtype)
        c = rng.standard_normal((M, N)).astype(np.float32)
        want = a.astype(np.float64) @ b.astype(np.float64) + c
    k = chunked_dot_kernel[(1,)](a, b, c, M=M, N=N, K=K)
    assert "simdgroup" not in k.asm["msl"]
    assert f"for (int k0 = 0; k0 < {K}; k0 += {chunk})" in k.asm["msl"]
    if dtype == np.int8:
        np.testing.assert_array_equal(c, want)
    else:
        np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-4 * np.sqrt(K))


@triton.jit
def dot_then_argmax_kernel(a_ptr, b_ptr, c_ptr, i_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
    c = tl.dot(a, b)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], c)
    tl.store(i_ptr + rn, tl.argmax(c, axis=0))


@msl_text
@portable_dot
def test_portable_dot_staging_gives_way_to_other_threadgroup_memory(rng):
    """A 64x64x64 fp32 dot alone stages its whole K in 32 KB; beside a
    reduction that keeps values and indices in threadgroup memory at once
    (argmax down the columns: 4 SIMD-groups), 32 KB would leave no room, so
    the kernel is emitted again with the dot in 16 KB chunks. Both run, both
    are right, neither asks for more than 32 KB."""
    M = N = K = 64
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    a[3, :] = 0.0  # ties along a column go to the lowest row
    b[:, 5] = 0.0
    c = np.zeros((M, N), np.float32)
    i = np.full(N, -1, np.int32)
    k = dot_then_argmax_kernel[(1,)](a, b, c, i, M=M, N=N, K=K)
    want = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-4 * np.sqrt(K))
    np.testing.assert_array_equal(i, np.argmax(c, axis=0))
    msl = k.asm["msl"]
    assert "for (int k0 = 0; k0 < 64; k0 += 32)" in msl
    assert k.metadata.shared <= 32768
    alone = chunked_dot_kernel[(1,)](a, b, c, M=M, N=N, K=K)
    assert "for (int k0 = 0; k0 < 64; k0 += 64)" in alone.asm["msl"]
    assert alone.metadata.shared == 32768
