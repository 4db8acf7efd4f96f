# args: --kernel k --signature *fp32
# expect: 6:5: error: unexpected indent
# found by tests/fuzz: an indented line outside any block was read as a module-level assignment
import triton_metal.language as tl
import triton_metal as triton
    x = tl.reshape(x, (16,))


@triton.jit
def k(p):
    tl.store(p + tl.arange(0, 16), 1.0)
