/*
 * mathfns.c: the elementwise library functions, as a table.
 *
 * Each row says where the function is reachable (tl.X, tl.math.X,
 * libdevice.X), how many operands it takes, which dtypes it accepts (upstream
 * rejects fp16/bf16 for exp, log, sqrt, ... with "Expected dtype ['fp32',
 * 'fp64']": so do we) and how MSL spells it ($0.. operands, $T result type).
 * Functions MSL lacks or computes too loosely are `tm_*` helpers defined in
 * math_helpers below, emitted into the kernels that use them, so Metal and the
 * emulator run the same code.
 *
 * Accuracy: rows spelled precise::f inherit Metal's precise bounds (MSL spec,
 * float table: exp/log/sin/cos <= 4 ulp, tan 6, atan2 6, pow 16, sqrt and /
 * correctly rounded).  The helpers are written against those functions and
 * carry their measured worst case on the emulator (tests/exec/test_math.py)
 * in their comments.  Polynomial coefficients were fitted by us: weighted least
 * squares in float64 on 400-600 Chebyshev nodes against mpmath, then rounded to
 * float; the fit error is quoted before that rounding.
 */
#include <string.h>

#include "tm.h"

#define TL_MATH (MF_TL | MF_MATH)
#define ALL (MF_TL | MF_MATH | MF_LIBDEVICE)
#define MT_S32_64 ((1u << TM_I32) | (1u << TM_I64)) /* libdevice's integer bit functions */
#define MT_32 ((1u << TM_I32) | (1u << TM_U32))       /* its int32/uint32 pairs (hadd, __nv_uhadd) */

const MathFn math_fns[] = {
    /* name         spaces        arity dtypes     result   spelling                              helper */
    /* tl.math and its tl.* aliases (upstream language/math.py) */
    /* tl.exp is upstream's: 2^(x * log2(e)), the product rounded to float
     * (both of its GPU backends lower it so; only libdevice's exp is the
     * accurate function). Here the power of two is precise::exp2, so the
     * result is upstream's to exp2's own few ulp, and like it, off exp(x)
     * by up to about |x| * 2^-24 relatively (the product's and the float
     * constant's rounding; tests/exec/test_math.py bounds it) */
    {"exp",         TL_MATH,      1, MT_F32,     MR_SAME, "precise::exp2(($0) * 1.44269502f)", NULL, 0, 0},
    {"exp",         MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "precise::exp($0)", NULL, 0, 0},
    {"exp2",        ALL,          1, MT_F32,     MR_SAME, "precise::exp2($0)", NULL, 0, 0},
    {"log",         ALL,          1, MT_F32,     MR_SAME, "precise::log($0)", NULL, 0, 0},
    {"log2",        ALL,          1, MT_F32,     MR_SAME, "precise::log2($0)", NULL, 0, 0},
    {"sin",         ALL,          1, MT_F32,     MR_SAME, "precise::sin($0)", NULL, 0, 0},
    {"cos",         ALL,          1, MT_F32,     MR_SAME, "precise::cos($0)", NULL, 0, 0},
    {"sqrt",        ALL,          1, MT_F32,     MR_SAME, "precise::sqrt($0)", NULL, 0, 0},
    {"sqrt_rn",     ALL,          1, MT_F32,     MR_SAME, "precise::sqrt($0)", NULL, 0, 1},
    {"rsqrt",       ALL,          1, MT_F32,     MR_SAME, "precise::rsqrt($0)", NULL, 0, 0},
    {"erf",         ALL,          1, MT_F32,     MR_SAME, "tm_erf($0)", "tm_erf", 0, 0},
    {"floor",       ALL,          1, MT_F32,     MR_SAME, "floor($0)", NULL, 0, 0},
    {"ceil",        ALL,          1, MT_F32,     MR_SAME, "ceil($0)", NULL, 0, 0},
    {"abs",         ALL,          1, MT_FLOAT | MT_INT, MR_SAME, "abs($0)", NULL, 0, 0},
    {"fma",         ALL,          3, MT_FLOAT,   MR_SAME, "fma($0, $1, $2)", NULL, 0, 0},
    {"div_rn",      ALL,          2, MT_F32,     MR_SAME, "precise::divide($0, $1)", NULL, 0, 1},
    {"fdiv",        TL_MATH,      2, MT_FLOAT,   MR_SAME, "($0 / $1)", NULL, 0, 0},
    {"umulhi",      TL_MATH,      2, MT_I32_64,  MR_SAME, "tm_umulhi($0, $1)", "tm_umulhi", 0, 0},
    {"fast_expf",   ALL,          1, MT_F32,     MR_SAME, "fast::exp($0)", NULL, 0, 0},
    {"fast_dividef", ALL,         2, MT_F32,     MR_SAME, "($0 / $1)", NULL, 0, 0},
    /* libdevice: functions MSL has in precise:: */
    {"exp10",       MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "precise::exp10($0)", NULL, 0, 0},
    {"log10",       MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "precise::log10($0)", NULL, 0, 0},
    {"tan",         MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "precise::tan($0)", NULL, 0, 0},
    {"asin",        MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "precise::asin($0)", NULL, 0, 0},
    {"acos",        MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "precise::acos($0)", NULL, 0, 0},
    {"atan",        MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "precise::atan($0)", NULL, 0, 0},
    {"atan2",       MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "precise::atan2($0, $1)", NULL, 0, 0},
    {"sinh",        MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "precise::sinh($0)", NULL, 0, 0},
    {"cosh",        MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "precise::cosh($0)", NULL, 0, 0},
    {"tanh",        MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "precise::tanh($0)", NULL, 0, 0},
    {"asinh",       MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "precise::asinh($0)", NULL, 0, 0},
    {"acosh",       MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "precise::acosh($0)", NULL, 0, 0},
    {"atanh",       MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "precise::atanh($0)", NULL, 0, 0},
    {"pow",         MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "precise::pow($0, float($1))", NULL, MT_F32 | (1u << TM_I32), 0},
    /* libdevice: exact operations */
    {"trunc",       MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "trunc($0)", NULL, 0, 0},
    {"round",       MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "round($0)", NULL, 0, 0},
    {"rint",        MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "rint($0)", NULL, 0, 0},
    {"nearbyint",   MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "rint($0)", NULL, 0, 0},
    {"fabs",        MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "fabs($0)", NULL, 0, 0},
    {"fmod",        MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "fmod($0, $1)", NULL, 0, 0},
    {"fmin",        MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "fmin($0, $1)", NULL, 0, 0},
    {"fmax",        MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "fmax($0, $1)", NULL, 0, 0},
    {"copysign",    MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "copysign($0, $1)", NULL, 0, 0},
    /* NaN operands fail both comparisons and reach $0 + $1 (NaN) */
    {"fdim",        MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "($0 > $1 ? $0 - $1 : $0 <= $1 ? 0.0f : $0 + $1)", NULL, 0, 0},
    {"saturatef",   MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "($0 > 0.0f ? ($0 < 1.0f ? $0 : 1.0f) : 0.0f)", NULL, 0, 0},
    {"nextafter",   MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_nextafter($0, $1)", "tm_nextafter", 0, 0},
    /* the second operand is int32 upstream; promoted to fp32 here and converted back (exact below 2^24) */
    {"ldexp",       MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_ldexp($0, $1)", "tm_ldexp", 1u << TM_I32, 0},
    {"scalbn",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_ldexp($0, $1)", "tm_ldexp", 1u << TM_I32, 0},
    {"isnan",       MF_LIBDEVICE, 1, MT_F32,     MR_BOOL, "isnan($0)", NULL, 0, 0},
    {"isinf",       MF_LIBDEVICE, 1, MT_F32,     MR_BOOL, "isinf($0)", NULL, 0, 0},
    {"finitef",     MF_LIBDEVICE, 1, MT_F32,     MR_BOOL, "isfinite($0)", NULL, 0, 0},
    {"signbit",     MF_LIBDEVICE, 1, MT_F32,     MR_I32,  "int(signbit($0))", NULL, 0, 0},
    /* libdevice: helpers below (MSL lacks them, or its spelling is loose) */
    {"sinpi",       MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_sinpi($0)", "tm_sinpi", 0, 0},
    {"cospi",       MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_cospi($0)", "tm_sinpi", 0, 0},
    {"expm1",       MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_expm1($0)", "tm_expm1", 0, 0},
    {"log1p",       MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_log1p($0)", "tm_log1p", 0, 0},
    {"cbrt",        MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_cbrt($0)", "tm_cbrt", 0, 0},
    {"hypot",       MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_hypot($0, $1)", "tm_hypot", 0, 0},
    {"erfc",        MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_erfc($0)", "tm_erf", 0, 0},
    {"erfinv",      MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_erfinv($0)", "tm_erfinv", 0, 0},
    {"lgamma",      MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_lgamma($0)", "tm_lgamma", 0, 0},
    {"tgamma",      MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_tgamma($0)", "tm_tgamma", 0, 0},
    /* libdevice: Bessel functions (helpers tm_bessel, tm_bessel_i below) */
    {"j0",          MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_j0($0)", "tm_bessel", 0, 0},
    {"j1",          MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_j1($0)", "tm_bessel", 0, 0},
    {"y0",          MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_y0($0)", "tm_bessel", 0, 0},
    {"y1",          MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_y1($0)", "tm_bessel", 0, 0},
    /* jn(n, x), yn(n, x): the order is int32 upstream */
    {"jn",          MF_LIBDEVICE, 2, 1u << TM_I32, MR_F32, "tm_jn($0, $1)", "tm_bessel", MT_F32, 0},
    {"yn",          MF_LIBDEVICE, 2, 1u << TM_I32, MR_F32, "tm_yn($0, $1)", "tm_bessel", MT_F32, 0},
    {"cyl_bessel_i0", MF_LIBDEVICE, 1, MT_F32,   MR_SAME, "tm_i0($0)", "tm_bessel_i", 0, 0},
    {"cyl_bessel_i1", MF_LIBDEVICE, 1, MT_F32,   MR_SAME, "tm_i1($0)", "tm_bessel_i", 0, 0},
    /* libdevice: fast variants map onto MSL's fast:: functions */
    {"fast_sinf",   MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "fast::sin($0)", NULL, 0, 0},
    {"fast_cosf",   MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "fast::cos($0)", NULL, 0, 0},
    {"fast_tanf",   MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "fast::tan($0)", NULL, 0, 0},
    {"fast_logf",   MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "fast::log($0)", NULL, 0, 0},
    {"fast_log2f",  MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "fast::log2($0)", NULL, 0, 0},
    {"fast_log10f", MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "fast::log10($0)", NULL, 0, 0},
    {"fast_exp10f", MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "fast::exp10($0)", NULL, 0, 0},
    {"fast_powf",   MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "fast::pow($0, $1)", NULL, 0, 0},
    /* libdevice: integer bit functions (int32 and int64 as upstream; counts are int32) */
    {"clz",         MF_LIBDEVICE, 1, MT_S32_64,  MR_I32,  "tm_clz($0)", "tm_bits", 0, 0},
    {"popc",        MF_LIBDEVICE, 1, MT_S32_64,  MR_I32,  "tm_popc($0)", "tm_bits", 0, 0},
    {"ffs",         MF_LIBDEVICE, 1, MT_S32_64,  MR_I32,  "tm_ffs($0)", "tm_bits", 0, 0},
    {"brev",        MF_LIBDEVICE, 1, MT_S32_64,  MR_SAME, "tm_brev($0)", "tm_bits", 0, 0},
    {"mulhi",       MF_LIBDEVICE, 2, MT_I32_64,  MR_SAME, "tm_mulhi($0, $1)", "tm_mulhi", 0, 0},
    /* libdevice: bit reinterpretation (float_as_uint's result is int32 upstream) */
    {"float_as_int",  MF_LIBDEVICE, 1, MT_F32,   MR_I32,  "as_type<int>($0)", NULL, 0, 1},
    {"float_as_uint", MF_LIBDEVICE, 1, MT_F32,   MR_I32,  "as_type<int>($0)", NULL, 0, 1},
    {"int_as_float",  MF_LIBDEVICE, 1, 1u << TM_I32, MR_F32, "as_type<float>($0)", NULL, 0, 0},
    {"uint_as_float", MF_LIBDEVICE, 1, 1u << TM_U32, MR_F32, "as_type<float>($0)", NULL, 0, 0},
    /* libdevice: int32 and uint32 integer functions (tm_intops); sad's third
     * operand is uint32 for both, as upstream's __nv_sad and __nv_usad */
    {"hadd",        MF_LIBDEVICE, 2, MT_32,      MR_SAME, "tm_hadd($0, $1)", "tm_intops", 0, 0},
    {"rhadd",       MF_LIBDEVICE, 2, MT_32,      MR_SAME, "tm_rhadd($0, $1)", "tm_intops", 0, 0},
    {"mul24",       MF_LIBDEVICE, 2, MT_32,      MR_SAME, "tm_mul24($0, $1)", "tm_intops", 0, 0},
    {"sad",         MF_LIBDEVICE, 3, MT_32,      MR_SAME, "tm_sad($0, $1, $2)", "tm_intops", 1u << TM_U32, 0},
    {"byte_perm",   MF_LIBDEVICE, 3, 1u << TM_I32, MR_SAME, "tm_byte_perm($0, $1, $2)", "tm_intops", 0, 0},
    /* libdevice: exponents, IEEE remainder */
    {"ilogb",       MF_LIBDEVICE, 1, MT_F32,     MR_I32,  "tm_ilogb($0)", "tm_logb", 0, 0},
    {"logb",        MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_logb($0)", "tm_logb", 0, 0},
    {"remainder",   MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_remainder($0, $1)", "tm_remainder", 0, 0},
    /* libdevice: reciprocal roots and norms */
    {"rcbrt",       MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_rcbrt($0)", "tm_rcbrt", 0, 0},
    {"rhypot",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_norm4($0, $1, 0.0f, 0.0f, true)", "tm_norm", 0, 0},
    {"norm3d",      MF_LIBDEVICE, 3, MT_F32,     MR_SAME, "tm_norm4($0, $1, $2, 0.0f, false)", "tm_norm", 0, 0},
    {"rnorm3d",     MF_LIBDEVICE, 3, MT_F32,     MR_SAME, "tm_norm4($0, $1, $2, 0.0f, true)", "tm_norm", 0, 0},
    {"norm4d",      MF_LIBDEVICE, 4, MT_F32,     MR_SAME, "tm_norm4($0, $1, $2, $3, false)", "tm_norm", 0, 0},
    {"rnorm4d",     MF_LIBDEVICE, 4, MT_F32,     MR_SAME, "tm_norm4($0, $1, $2, $3, true)", "tm_norm", 0, 0},
    /* libdevice: the normal distribution and the error function's relatives */
    {"normcdf",     MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_normcdf($0)", "tm_normcdf", 0, 0},
    {"erfcx",       MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_erfcx($0)", "tm_erfcx", 0, 0},
    {"erfcinv",     MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_erfcinv($0)", "tm_erfcinv", 0, 0},
    {"normcdfinv",  MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_normcdfinv($0)", "tm_erfcinv", 0, 0},
    /* libdevice: arithmetic with a rounding mode (tm_dir; modes 1 toward
     * zero, 2 down, 3 up).  The _rn sum and product are fmas, which no
     * compiler fuses with a neighbouring operation */
    {"add_rn",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_add_rn($0, $1)", "tm_dir", 0, 0},
    {"add_rz",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_add_dir($0, $1, 1)", "tm_dir", 0, 0},
    {"add_rd",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_add_dir($0, $1, 2)", "tm_dir", 0, 0},
    {"add_ru",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_add_dir($0, $1, 3)", "tm_dir", 0, 0},
    {"sub_rn",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_add_rn($0, -($1))", "tm_dir", 0, 0},
    {"sub_rz",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_add_dir($0, -($1), 1)", "tm_dir", 0, 0},
    {"sub_rd",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_add_dir($0, -($1), 2)", "tm_dir", 0, 0},
    {"sub_ru",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_add_dir($0, -($1), 3)", "tm_dir", 0, 0},
    {"mul_rn",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_mul_rn($0, $1)", "tm_dir", 0, 0},
    {"mul_rz",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_mul_dir($0, $1, 1)", "tm_dir", 0, 0},
    {"mul_rd",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_mul_dir($0, $1, 2)", "tm_dir", 0, 0},
    {"mul_ru",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_mul_dir($0, $1, 3)", "tm_dir", 0, 0},
    {"div_rz",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_div_dir($0, $1, 1)", "tm_dir", 0, 0},
    {"div_rd",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_div_dir($0, $1, 2)", "tm_dir", 0, 0},
    {"div_ru",      MF_LIBDEVICE, 2, MT_F32,     MR_SAME, "tm_div_dir($0, $1, 3)", "tm_dir", 0, 0},
    {"rcp_rn",      MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "precise::divide(1.0f, $0)", NULL, 0, 0},
    {"rcp_rz",      MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_div_dir(1.0f, $0, 1)", "tm_dir", 0, 0},
    {"rcp_rd",      MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_div_dir(1.0f, $0, 2)", "tm_dir", 0, 0},
    {"rcp_ru",      MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_div_dir(1.0f, $0, 3)", "tm_dir", 0, 0},
    {"sqrt_rz",     MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_sqrt_dir($0, 1)", "tm_dir", 0, 0},
    {"sqrt_rd",     MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_sqrt_dir($0, 2)", "tm_dir", 0, 0},
    {"sqrt_ru",     MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_sqrt_dir($0, 3)", "tm_dir", 0, 0},
    {"rsqrt_rn",    MF_LIBDEVICE, 1, MT_F32,     MR_SAME, "tm_rsqrt_rn($0)", "tm_rsqrt_rn", 0, 1},
    {"fma_rn",      MF_LIBDEVICE, 3, MT_F32,     MR_SAME, "fma($0, $1, $2)", NULL, 0, 0},
    /* libdevice: float to integer as PTX's cvt: rounded in the mode, then
     * saturated to the type's range, NaN to 0 (tm_cvt); float2uint's and
     * float2ull's results are int32 and int64 upstream, holding the unsigned
     * bits.  llrint and llround are cvt too (C leaves their overflow open) */
    {"float2int_rn",  MF_LIBDEVICE, 1, MT_F32,   MR_I32,  "tm_f2i(rint($0))", "tm_cvt", 0, 1},
    {"float2int_rz",  MF_LIBDEVICE, 1, MT_F32,   MR_I32,  "tm_f2i(trunc($0))", "tm_cvt", 0, 1},
    {"float2int_rd",  MF_LIBDEVICE, 1, MT_F32,   MR_I32,  "tm_f2i(floor($0))", "tm_cvt", 0, 1},
    {"float2int_ru",  MF_LIBDEVICE, 1, MT_F32,   MR_I32,  "tm_f2i(ceil($0))", "tm_cvt", 0, 1},
    {"float2uint_rn", MF_LIBDEVICE, 1, MT_F32,   MR_I32,  "tm_f2u(rint($0))", "tm_cvt", 0, 1},
    {"float2uint_rz", MF_LIBDEVICE, 1, MT_F32,   MR_I32,  "tm_f2u(trunc($0))", "tm_cvt", 0, 1},
    {"float2uint_rd", MF_LIBDEVICE, 1, MT_F32,   MR_I32,  "tm_f2u(floor($0))", "tm_cvt", 0, 1},
    {"float2uint_ru", MF_LIBDEVICE, 1, MT_F32,   MR_I32,  "tm_f2u(ceil($0))", "tm_cvt", 0, 1},
    {"float2ll_rn",   MF_LIBDEVICE, 1, MT_F32,   MR_I64,  "tm_f2ll(rint($0))", "tm_cvt", 0, 1},
    {"float2ll_rz",   MF_LIBDEVICE, 1, MT_F32,   MR_I64,  "tm_f2ll(trunc($0))", "tm_cvt", 0, 1},
    {"float2ll_rd",   MF_LIBDEVICE, 1, MT_F32,   MR_I64,  "tm_f2ll(floor($0))", "tm_cvt", 0, 1},
    {"float2ll_ru",   MF_LIBDEVICE, 1, MT_F32,   MR_I64,  "tm_f2ll(ceil($0))", "tm_cvt", 0, 1},
    {"float2ull_rn",  MF_LIBDEVICE, 1, MT_F32,   MR_I64,  "tm_f2ull(rint($0))", "tm_cvt", 0, 1},
    {"float2ull_rz",  MF_LIBDEVICE, 1, MT_F32,   MR_I64,  "tm_f2ull(trunc($0))", "tm_cvt", 0, 1},
    {"float2ull_rd",  MF_LIBDEVICE, 1, MT_F32,   MR_I64,  "tm_f2ull(floor($0))", "tm_cvt", 0, 1},
    {"float2ull_ru",  MF_LIBDEVICE, 1, MT_F32,   MR_I64,  "tm_f2ull(ceil($0))", "tm_cvt", 0, 1},
    {"llrint",        MF_LIBDEVICE, 1, MT_F32,   MR_I64,  "tm_f2ll(rint($0))", "tm_cvt", 0, 0},
    {"llround",       MF_LIBDEVICE, 1, MT_F32,   MR_I64,  "tm_f2ll(round($0))", "tm_cvt", 0, 0},
    /* libdevice: integer to float in a rounding mode (tm_round: exact) */
    {"int2float_rn",  MF_LIBDEVICE, 1, 1u << TM_I32, MR_F32, "float($0)", NULL, 0, 0},
    {"int2float_rz",  MF_LIBDEVICE, 1, 1u << TM_I32, MR_F32, "tm_l2f(long($0), 1)", "tm_round", 0, 0},
    {"int2float_rd",  MF_LIBDEVICE, 1, 1u << TM_I32, MR_F32, "tm_l2f(long($0), 2)", "tm_round", 0, 0},
    {"int2float_ru",  MF_LIBDEVICE, 1, 1u << TM_I32, MR_F32, "tm_l2f(long($0), 3)", "tm_round", 0, 0},
    {"uint2float_rn", MF_LIBDEVICE, 1, 1u << TM_U32, MR_F32, "float($0)", NULL, 0, 0},
    {"uint2float_rz", MF_LIBDEVICE, 1, 1u << TM_U32, MR_F32, "tm_u2f(ulong($0), 1)", "tm_round", 0, 0},
    {"uint2float_rd", MF_LIBDEVICE, 1, 1u << TM_U32, MR_F32, "tm_u2f(ulong($0), 2)", "tm_round", 0, 0},
    {"uint2float_ru", MF_LIBDEVICE, 1, 1u << TM_U32, MR_F32, "tm_u2f(ulong($0), 3)", "tm_round", 0, 0},
    {"ll2float_rn",   MF_LIBDEVICE, 1, 1u << TM_I64, MR_F32, "tm_l2f($0, 0)", "tm_round", 0, 0},
    {"ll2float_rz",   MF_LIBDEVICE, 1, 1u << TM_I64, MR_F32, "tm_l2f($0, 1)", "tm_round", 0, 0},
    {"ll2float_rd",   MF_LIBDEVICE, 1, 1u << TM_I64, MR_F32, "tm_l2f($0, 2)", "tm_round", 0, 0},
    {"ll2float_ru",   MF_LIBDEVICE, 1, 1u << TM_I64, MR_F32, "tm_l2f($0, 3)", "tm_round", 0, 0},
    {"ull2float_rn",  MF_LIBDEVICE, 1, 1u << TM_U64, MR_F32, "tm_u2f($0, 0)", "tm_round", 0, 0},
    {"ull2float_rz",  MF_LIBDEVICE, 1, 1u << TM_U64, MR_F32, "tm_u2f($0, 1)", "tm_round", 0, 0},
    {"ull2float_rd",  MF_LIBDEVICE, 1, 1u << TM_U64, MR_F32, "tm_u2f($0, 2)", "tm_round", 0, 0},
    {"ull2float_ru",  MF_LIBDEVICE, 1, 1u << TM_U64, MR_F32, "tm_u2f($0, 3)", "tm_round", 0, 0},
    {NULL, 0, 0, 0, 0, NULL, NULL, 0, 0},
};

#define L(s) s "\n"

const MathHelper math_helpers[] = {
    /* integer `//` and `%` (msl.c's comment says what they give where C
     * gives nothing) */
    {"tm_idiv", NULL,
     "template <typename T> inline T tm_sdiv(T a, T b) { return b == T(0) ? T(-1) : b == T(-1) ? T(T(0) - a) : T(a / b); }\n"
     "inline int tm_sdiv(int a, int b) { return b == 0 ? -1 : b == -1 ? as_type<int>(0u - as_type<uint>(a)) : a / b; }\n"
     "inline long tm_sdiv(long a, long b) { return b == 0 ? -1 : b == -1 ? as_type<long>(0ul - as_type<ulong>(a)) : a / b; }\n"
     "template <typename T> inline T tm_srem(T a, T b) { return b == T(0) ? a : b == T(-1) ? T(0) : T(a % b); }\n"
     "template <typename T> inline T tm_udiv(T a, T b) { return b == T(0) ? T(~T(0)) : T(a / b); }\n"
     "template <typename T> inline T tm_urem(T a, T b) { return b == T(0) ? a : T(a % b); }\n"},
    /* reductions' and butterflies' simd_shuffle_xor for every dtype: bool
     * through ushort, 64-bit integers as two 32-bit halves (bfloat's, where
     * the target has it, is written after the helpers: emit.c) */
    {"tm_shfl_xor", NULL,
     "template <typename T> inline T tm_shfl_xor(T x, ushort m) { return simd_shuffle_xor(x, m); }\n"
     "inline bool tm_shfl_xor(bool x, ushort m) { return simd_shuffle_xor(ushort(x), m) != 0; }\n"
     "inline long tm_shfl_xor(long x, ushort m) { return as_type<long>(simd_shuffle_xor(as_type<uint2>(x), m)); }\n"
     "inline ulong tm_shfl_xor(ulong x, ushort m) { return as_type<ulong>(simd_shuffle_xor(as_type<uint2>(x), m)); }\n"},
    /* scans (emit_scan.c): simd_shuffle_up/down and simd_shuffle for every
     * dtype, bool through ushort and 64-bit integers as two 32-bit halves, as
     * tm_shfl_xor */
    {"tm_shfl_up", NULL,
     "template <typename T> inline T tm_shfl_up(T x, ushort d) { return simd_shuffle_up(x, d); }\n"
     "inline bool tm_shfl_up(bool x, ushort d) { return simd_shuffle_up(ushort(x), d) != 0; }\n"
     "inline long tm_shfl_up(long x, ushort d) { return as_type<long>(simd_shuffle_up(as_type<uint2>(x), d)); }\n"
     "inline ulong tm_shfl_up(ulong x, ushort d) { return as_type<ulong>(simd_shuffle_up(as_type<uint2>(x), d)); }\n"
     "template <typename T> inline T tm_shfl_down(T x, ushort d) { return simd_shuffle_down(x, d); }\n"
     "inline bool tm_shfl_down(bool x, ushort d) { return simd_shuffle_down(ushort(x), d) != 0; }\n"
     "inline long tm_shfl_down(long x, ushort d) { return as_type<long>(simd_shuffle_down(as_type<uint2>(x), d)); }\n"
     "inline ulong tm_shfl_down(ulong x, ushort d) { return as_type<ulong>(simd_shuffle_down(as_type<uint2>(x), d)); }\n"
     "template <typename T> inline T tm_shfl(T x, ushort l) { return simd_shuffle(x, l); }\n"
     "inline bool tm_shfl(bool x, ushort l) { return simd_shuffle(ushort(x), l) != 0; }\n"
     "inline long tm_shfl(long x, ushort l) { return as_type<long>(simd_shuffle(as_type<uint2>(x), l)); }\n"
     "inline ulong tm_shfl(ulong x, ushort l) { return as_type<ulong>(simd_shuffle(as_type<uint2>(x), l)); }\n"},
    /* casts with fp_downcast_rounding='rtz': round to nearest even, then step
     * back toward zero when that rounded away from it (overflow gives the
     * largest finite value; NaN stays NaN) */
    {"tm_rtz_half", NULL,
     "inline half tm_rtz_half(float x) {\n"
     "  half h = half(x);\n"
     "  if (isnan(x) || float(h) == x || fabs(float(h)) < fabs(x)) return h;\n"
     "  return as_type<half>(ushort(as_type<ushort>(h) - 1));\n"
     "}\n"},
    {"tm_rtz_bfloat", NULL,
     "inline bfloat tm_rtz_bfloat(float x) {\n"
     "  if (isnan(x)) return bfloat(x);\n"
     "  return as_type<bfloat>(ushort(as_type<uint>(x) >> 16));\n"
     "}\n"},
    /* high word of the unsigned 2N-bit product (tl.umulhi is unsigned for
     * every dtype, as upstream's tt.mulhiui); 64-bit by 32-bit halves */
    /* float64 stores: the bits of the double a value converts to, computed
     * with integers (Metal has no double). fp32 -> fp64 is exact (subnormals
     * normalized, NaN payloads kept); 64-bit integers round to nearest even,
     * as C's conversion does; narrower integers are exact. */
    {"tm_f64_bits", NULL,
     L("inline ulong tm_f64_bits(float f) {")
     L("  uint b = as_type<uint>(f), e = (b >> 23) & 0xffu, m = b & 0x7fffffu;")
     L("  ulong s = ulong(b >> 31) << 63;")
     L("  if (e == 0xffu) return s | (ulong(0x7ffu) << 52) | (ulong(m) << 29);")
     L("  if (e == 0u) {")
     L("    if (m == 0u) return s;")
     L("    uint p = 31u - clz(m); /* value = m * 2^-149, leading bit at p */")
     L("    return s | (ulong(p + 1023u - 149u) << 52) | ((ulong(m) << (52u - p)) & 0xffffffffffffful);")
     L("  }")
     L("  return s | (ulong(e + 1023u - 127u) << 52) | (ulong(m) << 29);")
     L("}")
     L("inline ulong tm_f64_bits_mag(ulong u, ulong s) {")
     L("  if (u == 0ul) return s;")
     L("  uint p = 63u - uint(clz(u));")
     L("  ulong mant;")
     L("  if (p <= 52u) {")
     L("    mant = u << (52u - p);")
     L("  } else {")
     L("    uint sh = p - 52u;")
     L("    ulong rem = u & ((ulong(1) << sh) - 1ul), half = ulong(1) << (sh - 1u);")
     L("    mant = u >> sh;")
     L("    if (rem > half || (rem == half && (mant & 1ul))) mant += 1ul;")
     L("    if (mant >> 53) { mant >>= 1; p += 1u; }")
     L("  }")
     L("  return s | (ulong(p + 1023u) << 52) | (mant & 0xffffffffffffful);")
     L("}")
     L("inline ulong tm_f64_bits(long x) { return x < 0 ? tm_f64_bits_mag(ulong(0) - ulong(x), ulong(1) << 63) : tm_f64_bits_mag(ulong(x), 0ul); }")
     L("inline ulong tm_f64_bits(ulong x) { return tm_f64_bits_mag(x, 0ul); }")},
    {"tm_umulhi", NULL,
     /* 32 bits: Metal's mulhi (one instruction; Philox's rounds are four of
      * these), not a 64-bit product */
     L("inline uint tm_umulhi(uint a, uint b) { return mulhi(a, b); }")
     L("inline int tm_umulhi(int a, int b) { return int(tm_umulhi(uint(a), uint(b))); }")
     L("inline ulong tm_umulhi(ulong a, ulong b) {")
     L("  ulong m = ulong(0xffffffffu), al = a & m, ah = a >> 32, bl = b & m, bh = b >> 32;")
     L("  ulong lh = al * bh, hl = ah * bl;")
     L("  ulong mid = ((al * bl) >> 32) + (lh & m) + (hl & m);")
     L("  return ah * bh + (lh >> 32) + (hl >> 32) + (mid >> 32);")
     L("}")
     L("inline long tm_umulhi(long a, long b) { return long(tm_umulhi(ulong(a), ulong(b))); }")},
    /* libdevice.mulhi: signed for signed dtypes; the signed 64-bit high word
     * is the unsigned one corrected by the operands' signs */
    {"tm_mulhi", "tm_umulhi",
     L("inline int tm_mulhi(int a, int b) { return mulhi(a, b); }")
     L("inline uint tm_mulhi(uint a, uint b) { return tm_umulhi(a, b); }")
     L("inline ulong tm_mulhi(ulong a, ulong b) { return tm_umulhi(a, b); }")
     L("inline long tm_mulhi(long a, long b) {")
     L("  ulong h = tm_umulhi(ulong(a), ulong(b));")
     L("  if (a < 0) h -= ulong(b);")
     L("  if (b < 0) h -= ulong(a);")
     L("  return long(h);")
     L("}")},
    /* clz/popc/ffs/brev on int32 and int64 from 32-bit clz, ctz, popcount */
    {"tm_bits", NULL,
     L("inline int tm_clz(int x) { return int(clz(uint(x))); }")
     L("inline int tm_clz(long x) {")
     L("  uint h = uint(ulong(x) >> 32);")
     L("  return h != 0u ? int(clz(h)) : 32 + int(clz(uint(x)));")
     L("}")
     L("inline int tm_popc(int x) { return int(popcount(uint(x))); }")
     L("inline int tm_popc(long x) { return int(popcount(uint(x)) + popcount(uint(ulong(x) >> 32))); }")
     L("inline int tm_ffs(int x) { return x == 0 ? 0 : int(ctz(uint(x))) + 1; }")
     L("inline int tm_ffs(long x) {")
     L("  uint l = uint(x), h = uint(ulong(x) >> 32);")
     L("  return l != 0u ? int(ctz(l)) + 1 : h != 0u ? int(ctz(h)) + 33 : 0;")
     L("}")
     L("inline int tm_brev(int x) {")
     L("  uint v = uint(x);")
     L("  v = ((v >> 1) & 0x55555555u) | ((v & 0x55555555u) << 1);")
     L("  v = ((v >> 2) & 0x33333333u) | ((v & 0x33333333u) << 2);")
     L("  v = ((v >> 4) & 0x0f0f0f0fu) | ((v & 0x0f0f0f0fu) << 4);")
     L("  v = ((v >> 8) & 0x00ff00ffu) | ((v & 0x00ff00ffu) << 8);")
     L("  return int((v >> 16) | (v << 16));")
     L("}")
     L("inline long tm_brev(long x) {")
     L("  ulong lo = ulong(uint(tm_brev(int(uint(x))))), hi = ulong(uint(tm_brev(int(uint(ulong(x) >> 32)))));")
     L("  return long((lo << 32) | hi);")
     L("}")},
    /* one step on the bit pattern; from zero the smallest subnormal */
    {"tm_nextafter", NULL,
     L("inline float tm_nextafter(float x, float y) {")
     L("  if (isnan(x) || isnan(y)) return x + y;")
     L("  if (x == y) return y;")
     L("  if (x == 0.0f) return as_type<float>((as_type<uint>(y) & 0x80000000u) | 1u);")
     L("  int i = as_type<int>(x);")
     L("  return as_type<float>((x < y) == (x > 0.0f) ? i + 1 : i - 1);")
     L("}")},
    /* x * 2^n exactly: at most three power-of-two factors; a pre-scale of
     * 2^-102 keeps any subnormal rounding in the last multiplication (an
     * intermediate that is subnormal is then scaled by <= 2^-25 to zero) */
    {"tm_ldexp", NULL,
     L("inline float tm_ldexp(float x, int n) {")
     L("  if (n > 127) {")
     L("    x *= 1.70141183e38f; n -= 127;")
     L("    if (n > 127) { x *= 1.70141183e38f; n -= 127; if (n > 127) n = 127; }")
     L("  } else if (n < -126) {")
     L("    x *= 1.97215226e-31f; n += 102;")
     L("    if (n < -126) { x *= 1.97215226e-31f; n += 102; if (n < -126) n = -126; }")
     L("  }")
     L("  return x * as_type<float>(uint(n + 127) << 23);")
     L("}")},
    /* sin(pi x), cos(pi x): x = n/2 + r with n = rint(2x) and |r| <= 1/4, r
     * exact (x and n/2 are multiples of ulp(x)); beyond 2^24 x is an even
     * integer.  sin(pi r)/r and (1 - cos(pi r))/r^2 are degree-5 polynomials
     * in r^2 (fit error < 1e-9).  Zeros as IEEE sinPi/cosPi: sinpi(+-n) = +-0,
     * cospi(n + 1/2) = +0.  Measured 1.6 ulp. */
    {"tm_sinpi", NULL,
     L("inline float tm_sinpi_r(float r) {")
     L("  float s = r * r;")
     L("  float p = fma(s, -7.284634281e-03f, 8.213997632e-02f);")
     L("  p = fma(p, s, -5.992643237e-01f);")
     L("  p = fma(p, s, 2.550163984e+00f);")
     L("  p = fma(p, s, -5.167712688e+00f);")
     L("  return r * fma(p, s, 3.141592741e+00f);")
     L("}")
     L("inline float tm_cospi_r(float r) {")
     L("  float s = r * r;")
     L("  float q = fma(s, -1.910442719e-03f, 2.580558322e-02f);")
     L("  q = fma(q, s, -2.353305966e-01f);")
     L("  q = fma(q, s, 1.335262775e+00f);")
     L("  q = fma(q, s, -4.058712006e+00f);")
     L("  q = fma(q, s, 4.934802055e+00f);")
     L("  return fma(-s, q, 1.0f);")
     L("}")
     L("inline float tm_pi_quadrant(float x, thread float &r) {")
     L("  bool small = fabs(x) < 16777216.0f;")
     L("  float n = small ? rint(2.0f * x) : 0.0f;")
     L("  r = small ? fma(n, -0.5f, x) : 0.0f;")
     L("  return n - 4.0f * floor(n * 0.25f);")
     L("}")
     L("inline float tm_sinpi(float x) {")
     L("  if (!isfinite(x)) return x - x;")
     L("  float r, q = tm_pi_quadrant(x, r);")
     L("  float v = q == 0.0f ? tm_sinpi_r(r) : q == 1.0f ? tm_cospi_r(r) : q == 2.0f ? -tm_sinpi_r(r) : -tm_cospi_r(r);")
     L("  return v == 0.0f ? copysign(0.0f, x) : v;")
     L("}")
     L("inline float tm_cospi(float x) {")
     L("  if (!isfinite(x)) return x - x;")
     L("  float r, q = tm_pi_quadrant(x, r);")
     L("  float v = q == 0.0f ? tm_cospi_r(r) : q == 1.0f ? -tm_sinpi_r(r) : q == 2.0f ? -tm_cospi_r(r) : tm_sinpi_r(r);")
     L("  return v == 0.0f ? 0.0f : v;")
     L("}")},
    /* e^x - 1: x = k ln2 + r (Cody-Waite, ln2 split so k*ln2_hi is exact),
     * |r| <= ln2/2, expm1(r) = r + r^2/2 + r^3 P(r) (P degree 6, fit error
     * < 1e-9), then 2^k expm1(r) + (2^k - 1) in one fma.  Measured 1.0 ulp. */
    {"tm_expm1", NULL,
     L("inline float tm_expm1_r(float r) {")
     L("  float p = fma(r, 2.757612492e-06f, 2.485954792e-05f);")
     L("  p = fma(p, r, 1.984129922e-04f);")
     L("  p = fma(p, r, 1.388885430e-03f);")
     L("  p = fma(p, r, 8.333333768e-03f);")
     L("  p = fma(p, r, 4.166666791e-02f);")
     L("  p = fma(p, r, 1.666666716e-01f);")
     L("  float r2 = r * r;")
     L("  return fma(r2 * r, p, fma(r2, 0.5f, r));")
     L("}")
     L("inline float tm_expm1(float x) {")
     L("  if (isnan(x)) return x;")
     L("  if (x > 88.8f) return INFINITY;")
     L("  if (x < -17.4f) return -1.0f;")
     L("  if (fabs(x) <= 0.34657359f) return tm_expm1_r(x);")
     L("  float k = rint(x * 1.44269504f);")
     L("  float r = fma(-k, 6.931152344e-01f, x);")
     L("  r = fma(-k, 3.194618330e-05f, r);")
     L("  float e = tm_expm1_r(r);")
     L("  if (k > 127.0f) return fma(1.70141183e38f, e, 1.70141183e38f) * 2.0f;")
     L("  float t = as_type<float>(uint(int(k) + 127) << 23);")
     L("  return fma(t, e, t - 1.0f);")
     L("}")},
    /* log(1+x): u = 1+x rounded and c its exact rounding error, u = 2^k m with
     * m in [sqrt(2)/2, sqrt(2)), f = m - 1 exact; log(1+f) = 2 atanh(s),
     * s = f/(2+f), written f - s (f - s^2 Q(s^2)) so the leading f is exact
     * (Q degree 4, fit error < 1e-9); plus k ln2 and c/u.  Measured 1.3 ulp. */
    {"tm_log1p", NULL,
     L("inline float tm_log1p(float x) {")
     L("  if (isnan(x) || x == INFINITY) return x;")
     L("  if (x <= -1.0f) return x == -1.0f ? -INFINITY : NAN;")
     L("  float u = 1.0f + x;")
     L("  float c = u > 2.0f ? 1.0f - (u - x) : x - (u - 1.0f);")
     L("  uint iu = as_type<uint>(u) + (0x3f800000u - 0x3f3504f3u);")
     L("  float k = float(int(iu >> 23) - 127);")
     L("  float f = as_type<float>((iu & 0x007fffffu) + 0x3f3504f3u) - 1.0f;")
     L("  float s = f / (2.0f + f), w = s * s;")
     L("  float q = fma(w, 1.933621764e-01f, 2.219306827e-01f);")
     L("  q = fma(q, w, 2.857171893e-01f);")
     L("  q = fma(q, w, 3.999999762e-01f);")
     L("  q = fma(q, w, 6.666666865e-01f);")
     L("  float hf = f - s * (f - w * q);")
     L("  return fma(k, 6.931152344e-01f, hf + fma(k, 3.194618330e-05f, c / u));")
     L("}")},
    /* cube root: exponent divided by three on the bit pattern (Kahan's
     * estimate, ~3% off), three Newton steps, then one step whose residual
     * y^3 - a is computed with y^2 split into two floats by fma.  Sign
     * restored at the end (cbrt(-x) = -cbrt(x)); subnormals pre-scaled by
     * 2^48.  Measured 0.5 ulp. */
    {"tm_cbrt", NULL,
     L("inline float tm_cbrt(float x) {")
     L("  float a = fabs(x);")
     L("  if (!(a > 0.0f) || isinf(a)) return x + x;")
     L("  float scale = 1.0f;")
     L("  if (a < 1.17549435e-38f) { a *= 2.81474977e14f; scale = 1.52587891e-05f; }")
     L("  float y = as_type<float>(as_type<uint>(a) / 3u + 0x2a5137a0u);")
     L("  for (int i = 0; i < 3; i++) y = (2.0f * y + a / (y * y)) * 0.333333343f;")
     L("  float y2 = y * y, y2l = fma(y, y, -y2);")
     L("  float res = fma(y2, y, -a) + y2l * y;")
     L("  y = y - res / (3.0f * y2);")
     L("  return copysign(y * scale, x);")
     L("}")},
    /* sqrt(x^2 + y^2) without overflow or underflow: the larger magnitude is
     * brought into [2^-60, 2^60] by an exact power-of-two scale, the sum of
     * squares taken with one fma.  hypot(+-inf, NaN) = +inf as IEEE.
     * Measured 0.8 ulp. */
    {"tm_hypot", NULL,
     L("inline float tm_hypot(float x, float y) {")
     L("  float a = fabs(x), b = fabs(y);")
     L("  if (isinf(a) || isinf(b)) return INFINITY;")
     L("  if (isnan(a) || isnan(b)) return a + b;")
     L("  float hi = fmax(a, b), lo = fmin(a, b), s = 1.0f;")
     L("  if (hi > 1.15292150e18f) { hi *= 8.47032947e-22f; lo *= 8.47032947e-22f; s = 1.18059162e21f; }")
     L("  else if (hi < 8.67361738e-19f) { hi *= 1.23794004e27f; lo *= 1.23794004e27f; s = 8.07793567e-28f; }")
     L("  return precise::sqrt(fma(hi, hi, lo * lo)) * s;")
     L("}")},
    /* erf, erfc.  |x| < 1: erf = x P(x^2), P degree 8 (fit error 3e-9).
     * x >= 1/2: erfc = e^(-x^2) R(x), x^2 split by fma into h + l and
     * e^(-x^2) = e^(-h) (1 - l); R = erfc(x) e^(x^2) is a polynomial on
     * [1/2,3/2], [3/2,5/2], [5/2,4] (degree 12/11/10 in x - centre) and
     * x R(x) one in 1/x^2 on [4, 10.06] (fit errors < 1e-8); beyond 10.06 erfc
     * underflows.  erf = 1 - erfc for |x| >= 1, erfc = 1 - erf for |x| < 1/2,
     * erfc(-x) = 2 - erfc(x).  The error follows precise::exp's; measured
     * erf 1.9 ulp, erfc 2.7 ulp (emulator). */
    {"tm_erf", NULL,
     L("inline float tm_erf_small(float x) {")
     L("  float s = x * x;")
     L("  float p = fma(s, 1.061042894e-06f, -1.391856313e-05f);")
     L("  p = fma(p, s, 1.195822697e-04f);")
     L("  p = fma(p, s, -8.542797295e-04f);")
     L("  p = fma(p, s, 5.223792046e-03f);")
     L("  p = fma(p, s, -2.686613612e-02f);")
     L("  p = fma(p, s, 1.128379107e-01f);")
     L("  p = fma(p, s, -3.761263788e-01f);")
     L("  return x * fma(p, s, 1.128379226e+00f);")
     L("}")
     L("inline float tm_erfcx_pos(float x) {")
     L("  float t, p;")
     L("  if (x < 1.5f) {")
     L("    t = x - 1.0f;")
     L("    p = fma(t, 1.566474930e-05f, -4.910309872e-05f);")
     L("    p = fma(p, t, 1.335076959e-04f);")
     L("    p = fma(p, t, -3.807063913e-04f);")
     L("    p = fma(p, t, 1.050262945e-03f);")
     L("    p = fma(p, t, -2.769251820e-03f);")
     L("    p = fma(p, t, 6.970146671e-03f);")
     L("    p = fma(p, t, -1.666185632e-02f);")
     L("    p = fma(p, t, 3.757229447e-02f);")
     L("    p = fma(p, t, -7.922697067e-02f);")
     L("    p = fma(p, t, 1.543715596e-01f);")
     L("    p = fma(p, t, -2.732120156e-01f);")
     L("    return fma(p, t, 4.275835752e-01f);")
     L("  }")
     L("  if (x < 2.5f) {")
     L("    t = x - 2.0f;")
     L("    p = fma(t, -1.336549985e-06f, 4.894584890e-06f);")
     L("    p = fma(p, t, -1.628280370e-05f);")
     L("    p = fma(p, t, 5.565283209e-05f);")
     L("    p = fma(p, t, -1.847787207e-04f);")
     L("    p = fma(p, t, 5.924797733e-04f);")
     L("    p = fma(p, t, -1.831664355e-03f);")
     L("    p = fma(p, t, 5.440738052e-03f);")
     L("    p = fma(p, t, -1.546063740e-02f);")
     L("    p = fma(p, t, 4.180275276e-02f);")
     L("    p = fma(p, t, -1.067964584e-01f);")
     L("    return fma(p, t, 2.553956807e-01f);")
     L("  }")
     L("  if (x < 4.0f) {")
     L("    t = x - 3.25f;")
     L("    p = fma(t, 1.660007172e-07f, -7.505868211e-07f);")
     L("    p = fma(p, t, 3.034601150e-06f);")
     L("    p = fma(p, t, -1.297313338e-05f);")
     L("    p = fma(p, t, 5.442082693e-05f);")
     L("    p = fma(p, t, -2.223903430e-04f);")
     L("    p = fma(p, t, 8.860046510e-04f);")
     L("    p = fma(p, t, -3.435470629e-03f);")
     L("    p = fma(p, t, 1.293729059e-02f);")
     L("    p = fma(p, t, -4.719940200e-02f);")
     L("    return fma(p, t, 1.663353443e-01f);")
     L("  }")
     L("  t = 1.0f / (x * x) - 0.03615148f;")
     L("  p = fma(t, 4.943972826e-01f, -1.127419281e+02f);")
     L("  p = fma(p, t, 2.475767517e+01f);")
     L("  p = fma(p, t, -6.157823563e+00f);")
     L("  p = fma(p, t, 1.847243190e+00f);")
     L("  p = fma(p, t, -6.785823703e-01f);")
     L("  p = fma(p, t, 3.313514292e-01f);")
     L("  p = fma(p, t, -2.550637424e-01f);")
     L("  return fma(p, t, 5.544999242e-01f) / x;")
     L("}")
     L("inline float tm_erfc_pos(float x) {")
     L("  if (x > 10.06f) return 0.0f;")
     L("  float h = x * x, l = fma(x, x, -h);")
     L("  return precise::exp(-h) * (1.0f - l) * tm_erfcx_pos(x);")
     L("}")
     L("inline float tm_erf(float x) {")
     L("  float a = fabs(x);")
     L("  if (a < 1.0f) return tm_erf_small(x);")
     L("  if (isnan(x)) return x;")
     L("  return copysign(1.0f - tm_erfc_pos(a), x);")
     L("}")
     L("inline float tm_erfc(float x) {")
     L("  if (isnan(x)) return x;")
     L("  float a = fabs(x);")
     L("  if (a < 0.5f) return 1.0f - tm_erf_small(x);")
     L("  float e = tm_erfc_pos(a);")
     L("  return x < 0.0f ? 2.0f - e : e;")
     L("}")},
    /* inverse error function, after Giles ("Approximating the erfinv
     * function", GPU Computing Gems, 2011): w = -log((1-x)(1+x)), erfinv(x)/x
     * a polynomial in w - 5/2 for w < 5 and in sqrt(w) - 3 beyond (our own
     * degree-9 fits, errors 6e-8 and 3e-8).  Measured 2.3 ulp (emulator). */
    {"tm_erfinv", NULL,
     L("inline float tm_erfinv_p(float w) {")
     L("  float t, p;")
     L("  if (w < 5.0f) {")
     L("    t = w - 2.5f;")
     L("    p = fma(t, -8.941413832e-09f, 2.326479986e-08f);")
     L("    p = fma(p, t, 4.682669612e-07f);")
     L("    p = fma(p, t, -3.463092980e-06f);")
     L("    p = fma(p, t, -4.973069736e-06f);")
     L("    p = fma(p, t, 2.183458855e-04f);")
     L("    p = fma(p, t, -1.252725255e-03f);")
     L("    p = fma(p, t, -4.177388269e-03f);")
     L("    p = fma(p, t, 2.466402799e-01f);")
     L("    p = fma(p, t, 1.501409411e+00f);")
     L("  } else {")
     L("    t = precise::sqrt(w) - 3.0f;")
     L("    p = fma(t, 1.160673637e-04f, -3.104988136e-04f);")
     L("    p = fma(p, t, -5.660855822e-05f);")
     L("    p = fma(p, t, 1.486127032e-03f);")
     L("    p = fma(p, t, -3.597882343e-03f);")
     L("    p = fma(p, t, 5.686608609e-03f);")
     L("    p = fma(p, t, -7.637113798e-03f);")
     L("    p = fma(p, t, 9.445329197e-03f);")
     L("    p = fma(p, t, 1.001675010e+00f);")
     L("    p = fma(p, t, 2.832976818e+00f);")
     L("  }")
     L("  return p;")
     L("}")
     L("inline float tm_erfinv(float x) {")
     L("  float a = fabs(x);")
     L("  if (!(a <= 1.0f)) return NAN;")
     L("  if (a == 1.0f) return copysign(INFINITY, x);")
     L("  return tm_erfinv_p(-precise::log((1.0f - a) * (1.0f + a))) * x;")
     L("}")},
    /* Bessel functions of the first and second kind, orders 0 and 1, for
     * x > 0 (which: 0 J0, 1 J1, 2 Y0, 3 Y1). x < 1: the power series (no
     * cancellation there), with Y's logarithmic terms and harmonic numbers;
     * 1 <= x < 8: Miller's backward recurrence from order 2*floor(x/2) + 20,
     * normalized by J0 + 2 sum J2k = 1, whose terms also give Y0 and Y1
     * (Neumann's series sum (-1)^k J2k / k and its derivative); x >= 8:
     * Hankel's asymptotic expansion, summed while its terms shrink, with
     * cos(x - pi/4) as (cos x + sin x) / sqrt 2 so the phase keeps x's
     * accuracy.  Measured against float64 (tests/exec/test_math.py): at
     * most 2.2e-7 absolute for x in (1e-3, 1e4), relative 1e-7 for Y near 0. */
    {"tm_bessel", NULL,
     L("inline float tm_bessel01(float x, int which) {")
     L("  const float two_pi = 0.636619772f, euler = 0.577215665f;")
     L("  if (x < 1.0f) {")
     L("    float q = 0.25f * x * x, t0 = 1.0f, j0 = 1.0f, y0s = 0.0f, t1 = 1.0f, s1 = 1.0f;")
     L("    float h = 0.0f, y1s = 1.0f;")
     L("    for (int k = 1; k < 12; k++) {")
     L("      float fk = float(k), h1;")
     L("      t0 = t0 * -q / (fk * fk);")
     L("      j0 += t0;")
     L("      h += 1.0f / fk;")
     L("      y0s -= h * t0;")
     L("      t1 = t1 * -q / (fk * (fk + 1.0f));")
     L("      s1 += t1;")
     L("      h1 = h + 1.0f / (fk + 1.0f);")
     L("      y1s += (h + h1) * t1;")
     L("    }")
     L("    float half = 0.5f * x, j1 = half * s1;")
     L("    if (which == 0) return j0;")
     L("    if (which == 1) return j1;")
     L("    float lg = precise::log(half) + euler;")
     L("    if (which == 2) return two_pi * (lg * j0 + y0s);")
     L("    return -two_pi / x + two_pi * (lg * j1) - half * y1s * 0.318309886f;")
     L("  }")
     L("  if (x < 8.0f) {")
     L("    int n = 2 * (int(x) / 2) + 20;")
     L("    float jp = 0.0f, j = 1.0e-30f, norm = 0.0f, s0 = 0.0f, s1 = 0.0f, tx = 2.0f / x;")
     L("    for (int k = n; k >= 1; k--) {")
     L("      float jm = (float(k) * tx) * j - jp;")
     L("      if ((k & 1) == 0) {")
     L("        int m = k / 2;")
     L("        float sg = (m & 1) ? -1.0f : 1.0f;")
     L("        norm += 2.0f * j;")
     L("        s0 += sg * j / float(m);")
     L("        s1 += sg * (jm - jp) / float(k);")
     L("      }")
     L("      jp = j;")
     L("      j = jm;")
     L("      if (fabs(j) > 1.0e15f) {")
     L("        j *= 1.0e-15f; jp *= 1.0e-15f; norm *= 1.0e-15f; s0 *= 1.0e-15f; s1 *= 1.0e-15f;")
     L("      }")
     L("    }")
     L("    norm += j;")
     L("    float j0 = j / norm, j1 = jp / norm;")
     L("    if (which == 0) return j0;")
     L("    if (which == 1) return j1;")
     L("    float lg = precise::log(0.5f * x) + euler;")
     L("    if (which == 2) return two_pi * (lg * j0) - 2.0f * two_pi * (s0 / norm);")
     L("    return two_pi * (lg * j1 - j0 / x) + 2.0f * two_pi * (s1 / norm);")
     L("  }")
     L("  float c = precise::cos(x), sn = precise::sin(x), z = 1.0f / x;")
     L("  float amp = 0.797884561f / precise::sqrt(x), mu = (which & 1) ? 4.0f : 0.0f;")
     L("  float p = 1.0f, q = 0.0f, a = 1.0f, last = INFINITY;")
     L("  for (int k = 1; k < 30; k++) {")
     L("    float d = float(2 * k - 1);")
     L("    a = (a * (mu - d * d)) * (z / float(8 * k));")
     L("    if (fabs(a) >= last) break;")
     L("    last = fabs(a);")
     L("    int r = k & 3;")
     L("    if (r == 1) q += a; else if (r == 2) p -= a; else if (r == 3) q -= a; else p += a;")
     L("    if (last < 1.0e-9f) break;")
     L("  }")
     L("  float cc, ss;")
     L("  if (which & 1) { cc = (sn - c) * 0.707106781f; ss = (-sn - c) * 0.707106781f; }")
     L("  else { cc = (c + sn) * 0.707106781f; ss = (sn - c) * 0.707106781f; }")
     L("  return which < 2 ? amp * (p * cc - q * ss) : amp * (p * ss + q * cc);")
     L("}")
     L("inline float tm_j0(float x) {")
     L("  float a = fabs(x);")
     L("  if (isnan(x)) return x;")
     L("  if (isinf(a)) return 0.0f;")
     L("  return a == 0.0f ? 1.0f : tm_bessel01(a, 0);")
     L("}")
     L("inline float tm_j1(float x) {")
     L("  float a = fabs(x);")
     L("  if (isnan(x)) return x;")
     L("  if (isinf(a) || a == 0.0f) return copysign(0.0f, x);")
     L("  float r = tm_bessel01(a, 1);")
     L("  return x < 0.0f ? -r : r;")
     L("}")
     L("inline float tm_y0(float x) {")
     L("  if (isnan(x) || x < 0.0f) return NAN;")
     L("  if (x == 0.0f) return -INFINITY;")
     L("  return isinf(x) ? 0.0f : tm_bessel01(x, 2);")
     L("}")
     L("inline float tm_y1(float x) {")
     L("  if (isnan(x) || x < 0.0f) return NAN;")
     L("  if (x == 0.0f) return -INFINITY;")
     L("  return isinf(x) ? 0.0f : tm_bessel01(x, 3);")
     L("}")
     /* J_n: J_-n = (-1)^n J_n, J_n(-x) = (-1)^n J_n(x); forward recurrence
      * from J0, J1 where n < x (stable there), else Miller's backward one
      * from order n + 16 + sqrt(40 n), scaled by the larger of the true J0
      * and J1.  Y_n: forward recurrence from Y0, Y1 (stable for all n). */
     L("inline float tm_jn(int n, float x) {")
     L("  bool neg = false;")
     L("  if (n < 0) { n = -n; neg = (n & 1) != 0; }")
     L("  if (x < 0.0f) { x = -x; neg = neg != ((n & 1) != 0); }")
     L("  float r;")
     L("  if (isnan(x)) return x;")
     L("  if (n == 0) r = tm_j0(x);")
     L("  else if (n == 1) r = tm_j1(x);")
     L("  else if (x == 0.0f || isinf(x)) r = 0.0f;")
     L("  else if (x > float(n)) {")
     L("    float a = tm_j0(x), b = tm_j1(x), tx = 2.0f / x;")
     L("    for (int k = 1; k < n; k++) { float c = (float(k) * tx) * b - a; a = b; b = c; }")
     L("    r = b;")
     L("  } else {")
     L("    int top = n + 16 + int(precise::sqrt(40.0f * float(n)));")
     L("    top += top & 1;")
     L("    float jp = 0.0f, j = 1.0e-30f, want = 0.0f, tx = 2.0f / x;")
     L("    for (int k = top; k >= 1; k--) {")
     L("      float jm = (float(k) * tx) * j - jp;")
     L("      jp = j;")
     L("      j = jm;")
     L("      if (k - 1 == n) want = j;")
     L("      if (fabs(j) > 1.0e15f) { j *= 1.0e-15f; jp *= 1.0e-15f; want *= 1.0e-15f; }")
     L("    }")
     L("    float t0 = tm_j0(x), t1 = tm_j1(x);")
     L("    r = want * (fabs(t0) > fabs(t1) ? t0 / j : t1 / jp);")
     L("  }")
     L("  return neg ? -r : r;")
     L("}")
     L("inline float tm_yn(int n, float x) {")
     L("  bool neg = false;")
     L("  if (n < 0) { n = -n; neg = (n & 1) != 0; }")
     L("  if (isnan(x) || x < 0.0f) return NAN;")
     L("  if (x == 0.0f) return neg ? INFINITY : -INFINITY;")
     L("  float a = tm_y0(x), b = tm_y1(x), tx = 2.0f / x;")
     L("  if (n == 0) return a;")
     L("  for (int k = 1; k < n && !isinf(b); k++) { float c = (float(k) * tx) * b - a; a = b; b = c; }")
     L("  return neg ? -b : b;")
     L("}")},
    /* modified Bessel functions I0, I1: |x| < 10 the power series (all
     * terms positive); beyond, the asymptotic expansion e^x / sqrt(2 pi x)
     * sum_k prod_j ((2j-1)^2 - 4 nu^2) / (k! (8x)^k), summed while terms
     * shrink, with e^x applied as two halves so values up to FLT_MAX do not
     * overflow early.  Measured 4.9e-7 relative against float64. */
    {"tm_bessel_i", NULL,
     L("inline float tm_bessel_i01(float x, int nu) {")
     L("  float a = fabs(x);")
     L("  if (isnan(x)) return x;")
     L("  float r;")
     L("  if (isinf(a)) {")
     L("    r = INFINITY;")
     L("  } else if (a < 10.0f) {")
     L("    float q = 0.25f * a * a, t = 1.0f, s = 1.0f;")
     L("    for (int k = 1; k < 40; k++) {")
     L("      float fk = float(k);")
     L("      t *= q / (nu ? fk * (fk + 1.0f) : fk * fk);")
     L("      s += t;")
     L("      if (t < s * 1.0e-8f) break;")
     L("    }")
     L("    r = nu ? 0.5f * a * s : s;")
     L("  } else {")
     L("    float z = 1.0f / a, mu = nu ? 4.0f : 0.0f, t = 1.0f, s = 1.0f, last = INFINITY;")
     L("    for (int k = 1; k < 30; k++) {")
     L("      float d = float(2 * k - 1);")
     L("      t = (t * (d * d - mu)) * (z / float(8 * k));")
     L("      if (fabs(t) >= last) break;")
     L("      last = fabs(t);")
     L("      s += t;")
     L("      if (last < 1.0e-9f) break;")
     L("    }")
     L("    float e = precise::exp(0.5f * a);")
     L("    r = (e * (s * 0.398942280f / precise::sqrt(a))) * e;")
     L("  }")
     L("  return nu && x < 0.0f ? -r : r;")
     L("}")
     L("inline float tm_i0(float x) { return tm_bessel_i01(x, 0); }")
     L("inline float tm_i1(float x) { return tm_bessel_i01(x, 1); }")},
    /* lgamma(2 + z) = z P(z) on |z| <= 1/2 (P degree 14, fit error 2e-8);
     * the series sum (-1)^k (zeta(k) - 1) z^k / k converges there. */
    {"tm_lgamma2", "tm_sinpi",
     L("inline float tm_lgamma2(float z) {")
     L("  float p = fma(z, -2.688229188e-06f, 5.393462288e-06f);")
     L("  p = fma(p, z, -9.103945558e-06f);")
     L("  p = fma(p, z, 2.010960452e-05f);")
     L("  p = fma(p, z, -4.501366493e-05f);")
     L("  p = fma(p, z, 9.953488188e-05f);")
     L("  p = fma(p, z, -2.231422986e-04f);")
     L("  p = fma(p, z, 5.096615059e-04f);")
     L("  p = fma(p, z, -1.192754833e-03f);")
     L("  p = fma(p, z, 2.890510717e-03f);")
     L("  p = fma(p, z, -7.385550998e-03f);")
     L("  p = fma(p, z, 2.058080770e-02f);")
     L("  p = fma(p, z, -6.735230237e-02f);")
     L("  p = fma(p, z, 3.224670291e-01f);")
     L("  return z * fma(p, z, 4.227843285e-01f);")
     L("}")},
    /* log|Gamma(x)|: x > 0 reduced to lgamma(2 + z), |z| <= 1/2, by
     * Gamma(x+1) = x Gamma(x) (the arguments x - 1, x - 2, x - n are exact);
     * x >= 8 by Stirling's series to 1/x^5; x < 0 by the reflection
     * lgamma(x) = log(pi / |x sin(pi x)|) - lgamma(-x).  Poles give +inf.
     * Measured 4.0 ulp for x > 0 (emulator); near the zeros of lgamma for
     * x < 0 the reflection cancels (absolute error ~1e-7). */
    {"tm_lgamma", "tm_lgamma2",
     L("inline float tm_lgamma_pos(float x) {")
     L("  if (x < 0.5f) return tm_lgamma2(x) - precise::log(fma(x, x, x));")
     L("  if (x < 1.5f) return tm_lgamma2(x - 1.0f) - precise::log(x);")
     L("  if (x < 2.5f) return tm_lgamma2(x - 2.0f);")
     L("  if (x < 8.0f) {")
     L("    float n = floor(x - 1.5f), p = 1.0f;")
     L("    for (float k = 1.0f; k <= n; k += 1.0f) p *= x - k;")
     L("    return tm_lgamma2(x - n - 2.0f) + precise::log(p);")
     L("  }")
     L("  float r = 1.0f / x, r2 = r * r;")
     L("  float s = r * fma(r2, fma(r2, 7.93650794e-04f, -2.77777785e-03f), 8.33333358e-02f);")
     L("  return fma(x - 0.5f, precise::log(x) - 1.0f, 0.418938518f + s);")
     L("}")
     L("inline float tm_lgamma(float x) {")
     L("  if (isnan(x)) return x;")
     L("  if (isinf(x)) return INFINITY;")
     L("  if (x > 0.0f) return tm_lgamma_pos(x);")
     L("  if (x == floor(x)) return INFINITY;")
     L("  float a = -x;")
     L("  if (a < 5.96046448e-08f) return -precise::log(a);")
     L("  return 1.14472988f - precise::log(fabs(a * tm_sinpi(a))) - tm_lgamma_pos(a);")
     L("}")},
    /* Gamma(x) = e^lgamma(y) times or divided by the product of the exact
     * arguments x-1 .. x-n (x > 0) or x .. x+n-1 (x < 0), y in [1/2, 5/2),
     * the product kept as an unevaluated sum of two floats (fma), so the
     * error is precise::exp's plus ~1 ulp (the product is folded into the result
     * before it can overflow).  Overflows above 35.04; underflows below -45.  Measured 3.3 ulp (emulator) outside the subnormal range. */
    {"tm_tgamma", "tm_lgamma2",
     L("inline float tm_tgamma(float x) {")
     L("  if (isnan(x)) return x;")
     L("  if (x == 0.0f) return copysign(INFINITY, x);")
     L("  if (x < 0.0f && x == floor(x)) return NAN;")
     L("  if (x > 35.1f) return INFINITY;")
     L("  if (x < -45.0f) return 0.0f;")
     L("  float ph = 1.0f, pl = 0.0f;")
     L("  if (x >= 2.5f) {")
     L("    float n = floor(x - 1.5f);")
     L("    for (float k = 1.0f; k <= n; k += 1.0f) {")
     L("      float t = x - k, h = ph * t;")
     L("      pl = fma(ph, t, -h) + pl * t;")
     L("      ph = h;")
     L("    }")
     L("    if (isinf(ph)) return INFINITY;")
     L("    float g = precise::exp(tm_lgamma2(x - n - 2.0f));")
     L("    return fma(g, ph, g * pl);")
     L("  }")
     L("  if (x >= 1.5f) return precise::exp(tm_lgamma2(x - 2.0f));")
     L("  if (x >= 0.5f) return precise::exp(tm_lgamma2(x - 1.0f)) / x;")
     L("  if (x > 0.0f) return precise::exp(tm_lgamma2(x)) / fma(x, x, x);")
     L("  float n = floor(1.5f - x), y = x + n;")
     L("  float g = precise::exp(tm_lgamma2(y - 1.0f)) / y;")
     L("  for (float k = 0.0f; k < n; k += 1.0f) {")
     L("    float t = x + k, h = ph * t;")
     L("    pl = fma(ph, t, -h) + pl * t;")
     L("    ph = h;")
     L("    if (fabs(ph) > 1.0e30f) { g = g / ph * (1.0f - pl / ph); ph = 1.0f; pl = 0.0f; }")
     L("  }")
     L("  return g / ph * (1.0f - pl / ph);")
     L("}")},
    /* libdevice's int32/uint32 functions.  hadd floor((a + b) / 2) and
     * rhadd floor((a + b + 1) / 2) from the halves (no overflow); mul24 the
     * low 32 bits of the product of the low 24 bits, sign-extended for
     * int32; sad |a - b| (exact, in uint) + c, wrapping; byte_perm result
     * byte n = byte s<4n+2:4n> of the eight bytes y:x (CUDA's __byte_perm) */
    {"tm_intops", NULL,
     L("inline int tm_hadd(int a, int b) { return (a >> 1) + (b >> 1) + (a & b & 1); }")
     L("inline uint tm_hadd(uint a, uint b) { return (a >> 1) + (b >> 1) + (a & b & 1u); }")
     L("inline int tm_rhadd(int a, int b) { return (a >> 1) + (b >> 1) + ((a | b) & 1); }")
     L("inline uint tm_rhadd(uint a, uint b) { return (a >> 1) + (b >> 1) + ((a | b) & 1u); }")
     L("inline int tm_mul24(int a, int b) {")
     L("  int x = as_type<int>(as_type<uint>(a) << 8) >> 8, y = as_type<int>(as_type<uint>(b) << 8) >> 8;")
     L("  return as_type<int>(as_type<uint>(x) * as_type<uint>(y));")
     L("}")
     L("inline uint tm_mul24(uint a, uint b) { return (a & 0xffffffu) * (b & 0xffffffu); }")
     L("inline uint tm_sad(uint a, uint b, uint c) { return (a > b ? a - b : b - a) + c; }")
     L("inline int tm_sad(int a, int b, uint c) {")
     L("  uint d = a > b ? as_type<uint>(a) - as_type<uint>(b) : as_type<uint>(b) - as_type<uint>(a);")
     L("  return as_type<int>(d + c);")
     L("}")
     L("inline int tm_byte_perm(int x, int y, int s) {")
     L("  ulong v = (ulong(as_type<uint>(y)) << 32) | ulong(as_type<uint>(x));")
     L("  uint sel = as_type<uint>(s), r = 0u;")
     L("  for (uint n = 0u; n < 4u; n++) r |= uint((v >> (((sel >> (4u * n)) & 7u) * 8u)) & 0xfful) << (8u * n);")
     L("  return as_type<int>(r);")
     L("}")},
    /* the exponent, from the bits (subnormals by their leading bit):
     * ilogb(0) and ilogb(NaN) = INT_MIN, ilogb(+-inf) = INT_MAX (CUDA's
     * __nv_ilogbf); logb(+-0) = -inf, logb(+-inf) = +inf */
    {"tm_logb", NULL,
     L("inline int tm_ilogb(float x) {")
     L("  uint u = as_type<uint>(x) & 0x7fffffffu;")
     L("  if (u == 0u || u > 0x7f800000u) return -2147483647 - 1;")
     L("  if (u == 0x7f800000u) return 2147483647;")
     L("  return u < 0x800000u ? -118 - int(clz(u)) : int(u >> 23) - 127;")
     L("}")
     L("inline float tm_logb(float x) {")
     L("  float a = fabs(x);")
     L("  if (!(a > 0.0f) || isinf(a)) return a == 0.0f ? -INFINITY : a;")
     L("  return float(tm_ilogb(x));")
     L("}")},
    /* IEEE remainder x - n y, n the nearest integer to x/y (ties even),
     * exactly: r = fmod(|x|, 2|y|) in [0, 2|y|) (exact; when 2|y| overflows,
     * fmod by inf leaves |x|, still below it), minus |y| once if r >= |y|
     * (n odd) and once more past the half; every subtraction is exact
     * (Sterbenz).  The result has x's sign when zero, as IEEE asks. */
    {"tm_remainder", NULL,
     L("inline float tm_remainder(float x, float y) {")
     L("  float ax = fabs(x), ay = fabs(y);")
     L("  if (isnan(x) || isnan(y)) return x + y;")
     L("  if (isinf(ax) || ay == 0.0f) return NAN;")
     L("  if (isinf(ay)) return x;")
     L("  float r = fmod(ax, ay + ay);")
     L("  bool odd = r >= ay;")
     L("  if (odd) r -= ay;")
     L("  float twice = r + r;")
     L("  if (twice > ay || (twice == ay && odd)) r -= ay;")
     L("  return as_type<float>(as_type<uint>(r) ^ (as_type<uint>(x) & 0x80000000u));")
     L("}")},
    /* x^(-1/3): |x| = m 2^(3k), m in [1, 8) (subnormals pre-scaled by 2^48),
     * y = 1 / cbrt(m), then one Newton step y += y r / 3 on the residual
     * r = 1 - m y^3, the product kept in two floats (fma) so r is accurate
     * to ~2^-45; the result is y 2^-k with x's sign (1/x's at 0, inf, NaN).
     * Measured 0.5 ulp. */
    {"tm_rcbrt", "tm_cbrt",
     L("inline float tm_rcbrt(float x) {")
     L("  float a = fabs(x);")
     L("  if (!(a > 0.0f) || isinf(a)) return precise::divide(1.0f, x);")
     L("  int k = 0;")
     L("  if (a < 1.17549435e-38f) { a *= 2.81474977e14f; k = -16; }")
     L("  uint u = as_type<uint>(a);")
     L("  int e = int(u >> 23) - 127, q = (e + 384) / 3 - 128;")
     L("  float m = as_type<float>((u & 0x7fffffu) | (uint(e - 3 * q + 127) << 23));")
     L("  k += q;")
     L("  float y = precise::divide(1.0f, tm_cbrt(m));")
     L("  float p = y * y, pl = fma(y, y, -p);")
     L("  float c = p * y, cl = fma(p, y, -c) + pl * y;")
     L("  float t = c * m, tl = fma(c, m, -t) + cl * m;")
     L("  y = fma(y * 0.333333343f, (1.0f - t) - tl, y);")
     L("  return copysign(y * as_type<float>(uint(127 - k) << 23), x);")
     L("}")},
    /* sqrt(a^2 + b^2 + c^2 + d^2) or its reciprocal without overflow or
     * underflow, as tm_hypot: the largest magnitude brought into [2^-60,
     * 2^60] by an exact power-of-two scale; the sum of squares kept as two
     * floats q + ql (each square split by fma, the sum by TwoSum), the root
     * s = sqrt(q) or its reciprocal y then corrected by one Newton step on
     * the accurate residual (q + ql - s^2, or 1 - y^2 (q + ql)).  Any
     * infinite operand gives +inf (0 for the reciprocal) even beside a NaN.
     * Measured 0.5 ulp (norms and reciprocals), 0.75 where the result is
     * subnormal (the final scaling rounds again). */
    {"tm_norm", NULL,
     L("inline void tm_sum2(thread float &s, thread float &err, float x) {")
     L("  float h = x * x, t = s + h, bv = t - s;")
     L("  err += ((s - (t - bv)) + (h - bv)) + fma(x, x, -h);")
     L("  s = t;")
     L("}")
     L("inline float tm_norm4(float a, float b, float c, float d, bool inv) {")
     L("  a = fabs(a); b = fabs(b); c = fabs(c); d = fabs(d);")
     L("  if (isinf(a) || isinf(b) || isinf(c) || isinf(d)) return inv ? 0.0f : INFINITY;")
     L("  float hi = fmax(fmax(a, b), fmax(c, d)), sc = 1.0f, si = 1.0f;")
     L("  if (isnan(a + b + c + d)) return a + b + c + d;")
     L("  if (hi > 1.15292150e18f) { sc = 8.47032947e-22f; si = 1.18059162e21f; }")
     L("  else if (hi < 8.67361738e-19f) { sc = 1.23794004e27f; si = 8.07793567e-28f; }")
     L("  a *= sc; b *= sc; c *= sc; d *= sc;")
     L("  float q = a * a, ql = fma(a, a, -q);")
     L("  tm_sum2(q, ql, b); tm_sum2(q, ql, c); tm_sum2(q, ql, d);")
     L("  if (q == 0.0f) return inv ? INFINITY : 0.0f;")
     L("  float s = precise::sqrt(q);")
     L("  if (!inv) return fma(fma(-s, s, q) + ql, 0.5f / s, s) * si;")
     L("  float y = precise::divide(1.0f, s), p = y * y, pl = fma(y, y, -p);")
     L("  float t = p * q, tl = fma(p, q, -t) + (pl * q + p * ql);")
     L("  return fma(y * 0.5f, (1.0f - t) - tl, y) * sc;")
     L("}")},
    /* Phi(x) = erfc(u) / 2, u = -x / sqrt(2) kept as h + l (fma), the tail
     * l applied to first order: erfc(h + l) = erfc(h) (1 - l 2/sqrt(pi) /
     * erfcx(h)), so the rounding of u is not amplified by erfc's slope
     * (~2h^2 ulp otherwise).  |h| < 1/2: 1 - erf(h + l); |h| >= 1/2:
     * e^(-h^2) erfcx(h) as tm_erfc_pos, for x > 0 subtracted from 1.
     * Measured 3.2 ulp (emulator; erfc's own error). */
    {"tm_normcdf", "tm_erf",
     L("inline float tm_normcdf(float x) {")
     L("  if (isnan(x)) return x;")
     L("  float h = x * -7.071067691e-01f;")
     L("  float l = fma(x, -7.071067691e-01f, -h) + x * -1.210161749e-08f;")
     L("  float a = fabs(h);")
     L("  if (a < 0.5f) {")
     L("    float s = h * h;")
     L("    return 0.5f * (1.0f - (tm_erf_small(h) + l * (1.128379226f * fma(fma(0.5f, s, -1.0f), s, 1.0f))));")
     L("  }")
     L("  if (a > 10.06f) return h > 0.0f ? 0.0f : 1.0f;")
     L("  float r = tm_erfcx_pos(a), hh = a * a, hl = fma(a, a, -hh), c = h > 0.0f ? l : -l;")
     L("  float e = precise::exp(-hh) * (r * (1.0f - (hl + 1.128379226f * c / r)));")
     L("  return h > 0.0f ? 0.5f * e : 1.0f - 0.5f * e;")
     L("}")},
    /* erfcx(x) = e^(x^2) erfc(x).  x >= 10: the asymptotic series
     * 1/(x sqrt(pi)) (1 - u/2 + 3u^2/4 - 15u^3/8 + 105u^4/16), u = 1/x^2
     * (truncation < 3e-9); 1/2 <= x < 10: tm_erf's polynomial R, which is
     * erfcx; |x| < 1/2: e^(x^2) (1 - erf(x)); x <= -1/2: 2 e^(x^2) -
     * erfcx(-x) with x^2 split by fma into h + l and e^(x^2) = e^h (1 + l)
     * (+inf where e^h is: 2 e^(x^2) overflows from x = -9.38).  Measured
     * 2.4 ulp (emulator). */
    {"tm_erfcx", "tm_erf",
     L("inline float tm_erfcx(float x) {")
     L("  if (isnan(x)) return x;")
     L("  if (x >= 10.0f) {")
     L("    if (isinf(x)) return 0.0f;")
     L("    float u = 1.0f / (x * x);")
     L("    float p = fma(fma(fma(fma(6.5625f, u, -1.875f), u, 0.75f), u, -0.5f), u, 1.0f);")
     L("    return fma(5.641896129e-01f, p, -2.931769139e-08f * p) / x;")
     L("  }")
     L("  if (x >= 0.5f) return tm_erfcx_pos(x);")
     L("  if (x > -0.5f) return precise::exp(x * x) * (1.0f - tm_erf_small(x));")
     L("  float h = x * x, l = fma(x, x, -h), e = precise::exp(h);")
     L("  if (isinf(e)) return e;")
     L("  return fma(e, l, e) * 2.0f - tm_erfcx_pos(-x);")
     L("}")},
    /* erfcinv(y) = erfinv(1 - y) without forming 1 - y where it would round:
     * tm_erfinv's w = -log((1-x)(1+x)) is -log(y (2 - y)), and erfinv(x) =
     * x P(w).  For w >= 15.5 (y < 1.8e-7, beyond erfinv's float range) our
     * own fit t (1 + Q(1/t - 0.178)), t = sqrt(w), Q degree 7 (fit error
     * 1e-9) up to y = 2^-149 (w = 102.6); below 1e-30 the logarithm is
     * taken of y 2^64.  y > 1: erfcinv(y) = -erfcinv(2 - y) (2 - y exact).
     * normcdfinv(p) = -sqrt(2) erfcinv(2p), sqrt(2) as two floats.
     * Measured erfcinv 2.6 ulp, normcdfinv 3.0 ulp (emulator). */
    {"tm_erfcinv", "tm_erfinv",
     L("inline float tm_erfcinv(float y) {")
     L("  if (!(y >= 0.0f && y <= 2.0f)) return NAN;")
     L("  if (y == 0.0f || y == 2.0f) return y == 0.0f ? INFINITY : -INFINITY;")
     L("  bool neg = y > 1.0f;")
     L("  float z = neg ? 2.0f - y : y, x = 1.0f - z, w;")
     L("  if (z < 1.0e-30f) w = (4.366827393e+01f - precise::log(z * 1.84467441e19f)) - 1.550504749e-06f;")
     L("  else w = -precise::log(z * (2.0f - z));")
     L("  float r;")
     L("  if (w < 15.5f) {")
     L("    r = tm_erfinv_p(w) * x;")
     L("  } else {")
     L("    float t = precise::sqrt(w), s = precise::divide(1.0f, t) - 0.17811905f;")
     L("    float p = fma(s, 41.2451057434082f, -8.572379112243652f);")
     L("    p = fma(p, s, 2.657395124435425f);")
     L("    p = fma(p, s, -1.4655497074127197f);")
     L("    p = fma(p, s, 0.8756495118141174f);")
     L("    p = fma(p, s, -0.0708581954240799f);")
     L("    p = fma(p, s, -0.19969414174556732f);")
     L("    p = fma(p, s, -0.025624148547649384f);")
     L("    r = fma(t, p, t) * x;")
     L("  }")
     L("  return neg ? -r : r;")
     L("}")
     L("inline float tm_normcdfinv(float p) {")
     L("  float r = tm_erfcinv(2.0f * p);")
     L("  return fma(-1.414213538f, r, -2.420323497e-08f * r);")
     L("}")},
    /* m 2^e (m > 0 an integer), negative when neg, rounded to float exactly
     * in mode 0 (nearest even), 1 (toward zero), 2 (down) or 3 (up):
     * sh low bits of m dropped (24 significant bits kept, fewer where the
     * result is subnormal), rounded up by the dropped bits and the mode; the
     * bit pattern is then (lsb exponent + 149) << 23 plus the significand,
     * whose carry into the exponent field is the right result.  Overflow
     * gives inf, or the largest finite value where the mode rounds toward
     * zero.  Integers to float: e = 0. */
    {"tm_round", NULL,
     L("inline float tm_round(ulong m, int e, bool neg, int mode) {")
     L("  int n = 64 - int(clz(m)), sh = max(n - 24, -149 - e);")
     L("  ulong q = 0ul, rem = 0ul;")
     L("  bool above = false, tie = false;")
     L("  if (sh <= 0) {")
     L("    q = m << uint(-sh);")
     L("  } else if (sh < 64) {")
     L("    ulong half = ulong(1) << uint(sh - 1);")
     L("    q = m >> uint(sh); rem = m & (half + half - 1ul);")
     L("    above = rem > half; tie = rem == half;")
     L("  } else {")
     L("    rem = m;")
     L("    above = sh == 64 && m > (ulong(1) << 63); tie = sh == 64 && m == (ulong(1) << 63);")
     L("  }")
     L("  bool up = mode == 0 ? above || (tie && (q & 1ul) != 0ul) : rem != 0ul && ((mode == 3 && !neg) || (mode == 2 && neg));")
     L("  long bits = (long(e + sh + 149) << 23) + long(q) + (up ? 1 : 0);")
     L("  uint sg = neg ? 0x80000000u : 0u;")
     L("  if (bits >= long(0x7f800000)) {")
     L("    bool inf = mode == 0 || (mode == 3 && !neg) || (mode == 2 && neg);")
     L("    return as_type<float>(sg | (inf ? 0x7f800000u : 0x7f7fffffu));")
     L("  }")
     L("  return as_type<float>(sg | uint(bits));")
     L("}")
     L("inline float tm_u2f(ulong x, int mode) { return x == 0ul ? 0.0f : tm_round(x, 0, false, mode); }")
     L("inline float tm_l2f(long x, int mode) {")
     L("  if (x == 0) return 0.0f;")
     L("  return x < 0 ? tm_round(0ul - ulong(x), 0, true, mode) : tm_round(ulong(x), 0, false, mode);")
     L("}")},
    /* arithmetic with a rounding mode (1 toward zero, 2 down, 3 up), exact.
     * add: the nearest sum s and its error (TwoSum: exact whenever s is
     * finite), then one step from s toward the exact sum where the mode
     * asks; s = inf from finite operands overflowed; an exact zero sum is
     * -0 rounding down, else s's zero.  mul and div: the product or quotient
     * of the significands as integers (the quotient's remainder kept as a
     * sticky bit) through tm_round, so underflow and subnormals are exact.
     * sqrt: the nearest root s and the sign of x - s^2 (fma); x < 2^-64
     * scaled by 2^64 first so that difference cannot round to zero.
     * Infinite, NaN and zero operands give exact results (the nearest). */
    {"tm_dir", "tm_round",
     L("inline float tm_add_rn(float a, float b) { return fma(a, 1.0f, b); }")
     L("inline float tm_mul_rn(float a, float b) { return fma(a, b, -0.0f); }")
     L("inline float tm_step(float s, float err, int mode) {")
     L("  bool dn = err < 0.0f && (mode == 2 || (mode == 1 && s > 0.0f));")
     L("  bool up = err > 0.0f && (mode == 3 || (mode == 1 && s < 0.0f));")
     L("  int i = as_type<int>(s);")
     L("  if (dn) i += s > 0.0f ? -1 : 1;")
     L("  if (up) i += s > 0.0f ? 1 : -1;")
     L("  return as_type<float>(i);")
     L("}")
     L("inline float tm_add_dir(float a, float b, int mode) {")
     L("  float s = tm_add_rn(a, b);")
     L("  if (!isfinite(s)) {")
     L("    if (isnan(s) || !isfinite(a) || !isfinite(b)) return s;")
     L("    return (mode == 3 && s > 0.0f) || (mode == 2 && s < 0.0f) ? s : copysign(3.40282347e38f, s);")
     L("  }")
     L("  if (s == 0.0f) return mode == 2 ? as_type<float>((as_type<uint>(a) | as_type<uint>(b)) & 0x80000000u) : s;")
     L("  float bv = s - a, err = (a - (s - bv)) + (b - bv);")
     L("  return tm_step(s, err, mode);")
     L("}")
     L("inline float tm_mul_dir(float a, float b, int mode) {")
     L("  if (!isfinite(a) || !isfinite(b) || a == 0.0f || b == 0.0f) return tm_mul_rn(a, b);")
     L("  uint ua = as_type<uint>(a), ub = as_type<uint>(b), ea = (ua >> 23) & 0xffu, eb = (ub >> 23) & 0xffu;")
     L("  ulong ma = ulong((ua & 0x7fffffu) | (ea != 0u ? 0x800000u : 0u)), mb = ulong((ub & 0x7fffffu) | (eb != 0u ? 0x800000u : 0u));")
     L("  return tm_round(ma * mb, int(max(ea, 1u) + max(eb, 1u)) - 300, ((ua ^ ub) >> 31) != 0u, mode);")
     L("}")
     L("inline float tm_div_dir(float a, float b, int mode) {")
     L("  if (!isfinite(a) || !isfinite(b) || a == 0.0f || b == 0.0f) return precise::divide(a, b);")
     L("  uint ua = as_type<uint>(a), ub = as_type<uint>(b), ma = ua & 0x7fffffu, mb = ub & 0x7fffffu;")
     L("  int ea = int((ua >> 23) & 0xffu), eb = int((ub >> 23) & 0xffu);")
     L("  if (ea == 0) { int k = int(clz(ma)) - 8; ma <<= uint(k); ea = 1 - k; } else ma |= 0x800000u;")
     L("  if (eb == 0) { int k = int(clz(mb)) - 8; mb <<= uint(k); eb = 1 - k; } else mb |= 0x800000u;")
     L("  ulong num = ulong(ma) << 40, q = num / ulong(mb), rem = num - q * ulong(mb);")
     L("  return tm_round(q | (rem != 0ul ? 1ul : 0ul), ea - eb - 40, ((ua ^ ub) >> 31) != 0u, mode);")
     L("}")
     L("inline float tm_sqrt_dir(float x, int mode) {")
     L("  if (!(x > 0.0f) || isinf(x)) return precise::sqrt(x);")
     L("  float sc = 1.0f;")
     L("  if (x < 5.42101086e-20f) { x *= 1.84467441e19f; sc = 2.32830644e-10f; }")
     L("  float s = precise::sqrt(x);")
     L("  return tm_step(s, fma(-s, s, x), mode) * sc;")
     L("}")},
    /* float to integer after rounding (rint, trunc, floor, ceil): NaN gives
     * 0, values beyond the type's range its minimum or maximum (PTX cvt);
     * the unsigned ones return their bits in the signed type */
    {"tm_cvt", NULL,
     L("inline int tm_f2i(float r) {")
     L("  return isnan(r) ? 0 : r >= 2147483648.0f ? 2147483647 : r <= -2147483648.0f ? -2147483647 - 1 : int(r);")
     L("}")
     L("inline int tm_f2u(float r) {")
     L("  return as_type<int>(isnan(r) || r <= 0.0f ? 0u : r >= 4294967296.0f ? 0xffffffffu : uint(r));")
     L("}")
     L("inline long tm_f2ll(float r) {")
     L("  if (isnan(r)) return 0;")
     L("  if (r >= 9.22337204e18f) return as_type<long>(~0ul >> 1);")
     L("  return r <= -9.22337204e18f ? as_type<long>(ulong(1) << 63) : long(r);")
     L("}")
     L("inline long tm_f2ull(float r) {")
     L("  return as_type<long>(isnan(r) || r <= 0.0f ? 0ul : r >= 1.84467441e19f ? ~0ul : ulong(r));")
     L("}")},
    /* 1/sqrt(x) correctly rounded: x = X 2^(2j), X in [2^23, 2^25) an
     * integer, 1/sqrt(x) = t 2^-j with t = 1/sqrt(X) in (2^-12.5, 2^-11.5].
     * From a float estimate (two correctly rounded operations, within an
     * ulp) three ulps lower, step up while t lies above the midpoint to the
     * next float, Y 2^E + 2^(E-1): t > (2Y+1) 2^(E-1) iff X (2Y+1)^2 <
     * 2^(2-2E), compared exactly as a 128-bit product.  A tie is impossible
     * (the midpoint has 25 significant bits, so its square is no power of
     * two times X's inverse).  The result is always normal. */
    {"tm_rsqrt_rn", "tm_umulhi",
     L("inline float tm_rsqrt_rn(float x) {")
     L("  if (isnan(x) || x < 0.0f) return NAN;")
     L("  if (x == 0.0f) return copysign(INFINITY, x);")
     L("  if (isinf(x)) return 0.0f;")
     L("  uint u = as_type<uint>(x), X = u & 0x7fffffu;")
     L("  int ex = int(u >> 23);")
     L("  if (ex == 0) { int k = int(clz(X)) - 8; X <<= uint(k); ex = 1 - k; } else X |= 0x800000u;")
     L("  ex -= 150;")
     L("  if ((ex & 1) != 0) { X <<= 1; ex -= 1; }")
     L("  int j = ex / 2;")
     L("  uint yb = as_type<uint>(precise::divide(1.0f, precise::sqrt(float(X)))) - 3u;")
     L("  uint Y = (yb & 0x7fffffu) | 0x800000u;")
     L("  int E = int(yb >> 23) - 150;")
     L("  for (int k = 0; k < 8; k++) {")
     L("    ulong M = 2ul * ulong(Y) + 1ul, hi = tm_umulhi(ulong(X), M * M);")
     L("    if (hi >= (ulong(1) << uint(2 - 2 * E - 64))) break;")
     L("    Y += 1u;")
     L("    if (Y == 0x1000000u) { Y = 0x800000u; E += 1; }")
     L("  }")
     L("  return as_type<float>((uint(E - j + 150) << 23) | (Y & 0x7fffffu));")
     L("}")},
    {NULL, NULL, NULL},
};

#undef L

int math_lookup(int space, const char *name) {
  for (int i = 0; math_fns[i].name; i++)
    if ((math_fns[i].spaces & space) && !strcmp(math_fns[i].name, name)) return i;
  return -1;
}
