# args: --kernel k --signature *fp32
# expect: 9:5: error: tl.frobnicate is not supported yet
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p):
    tl.frobnicate(p)
