# language/math.py: `triton_metal.language.math` (upstream `triton.language.math`).
# Stubs resolved by the compiler as "triton.language.math.<name>".

from .core import make_stubs

FUNCTIONS = """
    abs ceil cdiv cos div_rn erf exp exp2 fast_dividef fast_expf fdiv floor fma
    log log2 maximum minimum rsqrt sin sqrt sqrt_rn umulhi
"""

make_stubs(globals(), "triton.language.math", FUNCTIONS)
