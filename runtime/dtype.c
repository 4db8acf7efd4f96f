/*
 * dtype.c: the dtype table: Triton names, signature spellings, byte sizes and
 * MSL type names, one row per tm_dtype. Parsing accepts either spelling.
 */
#include <string.h>

#include "rt.h"

typedef struct DtypeRow {
  const char *name; /* Triton: "float32" */
  const char *sig;  /* signature: "fp32" */
  const char *msl;  /* MSL type, NULL when Metal has none */
  int bytes;
} DtypeRow;

static const DtypeRow rows[TM_DT_END] = {
    [TM_VOID] = {"void", "void", NULL, 0},
    [TM_I1] = {"int1", "i1", "bool", 1},
    [TM_I8] = {"int8", "i8", "char", 1},
    [TM_I16] = {"int16", "i16", "short", 2},
    [TM_I32] = {"int32", "i32", "int", 4},
    [TM_I64] = {"int64", "i64", "long", 8},
    [TM_U8] = {"uint8", "u8", "uchar", 1},
    [TM_U16] = {"uint16", "u16", "ushort", 2},
    [TM_U32] = {"uint32", "u32", "uint", 4},
    [TM_U64] = {"uint64", "u64", "ulong", 8},
    [TM_F16] = {"float16", "fp16", "half", 2},
    [TM_BF16] = {"bfloat16", "bf16", "bfloat", 2},
    [TM_F32] = {"float32", "fp32", "float", 4},
    [TM_F64] = {"float64", "fp64", NULL, 8},
    [TM_FP8E5] = {"float8e5", "fp8e5", NULL, 1},
    [TM_FP8E5B16] = {"float8e5b16", "fp8e5b16", NULL, 1},
    [TM_FP8E4NV] = {"float8e4nv", "fp8e4nv", NULL, 1},
    [TM_FP8E4B8] = {"float8e4b8", "fp8e4b8", NULL, 1},
    [TM_FP8E4B15] = {"float8e4b15", "fp8e4b15", NULL, 1},
};

static const DtypeRow *row(tm_dtype dt) {
  return (unsigned)dt < TM_DT_END && rows[dt].name ? &rows[dt] : &rows[TM_VOID];
}

const char *tm_dtype_name(tm_dtype dt) { return row(dt)->name; }
const char *tm_dtype_sig(tm_dtype dt) { return row(dt)->sig; }
int tm_dtype_bytes(tm_dtype dt) { return row(dt)->bytes; }
const char *rt_msl_type(tm_dtype dt) { return row(dt)->msl; }

tm_dtype tm_dtype_parse(const char *s) {
  if (!s) return TM_VOID;
  if (!strcmp(s, "u1") || !strcmp(s, "bool")) return TM_I1;
  for (int i = 1; i < TM_NDTYPES; i++)
    if (!strcmp(s, rows[i].name) || !strcmp(s, rows[i].sig)) return (tm_dtype)i;
  return TM_VOID;
}
