# args: --kernel k --signature *i32
# expect: 9:12: error: recursive call of @jit function 'f' is not supported
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def f(x):
    return f(x)


@triton.jit
def k(p):
    tl.store(p, f(1))
