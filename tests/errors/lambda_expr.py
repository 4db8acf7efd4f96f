# args: --kernel k --signature *i32
# expect: 9:9: error: lambda expressions are not supported in kernels
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p):
    f = lambda x: x
