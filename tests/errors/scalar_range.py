# args: --kernel k --signature *i8
# expect: 10:11: error: scalar 300 is out of range for type int8
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p):
    x = tl.load(p + tl.arange(0, 16))
    y = x + 300
    tl.store(p + tl.arange(0, 16), y)
