# args: --kernel k --signature *fp32 -D BLOCK=16
# expect: 9:25: error: name 'offsets' is not defined
import triton_metal.language as tl
import triton_metal as triton


@triton.jit
def k(x_ptr, BLOCK: tl.constexpr):
    x = tl.load(x_ptr + offsets)
