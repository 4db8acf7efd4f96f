# args: --kernel k --signature *fp32
# expect: 10:3: error: unindent does not match any outer indentation level
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p):
    x = 1
  y = 2
