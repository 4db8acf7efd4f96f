/*
 * types.c: value types of the tile IR and dtype facts.
 *
 * A Type is a small value (no interning): scalar dtype, pointer to a dtype,
 * or a block (rank >= 1) of either. Block shapes are powers of two, checked
 * where blocks are made (sema.c).
 */
#include <stdio.h>
#include <string.h>

#include "tm.h"

Type type_scalar(tm_dtype dt) {
  Type t = {0};
  t.dt = (uint8_t)dt;
  return t;
}

Type type_ptr(tm_dtype dt) {
  Type t = type_scalar(dt);
  t.ptr = 1;
  return t;
}

Type type_block(Type elem, int rank, const int32_t *shape) {
  Type t = elem;
  t.rank = (uint8_t)rank;
  for (int i = 0; i < TM_MAX_RANK; i++) t.shape[i] = i < rank ? shape[i] : 0;
  return t;
}

Type type_elem(Type t) {
  t.rank = 0;
  memset(t.shape, 0, sizeof t.shape);
  return t;
}

bool type_eq(Type a, Type b) {
  if (a.dt != b.dt || a.ptr != b.ptr || a.rank != b.rank) return false;
  for (int i = 0; i < a.rank; i++)
    if (a.shape[i] != b.shape[i]) return false;
  return true;
}

int64_t type_numel(Type t) {
  int64_t n = 1;
  for (int i = 0; i < t.rank; i++) n *= t.shape[i];
  return n;
}

const char *type_str(Arena *a, Type t) {
  const char *e = arena_printf(a, "%s%s", t.ptr == PTR_CONST ? "*k" : t.ptr ? "*" : "", tm_dtype_sig((tm_dtype)t.dt));
  if (!t.rank) return e;
  char dims[192] = "";
  size_t n = 0;
  for (int i = 0; i < t.rank; i++) n += (size_t)snprintf(dims + n, sizeof dims - n, "%dx", t.shape[i]);
  return arena_printf(a, "<%s%s>", dims, e);
}

bool dt_is_float(tm_dtype dt) { return dt == TM_F16 || dt == TM_BF16 || dt == TM_F32 || dt == TM_F64; }
bool dt_is_int(tm_dtype dt) { return dt >= TM_I1 && dt <= TM_U64; }
bool dt_is_signed(tm_dtype dt) { return dt >= TM_I8 && dt <= TM_I64; }

int dt_bits(tm_dtype dt) {
  static const int bits[TM_NDTYPES] = {0, 1, 8, 16, 32, 64, 8, 16, 32, 64, 16, 16, 32, 64};
  if (dt >= TM_FP8E5 && dt < TM_DT_END) return 8;
  return (unsigned)dt < TM_NDTYPES ? bits[dt] : 0;
}

int dt_fp_mantissa(tm_dtype dt) {
  if (dt == TM_FP8E5 || dt == TM_FP8E5B16) return 2;
  if (dt >= TM_FP8E4NV && dt <= TM_FP8E4B15) return 3;
  return dt == TM_F16 ? 10 : dt == TM_BF16 ? 7 : dt == TM_F32 ? 23 : dt == TM_F64 ? 52 : 0;
}

tm_dtype dt_int(int bits, bool is_signed) {
  switch (bits) {
  case 1: return TM_I1;
  case 8: return is_signed ? TM_I8 : TM_U8;
  case 16: return is_signed ? TM_I16 : TM_U16;
  case 32: return is_signed ? TM_I32 : TM_U32;
  default: return is_signed ? TM_I64 : TM_U64;
  }
}
