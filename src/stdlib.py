# The part of triton.language written in the kernel language itself.
#
# The compiler embeds this file and compiles a function from it when a kernel
# calls tl.<name> and the compiler has no built-in lowering for <name>. It is
# compiled exactly like user @jit code, so everything here must stay inside
# the kernel subset. Names resolve only against this module (and Python
# builtins), never against the user's globals.
import triton.language as tl


def sigmoid(x):
    return 1 / (1 + tl.exp(-x))


def softmax(x, dim=None, keep_dims=False, ieee_rounding: tl.constexpr = False):
    if dim is None:
        d = 0
    else:
        d = dim
    z = x - tl.max(x, d, keep_dims=True)
    num = tl.exp(z)
    den = tl.sum(num, d, keep_dims=True)
    return num / den
