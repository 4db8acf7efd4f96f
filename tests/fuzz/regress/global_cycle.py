# args: --kernel k --signature *fp32
# expect: 6:5: error: global 'X' is defined in terms of itself
import triton_metal as triton
import triton_metal.language as tl

X = X + 1


@triton.jit
def k(p):
    tl.store(p, X)
