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
    float_as_int float_as_uint int_as_float uint_as_float hadd rhadd mul24 sad byte_perm
    ilogb logb llrint llround remainder rcbrt rhypot norm3d norm4d rnorm3d rnorm4d
    normcdf normcdfinv erfcinv erfcx
    add_rn add_rz add_rd add_ru sub_rn sub_rz sub_rd sub_ru mul_rn mul_rz mul_rd mul_ru
    div_rz div_rd div_ru rcp_rn rcp_rz rcp_rd rcp_ru sqrt_rz sqrt_rd sqrt_ru rsqrt_rn fma_rn
    float2int_rn float2int_rz float2int_rd float2int_ru float2uint_rn float2uint_rz
    float2uint_rd float2uint_ru float2ll_rn float2ll_rz float2ll_rd float2ll_ru
    float2ull_rn float2ull_rz float2ull_rd float2ull_ru
    int2float_rn int2float_rz int2float_rd int2float_ru uint2float_rn uint2float_rz
    uint2float_rd uint2float_ru ll2float_rn ll2float_rz ll2float_rd ll2float_ru
    ull2float_rn ull2float_rz ull2float_rd ull2float_ru
"""
# upstream's float64-only functions: present, so a kernel may name one in a
# branch its dtypes never take (`isfinited(x) if x.dtype.is_fp64() else
# finitef(x)`); calling one is a compile error (Metal has no double)
FP64_ONLY = """
    isfinited rcp64h double_as_longlong longlong_as_double hiloint2double double2loint double2hiint
    double2float_rn double2float_rz double2float_rd double2float_ru
    double2int_rn double2int_rz double2int_rd double2int_ru
    double2uint_rn double2uint_rz double2uint_rd double2uint_ru
    double2ll_rn double2ll_rz double2ll_rd double2ll_ru
    double2ull_rn double2ull_rz double2ull_rd double2ull_ru
    int2double_rn uint2double_rn ll2double_rn ll2double_rz ll2double_rd ll2double_ru
    ull2double_rn ull2double_rz ull2double_rd ull2double_ru
"""

make_stubs(globals(), "triton.language.extra.libdevice", FUNCTIONS + FP64_ONLY)
__all__ = FUNCTIONS.split() + FP64_ONLY.split()
