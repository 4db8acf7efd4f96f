# args: --kernel k --signature *kfp32
# expect: 9:5: error: store through 'p', which was passed as a read-only array
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p):
    tl.store(p + tl.arange(0, 16), 1.0)
