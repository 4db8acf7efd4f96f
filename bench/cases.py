"""bench/cases.py: the benchmark kernels and the problems they run on, shared by
every side (our compiler and emulator, upstream Triton's compiler and its
interpreter), so that both sides compile and run the same source on the same
data.

KERNELS: for each kernel file in bench/kernels/, the kernel's name, its runtime
parameters' types in order (upstream's signature notation) and its constexpr
values: what a compile needs.

CASES: the emulator/interpreter problems. Each builds its inputs as NumPy
arrays from a seeded generator, says the grid, and checks the outputs against
a NumPy reference.
"""
import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL_DIR = os.path.join(HERE, "kernels")

KERNELS = {
    "vector add": dict(
        file="vector_add.py", kernel="add_kernel",
        params=[("x_ptr", "*fp32"), ("y_ptr", "*fp32"), ("output_ptr", "*fp32"),
                ("n_elements", "i32")],
        constexprs={"BLOCK_SIZE": 1024}, num_warps=4),
    "fused softmax": dict(
        file="softmax.py", kernel="softmax_kernel",
        params=[("output_ptr", "*fp32"), ("input_ptr", "*fp32"), ("input_row_stride", "i32"),
                ("output_row_stride", "i32"), ("n_cols", "i32")],
        constexprs={"BLOCK_SIZE": 1024}, num_warps=4),
    "layer norm": dict(
        file="layer_norm.py", kernel="_layer_norm_fwd_fused",
        params=[("X", "*fp32"), ("Y", "*fp32"), ("W", "*fp32"), ("B", "*fp32"),
                ("Mean", "*fp32"), ("Rstd", "*fp32"), ("stride", "i32"), ("N", "i32"),
                ("eps", "fp32")],
        constexprs={"BLOCK_SIZE": 1024}, num_warps=4),
    "matmul": dict(
        file="matmul.py", kernel="matmul_kernel",
        params=[("a_ptr", "*fp32"), ("b_ptr", "*fp32"), ("c_ptr", "*fp32"), ("M", "i32"),
                ("N", "i32"), ("K", "i32"), ("stride_am", "i32"), ("stride_ak", "i32"),
                ("stride_bk", "i32"), ("stride_bn", "i32"), ("stride_cm", "i32"),
                ("stride_cn", "i32")],
        constexprs={"BLOCK_SIZE_M": 64, "BLOCK_SIZE_N": 64, "BLOCK_SIZE_K": 32,
                    "GROUP_SIZE_M": 8}, num_warps=4),
    "attention fwd": dict(
        file="attention.py", kernel="attn_fwd",
        params=[("Q", "*fp32"), ("K", "*fp32"), ("V", "*fp32"), ("Out", "*fp32"),
                ("sm_scale", "fp32"), ("N_CTX", "i32")],
        constexprs={"HEAD_DIM": 64, "BLOCK_M": 64, "BLOCK_N": 64}, num_warps=4),
}


def load_kernel_module(name):
    """Executes bench/kernels/<file> with whatever `triton` the process has
    (upstream's, or ours after triton_metal.install()) and returns the module."""
    import importlib.util
    path = os.path.join(KERNEL_DIR, KERNELS[name]["file"])
    spec = importlib.util.spec_from_file_location("bench_kernel_" + KERNELS[name]["file"][:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rng():
    return np.random.default_rng(0)


# ------------------------------------------------------------------- problems
# Each problem: () -> (args, grid, outputs, reference), where args are NumPy
# arrays and Python scalars in the kernel's parameter order (constexprs come
# from KERNELS), outputs the indices of args the kernel writes, reference the
# expected values of those outputs, and tolerances (atol, rtol).

def vector_add(n):
    def make():
        r = _rng()
        x = r.standard_normal(n, dtype=np.float32)
        y = r.standard_normal(n, dtype=np.float32)
        out = np.zeros_like(x)
        return [x, y, out, n], (math.ceil(n / 1024),), {2: x + y}, (0, 0)
    return make


def softmax(rows, cols):
    def make():
        r = _rng()
        x = r.standard_normal((rows, cols), dtype=np.float32)
        y = np.zeros_like(x)
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return [y, x, cols, cols, cols], (rows,), {0: e / e.sum(axis=1, keepdims=True)}, (1e-6, 1e-5)
    return make


def layer_norm(rows, cols):
    def make():
        r = _rng()
        x = r.standard_normal((rows, cols), dtype=np.float32)
        w = r.standard_normal(cols, dtype=np.float32)
        b = r.standard_normal(cols, dtype=np.float32)
        y = np.zeros_like(x)
        mean = np.zeros(rows, np.float32)
        rstd = np.zeros(rows, np.float32)
        eps = 1e-5
        mu = x.mean(axis=1, dtype=np.float64)
        var = ((x - mu[:, None]) ** 2).mean(axis=1)
        rs = 1 / np.sqrt(var + eps)
        ref = ((x - mu[:, None]) * rs[:, None] * w + b).astype(np.float32)
        return ([x, y, w, b, mean, rstd, cols, cols, eps], (rows,),
                {1: ref, 4: mu.astype(np.float32), 5: rs.astype(np.float32)}, (1e-4, 1e-4))
    return make


def matmul(m, n, k):
    def make():
        r = _rng()
        a = r.standard_normal((m, k), dtype=np.float32)
        b = r.standard_normal((k, n), dtype=np.float32)
        c = np.zeros((m, n), np.float32)
        grid = (math.ceil(m / 64) * math.ceil(n / 64),)
        ref = (a.astype(np.float64) @ b).astype(np.float32)
        return [a, b, c, m, n, k, k, 1, n, 1, n, 1], grid, {2: ref}, (1e-3, 1e-4)
    return make


def attention(bh, n_ctx, d):
    def make():
        r = _rng()
        q, k, v = (r.standard_normal((bh, n_ctx, d), dtype=np.float32) for _ in range(3))
        out = np.zeros_like(q)
        scale = 1 / math.sqrt(d)
        s = np.einsum("bmd,bnd->bmn", q.astype(np.float64), k) * scale
        p = np.exp(s - s.max(axis=-1, keepdims=True))
        ref = (np.einsum("bmn,bnd->bmd", p / p.sum(axis=-1, keepdims=True), v)).astype(np.float32)
        return [q, k, v, out, scale, n_ctx], (n_ctx // 64, bh), {3: ref}, (1e-4, 1e-4)
    return make


# (kernel, problem label, problem, bytes moved once, flops) -- the last two
# turn times into GB/s and GFLOP/s on a Mac.
CASES = [
    ("vector add", "n=2^12", vector_add(1 << 12), 12 * (1 << 12), 1 << 12),
    ("vector add", "n=2^16", vector_add(1 << 16), 12 * (1 << 16), 1 << 16),
    ("vector add", "n=2^20", vector_add(1 << 20), 12 * (1 << 20), 1 << 20),
    ("fused softmax", "256x1000", softmax(256, 1000), 8 * 256 * 1000, 5 * 256 * 1000),
    ("layer norm", "256x1000", layer_norm(256, 1000), 8 * 256 * 1000 + 8 * 1000, 8 * 256 * 1000),
    ("matmul", "256x256x256", matmul(256, 256, 256), 12 * 256 * 256, 2 * 256 ** 3),
    ("attention fwd", "4x256x64", attention(4, 256, 64), 16 * 4 * 256 * 64, 4 * 4 * 256 * 256 * 64),
]


def check(outputs, got, tol):
    """None when every output matches its reference, else a short message."""
    atol, rtol = tol
    for i, ref in outputs.items():
        g = np.asarray(got[i]).reshape(ref.shape)
        if not np.allclose(g, ref, atol=atol, rtol=rtol, equal_nan=True):
            err = np.nanmax(np.abs(g.astype(np.float64) - ref))
            return f"output {i}: max abs error {err:.3g} (atol {atol}, rtol {rtol})"
    return None
