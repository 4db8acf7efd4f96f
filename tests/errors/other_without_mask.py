# args: --kernel k --signature *fp32
# expect: 9:9: error: load: 'other' is given without 'mask'
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p):
    x = tl.load(p + tl.arange(0, 16), other=0.0)
    tl.store(p + tl.arange(0, 16), x)
