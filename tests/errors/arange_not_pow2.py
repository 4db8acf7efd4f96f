# args: --kernel k --signature *i32
# expect: 9:12: error: arange's range must be a power of 2
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p):
    offs = tl.arange(0, 100)
    tl.store(p + offs, offs)
