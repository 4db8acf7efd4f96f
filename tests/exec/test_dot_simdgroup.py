"""tl.dot on the simdgroup_matrix path (src/emit_dot.c) on the emulator.

The emulator's own target ("generic") has no simdgroup_matrix, so the dot tests
of this file and of test_dot.py / test_bf16.py run again in subprocesses that
compile for M3-Max and for M5 (TRITON_METAL_HW is read once per process). The CLI checks
which path a target and an opt level choose."""
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from exec_data import ON_CUDA_TARGET, emulator_only, kernel_body

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
CLI = ROOT / "build" / "triton-metal"
# the matrix path's tests run where tl.dot takes it: the M3-Max and M5 targets
# (subprocesses of the emulator's run, below) and the GPU proxy's cuda targets,
# whose dialect multiplies fp16 tiles by mma.sync (tm_mma_16x8) and the rest by
# its simdgroup_multiply_accumulate (on Metal, a step's multiplies are the prelude's
# tm_sgm_mac<TM, TN>, the emulator's own there); the checks read the kernel function only
INNER = os.environ.get("TRITON_METAL_HW") in ("M3-Max", "M5") or ON_CUDA_TARGET
INNER_ONLY = "runs in the M3-Max subprocess of test_dot_suites_on_simdgroup_path"
MMA = re.compile(r"\b(simdgroup_multiply_accumulate|tm_mma_16x8|tm_sgm_mac<\d+u, \d+u>)\(")
inner = pytest.mark.skipif(not INNER, reason=INNER_ONLY)


@emulator_only
@pytest.mark.skipif(INNER, reason="already in the subprocess")
@pytest.mark.parametrize("hw", ["M3-Max", "M5"])  # M5: the matmul2d variant (test_dot_matmul2d.py)
def test_dot_suites_on_simdgroup_path(hw):
    env = dict(os.environ, TRITON_METAL_HW=hw, PYTHONPATH=str(ROOT / "python"))
    # test_examples.py too: the attention example's forward and backward kernels (two to four dots
    # a loop: their staging regions and held barriers under the race checker) on the matrix path
    names = ("test_dot.py", "test_bf16.py", "test_dot_simdgroup.py", "test_dot_row_scaled.py", "test_dot_pipeline.py",
             "test_dot_frag.py", "test_examples.py")
    files = [str(ROOT / "tests" / "exec" / f) for f in names]
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *files],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert INNER_ONLY not in r.stdout


# ------------------------------------------------------------------ which path

def compile_cli(*extra, env=None):
    path = ROOT / "tests" / "golden" / "matmul_simdgroup.py"
    args = ["--kernel", "matmul", "--signature", "*fp16,*fp16,*fp16,i32", "-D", "BLOCK_M=32", "-D", "BLOCK_N=32",
            "-D", "BLOCK_K=16", *extra]
    r = subprocess.run([str(CLI), "compile", str(path), *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **(env or {})))
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_path_by_target_and_opt_level():
    sg = compile_cli("--target", "M3-Max")
    assert "simdgroup_multiply_accumulate" in sg
    assert "// tl.dot: simdgroup_matrix 8x8, 4 tiles per SIMD-group" in sg
    for msl in (compile_cli("--target", "M3-Max", env={"TRITON_METAL_OPT_LEVEL": "0"}),
                compile_cli("--target", "generic")):
        assert "simdgroup" not in msl and "tl.dot: simdgroup_matrix" not in msl
    # the portable path: the prelude's tm_dot_fma_v, K outermost, then the thread's 8 result slots four
    # neighbouring columns at a time (the layout gives each thread runs of four along N), one A element
    # and one vector of B each, fused steps
    assert re.search(r"tm_dot_fma_v<8, 4, 1, 32, 32, 16, 512, half4>\(TM_TGM\(tm_smem_half, \d+\), k0 == 0, d\d+, "
                     r"tm_dotc\d+\(\), tm_tid\);", msl), msl
    assert re.search(r"for \(int kk = 0; kk < KC; \+\+kk\) \{\n\s*for \(uint k = 0; k < uint\(PT\); k \+= uint\(G\)\)",
                     msl), msl
    assert "for (int g = 0; g < G; ++g) d[k + g] = fma(a, float(b[g]), d[k + g]);" in msl, msl
    # explain gives the operand staging and the accumulator's tiling
    ex = subprocess.run([str(CLI), "explain", str(ROOT / "tests" / "golden" / "matmul_simdgroup.py"), "--kernel", "matmul",
                         "--signature", "*fp16,*fp16,*fp16,i32", "-D", "BLOCK_M=32", "-D", "BLOCK_N=32", "-D", "BLOCK_K=16",
                         "--target", "M3-Max"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert ("dot @19:15 <32x32xfp32>: simdgroup_matrix 8x8, accumulator in simdgroup matrices across the loop; "
            "A 32x16 and B 16x32 staged row-major in threadgroup memory, K in chunks of 16; accumulator tiles: 2x2 of "
            "8x8 per SIMD-group on a 2x2 grid of SIMD-groups (4 of 4); to the blocked layout once, after the loop; "
            "staged in two regions by turns (one barrier a turn)") in ex, ex
    ex = subprocess.run([str(CLI), "explain", str(ROOT / "tests" / "golden" / "matmul_simdgroup.py"), "--kernel", "matmul",
                         "--signature", "*fp16,*fp16,*fp16,i32", "-D", "BLOCK_M=32", "-D", "BLOCK_N=32", "-D", "BLOCK_K=16",
                         "--target", "generic"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert "portable (threadgroup memory, FMA); A 32x16 and B 16x32 staged row-major in threadgroup memory" in ex, ex
    assert "each thread accumulates its 8 result elements of the blocked layout with FMAs in float32" in ex, ex
    r = subprocess.run([str(CLI), "compile", "x.py", "--target", "Z80"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "unknown target 'Z80'" in r.stderr


def test_lowering_of_transposed_and_loop_invariant_operands():
    """test_dot.py's loop kernel: tl.trans(b) is a view (nothing moves), B is staged
    transposed with vector stores and loaded as transposed fragments, and A, the
    same on every iteration, is loaded into fragments once before the loop. The
    CUDA dialect (has_mma_16x8) pairs A's tiles and loads fragments by ldmatrix."""
    args = ["--kernel", "dot_loop_invariant_a_kernel", "--signature", "*fp16,*fp16,*fp32,i32", "-D", "M=32", "-D", "N=32",
            "-D", "K=128", "-D", "TRANS_B=1", "-D", "CARRIED=0", "--num-warps", "8"]
    src = str(ROOT / "tests" / "exec" / "test_dot.py")

    def cli(cmd, target, args=args):
        r = subprocess.run([str(CLI), cmd, src, *args, "--target", target], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    msl = cli("compile", "M3-Max")
    assert "A is the same on every iteration: staged and loaded into fragments once" in msl
    assert "simdgroup_load(tm_qa" in msl and "tm_qa" in msl.split("for (int r")[1]  # used inside the loop
    assert ", ulong2(0, 0), true);" in msl  # B's fragments, transposed
    assert "TM_TG_VSTORE(uint2," in msl  # 4 halves of a staged row at once
    ex = cli("explain", "M3-Max")
    assert "nothing moves" in ex and "(B transposed, as its threads hold it)" in ex, ex
    # 2 tile rows per SIMD-group: pairs
    cu = cli("compile", "cuda-sm90", [a.replace("M=32", "M=64").replace("K=128", "K=64") for a in args[:-1]] + ["4"])
    assert "tm_mma_16x8(" in cu and "tm_mma_load_b16t(" in cu and "tm_mma_load_a16(tm_qa" in cu
    assert "simdgroup_multiply_accumulate(" not in cu.split("// ----")[-1]


# ------------------------------------------------------------------ results

@triton.jit
def dot_kernel(a_ptr, b_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr, OUT_F16: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
    if OUT_F16:
        c = tl.dot(a, b, tl.load(c_ptr + rm[:, None] * N + rn[None, :]), out_dtype=tl.float16)
    else:
        c = tl.dot(a, b, tl.load(c_ptr + rm[:, None] * N + rn[None, :]))
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], c)


# (M, N, K, operand dtype, fp16 out, num_warps): result stripes of fewer rows than
# M (64x64 fp32, 128x64, 64x128 fp16), K in several chunks (512), more SIMD-groups
# than tiles (8x8 with 4 and 8), one SIMD-group, tall and wide grids.
CASES = [(64, 64, 32, np.float32, False, 4), (128, 64, 64, np.float16, False, 4), (64, 128, 32, np.float16, True, 4),
         (32, 32, 512, np.float16, False, 4), (8, 8, 64, np.float32, False, 4), (8, 16, 8, np.float16, False, 8),
         (32, 16, 16, np.float32, False, 1), (16, 64, 16, np.float32, False, 2), (64, 8, 32, np.float16, False, 8)]


@inner
@pytest.mark.parametrize("M,N,K,dtype,out_f16,nw", CASES)
def test_simdgroup_dot(M, N, K, dtype, out_f16, nw, rng):
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    c = rng.standard_normal((M, N)).astype(np.float16 if out_f16 else np.float32)
    c0 = c.astype(np.float64)
    k = dot_kernel[(1,)](a, b, c, M=M, N=N, K=K, OUT_F16=out_f16, num_warps=nw)
    body = kernel_body(k)
    assert MMA.search(body), body
    assert ("simdgroup_matrix<half, 8, 8> tm_acc" in body) == out_f16
    exp = a.astype(np.float64) @ b.astype(np.float64) + c0
    if out_f16:  # half accumulation
        np.testing.assert_allclose(c.astype(np.float64), exp, rtol=1e-2, atol=2e-2 * np.sqrt(K))
    else:
        np.testing.assert_allclose(c, exp, rtol=1e-5, atol=1e-4 * np.sqrt(K))


@inner
def test_portable_where_simdgroup_cannot():
    """int8 operands, a batch dim and opt level none keep the portable path."""
    sys.path.insert(0, str(ROOT / "tests" / "exec"))
    import test_dot as td
    a8 = np.zeros((16, 16), np.int8)
    k = td.dot_i8_kernel.warmup(a8, a8, np.zeros((16, 16), np.int32), M=16, N=16, K=16, grid=(1,))
    assert "simdgroup" not in kernel_body(k) and not MMA.search(kernel_body(k))
    a3 = np.zeros((2, 16, 16), np.float32)
    k = td.bmm_kernel.warmup(a3, a3, a3, B=2, M=16, N=16, K=16, grid=(1,))
    assert "simdgroup" not in kernel_body(k) and not MMA.search(kernel_body(k))
    a = np.zeros((16, 16), np.float32)
    k = dot_kernel.warmup(a, a, a, M=16, N=16, K=16, OUT_F16=False, grid=(1,))
    assert MMA.search(kernel_body(k))
    k = dot_kernel.warmup(a, a, a, M=16, N=16, K=16, OUT_F16=False, grid=(1,), metal_optimization_level="none")
    assert "simdgroup" not in kernel_body(k) and not MMA.search(kernel_body(k))


# ------------------------------------------------------------------ accumulators across the K loop

@triton.jit
def kloop_kernel(a_ptr, b_ptr, c_ptr, bias_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
                 INIT: tl.constexpr, FORM: tl.constexpr, OUT16: tl.constexpr, EPI: tl.constexpr):
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    cmask = (rm[:, None] < M) & (rn[None, :] < N)
    if OUT16:
        acc = tl.zeros((BM, BN), dtype=tl.float16)
    elif INIT == 0:
        acc = tl.zeros((BM, BN), dtype=tl.float32)
    elif INIT == 1:
        acc = tl.load(bias_ptr + rm[:, None] * N + rn[None, :], mask=cmask, other=0.0)
    else:
        acc = tl.full((BM, BN), 1.5, tl.float32)
    for k0 in range(0, K, BK):
        a = tl.load(a_ptr + rm[:, None] * K + (k0 + rk)[None, :], mask=(rm[:, None] < M) & ((k0 + rk)[None, :] < K), other=0.0)
        b = tl.load(b_ptr + (k0 + rk)[:, None] * N + rn[None, :], mask=((k0 + rk)[:, None] < K) & (rn[None, :] < N), other=0.0)
        if OUT16:
            acc = tl.dot(a, b, acc, out_dtype=tl.float16)
        elif FORM == 0:
            acc = tl.dot(a, b, acc)
        elif FORM == 1:
            acc += tl.dot(a, b)
        else:  # the carried value has another reader: it stays in the blocked layout
            acc = tl.dot(a, b, acc)
            acc = acc * 0.5
    if EPI:
        acc = tl.where(acc > 0, acc, acc * 0.01)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=cmask)


def braced(msl, start):
    """The text of the C block whose header line contains `start`, by indentation."""
    lines = msl.splitlines()
    i = next(n for n, l in enumerate(lines) if start in l)
    ind = len(lines[i]) - len(lines[i].lstrip())
    j = next(n for n in range(i + 1, len(lines)) if lines[n] == " " * ind + "}")
    return "\n".join(lines[i:j + 1])


def kloop_ref(a, b, bias, K, init, form, epi):
    ref = a.astype(np.float64) @ b.astype(np.float64)
    base = {0: 0.0, 1: bias.astype(np.float64), 2: 1.5}[init]
    if form == 2:  # acc = (acc + a_k @ b_k) * 0.5 per chunk of 16
        acc = np.zeros_like(ref) + base
        for k0 in range(0, K, 16):
            acc = (acc + a[:, k0:k0 + 16].astype(np.float64) @ b[k0:k0 + 16].astype(np.float64)) * 0.5
        ref = acc
    else:
        ref = ref + base
    return np.where(ref > 0, ref, ref * 0.01) if epi else ref


# (M, N, K, BM, BN, operand dtype, init, form, epilogue, num_warps): ragged edges
# (masked rows, columns and K), a bias with NaN/inf as the initial acc, result
# stripes of fewer rows than BM (64x64 fp32), idle SIMD-groups (16x16 with 8),
# a loop that runs zero times, and acc += tl.dot(a, b).
KLOOP = [(70, 45, 75, 32, 32, np.float16, 0, 0, False, 4), (70, 45, 75, 32, 32, np.float32, 1, 0, True, 4),
         (64, 64, 48, 64, 64, np.float32, 1, 0, False, 4), (33, 17, 40, 16, 16, np.float16, 1, 1, True, 8),
         (40, 40, 0, 32, 32, np.float16, 1, 0, False, 4), (40, 40, 37, 32, 32, np.float16, 2, 1, False, 2),
         (50, 30, 64, 32, 32, np.float32, 0, 2, True, 4)]


@inner
@pytest.mark.parametrize("M,N,K,BM,BN,dtype,init,form,epi,nw", KLOOP)
def test_accumulator_across_k_loop(M, N, K, BM, BN, dtype, init, form, epi, nw, rng):
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    bias = rng.standard_normal((M, N)).astype(np.float32)
    bias.flat[rng.choice(M * N, 6, replace=False)] = [np.nan, np.inf, -np.inf, np.nan, 0.0, -0.0]
    c = np.full((M, N), 7.0, np.float32)
    grid = (triton.cdiv(M, BM), triton.cdiv(N, BN))
    k = kloop_kernel[grid](a, b, c, bias, M, N, K, BM=BM, BN=BN, BK=16, INIT=init, FORM=form, OUT16=False, EPI=epi,
                           num_warps=nw)
    np.testing.assert_allclose(c, kloop_ref(a, b, bias, K, init, form, epi), rtol=1e-5, atol=1e-4 * np.sqrt(K + 1))
    msl = kernel_body(k)
    if form == 2:
        assert "accumulating into the loop's matrices" not in msl
        return
    # the accumulator stays in simdgroup matrices: no per-iteration trip through
    # threadgroup memory, one barrier per iteration (operands staged) where the
    # turns alternate between two staging regions (tm_turn: a turn's staging
    # waits only for the barrier of the turn before), two with matmul2d (M5:
    # its tensors stay where they are)
    assert "accumulating into the loop's matrices" in msl
    body = braced(msl, "for (int r")
    assert re.search(MMA.pattern + "tm_acc", body), body
    assert "simdgroup_store" not in body and "make_filled_simdgroup_matrix" not in body
    assert body.count("threadgroup_barrier(") == (2 if "TM_TENSOR_OPS" in msl else 1), body
    assert ("tm_turn" in body) == ("TM_TENSOR_OPS" not in msl), body
    assert msl.count("simdgroup_store(") == 1
    assert ("simdgroup_load(tm_acc" in msl) == (init == 1)


@inner
def test_accumulator_across_k_loop_fp16():
    rng = np.random.default_rng(5)
    M, N, K = 48, 40, 50
    a = rng.standard_normal((M, K)).astype(np.float16)
    b = rng.standard_normal((K, N)).astype(np.float16)
    c = np.zeros((M, N), np.float16)
    k = kloop_kernel[(2, 2)](a, b, c, c, M, N, K, BM=32, BN=32, BK=16, INIT=0, FORM=0, OUT16=True, EPI=False)
    assert "simdgroup_matrix<half, 8, 8> tm_acc" in kernel_body(k)
    assert "accumulating into the loop's matrices" in kernel_body(k)
    exp = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c.astype(np.float64), exp, rtol=1e-2, atol=2e-2 * np.sqrt(K))
