# args: --kernel k --signature *i32
# expect: 9:11: error: program_id axis must be 0, 1, or 2 but got 3
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p):
    pid = tl.program_id(3)
    tl.store(p, pid)
