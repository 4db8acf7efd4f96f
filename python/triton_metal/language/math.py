# language/math.py: `triton_metal.language.math` (upstream `triton.language.math`).
# Stubs resolved by the compiler as "triton.language.math.<name>".

from .core import make_stubs

FUNCTIONS = """
    abs ceil cdiv cos div_rn erf exp exp2 fast_dividef fast_expf fdiv floor fma
    log log2 maximum minimum rsqrt sin sqrt sqrt_rn umulhi
"""

# Triton 2.x kept the libdevice functions in tl.math (tl.math.tanh, tl.math.pow, ...),
# and kernels written then still call them there: the same functions, by that path.
from .extra.libdevice import FUNCTIONS as _LIBDEVICE  # noqa: E402

FUNCTIONS = " ".join(sorted(set(FUNCTIONS.split()) | set(_LIBDEVICE.split())))
make_stubs(globals(), "triton.language.math", FUNCTIONS)
__all__ = FUNCTIONS.split()
