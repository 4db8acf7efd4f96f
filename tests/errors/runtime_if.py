# args: --kernel k --signature *i32,i32
# expect: 9:10: error: 'if' on a device value is not supported yet
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p, n):
    if n > 0:
        tl.store(p, n)
