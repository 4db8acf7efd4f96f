# args: --kernel k --signature *i32
# expect: 10:18: error: chained comparisons are not supported in kernels
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p):
    offs = tl.arange(0, 16)
    m = 0 < offs < 8
    tl.store(p + offs, offs, mask=m)
