# language/extra/libdevice.py: `triton_metal.language.extra.libdevice`, the
# backend-supplied math library upstream kernels import. Stubs resolved by the
# compiler as "triton.language.extra.libdevice.<name>".

from ..core import make_stubs

FUNCTIONS = """
    abs acos acosh asin asinh atan atan2 atanh cbrt ceil copysign cos cosh erf erfc
    exp exp2 expm1 fabs floor fma fmax fmin fmod hypot isinf isnan log log10 log1p
    log2 nextafter pow rint round rsqrt signbit sin sinh sqrt tan tanh trunc
"""

make_stubs(globals(), "triton.language.extra.libdevice", FUNCTIONS)
