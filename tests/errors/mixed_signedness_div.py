# args: --kernel k --signature *i32,*u32
# expect: 10:11: error: Cannot use /, //, or % with int32 and uint32 because they have different signedness; cast one of them first
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(a, b):
    x = tl.load(a + tl.arange(0, 16))
    y = x // tl.load(b + tl.arange(0, 16))
    tl.store(a + tl.arange(0, 16), y)
