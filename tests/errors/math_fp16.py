# args: --kernel k --signature *fp16
# expect: 10:9: error: exp(): expected dtype ['fp32', 'fp64'] but got fp16
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p):
    x = tl.load(p + tl.arange(0, 16))
    y = tl.exp(x)
    tl.store(p + tl.arange(0, 16), y)
