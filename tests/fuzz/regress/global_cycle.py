# args: --kernel k --signature *fp32
# expect: 7:
# xfail: F1 (docs/reliability.md): a module-level constant defined in terms of itself recurses in sema until the stack overflows
import triton_metal as triton
import triton_metal.language as tl

X = X + 1


@triton.jit
def k(p):
    tl.store(p, X)
