# language/extra/libdevice.py: `triton_metal.language.extra.libdevice`, the
# backend-supplied math library upstream kernels import. Stubs resolved by the
# compiler as "triton.language.extra.libdevice.<name>".

from ..core import make_stubs

FUNCTIONS = """
    abs acos acosh asin asinh atan atan2 atanh brev cbrt ceil clz copysign cos cosh
    cospi div_rn erf erfc erfinv exp exp10 exp2 expm1 fabs fast_cosf fast_dividef
    fast_exp10f fast_expf fast_log10f fast_log2f fast_logf fast_powf fast_sinf fast_tanf
    fdim ffs finitef floor fma fmax fmin fmod hypot isinf isnan ldexp lgamma log log10
    log1p log2 mulhi nearbyint nextafter popc pow rint round rsqrt saturatef scalbn
    signbit sin sinh sinpi sqrt sqrt_rn tan tanh tgamma trunc
    j0 j1 jn y0 y1 yn cyl_bessel_i0 cyl_bessel_i1
"""
# upstream's float64-only functions: present, so a kernel may name one in a
# branch its dtypes never take (`isfinited(x) if x.dtype.is_fp64() else
# finitef(x)`); calling one is a compile error (Metal has no double)
FP64_ONLY = "isfinited rcp64h double_as_longlong longlong_as_double hiloint2double double2loint double2hiint"

make_stubs(globals(), "triton.language.extra.libdevice", FUNCTIONS + FP64_ONLY)
__all__ = FUNCTIONS.split() + FP64_ONLY.split()
