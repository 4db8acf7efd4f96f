# golden: --kernel matmul --signature *fp16,*fp16,*fp16,i32 -D BLOCK_M=32 -D BLOCK_N=32 -D BLOCK_K=16 --target M5
# The same matmul on a target with Metal 4 tensor ops (M5, macOS 26): the dot is
# emitted twice under the preprocessor, Metal Performance Primitives' matmul2d
# with the accumulator in a cooperative tensor across the K loop (TM_TENSOR_OPS:
# MSL 4.0) and the simdgroup_matrix code (the fallback the runtime rebuilds with,
# defining TM_NO_TENSOR_OPS, if the Metal compiler rejects the tensor code).
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def matmul(a_ptr, b_ptr, c_ptr, K, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    rm = tl.arange(0, BLOCK_M)
    rn = tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        a = tl.load(a_ptr + rm[:, None] * K + (k0 + rk)[None, :])
        b = tl.load(b_ptr + (k0 + rk)[:, None] * BLOCK_N + rn[None, :])
        acc = tl.dot(a, b, acc)
    tl.store(c_ptr + rm[:, None] * BLOCK_N + rn[None, :], acc.to(tl.float16))
