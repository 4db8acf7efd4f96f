# args: --kernel k --signature *fp32
# expect: 7:
import triton_metal as triton
import triton_metal.language as tl

X = X + 1


@triton.jit
def k(p):
    tl.store(p, X)
