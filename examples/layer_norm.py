"""Layer normalization, forward and backward: the workload of the fifth Triton
tutorial, run on triton-metal.

    y = (x - mean(x)) / sqrt(var(x) + eps) * w + b        (per row of x, M x N)

Forward: one program per row, three passes over the row in BLOCK_N chunks
(sum for the mean, squared deviations for the variance, normalize and store);
the mean and 1/std of each row are kept for the backward pass.

Backward, in two kernels:
  1. one program per row computes dx, and its row's contribution to dw (dy * x_hat)
     and db (dy). Rows are dealt round-robin onto GROUP partial-sum rows; the
     programs that share a partial row take turns through a spin lock:

         locks: [ lock_0 .. lock_{G-1} | count_0 .. count_{G-1} ]   (int32)
         acquire:  while atomic_cas(lock_g, 0, 1) == 1: pass
         first:    count_g == 0 -> write the partial row, count_g := 1
         later:    add to the partial row
         release:  atomic_xchg(lock_g, 0)

  2. column blocks of the GROUP x N partials are summed down to dw and db.

    python examples/layer_norm.py
"""
import numpy as np

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def layer_norm_fwd_kernel(x_ptr, y_ptr, w_ptr, b_ptr, mean_ptr, rstd_ptr, row_stride, N, eps,
                          BLOCK_N: tl.constexpr):
    row = tl.program_id(0)
    x_row = x_ptr + row * row_stride
    y_row = y_ptr + row * row_stride
    partial = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for c0 in range(0, N, BLOCK_N):
        cols = c0 + tl.arange(0, BLOCK_N)
        partial += tl.load(x_row + cols, mask=cols < N, other=0.0).to(tl.float32)
    mean = tl.sum(partial, axis=0) / N
    partial = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for c0 in range(0, N, BLOCK_N):
        cols = c0 + tl.arange(0, BLOCK_N)
        x = tl.load(x_row + cols, mask=cols < N, other=0.0).to(tl.float32)
        d = tl.where(cols < N, x - mean, 0.0)
        partial += d * d
    rstd = 1 / tl.sqrt(tl.sum(partial, axis=0) / N + eps)
    tl.store(mean_ptr + row, mean)
    tl.store(rstd_ptr + row, rstd)
    for c0 in range(0, N, BLOCK_N):
        cols = c0 + tl.arange(0, BLOCK_N)
        m = cols < N
        x = tl.load(x_row + cols, mask=m, other=0.0).to(tl.float32)
        w = tl.load(w_ptr + cols, mask=m)
        b = tl.load(b_ptr + cols, mask=m)
        y = (x - mean) * rstd * w + b
        tl.store(y_row + cols, y.to(y_ptr.dtype.element_ty), mask=m)


@triton.jit
def layer_norm_bwd_dx_kernel(dx_ptr, dy_ptr, x_ptr, w_ptr, mean_ptr, rstd_ptr,
                             dw_part_ptr, db_part_ptr, locks_ptr, row_stride, N,
                             GROUP: tl.constexpr, BLOCK_N: tl.constexpr):
    # the whole row is one block (BLOCK_N >= N): dx needs two row-wide sums
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_N)
    m = cols < N
    x = tl.load(x_ptr + row * row_stride + cols, mask=m, other=0.0).to(tl.float32)
    dy = tl.load(dy_ptr + row * row_stride + cols, mask=m, other=0.0).to(tl.float32)
    w = tl.load(w_ptr + cols, mask=m, other=0.0).to(tl.float32)
    mean = tl.load(mean_ptr + row)
    rstd = tl.load(rstd_ptr + row)
    x_hat = tl.where(m, (x - mean) * rstd, 0.0)
    g = w * dy  # gradient with respect to x_hat
    # d/dx of x_hat: rstd * (g - mean(g) - x_hat * mean(g * x_hat))
    g_mean = tl.sum(g, axis=0) / N
    gx_mean = tl.sum(g * x_hat, axis=0) / N
    dx = (g - g_mean - x_hat * gx_mean) * rstd
    tl.store(dx_ptr + row * row_stride + cols, dx.to(dx_ptr.dtype.element_ty), mask=m)

    dw_row = dy * x_hat
    db_row = dy
    group = row % GROUP
    lock = locks_ptr + group
    count = locks_ptr + GROUP + group
    dw_part = dw_part_ptr + group * N + cols
    db_part = db_part_ptr + group * N + cols
    while tl.atomic_cas(lock, 0, 1) == 1:
        pass
    if tl.load(count) == 0:
        tl.atomic_xchg(count, 1)
    else:
        dw_row += tl.load(dw_part, mask=m, other=0.0)
        db_row += tl.load(db_part, mask=m, other=0.0)
    tl.store(dw_part, dw_row, mask=m)
    tl.store(db_part, db_row, mask=m)
    # every thread's stores land before the lock is handed on
    tl.debug_barrier()
    tl.atomic_xchg(lock, 0)


@triton.jit
def layer_norm_bwd_dwdb_kernel(dw_part_ptr, db_part_ptr, dw_ptr, db_ptr, GROUP, N,
                               BLOCK_G: tl.constexpr, BLOCK_N: tl.constexpr):
    cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    dw = tl.zeros((BLOCK_G, BLOCK_N), dtype=tl.float32)
    db = tl.zeros((BLOCK_G, BLOCK_N), dtype=tl.float32)
    for g0 in range(0, GROUP, BLOCK_G):
        rows = g0 + tl.arange(0, BLOCK_G)
        m = (rows[:, None] < GROUP) & (cols[None, :] < N)
        offs = rows[:, None] * N + cols[None, :]
        dw += tl.load(dw_part_ptr + offs, mask=m, other=0.0)
        db += tl.load(db_part_ptr + offs, mask=m, other=0.0)
    tl.store(dw_ptr + cols, tl.sum(dw, axis=0).to(dw_ptr.dtype.element_ty), mask=cols < N)
    tl.store(db_ptr + cols, tl.sum(db, axis=0).to(db_ptr.dtype.element_ty), mask=cols < N)


def layer_norm_forward(x, w, b, eps, block_n=256):
    M, N = x.shape
    y = np.empty_like(x)
    mean = np.empty(M, np.float32)
    rstd = np.empty(M, np.float32)
    layer_norm_fwd_kernel[(M,)](x, y, w, b, mean, rstd, x.strides[0] // x.itemsize, N, eps,
                                BLOCK_N=min(block_n, triton.next_power_of_2(N)), num_warps=4)
    return y, mean, rstd


def layer_norm_backward(dy, x, w, mean, rstd, group=16):
    M, N = x.shape
    group = min(group, M)
    dx = np.empty_like(x)
    dw_part = np.zeros((group, N), np.float32)
    db_part = np.zeros((group, N), np.float32)
    locks = np.zeros(2 * group, np.int32)
    dw = np.empty(N, w.dtype)
    db = np.empty(N, w.dtype)
    layer_norm_bwd_dx_kernel[(M,)](dx, dy, x, w, mean, rstd, dw_part, db_part, locks,
                                   x.strides[0] // x.itemsize, N, GROUP=group,
                                   BLOCK_N=triton.next_power_of_2(N), num_warps=4)
    block_n = 64
    layer_norm_bwd_dwdb_kernel[(triton.cdiv(N, block_n),)](dw_part, db_part, dw, db, group, N,
                                                            BLOCK_G=8, BLOCK_N=block_n)
    return dx, dw, db


# ---------------------------------------------------------------- NumPy check


def layer_norm_reference(x, w, b, dy, eps):
    """Forward and backward in float64, the backward written out from the chain
    rule rather than from the kernel's simplified form."""
    x, w, b, dy = (t.astype(np.float64) for t in (x, w, b, dy))
    N = x.shape[1]
    mu = x.mean(axis=1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
    sigma = np.sqrt(var + eps)
    x_hat = (x - mu) / sigma
    y = x_hat * w + b
    g = dy * w
    # x_hat_j = (x_j - mu) / sigma, d mu / d x_i = 1/N, d sigma / d x_i = (x_i - mu) / (N sigma)
    dx = g / sigma - g.sum(axis=1, keepdims=True) / (N * sigma) \
        - (x - mu) * (g * (x - mu)).sum(axis=1, keepdims=True) / (N * sigma ** 3)
    return y, dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)


def main(M: int = 301, N: int = 777, dtype=np.float32) -> bool:
    rng = np.random.default_rng(0)
    eps = 1e-5
    x = (rng.standard_normal((M, N)) * 2 - 0.5).astype(dtype)
    w = rng.standard_normal(N).astype(dtype)
    b = rng.standard_normal(N).astype(dtype)
    dy = rng.standard_normal((M, N)).astype(dtype)
    y, mean, rstd = layer_norm_forward(x, w, b, eps)
    dx, dw, db = layer_norm_backward(dy, x, w, mean, rstd)
    y_ref, dx_ref, dw_ref, db_ref = layer_norm_reference(x, w, b, dy, eps)
    # float32: a few ulps per element, and dw/db sum M terms of size ~1;
    # float16 data: every output is computed in float32 and rounded to float16
    # once (2**-11 relative); 2**-10 leaves room for the float32 error under it
    tol = dict(rtol=1e-5, atol=1e-5 * np.sqrt(M)) if dtype == np.float32 else dict(rtol=2 ** -10, atol=1e-4)
    checks = [("y", y, y_ref), ("dx", dx, dx_ref), ("dw", dw, dw_ref), ("db", db, db_ref)]
    bad = [name for name, got, ref in checks if not np.allclose(got.astype(np.float64), ref, **tol)]
    ok = not bad
    print(f"layer norm forward + backward of {M}x{N} {np.dtype(dtype).name}: "
          f"{'matches' if ok else 'DOES NOT MATCH'} NumPy" + (f" ({', '.join(bad)} differ)" if bad else ""))
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
