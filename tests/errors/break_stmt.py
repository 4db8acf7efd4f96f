# args: --kernel k --signature *i32
# expect: 10:9: error: 'break' is not supported in Triton kernels
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p):
    for i in range(4):
        break
