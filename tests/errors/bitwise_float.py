# args: --kernel k --signature *fp32
# expect: 10:11: error: invalid operands of type float32 for operator '&': bitwise operators need integers
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p):
    x = tl.load(p + tl.arange(0, 16))
    y = x & 1
    tl.store(p + tl.arange(0, 16), y)
