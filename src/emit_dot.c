/*
 * emit_dot.c: tl.dot.
 *
 * Both paths stage the operands through threadgroup memory in chunks of K that
 * fit the scratch budget (A's chunk [M x kc] row-major, B's [kc x N] after it)
 * and end with each thread holding its result elements in the accumulator
 * layout, acc + a@b.
 *
 * The portable path: each thread accumulates its result elements with FMAs in
 * the accumulation dtype (fp32 for float inputs, int32 for int8), then adds
 * the acc operand.
 *
 * The simdgroup_matrix path (targets with has_simdgroup_matrix, opt level above
 * none, 2-D float operands with M, N, K multiples of 8): the 8x8 output tiles
 * are split into a WM x WN grid of rectangles, one per SIMD-group; a SIMD-group
 * accumulates its TM x TN tiles in simdgroup matrices over all K chunks, then
 * the tiles go through a threadgroup stripe of rows to the accumulator layout,
 * where acc is added (so the sum order is (a@b) + acc, as on the portable path).
 *
 *   M=32, N=32, 4 SIMD-groups: WM = WN = 2, TM = TN = 2
 *
 *          cols 0-15   16-31
 *   rows  0-15  sg 0    sg 1        each sg: 2x2 tiles of 8x8
 *        16-31  sg 2    sg 3
 *
 * Every simdgroup_* call sits under control flow that is uniform in the
 * SIMD-group (loop bounds are constants, conditions depend on tm_tid / 32).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "emit.h"

/* Writes the elements of operand x (layout A) whose coordinate along value dim
 * kdim lies in [k0, k0 + kc) to sm from element off on, row-major with that dim
 * cut to kc. */
static void stage_chunk(Emitter *E, int x, int kdim, int kc, const char *k0, const char *sm, int off, int ind) {
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
  if (off) idx = arena_printf(&E->c->arena, "%d + %s", off, idx);
  buf_printf(&E->out, "if (%sc%d >= %s && c%d < %s + %d) %s[%s] = %s;\n", A->replicated ? "!dup && " : "", A->dims[kdim], k0,
             A->dims[kdim], k0, kc, sm, idx, em_ref(E, x));
  E->group = saved;
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
}

/* The simdgroup_matrix tiling of one tl.dot. */
typedef struct SgPlan {
  tm_dtype dacc;  /* simdgroup accumulator dtype */
  int kc;         /* K chunk staged at once */
  int rs;         /* result rows per pass through the stripe */
  int WM, WN;     /* SIMD-groups along M and N; WM * WN may be < num_warps */
  int TM, TN;     /* 8x8 tiles per SIMD-group along M and N */
} SgPlan;

/* Whether tl.dot `in` takes the simdgroup_matrix path, and its plan. */
static bool sg_plan(Emitter *E, Ins *in, SgPlan *p) {
  const tm_target *t = E->c->target;
  Ins *ai = &E->f->ins.v[in->args[0]], *bi = &E->f->ins.v[in->args[1]];
  if (!t->has_simdgroup_matrix || E->c->opt == TM_OPT_NONE || in->ty.rank != 2 || ai->ty.dt != bi->ty.dt) return false;
  tm_dtype din = (tm_dtype)ai->ty.dt, dout = (tm_dtype)in->ty.dt;
  if (!(din == TM_F32 || din == TM_F16 || (din == TM_BF16 && t->has_bfloat))) return false;
  if (dout == TM_F32) p->dacc = TM_F32;
  else if (dout == TM_F16 && din == TM_F16) p->dacc = TM_F16;
  else return false;
  int M = ai->ty.shape[0], K = ai->ty.shape[1], N = bi->ty.shape[1];
  if (M % 8 || N % 8 || K % 8) return false;
  int bytes = tm_dtype_bytes(din), abytes = tm_dtype_bytes(p->dacc);
  p->kc = K; /* the largest power-of-two chunk of K whose operands fit in 16 KB */
  while (p->kc > 8 && (int64_t)(M + N) * p->kc * bytes > 16384) p->kc /= 2;
  if ((int64_t)(M + N) * p->kc * bytes > 16384) return false;
  p->rs = M; /* the result stripe: 8 KB, or 8 rows */
  while (p->rs > 8 && (int64_t)p->rs * N * abytes > 8192) p->rs /= 2;
  if ((int64_t)p->rs * N * abytes > 16384) return false;
  int tm = M / 8, tn = N / 8, w = E->f->num_warps;
  p->WM = p->WN = 1;
  while (p->WM * p->WN < w && (tm / p->WM > 1 || tn / p->WN > 1)) {
    if (tm / p->WM >= tn / p->WN) p->WM *= 2;
    else p->WN *= 2;
  }
  p->TM = tm / p->WM, p->TN = tn / p->WN;
  return true;
}

static void line(Emitter *E, int ind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void line(Emitter *E, int ind, const char *fmt, ...) {
  char tmp[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || n >= (int)sizeof tmp) internal_error(E->c, "emit", "tl.dot: an emitted line is too long");
  em_indent(&E->out, ind);
  buf_puts(&E->out, tmp);
}

/* tl.dot on simdgroup matrices (see the header). Names: tm_w the SIMD-group,
 * (tm_r, tm_c) its first output row and column, tm_acc its TM x TN tiles. */
static void emit_dot_simdgroup(Emitter *E, int id, const SgPlan *p, int ind) {
  Ins *in = &E->f->ins.v[id];
  Ins *ai = &E->f->ins.v[in->args[0]], *bi = &E->f->ins.v[in->args[1]];
  int M = ai->ty.shape[0], K = ai->ty.shape[1], N = bi->ty.shape[1], kc = p->kc, rs = p->rs;
  int TM = p->TM, TN = p->TN, active = p->WM * p->WN, nw = E->f->num_warps;
  tm_dtype din = (tm_dtype)ai->ty.dt;
  const char *smA = em_smem(E, din, M * kc + kc * N), *smC = em_smem(E, p->dacc, rs * N);
  Layout *R = in->layout;
  const char *T = em_tname(E, (tm_dtype)in->ty.dt), *TA = em_tname(E, p->dacc), *TI = em_tname(E, din);
  E->uses_tid = true;
  E->uses_barrier = true; /* simdgroup matrix operations are SIMD-group collectives */
  line(E, ind, "// tl.dot: simdgroup_matrix 8x8, %d tiles per SIMD-group (%dx%d; %d of %d SIMD-groups), K in chunks of %d\n",
       TM * TN, TM, TN, active, nw, kc);
  line(E, ind, "%s v%d[%d];\n", T, id, R->per_thread);
  line(E, ind, "{\n");
  ind++;
  line(E, ind, "uint tm_w = tm_tid / 32u, tm_r = tm_w / %du * %du, tm_c = tm_w %% %du * %du;\n", p->WN, TM * 8, p->WN, TN * 8);
  line(E, ind, "simdgroup_matrix<%s, 8, 8> tm_acc[%d];\n", TA, TM * TN);
  line(E, ind, "for (uint t = 0; t < %du; ++t) tm_acc[t] = make_filled_simdgroup_matrix<%s, 8, 8>(%s(0));\n", TM * TN, TA, TA);
  /* idle SIMD-groups (more than tiles) skip the matrix work, never a barrier */
  const char *busy = active < nw ? arena_printf(&E->c->arena, "if (tm_w < %du) ", active) : "";
  line(E, ind, "for (int k0 = 0; k0 < %d; k0 += %d) {\n", K, kc);
  stage_chunk(E, in->args[0], 1, kc, "k0", smA, 0, ind + 1);
  stage_chunk(E, in->args[1], 0, kc, "k0", smA, M * kc, ind + 1);
  em_barrier(E, ind + 1);
  line(E, ind + 1, "%sfor (uint kk = 0; kk < %du; kk += 8u) {\n", busy, kc);
  line(E, ind + 2, "simdgroup_matrix<%s, 8, 8> tm_a[%d], tm_b[%d];\n", TI, TM, TN);
  line(E, ind + 2, "for (uint i = 0; i < %du; ++i) simdgroup_load(tm_a[i], &%s[(tm_r + i * 8u) * %du + kk], %d);\n", TM, smA, kc, kc);
  line(E, ind + 2, "for (uint j = 0; j < %du; ++j) simdgroup_load(tm_b[j], &%s[%du + kk * %du + tm_c + j * 8u], %d);\n", TN, smA,
       M * kc, N, N);
  line(E, ind + 2, "for (uint i = 0; i < %du; ++i)\n", TM);
  line(E, ind + 3, "for (uint j = 0; j < %du; ++j) simdgroup_multiply_accumulate(tm_acc[i * %du + j], tm_a[i], tm_b[j], tm_acc[i * %du + j]);\n",
       TN, TN, TN);
  line(E, ind + 1, "}\n");
  em_barrier(E, ind + 1);
  line(E, ind, "}\n");
  /* the tiles, through the stripe, to the accumulator layout; + acc */
  int rind = ind;
  if (rs < M) {
    line(E, ind, "for (uint r0 = 0; r0 < %du; r0 += %du) {\n", M, rs);
    rind = ind + 1;
  }
  line(E, rind, "%sfor (uint i = 0; i < %du; ++i)\n", busy, TM);
  if (rs < M) line(E, rind + 1, "if (tm_r + i * 8u >= r0 && tm_r + i * 8u < r0 + %du)\n", rs);
  line(E, rind + 1 + (rs < M),
       "for (uint j = 0; j < %du; ++j) simdgroup_store(tm_acc[i * %du + j], &%s[(tm_r + i * 8u%s) * %du + tm_c + j * 8u], %d);\n",
       TN, TN, smC, rs < M ? " - r0" : "", N, N);
  em_barrier(E, rind);
  line(E, rind, "for (uint k = 0; k < %du; ++k) {\n", R->per_thread);
  em_coords(E, R, &E->out, rind + 1, false);
  E->group = R;
  const char *acc = em_ref(E, in->args[2]);
  E->group = NULL;
  if (rs < M)
    line(E, rind + 1, "if (uint(c%d) >= r0 && uint(c%d) < r0 + %du) v%d[k] = %s(%s(%s) + %s[(uint(c%d) - r0) * %du + c%d]);\n",
         R->dims[0], R->dims[0], rs, id, T, TA, acc, smC, R->dims[0], N, R->dims[1]);
  else
    line(E, rind + 1, "v%d[k] = %s(%s(%s) + %s[c%d * %d + c%d]);\n", id, T, TA, acc, smC, R->dims[0], N, R->dims[1]);
  line(E, rind, "}\n");
  em_barrier(E, rind);
  if (rs < M) line(E, ind, "}\n");
  ind--;
  line(E, ind, "}\n");
  E->in_array[id] = true;
}

/* tl.dot, the portable path: operands staged through threadgroup memory in
 * chunks of K, each thread accumulating its result elements with FMAs in the
 * accumulator's dtype (fp32 for float inputs, int32 for int8). */
void emit_dot(Emitter *E, int id, int ind) {
  Ins *in = &E->f->ins.v[id];
  SgPlan plan;
  if (sg_plan(E, in, &plan)) {
    emit_dot_simdgroup(E, id, &plan, ind);
    return;
  }
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
  stage_chunk(E, in->args[0], r - 1, kc, "k0", smA, 0, ind + 1);
  stage_chunk(E, in->args[1], r - 2, kc, "k0", smA, B * M * kc, ind + 1);
  const char *smB_name = arena_printf(a, "%s[%d + ", smA, B * M * kc);
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

