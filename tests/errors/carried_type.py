# args: --kernel k --signature *fp32,i32
# expect: 10:5: error: loop-carried variable 'acc' has type i32 before the loop but fp32 at the end of its body
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(p, n):
    acc = 0
    for i in range(n):
        acc += tl.load(p + i)
    tl.store(p, acc)
