"""Block pointers (make_block_ptr, advance, boundary_check, padding_option),
carried through loops, and tensor descriptors (make_tensor_descriptor with
load/store, out-of-bounds reads as zero or NaN, writes dropped); against NumPy."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def bp_matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, sam, sak, sbk, sbn, scm, scn,
                     BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    a_bp = tl.make_block_ptr(a_ptr, (M, K), (sam, sak), (pid_m * BM, 0), (BM, BK), (1, 0))
    b_bp = tl.make_block_ptr(b_ptr, (K, N), (sbk, sbn), (0, pid_n * BN), (BK, BN), (1, 0))
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k in range(0, K, BK):
        a = tl.load(a_bp, boundary_check=(0, 1), padding_option="zero")
        b = tl.load(b_bp, boundary_check=(0, 1))
        acc += tl.dot(a, b)
        a_bp = tl.advance(a_bp, (0, BK))
        b_bp = tl.advance(b_bp, (BK, 0))
    c_bp = tl.make_block_ptr(c_ptr, (M, N), (scm, scn), (pid_m * BM, pid_n * BN), (BM, BN), (1, 0))
    tl.store(c_bp, acc, boundary_check=(0, 1))


@pytest.mark.parametrize("M,N,K", [(32, 32, 32), (37, 45, 29), (64, 16, 100)])
def test_block_pointer_matmul(M, N, K, rng):
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    c = np.full((M, N), 7.0, np.float32)
    BM, BN, BK = 16, 16, 16
    bp_matmul_kernel[(triton.cdiv(M, BM), triton.cdiv(N, BN))](a, b, c, M, N, K, K, 1, N, 1, N, 1, BM=BM, BN=BN, BK=BK)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5, atol=1e-4)


@triton.jit
def bp_pad_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr, PAD: tl.constexpr):
    bp = tl.make_block_ptr(x_ptr, (n,), (1,), (tl.program_id(0) * BLOCK - 3,), (BLOCK,), (0,))
    x = tl.load(bp, boundary_check=(0,), padding_option=PAD)
    tl.store(out_ptr + tl.program_id(0) * BLOCK + tl.arange(0, BLOCK), x)


@pytest.mark.parametrize("pad", ["zero", "nan"])
def test_block_pointer_padding(pad, rng):
    n, BLOCK = 20, 16
    x = rng.standard_normal(n).astype(np.float32)
    out = np.zeros(2 * BLOCK, np.float32)
    bp_pad_kernel[(2,)](x, out, n, BLOCK=BLOCK, PAD=pad)
    idx = np.arange(2 * BLOCK) - 3
    fill = 0.0 if pad == "zero" else np.nan
    exp = np.where((idx >= 0) & (idx < n), x[np.clip(idx, 0, n - 1)], fill).astype(np.float32)
    np.testing.assert_array_equal(out, exp)


@triton.jit
def desc_copy_kernel(x_ptr, y_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    src = tl.make_tensor_descriptor(x_ptr, shape=[M, N], strides=[N, 1], block_shape=[BM, BN])
    dst = tl.make_tensor_descriptor(y_ptr, shape=[M, N], strides=[N, 1], block_shape=[BM, BN])
    off_m = tl.program_id(0) * BM
    off_n = tl.program_id(1) * BN
    tile = src.load([off_m, off_n])
    dst.store([off_m, off_n], tile * 2 + 1)


def test_tensor_descriptor_load_store(rng):
    M, N, BM, BN = 37, 50, 16, 16
    x = rng.standard_normal((M, N)).astype(np.float32)
    y = np.zeros((M, N), np.float32)
    desc_copy_kernel[(triton.cdiv(M, BM), triton.cdiv(N, BN))](x, y, M, N, BM=BM, BN=BN)
    np.testing.assert_array_equal(y, x * 2 + 1)


@triton.jit
def bp_cast_to_target_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    # the idiom of generated pointwise code: compute in float32, store as the
    # block pointer's element type (p.type.element_ty), read the descriptor's dtype
    xb = tl.make_block_ptr(x_ptr, (n,), (1,), (tl.program_id(0) * BLOCK,), (BLOCK,), (0,))
    yb = tl.make_block_ptr(y_ptr, (n,), (1,), (tl.program_id(0) * BLOCK,), (BLOCK,), (0,))
    x = tl.load(xb, boundary_check=(0,)).to(tl.float32)
    tl.static_assert(yb.type.element_ty == y_ptr.dtype.element_ty)
    tl.static_assert(yb.dtype.element_ty == tl.float16)
    tl.store(yb, (x * 3.0 + 0.5).to(yb.type.element_ty), boundary_check=(0,))


def test_block_pointer_type_names_its_element_type(rng):
    n, BLOCK = 37, 16
    x = (rng.standard_normal(n) * 100).astype(np.float16)
    x[[3, 9]] = [np.inf, np.nan]
    y = np.zeros(n + 5, np.float16)
    bp_cast_to_target_kernel[(triton.cdiv(n, BLOCK),)](x, y[:n], n, BLOCK=BLOCK)
    exp = (x.astype(np.float32) * np.float32(3.0) + np.float32(0.5)).astype(np.float16)
    np.testing.assert_array_equal(y[:n], exp)
    assert not y[n:].any()


@triton.jit
def desc_dtype_kernel(x_ptr, y_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    src = tl.make_tensor_descriptor(x_ptr, shape=[M, N], strides=[N, 1], block_shape=[BM, BN])
    dst = tl.make_tensor_descriptor(y_ptr, shape=[M, N], strides=[N, 1], block_shape=[BM, BN])
    tl.static_assert(src.dtype == tl.int16)
    tl.static_assert(dst.dtype == tl.float32)
    tile = src.load([tl.program_id(0) * BM, 0])
    dst.store([tl.program_id(0) * BM, 0], tile.to(dst.dtype) * 0.5)


def test_tensor_descriptor_dtype(rng):
    M, N, BM, BN = 21, 16, 8, 16
    x = rng.integers(-30000, 30000, (M, N)).astype(np.int16)
    y = np.zeros((M, N), np.float32)
    desc_dtype_kernel[(triton.cdiv(M, BM),)](x, y, M, N, BM=BM, BN=BN)
    np.testing.assert_array_equal(y, x.astype(np.float32) * np.float32(0.5))
