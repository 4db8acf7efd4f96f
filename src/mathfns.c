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
 */
#include <string.h>

#include "tm.h"

#define TL_MATH (MF_TL | MF_MATH)
#define ALL (MF_TL | MF_MATH | MF_LIBDEVICE)

const MathFn math_fns[] = {
    /* name      spaces        arity dtypes     result   spelling */
    {"exp",      ALL,          1, MT_F32,      MR_SAME, "precise::exp($0)", NULL},
    {"exp2",     ALL,          1, MT_F32,      MR_SAME, "precise::exp2($0)", NULL},
    {"log",      ALL,          1, MT_F32,      MR_SAME, "precise::log($0)", NULL},
    {"log2",     ALL,          1, MT_F32,      MR_SAME, "precise::log2($0)", NULL},
    {"sin",      ALL,          1, MT_F32,      MR_SAME, "precise::sin($0)", NULL},
    {"cos",      ALL,          1, MT_F32,      MR_SAME, "precise::cos($0)", NULL},
    {"sqrt",     ALL,          1, MT_F32,      MR_SAME, "precise::sqrt($0)", NULL},
    {"sqrt_rn",  TL_MATH,      1, MT_F32,      MR_SAME, "precise::sqrt($0)", NULL},
    {"rsqrt",    ALL,          1, MT_F32,      MR_SAME, "precise::rsqrt($0)", NULL},
    {"floor",    ALL,          1, MT_F32,      MR_SAME, "floor($0)", NULL},
    {"ceil",     ALL,          1, MT_F32,      MR_SAME, "ceil($0)", NULL},
    {"abs",      ALL,          1, MT_FLOAT | MT_INT, MR_SAME, "abs($0)", NULL},
    {"fma",      ALL,          3, MT_FLOAT,    MR_SAME, "fma($0, $1, $2)", NULL},
    {"div_rn",   TL_MATH,      2, MT_F32,      MR_SAME, "($0 / $1)", NULL},
    {"umulhi",   TL_MATH,      2, MT_I32_64,   MR_SAME, "mulhi($0, $1)", NULL},
    {"isnan",    MF_LIBDEVICE, 1, MT_FLOAT,    MR_BOOL, "isnan($0)", NULL},
    {"isinf",    MF_LIBDEVICE, 1, MT_FLOAT,    MR_BOOL, "isinf($0)", NULL},
    {"tanh",     MF_LIBDEVICE, 1, MT_F32,      MR_SAME, "precise::tanh($0)", NULL},
    {"trunc",    MF_LIBDEVICE, 1, MT_F32,      MR_SAME, "trunc($0)", NULL},
    {"pow",      MF_LIBDEVICE, 2, MT_F32,      MR_SAME, "precise::pow($0, $1)", NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

const MathHelper math_helpers[] = {
    {NULL, NULL, NULL},
};

int math_lookup(int space, const char *name) {
  for (int i = 0; math_fns[i].name; i++)
    if ((math_fns[i].spaces & space) && !strcmp(math_fns[i].name, name)) return i;
  return -1;
}
