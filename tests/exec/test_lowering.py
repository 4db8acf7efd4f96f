"""Structural checks of the generated MSL (the lowering, not just the results):
vector memory access from alignment and contiguity, SIMD-group reductions with
few barriers, optimization levels; results still checked against NumPy."""
import re

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from exec_data import kernel_body, msl_text


@triton.jit
def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) + tl.load(y_ptr + offs, mask=m), mask=m)


def aligned(n, dtype, rng, offset=0):
    """a NumPy array whose data starts at 16-byte alignment + offset elements"""
    raw = np.empty(n + 64, dtype)
    start = (-raw.ctypes.data % 16) // raw.itemsize + offset
    a = raw[start:start + n]
    a[:] = rng.standard_normal(n).astype(dtype)
    return a


@msl_text
@pytest.mark.parametrize("dtype,vec", [(np.float32, "float4"), (np.float16, "uint4")])  # 8 halves: 16 bytes as 4 words
def test_aligned_vector_add_moves_vectors(dtype, vec, rng):
    n = 1000  # not a multiple of the block: the last vectors fall back per element
    x, y, out = aligned(n, dtype, rng), aligned(n, dtype, rng), aligned(n, dtype, rng)
    h = add_kernel[(triton.cdiv(n, 1024),)](x, y, out, n, BLOCK=1024)
    msl = h.asm["msl"]
    assert re.search(rf"\*TM_LDA?\(\(device const {vec}\*\)", msl) and re.search(rf"\*TM_STA?\(\(device {vec}\*\)", msl)
    np.testing.assert_array_equal(out, x + y)


@msl_text
def test_misaligned_pointer_gets_no_vectors(rng):
    n = 1000
    x, y, out = aligned(n, np.float32, rng, 1), aligned(n, np.float32, rng), aligned(n, np.float32, rng)
    h = add_kernel[(triton.cdiv(n, 1024),)](x, y, out, n, BLOCK=1024)
    loads = re.findall(r"TM_LDA?\(\(device const float4\*\)", h.asm["msl"])
    assert len(loads) == 1  # y only: x is 4 bytes off 16-byte alignment
    np.testing.assert_array_equal(out, x + y)


@msl_text
def test_opt_level_none_disables_vectorization(rng):
    n = 512
    x, y, out = aligned(n, np.float32, rng), aligned(n, np.float32, rng), aligned(n, np.float32, rng)
    vector = r"\(device (const )?float[248]\*\)"
    h = add_kernel[(2,)](x, y, out, n, BLOCK=256)
    assert re.search(vector, h.asm["msl"])  # vector accesses by default
    out[:] = np.nan
    h = add_kernel[(2,)](x, y, out, n, BLOCK=256, metal_optimization_level="none")
    assert not re.search(vector, h.asm["msl"])  # none here
    np.testing.assert_array_equal(out, x + y)


@triton.jit
def row_softmax_kernel(x_ptr, y_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    row = tl.load(x_ptr + tl.program_id(0) * N + offs)
    z = row - tl.max(row, axis=0)
    num = tl.exp(z)
    tl.store(y_ptr + tl.program_id(0) * N + offs, num / tl.sum(num, axis=0))


def test_softmax_uses_simd_reductions_and_few_barriers(rng):
    x = rng.standard_normal((8, 512)).astype(np.float32)
    y = np.zeros_like(x)
    h = row_softmax_kernel[(8,)](x, y, N=512)
    msl = h.asm["msl"]
    assert "tm_shfl_xor" in msl or "simd_" in msl
    # two reductions across SIMD-groups, at most two barriers each
    assert msl.count("threadgroup_barrier") <= 4
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(1, keepdims=True), rtol=1e-6, atol=1e-7)


def test_explain_reports_layouts_vectors_reductions(rng):
    x = rng.standard_normal((8, 512)).astype(np.float32)
    y = np.zeros_like(x)
    text = row_softmax_kernel.explain(x, y, N=512)
    assert text.startswith("kernel row_softmax_kernel")
    assert "threads per threadgroup: 128 (4 SIMD-groups of 32)" in text
    assert "layout family: rank 1, sizePerThread [4]" in text
    assert text.count("reduction @") == 2 and "COALESCED input" in text
    assert "through threadgroup memory (2 barriers)" in text
    n = 1024
    a, b, c = aligned(n, np.float32, rng), aligned(n, np.float32, rng), aligned(n, np.float32, rng)
    t2 = add_kernel.explain(a, b, c, n, BLOCK=1024)
    assert t2.count("vector of 4 (16 bytes)") == 3
    t3 = add_kernel.explain(a, b, c, n, BLOCK=1024, metal_optimization_level="none")
    assert "vector of" not in t3 and "scalar (4 bytes)" in t3


@msl_text
def test_explain_cli(tmp_path):
    import pathlib
    import subprocess
    root = pathlib.Path(__file__).resolve().parents[2]
    r = subprocess.run([str(root / "build" / "triton-metal"), "explain", "tests/golden/vector_add_aligned.py",
                        "--kernel", "add_kernel", "--signature", "*fp32:16,*fp32:16,*fp32:16,i32:16",
                        "-D", "BLOCK_SIZE=1024"], cwd=root, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # n is specialized as a multiple of 16: `offs < n` is the same over each vector of 4
    assert r.stdout.count("vector of 4 (16 bytes), mask the same over each vector (read once)") == 3
    assert "barriers in the MSL: 0" in r.stdout


def test_debug_info_maps_msl_to_python_lines(rng):
    n = 300
    x, y, out = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    h = add_kernel[(2,)](x, y, out, n, BLOCK=256, debug_info=True)
    msl = h.asm["msl"]
    first = add_kernel.fn.__code__.co_firstlineno
    for offset in (2, 3, 4):  # the offs, mask and store lines of add_kernel
        assert f'#line {first + offset} "{__file__}"' in msl
    np.testing.assert_array_equal(out, x + y)
    plain = add_kernel[(2,)](x, y, out, n, BLOCK=256).asm["msl"]
    assert "#line" not in plain


@triton.jit
def carried_ptr_kernel(x_ptr, out_ptr, n, B: tl.constexpr):
    p = x_ptr + tl.arange(0, B)
    acc = tl.zeros([B], dtype=tl.float32)
    for i in range(n):
        acc += tl.load(p)
        p += B
    tl.store(out_ptr + tl.arange(0, B), acc)


def test_loop_carried_pointers_stay_vectorized(rng):
    B, n = 512, 5
    x = aligned(B * n, np.float32, rng)
    out = aligned(B, np.float32, rng)
    text = carried_ptr_kernel.explain(x, out, n, B=B)
    assert text.count("vector of 4 (16 bytes)") == 2, text
    carried_ptr_kernel[(1,)](x, out, n, B=B)
    np.testing.assert_allclose(out, x.reshape(n, B).sum(0), rtol=1e-6)


@triton.jit(do_not_specialize=["start"])
def hinted_copy_kernel(x_ptr, out_ptr, start, B: tl.constexpr):
    # `start` is a runtime integer: without a hint the compiler cannot know the
    # offsets stay 16-byte aligned
    s = tl.multiple_of(start, 16)
    offs = s + tl.max_contiguous(tl.arange(0, B), B)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs))


@triton.jit(do_not_specialize=["start"])
def plain_copy_kernel(x_ptr, out_ptr, start, B: tl.constexpr):
    offs = start + tl.arange(0, B)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs))


def test_multiple_of_hint_enables_vectors(rng):
    B = 512
    x = aligned(B + 48, np.float32, rng)
    out = aligned(B + 48, np.float32, rng)
    out[:] = 0
    hinted = hinted_copy_kernel.explain(x, out, 48, B=B)
    assert hinted.count("vector of 4") == 2, hinted
    plain = plain_copy_kernel.explain(x, out, 48, B=B)
    assert "vector of" not in plain and "alignment 4" in plain, plain
    hinted_copy_kernel[(1,)](x, out, 48, B=B)
    np.testing.assert_array_equal(out[48:], x[48:])
    assert (out[:48] == 0).all()


@triton.jit
def transpose_kernel(x_ptr, y_ptr, M, N, sxm, sxn, sym, syn, BM: tl.constexpr, BN: tl.constexpr):
    m = tl.program_id(0) * BM + tl.arange(0, BM)
    n = tl.program_id(1) * BN + tl.arange(0, BN)
    mask = (m[:, None] < M) & (n[None, :] < N)
    x = tl.load(x_ptr + m[:, None] * sxm + n[None, :] * sxn, mask=mask, other=0.0)
    tl.store(y_ptr + m[:, None] * sym + n[None, :] * syn, x * 2.0, mask=mask)


def tile_accesses(msl, ty="float"):
    """the vector loads and stores of the generated MSL, and its barriers"""
    return (re.findall(rf"TM_LDA?\(\(device const {ty}(\d)\*\)", msl), re.findall(rf"TM_STA?\(\(device {ty}(\d)\*\)", msl),
            msl.count("threadgroup_barrier"))


@msl_text
@pytest.mark.parametrize("M,N", [(64, 64), (67, 45), (5, 130)])
def test_transposed_store_goes_through_threadgroup_memory_once(M, N, rng):
    x = aligned(M * N, np.float32, rng).reshape(M, N)
    x[0, 0], x[-1, -1], x[M // 2, N // 2] = np.nan, -np.inf, np.inf
    raw = aligned(N * M + 4, np.float32, rng)
    raw[:] = 7.0
    y = raw[:N * M].reshape(N, M)
    grid = (triton.cdiv(M, 32), triton.cdiv(N, 32))
    h = transpose_kernel[grid](x, y, M, N, N, 1, 1, M, BM=32, BN=32)
    np.testing.assert_array_equal(y, 2 * x.T)
    assert (raw[N * M:] == 7.0).all()  # nothing past the end
    loads, stores, barriers = tile_accesses(h.asm["msl"])
    if M % 16 == 0:  # the row strides keep every run 16-byte aligned
        assert loads == ["4"] and stores == ["4"] and barriers == 2, (loads, stores, barriers)
    else:  # unaligned: one element per access, still down the columns (coalesced), one conversion
        assert loads == [] and stores == [] and barriers == 2, (loads, stores, barriers)
        text = transpose_kernel.explain(x, y, M, N, N, 1, 1, M, BM=32, BN=32)
        assert "dim 0 fastest" in text and text.count("layout conversion") == 1, text


@msl_text
def test_transposed_load_reads_columns_as_vectors(rng):
    # x is read down its columns: a column-major view given through its strides
    M, N = 96, 64
    xt = aligned(M * N, np.float32, rng).reshape(N, M)  # x = xt.T, column-major
    xt[3, 5] = np.nan
    y = aligned(M * N, np.float32, rng).reshape(M, N)
    h = transpose_kernel[(3, 2)](xt, y, M, N, 1, M, N, 1, BM=32, BN=32)
    np.testing.assert_array_equal(y, 2 * xt.T)
    loads, stores, barriers = tile_accesses(h.asm["msl"])
    assert loads == ["4"] and stores == ["4"] and barriers == 2, (loads, stores, barriers)
    text = transpose_kernel.explain(xt, y, M, N, 1, M, N, 1, BM=32, BN=32)
    assert "vector of 4 (16 bytes), mask checked per vector, along dim 0" in text, text


@msl_text
def test_row_major_copy_needs_no_transpose(rng):
    M, N = 64, 64
    x = aligned(M * N, np.float32, rng).reshape(M, N)
    y = aligned(M * N, np.float32, rng).reshape(M, N)
    h = transpose_kernel[(2, 2)](x, y, M, N, N, 1, N, 1, BM=32, BN=32)
    np.testing.assert_array_equal(y, 2 * x)
    loads, stores, barriers = tile_accesses(h.asm["msl"])
    assert loads == ["4"] and stores == ["4"] and barriers == 0, (loads, stores, barriers)


@triton.jit
def transpose_in_loop_kernel(x_ptr, y_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    # the column loads are loop-carried through acc's sum: the loop's layout wins
    m = tl.arange(0, BM)
    acc = tl.zeros((BM, BN), tl.float32)
    for j in range(0, N, BN):
        n = j + tl.arange(0, BN)
        mask = (m[:, None] < M) & (n[None, :] < N)
        acc += tl.load(x_ptr + n[None, :] * M + m[:, None], mask=mask, other=0.0)
    tl.store(y_ptr + m[:, None] * BN + tl.arange(0, BN)[None, :], acc)


def test_transposed_load_inside_a_loop(rng):
    M, N = 32, 100
    xt = aligned(N * M, np.float32, rng).reshape(N, M)
    xt[7, 3] = -np.inf
    y = np.zeros((32, 32), np.float32)
    transpose_in_loop_kernel[(1,)](xt, y, M, N, BM=32, BN=32)
    x = np.zeros((32, 128), np.float32)
    x[:, :N] = xt.T
    ref = x.reshape(32, 4, 32).sum(axis=1, dtype=np.float32)
    np.testing.assert_allclose(y, ref, rtol=1e-6)


@triton.jit
def strided_matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, sam, sak, sbk, sbn, scm, scn,
                          BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    acc = tl.zeros((BM, BN), tl.float32)
    for k in range(0, K, BK):
        rk = k + tl.arange(0, BK)
        a = tl.load(a_ptr + rm[:, None] * sam + rk[None, :] * sak, mask=(rm[:, None] < M) & (rk[None, :] < K), other=0.0)
        b = tl.load(b_ptr + rk[:, None] * sbk + rn[None, :] * sbn, mask=(rk[:, None] < K) & (rn[None, :] < N), other=0.0)
        acc += tl.dot(a, b)
    tl.store(c_ptr + rm[:, None] * scm + rn[None, :] * scn, acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


@msl_text
@pytest.mark.parametrize("M,N,K", [(64, 64, 64), (50, 70, 48), (128, 32, 80)])
def test_dot_operands_get_layouts_of_their_own(M, N, K, rng):
    # A row-major with a K tile narrower than the family, B column-major (B = bt.T):
    # both load 16-byte vectors, and tl.dot reads them where they are
    a = aligned(M * K, np.float32, rng).reshape(M, K)
    bt = aligned(N * K, np.float32, rng).reshape(N, K)
    c = aligned(M * N, np.float32, rng).reshape(M, N)
    args = (a, bt, c, M, N, K, K, 1, 1, K, N, 1)
    h = strided_matmul_kernel[(triton.cdiv(M, 32), triton.cdiv(N, 32))](*args, BM=32, BN=32, BK=16)
    np.testing.assert_allclose(c, a.astype(np.float64) @ bt.T.astype(np.float64), rtol=1e-4, atol=1e-4)
    text = strided_matmul_kernel.explain(*args, BM=32, BN=32, BK=16)
    assert "<32x16x*fp32>  vector of 4" in text and "<16x32x*fp32>  vector of 4 (16 bytes), mask checked per vector, along dim 0" in text, text
    assert "layout conversion" not in text, text  # tl.dot takes its operands from any layout
    loads, _, _ = tile_accesses(h.asm["msl"])
    assert loads == ["4", "4"], loads


@triton.jit
def row_max_sum_kernel(x_ptr, m_ptr, s_ptr, N: tl.constexpr):
    x = tl.load(x_ptr + tl.program_id(0) * N + tl.arange(0, N))
    tl.store(m_ptr + tl.program_id(0), tl.max(x, 0))
    tl.store(s_ptr + tl.program_id(0), tl.sum(x, 0))


@pytest.mark.parametrize("N", [1024, 16])
def test_reduction_shuffles_validity_only_where_lanes_hold_duplicates(N, rng):
    """Every lane holds elements of a 1024-wide row: the butterflies shuffle the
    values alone (no valid flags, no simd_any). A 16-wide row over 128 threads
    leaves lanes with duplicates only: they are flagged and add nothing."""
    x = rng.standard_normal((3, N)).astype(np.float32)
    x[1, 5] = np.nan
    x[2, :] = -np.abs(x[2, :]) - 1
    m, s = np.zeros(3, np.float32), np.zeros(3, np.float32)
    k = row_max_sum_kernel[(3,)](x, m, s, N=N)
    msl = kernel_body(k)
    assert ("tm_shfl_xor(av[k]" in msl) == (N == 16) and ("simd_any" in msl) == (N == 16)
    if N == 1024:  # nor valid flags through threadgroup memory between the SIMD-groups
        assert "tm_smem_float" in msl and "tm_smem_bool" not in msl and "bool ov" not in msl
    np.testing.assert_allclose(s, x.sum(1, dtype=np.float64), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(m[[0, 2]], x[[0, 2]].max(1))
    assert m[1] == np.nanmax(x[1])  # tl.max ignores NaN (maxnum)
    assert np.isnan(s[1])


@triton.jit
def batch_transpose_kernel(x_ptr, y_ptr, Mr, Nr, B: tl.constexpr, M: tl.constexpr, N: tl.constexpr):
    b = tl.arange(0, B)[:, None, None]
    m = tl.arange(0, M)[None, :, None]
    n = tl.arange(0, N)[None, None, :]
    mask = (m < Mr) & (n < Nr)
    x = tl.load(x_ptr + b * Mr * Nr + m * Nr + n, mask=mask, other=0.0)
    tl.store(y_ptr + b * Mr * Nr + n * Mr + m, x + 1.0, mask=mask)  # y[b] = x[b].T + 1


@msl_text
@pytest.mark.parametrize("Mr,Nr", [(32, 32), (30, 27)])
def test_batched_transpose_runs_down_dim_1(Mr, Nr, rng):
    """Rank 3: the store's pointers run along dim 1, so the store takes a
    dim-1-fastest layout (float4 where aligned, one element otherwise) and the
    data crosses threadgroup memory once."""
    B = 4
    x = aligned(B * Mr * Nr, np.float32, rng).reshape(B, Mr, Nr)
    x[1, 2, 3], x[3, -1, -1] = np.nan, -np.inf
    raw = aligned(B * Mr * Nr + 4, np.float32, rng)
    raw[:] = 7.0
    y = raw[:B * Mr * Nr].reshape(B, Nr, Mr)
    h = batch_transpose_kernel[(1,)](x, y, Mr, Nr, B=B, M=32, N=32)
    np.testing.assert_array_equal(y, np.swapaxes(x, 1, 2) + 1)
    assert (raw[B * Mr * Nr:] == 7.0).all()
    loads, stores, barriers = tile_accesses(h.asm["msl"])
    assert barriers == 2 and loads == (["4"] if Nr % 4 == 0 else [])
    assert stores == (["4"] if Mr % 4 == 0 else []), stores
    text = batch_transpose_kernel.explain(x, y, Mr, Nr, B=B, M=32, N=32)
    assert "dim 1 fastest" in text and text.count("layout conversion") == 1, text


@triton.jit
def rows_max_sum_kernel(x_ptr, i_ptr, m_ptr, s_ptr, is_ptr, M: tl.constexpr, N: tl.constexpr):
    offs = tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :]
    x = tl.load(x_ptr + offs)
    tl.store(m_ptr + tl.arange(0, M), tl.max(x, 1))
    tl.store(s_ptr + tl.arange(0, M), tl.sum(x, 1))
    tl.store(is_ptr + tl.arange(0, M), tl.sum(tl.load(i_ptr + offs), 1))


@pytest.mark.parametrize("M,N", [(64, 64), (16, 256), (32, 8)])
def test_reduction_of_several_rows_per_thread_shuffles_vectors(M, N, rng):
    """Each thread holds several rows' partial results: a butterfly step moves
    four (or two) of them in one vector shuffle, eight as two vectors by one
    tm_shfl_xor2, through the prelude's tm_bfly with the combine as a functor
    (on the emulator one exchange for the whole butterfly: its bits against
    the shuffles one at a time are tests/unit/test_emu_collectives.c's)."""
    x = rng.standard_normal((M, N)).astype(np.float32)
    x[3, 7], x[5, :] = np.nan, -np.inf
    xi = rng.integers(-1000, 1000, (M, N)).astype(np.int32)
    m, s, si = np.zeros(M, np.float32), np.zeros(M, np.float32), np.zeros(M, np.int32)
    k = rows_max_sum_kernel[(1,)](x, xi, m, s, si, M=M, N=N)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(m, np.fmax.reduce(x, axis=1))
        np.testing.assert_allclose(s, x.astype(np.float64).sum(1), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(si, xi.sum(1))
    msl = k.asm["msl"]
    if M == 64:
        assert "tm_bfly<4, float4, 8>(a0, " in msl and "tm_bfly<4, int4, 8>(a0, " in msl  # 8 rows a thread: pairs
        assert msl.count("tm_bfly<") == 3  # max, sum, int sum


@triton.jit
def masked_row_max_kernel(x_ptr, out_ptr, n, OTHER: tl.constexpr, BLOCK: tl.constexpr):
    # rows of n elements, the block wider than the row: each vector of the
    # load is kept or masked off as a whole (n a multiple of 16)
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * n + cols, mask=cols < n, other=OTHER)
    tl.store(out_ptr + row * BLOCK + cols, x)


@pytest.mark.parametrize("dtype,word", [(np.float16, "uint2"), (np.float32, "float4")])
@pytest.mark.parametrize("other", [float("-inf"), float("nan"), -2.5])
def test_masked_vector_load_starts_from_other(dtype, word, other, rng):
    """A load masked per vector with a uniform `other` starts from a vector
    filled with it that the load overwrites or not (no per-element selects:
    16-bit elements as 32-bit words); masked-off elements read `other`."""
    n, block, rows = 48, 128, 5  # 4 elements a thread; n a multiple of 16 (aligned rows)
    x = aligned(rows * n, dtype, rng)
    x[::7] = np.inf
    x[3::11] = np.nan
    out = np.zeros(rows * block, dtype)
    h = masked_row_max_kernel[(rows,)](x, out, n, OTHER=other, BLOCK=block, num_warps=1)
    want = np.full((rows, block), other, dtype)
    want[:, :n] = x.reshape(rows, n)
    np.testing.assert_array_equal(out.reshape(rows, block), want)
    body = kernel_body(h)
    assert re.search(rf"{word} t = {word}\(", body), body
    assert "} else {" not in body, body


@triton.jit
def divmod_kernel(a_ptr, b_ptr, q_ptr, r_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    a = tl.load(a_ptr + offs, mask=m)
    b = tl.load(b_ptr + offs, mask=m, other=1)
    tl.store(q_ptr + offs, a // b, mask=m)
    tl.store(r_ptr + offs, a % b, mask=m)


@msl_text
def test_helpers_written_only_where_used(rng):
    """The integer division helpers and tm_shfl_xor's overloads are written
    into the kernels that use them, once, and into no other (each is parsed
    by every compile that gets it: src/mathfns.c)."""
    n = 300
    x, y, out = aligned(n, np.float32, rng), aligned(n, np.float32, rng), aligned(n, np.float32, rng)
    msl = add_kernel[(1,)](x, y, out, n, BLOCK=512).asm["msl"]
    assert "tm_sdiv" not in msl and "tm_urem" not in msl and "tm_shfl_xor(" not in msl, msl
    np.testing.assert_array_equal(out, x + y)

    a = rng.integers(-2**31, 2**31, n, dtype=np.int64).astype(np.int32)
    b = rng.integers(-50, 50, n).astype(np.int32)
    b[b == 0] = 7
    a[5], b[5] = np.iinfo(np.int32).min, -1  # MIN // -1 wraps to MIN
    q, r = np.zeros(n, np.int32), np.zeros(n, np.int32)
    msl = divmod_kernel[(triton.cdiv(n, 128),)](a, b, q, r, n, BLOCK=128).asm["msl"]
    assert msl.count("inline int tm_sdiv(int a, int b)") == 1 and msl.count("inline T tm_srem(") == 1, msl
    assert "tm_shfl_xor(" not in msl, msl
    def trunc_div(x, y):  # C's division, exact: the quotient rounded toward zero
        t = abs(x) // abs(y)
        return t if (x < 0) == (y < 0) else -t
    pairs = list(zip(a.tolist(), b.tolist()))
    want_q = np.array([trunc_div(x, y) for x, y in pairs], np.int64)  # MIN // -1 == 2**31, wrapped below
    want_r = np.array([x - trunc_div(x, y) * y for x, y in pairs], np.int64)
    np.testing.assert_array_equal(q, want_q.astype(np.int32))
    np.testing.assert_array_equal(r, want_r.astype(np.int32))

    xs = rng.standard_normal((3, 1024)).astype(np.float32)
    xs[1, 5] = np.nan
    mx, sm = np.zeros(3, np.float32), np.zeros(3, np.float32)
    msl = row_max_sum_kernel[(3,)](xs, mx, sm, N=16).asm["msl"]
    assert msl.count("inline bool tm_shfl_xor(bool x, ushort m)") == 1 and "tm_sdiv" not in msl, msl


@triton.jit
def alike_sites_kernel(a_ptr, b_ptr, c_ptr, x_ptr, h_ptr, o_ptr, r_ptr, M: tl.constexpr, N: tl.constexpr,
                       K: tl.constexpr):
    rm, rn, rk = tl.arange(0, M), tl.arange(0, N), tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
    c = tl.load(c_ptr + rk[:, None] * N + rn[None, :])
    acc = tl.dot(a, b) - tl.dot(a, c)  # two dots of one shape and layout
    tl.store(o_ptr + rm[:, None] * N + rn[None, :], acc)
    x = tl.load(x_ptr + rm[:, None] * N + rn[None, :])
    h = tl.load(h_ptr + rm[:, None] * N + rn[None, :])
    # float32 maxima twice, of two values; a float32 sum; an int32 sum (the same body, another type)
    tl.store(r_ptr + rm, tl.max(x, 1))
    tl.store(r_ptr + M + rm, tl.max(acc, 1))
    tl.store(r_ptr + 2 * M + rm, tl.sum(x, 1))
    tl.store(r_ptr + 3 * M + rm, tl.sum(h, 1).to(tl.float32))  # h: int32


def test_alike_functors_written_once(rng):
    """Sites that combine or index alike share one program-scope functor (and
    so one instantiation of the prelude's template that takes it): two dots of
    one layout one tm_dotc, two float32 maxima one tm_comb, while a float32
    sum and an int32 sum keep their own (src/emit.c em_end_functor)."""
    M, N, K = 32, 32, 16
    a = rng.standard_normal((M, K)).astype(np.float16)
    b, c = (rng.standard_normal((K, N)).astype(np.float16) for _ in range(2))
    x = rng.standard_normal((M, N)).astype(np.float32)
    x[3, 7], x[5, :] = np.nan, -np.inf
    h = rng.integers(-2**20, 2**20, (M, N)).astype(np.int32)  # sums exact in float32
    o, r = np.zeros((M, N), np.float32), np.zeros(4 * M, np.float32)
    msl = alike_sites_kernel[(1,)](a, b, c, x, h, o, r, M=M, N=N, K=K).asm["msl"]
    dot_calls = re.findall(r"tm_dot_fma\w*<[^;]*tm_dotc(\d+)\(\)", msl)
    assert len(dot_calls) == 2 and len(set(dot_calls)) == 1, msl
    assert msl.count("struct tm_dotc") == 1, msl
    combs = re.findall(r"struct tm_comb\d+ \{\n  inline void operator\(\)\(thread (\w+) &a", msl)
    assert sorted(combs) == ["float", "float", "int"], msl
    assert len(re.findall(r"tm_bfly<[^;]*tm_comb\d+\(\)", msl)) == 4, msl
    a64, x64 = a.astype(np.float64), x.astype(np.float64)
    want = a64 @ b.astype(np.float64) - a64 @ c.astype(np.float64)
    np.testing.assert_allclose(o, want, rtol=1e-5, atol=1e-4)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(r[:M], np.fmax.reduce(x, 1))  # tl.max passes over NaN
        np.testing.assert_array_equal(r[M:2 * M], np.max(o, 1))
        np.testing.assert_allclose(r[2 * M:3 * M], np.sum(x64, 1), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(r[3 * M:], np.sum(h.astype(np.int64), 1).astype(np.float32))
