# args: --kernel k --signature *i32,i32
# expect: 10:13: error: an 'if' condition must be a scalar, not a block; use tl.where for blocks
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p, n):
    offs = tl.arange(0, 16)
    if offs < n:
        tl.store(p + offs, n)
