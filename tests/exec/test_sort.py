"""tl.sort, tl.topk and tl.bitonic_merge (src/stdlib.py: bitonic networks
along the last dimension) against NumPy: np.sort per row, np.partition for
the top k; random power-of-two blocks, 1-D and 2-D, masked lanes, duplicates,
negatives and +-inf, integer and float dtypes, both directions. NaN inputs
are checked bit for bit against a plain-loop model of upstream's
compare-and-swap (which copies rather than moves around a NaN)."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

FLOATS = [np.float32, np.float16]
INTS = [np.int8, np.uint8, np.int16, np.int32, np.uint32, np.int64]


def random_rows(shape, dtype, rng):
    """Negatives, many duplicates, the extremes of the type (+-inf for floats)."""
    n = int(np.prod(shape))
    if np.dtype(dtype).kind == "f":
        pool = (rng.standard_normal(max(2, n // 3)) * 100).astype(dtype)
        pool = np.concatenate([pool, np.array([np.inf, -np.inf, 0.0, -0.0], dtype)])
    else:
        info = np.iinfo(dtype)
        pool = rng.integers(info.min, info.max, size=max(2, n // 3), endpoint=True,
                            dtype=np.int64 if info.min < 0 else np.uint64).astype(dtype)
        pool = np.concatenate([pool, np.array([info.min, info.max, 0], dtype=dtype)])
    return rng.choice(pool, size=n).reshape(shape)


def fill_value(dtype, descending):
    """A value that sorts after every other one: masked lanes are loaded as it."""
    if np.dtype(dtype).kind == "f":
        return -np.inf if descending else np.inf
    info = np.iinfo(dtype)
    return int(info.min if descending else info.max)


def row_sort(x, descending):
    s = np.sort(x, axis=-1)
    return s[..., ::-1] if descending else s


# ---------------------------------------------------------------- sort


@triton.jit
def sort_rows_kernel(x_ptr, o_ptr, n_cols, R: tl.constexpr, N: tl.constexpr, DESC: tl.constexpr,
                     FILL: tl.constexpr):
    # row r of the block is x[r, :n_cols] padded with FILL to N columns
    rows = tl.arange(0, R)[:, None]
    cols = tl.arange(0, N)[None, :]
    m = (cols < n_cols) & (rows >= 0)
    x = tl.load(x_ptr + rows * n_cols + cols, mask=m, other=FILL)
    y = tl.sort(x, descending=DESC)
    tl.store(o_ptr + rows * n_cols + cols, y, mask=m)


@triton.jit
def sort_1d_kernel(x_ptr, o_ptr, N: tl.constexpr, DESC: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(o_ptr + offs, tl.sort(tl.load(x_ptr + offs), dim=0, descending=DESC))


@pytest.mark.parametrize("dtype", FLOATS + INTS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_rows_masked(dtype, descending, rng):
    # a random power-of-two block per case; the last columns are masked lanes
    R = int(rng.choice([1, 2, 4, 8]))
    N = int(rng.choice([2, 8, 32, 64, 256]))
    n_cols = int(rng.integers(max(1, N // 2), N + 1))
    x = random_rows((R, n_cols), dtype, rng)
    out = np.zeros_like(x)
    sort_rows_kernel[(1,)](x, out, n_cols, R=R, N=N, DESC=descending, FILL=fill_value(dtype, descending))
    np.testing.assert_array_equal(out, row_sort(x, descending), err_msg=f"R={R} N={N} n_cols={n_cols}")


@pytest.mark.parametrize("n", [1, 2, 4, 16, 128, 1024, 2048])
@pytest.mark.parametrize("dtype", [np.float32, np.int32], ids=lambda d: np.dtype(d).name)
def test_sort_1d_sizes(n, dtype, rng):
    x = random_rows((n,), dtype, rng)
    for descending in (False, True):
        out = np.zeros_like(x)
        sort_1d_kernel[(1,)](x, out, N=n, DESC=descending)
        np.testing.assert_array_equal(out, row_sort(x, descending))


def test_sort_keeps_values_bit_exact(rng):
    """Sorting moves elements without arithmetic: a sorted row is a permutation
    of the input bit for bit (NaN-free rows; -0.0 and 0.0 kept apart here)."""
    x = (rng.standard_normal(256) * 1e30).astype(np.float32)
    x[::7] = np.float32(1.401298464324817e-45)   # the smallest denormal
    x[::11] = -x[::11]
    out = np.zeros_like(x)
    sort_1d_kernel[(1,)](x, out, N=256, DESC=False)
    np.testing.assert_array_equal(np.sort(out.view(np.uint32)), np.sort(x.view(np.uint32)))
    assert (np.diff(out) >= 0).all()


@triton.jit
def sort_bf16_kernel(x_ptr, o_ptr, N: tl.constexpr, DESC: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs).to(tl.bfloat16, bitcast=True)
    y = tl.sort(x, descending=DESC)
    tl.store(o_ptr + offs, y.to(tl.uint16, bitcast=True))


def test_sort_bf16(rng):
    # bfloat16 values as their bit patterns: the upper half of a float32
    f = random_rows((64,), np.float32, rng)
    bits = (f.view(np.uint32) >> 16).astype(np.uint16)
    as_f32 = (bits.astype(np.uint32) << 16).view(np.float32)
    for descending in (False, True):
        out = np.zeros_like(bits)
        sort_bf16_kernel[(1,)](bits, out, N=64, DESC=descending)
        got = (out.astype(np.uint32) << 16).view(np.float32)
        np.testing.assert_array_equal(got, row_sort(as_f32, descending))


# ---------------------------------------------------------------- NaN: upstream's comparator


def model_compare_swap(a, lo, hi, descending):
    """Upstream's compare-and-swap of a[lo], a[hi] (lo < hi), written per pair:
    each side evaluates one `>` (false whenever a NaN is involved) and keeps
    its own value unless that comparison says the pair is out of order."""
    x, y = a[lo], a[hi]
    if not descending:
        a[lo] = y if x > y else x
        a[hi] = y if y > x else x
    else:
        a[lo] = x if x > y else y
        a[hi] = x if y > x else y


def model_bitonic_sort(row, descending):
    """The textbook iterative bitonic sort (runs of k, partner i ^ j, run
    direction from bit k of i; the last merge in the requested direction)."""
    a = list(row)
    n = len(a)
    k = 2
    while k <= n:
        j = k // 2
        while j >= 1:
            for i in range(n):
                p = i ^ j
                if p > i:
                    desc = descending if k == n else bool(i & k)
                    model_compare_swap(a, i, p, desc)
            j //= 2
        k *= 2
    return np.array(a, dtype=row.dtype)


def test_model_sorts_without_nan(rng):
    x = random_rows((64,), np.float32, rng)
    for d in (False, True):
        np.testing.assert_array_equal(model_bitonic_sort(x, d), row_sort(x, d))


@pytest.mark.parametrize("descending", [False, True])
def test_sort_nan_matches_upstream_comparator(descending, rng):
    R, N = 4, 32
    x = random_rows((R, N), np.float32, rng)
    x[rng.random((R, N)) < 0.15] = np.nan
    x[0, :4] = [np.nan, 1.0, -0.0, 0.0]
    out = np.zeros_like(x)
    sort_rows_kernel[(1,)](x, out, N, R=R, N=N, DESC=descending, FILL=0.0)
    ref = np.stack([model_bitonic_sort(r, descending) for r in x])
    np.testing.assert_array_equal(out.view(np.uint32), ref.view(np.uint32))


# ---------------------------------------------------------------- bitonic_merge


@triton.jit
def merge_kernel(x_ptr, o_ptr, R: tl.constexpr, N: tl.constexpr, DESC: tl.constexpr):
    offs = tl.arange(0, R)[:, None] * N + tl.arange(0, N)[None, :]
    tl.store(o_ptr + offs, tl.bitonic_merge(tl.load(x_ptr + offs), descending=DESC))


@pytest.mark.parametrize("dtype", [np.float32, np.int16], ids=lambda d: np.dtype(d).name)
def test_bitonic_merge(dtype, rng):
    # each row: ascending half then descending half (or the reverse), rotated
    R, N = 4, 64
    x = random_rows((R, N), dtype, rng)
    rows = []
    for r in range(R):
        a, b = np.sort(x[r, : N // 2]), np.sort(x[r, N // 2:])[::-1]
        row = np.concatenate([a, b]) if r % 2 == 0 else np.concatenate([a[::-1], b[::-1]])
        rows.append(np.roll(row, int(rng.integers(0, N))))
    x = np.ascontiguousarray(np.stack(rows))
    for descending in (False, True):
        out = np.zeros_like(x)
        merge_kernel[(1,)](x, out, R=R, N=N, DESC=descending)
        np.testing.assert_array_equal(out, row_sort(x, descending))


# ---------------------------------------------------------------- topk


@triton.jit
def topk_kernel(x_ptr, o_ptr, n_cols, R: tl.constexpr, N: tl.constexpr, K: tl.constexpr,
                DESC: tl.constexpr, FILL: tl.constexpr):
    rows = tl.arange(0, R)[:, None]
    cols = tl.arange(0, N)[None, :]
    x = tl.load(x_ptr + rows * n_cols + cols, mask=(cols < n_cols) & (rows >= 0), other=FILL)
    y = tl.topk(x, K, descending=DESC)
    tl.store(o_ptr + rows * K + tl.arange(0, K)[None, :], y)


def ref_topk(x, k, descending):
    """The k largest (smallest) per row via np.partition, then in upstream's
    output order: largest first (smallest first)."""
    if descending:
        part = np.partition(x, x.shape[-1] - k, axis=-1)[..., x.shape[-1] - k:]
        return np.sort(part, axis=-1)[..., ::-1]
    part = np.partition(x, k - 1, axis=-1)[..., :k]
    return np.sort(part, axis=-1)


def topk_out_dtype(dtype, k, n):
    """As upstream: k < n goes through tl.max/tl.min, which return types
    narrower than 32 bits as int32 / float32; k == n is a plain sort."""
    d = np.dtype(dtype)
    if k < n and d.itemsize < 4:
        return np.float32 if d.kind == "f" else np.int32
    return dtype


@pytest.mark.parametrize("dtype", FLOATS + INTS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("descending", [True, False])
def test_topk(dtype, descending, rng):
    R = int(rng.choice([1, 2, 4]))
    N = int(rng.choice([16, 64, 256]))
    n_cols = int(rng.integers(max(1, N // 2) + 1, N + 1))
    x = random_rows((R, n_cols), dtype, rng)
    for K in sorted({1, 2, int(rng.choice([4, 8])), N // 2, N}):
        kk = min(K, n_cols)   # lanes past n_cols hold FILL, which ranks last
        out = np.zeros((R, K), topk_out_dtype(dtype, K, N))
        topk_kernel[(1,)](x, out, n_cols, R=R, N=N, K=K, DESC=descending,
                          FILL=fill_value(dtype, descending))
        np.testing.assert_array_equal(out[:, :kk], ref_topk(x, kk, descending).astype(out.dtype),
                                      err_msg=f"R={R} N={N} n_cols={n_cols} K={K}")


@triton.jit
def topk_dtype_kernel(x_ptr, o_ptr, N: tl.constexpr, K: tl.constexpr, EXPECT: tl.constexpr):
    y = tl.topk(tl.load(x_ptr + tl.arange(0, N)), K)
    tl.static_assert(y.dtype == EXPECT)
    tl.store(o_ptr + tl.arange(0, K), y)


@pytest.mark.parametrize("np_dt,k,expect", [
    (np.float16, 4, tl.float32), (np.float16, 16, tl.float16), (np.float16, 1, tl.float32),
    (np.uint8, 8, tl.int32), (np.int8, 16, tl.int8), (np.int16, 2, tl.int32),
    (np.float32, 4, tl.float32), (np.uint32, 4, tl.uint32), (np.int64, 4, tl.int64)])
def test_topk_result_dtype(np_dt, k, expect, rng):
    x = random_rows((16,), np_dt, rng)
    out = np.zeros(k, topk_out_dtype(np_dt, k, 16))
    topk_dtype_kernel[(1,)](x, out, N=16, K=k, EXPECT=expect)
    np.testing.assert_array_equal(out, ref_topk(x, k, True).astype(out.dtype))


def model_topk(row, k, descending):
    """Upstream's bitonic top-k on one row, with model_bitonic_sort's
    comparator: sort runs of k alternately up and down, then halve the row by
    the elementwise max (min), which skips NaN as tl.max does, and merge."""
    a = np.array(row)
    n = len(a)
    if k == 1:
        f = np.nanmax if descending else np.nanmin
        return np.array([f(a) if not np.isnan(a).all() else np.nan], a.dtype)

    def merge_runs(a, k, last):
        a = list(a)
        for i0 in range(0, len(a), k):
            run_desc = descending if last else bool((i0 // k) & 1)
            j = k // 2
            while j >= 1:
                for i in range(i0, i0 + k):
                    p = i ^ j
                    if p > i:
                        model_compare_swap(a, i, p, run_desc)
                j //= 2
        return np.array(a, dtype=row.dtype)

    # runs of k sorted alternately: the textbook network restricted to k
    m = 2
    while m <= k:
        a = list(a)
        j = m // 2
        while j >= 1:
            for i in range(n):
                p = i ^ j
                if p > i:
                    model_compare_swap(a, i, p, descending if m == n else bool(i & m))
            j //= 2
        a = np.array(a, dtype=row.dtype)
        m *= 2
    while len(a) > k:
        pairs = a.reshape(-1, 2, k)
        a = (np.fmax if descending else np.fmin)(pairs[:, 0], pairs[:, 1]).reshape(-1)
        a = merge_runs(a, k, len(a) == k)
    return a


def test_model_topk_without_nan(rng):
    x = random_rows((64,), np.float32, rng)
    for d in (False, True):
        for k in (1, 2, 8, 64):
            np.testing.assert_array_equal(model_topk(x, k, d), ref_topk(x, k, d))


@pytest.mark.parametrize("descending", [True, False])
def test_topk_nan_matches_upstream(descending, rng):
    R, N, K = 4, 64, 8
    x = random_rows((R, N), np.float32, rng)
    x[rng.random((R, N)) < 0.1] = np.nan
    for K in (1, 8, 64):
        out = np.zeros((R, K), np.float32)
        topk_kernel[(1,)](x, out, N, R=R, N=N, K=K, DESC=descending, FILL=0.0)
        ref = np.stack([model_topk(r, K, descending) for r in x])
        np.testing.assert_array_equal(out.view(np.uint32), ref.view(np.uint32), err_msg=f"K={K}")


# ---------------------------------------------------------------- refusals


@triton.jit
def sort_dim_kernel(x_ptr, o_ptr, DIM: tl.constexpr):
    offs = tl.arange(0, 4)[:, None] * 8 + tl.arange(0, 8)[None, :]
    tl.store(o_ptr + offs, tl.sort(tl.load(x_ptr + offs), dim=DIM))


def test_sort_last_dim_only():
    x = np.arange(32, dtype=np.float32)[::-1].copy()
    out = np.zeros_like(x)
    for dim in (1, -1):
        sort_dim_kernel[(1,)](x, out, DIM=dim)
        np.testing.assert_array_equal(out.reshape(4, 8), np.sort(x.reshape(4, 8), axis=1))
    with pytest.raises(triton.CompilationError, match="only the last"):
        sort_dim_kernel[(1,)](x, out, DIM=0)


@pytest.mark.parametrize("k,msg", [(3, "power of two"), (32, "must not exceed"), (0, "greater than 0")])
def test_topk_rejects_bad_k(k, msg):
    x = np.zeros(16, np.float32)
    with pytest.raises(triton.CompilationError, match=msg):
        topk_dtype_kernel[(1,)](x, x, N=16, K=k, EXPECT=tl.float32)
