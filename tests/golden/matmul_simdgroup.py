# golden: --kernel matmul --signature *fp16,*fp16,*fp16,i32 -D BLOCK_M=32 -D BLOCK_N=32 -D BLOCK_K=16 --target M3-Max
# tl.dot on a target with simdgroup_matrix (Apple7+, MSL 2.3+): fp16 operands
# staged in threadgroup memory, 2x2 tiles of 8x8 per SIMD-group, the fp32
# accumulators kept in simdgroup matrices across the K loop (two barriers per
# iteration) and moved to the blocked layout once, after it, for the store.
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
