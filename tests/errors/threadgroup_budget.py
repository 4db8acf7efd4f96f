# args: --kernel k --signature *fp32 -D N=128
# expect: 6:5: error: the kernel needs 65536 bytes of threadgroup memory; the target 'generic' has 32768; needed by: scan at 9:9 (65536 bytes)
import triton_metal as triton
import triton_metal.language as tl
@triton.jit
def k(x_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs[:, None] * N + offs[None, :])
    y = tl.cumsum(x, 0)
    tl.store(x_ptr + offs[:, None] * N + offs[None, :], y)
