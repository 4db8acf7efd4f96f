# args: --kernel k --signature *fp32,i32 -D BLOCK=16
# expect: 11:11: error: floor division '//' is not defined for floating-point values (float32)
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    y = x // 2
    tl.store(x_ptr + offs, y)
