/*
 * emit_dot.c: tl.dot.
 *
 * The portable path: operands staged through threadgroup memory in chunks of
 * K that fit the scratch budget, each thread accumulating its result
 * elements (in the accumulator layout) with FMAs in the accumulation dtype
 * (fp32 for float inputs, int32 for int8), then adding the acc operand.
 */
#include <stdio.h>
#include <string.h>

#include "emit.h"

/* Writes the elements of operand x (layout A) whose coordinate along value dim
 * kdim lies in [k0, k0 + kc) to sm, row-major with that dim cut to kc. */
static void stage_chunk(Emitter *E, int x, int kdim, int kc, const char *k0, const char *sm, int ind) {
  Ins *xi = &E->f->ins.v[x];
  Layout *A = xi->layout;
  em_indent(&E->out, ind);
  buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", A->per_thread);
  em_coords(E, A, &E->out, ind + 1, true);
  Layout *saved = E->group;
  E->group = A;
  const char *idx = "0";
  for (int i = 0; i < A->rank; i++) {
    const char *ci = i == kdim ? arena_printf(&E->c->arena, "(c%d - %s)", A->dims[i], k0) : arena_printf(&E->c->arena, "c%d", A->dims[i]);
    idx = i ? arena_printf(&E->c->arena, "(%s) * %d + %s", idx, i == kdim ? kc : A->shape[i], ci) : ci;
  }
  em_indent(&E->out, ind + 1);
  buf_printf(&E->out, "if (%sc%d >= %s && c%d < %s + %d) %s[%s] = %s;\n", A->replicated ? "!dup && " : "", A->dims[kdim], k0,
             A->dims[kdim], k0, kc, sm, idx, em_ref(E, x));
  E->group = saved;
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
}

/* tl.dot, the portable path: operands staged through threadgroup memory in
 * chunks of K, each thread accumulating its result elements with FMAs in the
 * accumulator's dtype (fp32 for float inputs, int32 for int8). */
void emit_dot(Emitter *E, int id, int ind) {
  Ins *in = &E->f->ins.v[id];
  Arena *a = &E->c->arena;
  Ins *ai = &E->f->ins.v[in->args[0]], *bi = &E->f->ins.v[in->args[1]];
  int r = in->ty.rank;
  int M = ai->ty.shape[r - 2], K = ai->ty.shape[r - 1], N = bi->ty.shape[r - 1], B = r == 3 ? ai->ty.shape[0] : 1;
  tm_dtype din = (tm_dtype)ai->ty.dt, dout = (tm_dtype)in->ty.dt;
  tm_dtype dacc = dt_is_float(din) ? TM_F32 : TM_I32;
  int bytes = din == TM_I1 ? 1 : tm_dtype_bytes(din);
  int kc = K; /* the largest power-of-two chunk of K whose operands fit in 16 KB */
  while (kc > 1 && (int64_t)B * (M + N) * kc * bytes > 16384) kc /= 2;
  const char *smA = em_smem(E, din, B * M * kc), *smB;
  /* A and B share one array per dtype: B's stripe follows A's */
  em_smem(E, din, B * M * kc + B * kc * N);
  smB = arena_printf(a, "(%s + %d)", smA, B * M * kc);
  (void)smB;
  Layout *R = in->layout;
  const char *T = em_tname(E, dout), *TA = em_tname(E, dacc);
  em_indent(&E->out, ind);
  buf_printf(&E->out, "%s v%d[%d];\n", T, id, R->per_thread);
  em_indent(&E->out, ind);
  buf_printf(&E->out, "%s d%d[%d];\n", TA, id, R->per_thread);
  em_indent(&E->out, ind);
  buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) d%d[k] = %s(0);\n", R->per_thread, id, TA);
  em_indent(&E->out, ind);
  buf_printf(&E->out, "for (int k0 = 0; k0 < %d; k0 += %d) {\n", K, kc);
  stage_chunk(E, in->args[0], r - 1, kc, "k0", smA, ind + 1);
  /* B's stripe: index offset by B*M*kc */
  const char *smB_name = arena_printf(a, "%s[%d + ", smA, B * M * kc);
  {
    Layout *L = bi->layout;
    em_indent(&E->out, ind + 1);
    buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", L->per_thread);
    em_coords(E, L, &E->out, ind + 2, true);
    Layout *saved = E->group;
    E->group = L;
    const char *idx = "0";
    for (int i = 0; i < L->rank; i++) {
      const char *ci = i == r - 2 ? arena_printf(a, "(c%d - k0)", L->dims[i]) : arena_printf(a, "c%d", L->dims[i]);
      idx = i ? arena_printf(a, "(%s) * %d + %s", idx, i == r - 2 ? kc : L->shape[i], ci) : ci;
    }
    em_indent(&E->out, ind + 2);
    buf_printf(&E->out, "if (%sc%d >= k0 && c%d < k0 + %d) %s%s] = %s;\n", L->replicated ? "!dup && " : "", L->dims[r - 2],
               L->dims[r - 2], kc, smB_name, idx, em_ref(E, in->args[1]));
    E->group = saved;
    em_indent(&E->out, ind + 1);
    buf_puts(&E->out, "}\n");
  }
  em_barrier(E, ind + 1);
  em_indent(&E->out, ind + 1);
  buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", R->per_thread);
  em_coords(E, R, &E->out, ind + 2, false);
  const char *bm = r == 3 ? arena_printf(a, "c%d * %d + ", R->dims[0], M * kc) : "";
  const char *bn = r == 3 ? arena_printf(a, "c%d * %d + ", R->dims[0], kc * N) : "";
  em_indent(&E->out, ind + 2);
  buf_printf(&E->out, "%s s = d%d[k];\n", TA, id);
  em_indent(&E->out, ind + 2);
  buf_printf(&E->out, "for (int kk = 0; kk < %d; ++kk) s += %s(%s[%sc%d * %d + kk]) * %s(%s%sc%d + kk * %d]);\n", kc, TA, smA, bm,
             R->dims[r - 2], kc, TA, smB_name, bn, R->dims[r - 1], N);
  em_indent(&E->out, ind + 2);
  buf_printf(&E->out, "d%d[k] = s;\n", id);
  em_indent(&E->out, ind + 1);
  buf_puts(&E->out, "}\n");
  em_barrier(E, ind + 1);
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
  E->group = R;
  em_indent(&E->out, ind);
  buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) v%d[k] = %s(%s(%s) + d%d[k]);\n", R->per_thread, id, T, TA,
             em_ref(E, in->args[2]), id);
  E->group = NULL;
  E->in_array[id] = true;
}

