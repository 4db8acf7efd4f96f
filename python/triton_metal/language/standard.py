# language/standard.py: `triton.language.standard`, the functions upstream
# writes in Triton itself (reductions, softmax, sort, ...). The compiler has
# them (src/stdlib.py and its own lowering); these stubs name them by path.
from .core import make_stubs

FUNCTIONS = """
    _log2 _log argmax argmin cdiv cumprod cumsum flip interleave max maximum min minimum
    ravel reduce_or sigmoid softmax sort sum swizzle2d topk bitonic_merge xor_sum zeros
    zeros_like clamp
"""

make_stubs(globals(), "triton.language.standard", FUNCTIONS)
__all__ = [n for n in FUNCTIONS.split() if not n.startswith("_")]
