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
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "emit.h"

/* Whether a thread of layout A holds runs of consecutive elements along value
 * dim d of a rank-2 operand (slot stride 1): what a staged row along d can
 * take as one vector store. */
static bool runs_along(const Layout *A, int d) {
  return A->rank == 2 && !A->replicated && A->stride[A->dims[d]] == 1 && A->espt[A->dims[d]] >= 2;
}

/* How many elements of a staged row (along value dim `in`) a thread stores at
 * once: runs along it go as 4-, 8- or 16-byte words where every run start,
 * the pitch, the offset and the K chunk keep them aligned; else 1. */
static int stage_vec(const Layout *A, tm_dtype dt, int in, int kdim, int kc, int off, int pitch) {
  int bytes = tm_dtype_bytes(dt);
  if (bytes < 2 || bytes > 4 || !runs_along(A, in)) return 1;
  int e = A->espt[A->dims[in]], v = e;
  while (v * bytes > 16) v /= 2;
  int row = pitch ? pitch : kdim == in ? kc : A->shape[in]; /* elements from one staged row to the next */
  if (v * bytes < 4 || e % v || off % v || row % v || (kdim == in && kc % v)) return 1;
  return v;
}

/* Writes the elements of operand x (layout A) whose coordinate along value dim
 * kdim lies in [k0, k0 + kc) to sm from element off on, row-major with that dim
 * cut to kc (rows `pitch` elements apart); `tr` (rank 2): transposed, rows
 * along value dim 0. */
static void stage_chunk(Emitter *E, int x, int kdim, int kc, const char *k0, const char *sm, int off, int pitch, bool tr, int ind) {
  Ins *xi = &E->f->ins.v[x];
  Layout *A = xi->layout;
  tm_dtype dt = (tm_dtype)xi->ty.dt;
  int ord[TM_MAX_RANK]; /* value dims, outermost first */
  for (int i = 0; i < A->rank; i++) ord[i] = tr ? A->rank - 1 - i : i;
  int V = A->rank == 2 ? stage_vec(A, dt, ord[1], kdim, kc, off, pitch) : 1;
  em_line(E, ind, "TM_UNROLL\n");
  em_indent(&E->out, ind);
  if (V > 1) buf_printf(&E->out, "for (uint kv = 0; kv < %du; kv += %du) { // %d-element vectors\n", A->per_thread, V, V);
  else buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", A->per_thread);
  if (V > 1) em_line(E, ind + 1, "uint k = kv;\n");
  em_coords(E, A, &E->out, ind + 1, true);
  Layout *saved = E->group;
  E->group = A;
  const char *idx = "0";
  for (int j = 0; j < A->rank; j++) {
    int i = ord[j];
    const char *ci = i == kdim ? arena_printf(&E->c->arena, "(c%d - %s)", A->dims[i], k0) : arena_printf(&E->c->arena, "c%d", A->dims[i]);
    int len = i == kdim ? kc : A->shape[i]; /* a row of a rank-2 tile may be padded to `pitch` */
    if (pitch && A->rank == 2 && j == 1) len = pitch;
    idx = j ? arena_printf(&E->c->arena, "(%s) * %d + %s", idx, len, ci) : ci;
  }
  em_indent(&E->out, ind + 1);
  if (off) idx = arena_printf(&E->c->arena, "%d + %s", off, idx);
  if (E->roff) idx = arena_printf(&E->c->arena, "%s%s", E->roff, idx);
  const char *cond = arena_printf(&E->c->arena, "%sc%d >= %s && c%d < %s + %d", A->replicated ? "!dup && " : "", A->dims[kdim], k0,
                                  A->dims[kdim], k0, kc);
  if (V > 1) { /* the run's elements packed into 32-bit words (W to a word), one store */
    int bytes = tm_dtype_bytes(dt), W = 4 / bytes, words = V * bytes / 4;
    const char *TV = words == 1 ? "uint" : arena_printf(&E->c->arena, "uint%d", words);
    const char *TE = em_tname(E, dt);
    buf_printf(&E->out, "if (%s) {\n", cond);
    em_line(E, ind + 2, "%s t;\n", TV);
    const char *ref = em_ref(E, x);
    const char *tw = words == 1 ? "t" : "t[w]";
    if (W == 1) em_line(E, ind + 2, "for (uint w = 0; w < %du; ++w) { uint k = kv + w; %s = as_type<uint>(%s(%s)); }\n", words, tw, TE, ref);
    else
      em_line(E, ind + 2, "for (uint w = 0; w < %du; ++w) { %s%d e; for (uint j = 0; j < %du; ++j) { uint k = kv + w * %du + j; e[j] = %s; } %s = as_type<uint>(e); }\n",
              words, TE, W, W, W, ref, tw);
    em_line(E, ind + 2, "TM_TG_VSTORE(%s, %s, %s, t);\n", TV, sm, idx);
    em_line(E, ind + 1, "}\n");
  } else {
    buf_printf(&E->out, "if (%s) %s[%s] = %s;\n", cond, sm, idx, em_ref(E, x));
  }
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
  bool mm;        /* also a Metal 4 matmul2d variant (see the header) */
  bool bt;        /* B staged transposed, N x kc (rows along N): B's threads hold runs
                     along K (tl.trans(k) of a row-major k), which then go in as vectors and
                     its fragments are loaded transposed */
  bool pair;      /* tiles multiplied two along M at a time (target has_mma_16x8): 16x8 A
                     fragments and 8x8 B fragments loaded on their own */
  bool frag;      /* the result's layout is layout_frag's: SIMD-group w holds tile rows w,
                     w + WM, ... (rstep rows apart) across every column, and the result, a
                     carried accumulator, a row scale and an A operand of that family move
                     between the layout and the matrices in registers (TM_SGM_PULL/PUSH) */
  int rstep;      /* rows between a SIMD-group's consecutive tile rows */
  int pad;        /* elements after each staged row (16 bytes; 0 with matmul2d, whose
                     tensors are dense): rows that start in other banks, so a
                     simdgroup_load's 8 rows do not collide (MLX pads the same way) */
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
  int bytes = tm_dtype_bytes(din), abytes = tm_dtype_bytes(p->dacc), w = E->f->num_warps;
  p->frag = layout_is_frag(in->layout, w) && M % (8 * w) == 0;
  /* A's rows staged with B: none where A comes from registers or was loaded
   * into fragments before the loop (em_dot_hoist_a, which stages it in
   * chunks of its own) */
  int SM = (p->frag && layout_is_frag(ai->layout, w)) || E->sg_afrag[in - E->f->ins.v] ? 0 : M;
  p->kc = K; /* the largest power-of-two chunk of K whose staged operands fit in 16 KB */
  while (p->kc > 8 && (int64_t)(SM + N) * p->kc * bytes > 16384) p->kc /= 2;
  if ((int64_t)(SM + N) * p->kc * bytes > 16384) return false;
  p->rs = M; /* the result stripe: 8 KB, or 8 rows */
  while (p->rs > 8 && (int64_t)p->rs * N * abytes > 8192) p->rs /= 2;
  if ((int64_t)p->rs * N * abytes > 16384) return false;
  int tm = M / 8, tn = N / 8;
  p->WM = p->WN = 1;
  while (p->WM * p->WN < w && (tm / p->WM > 1 || tn / p->WN > 1)) {
    if (tm / p->WM >= tn / p->WN) p->WM *= 2;
    else p->WN *= 2;
  }
  if (p->frag) p->WM = w, p->WN = 1;
  p->TM = tm / p->WM, p->TN = tn / p->WN;
  p->rstep = p->frag ? 8 * p->WM : 8;
  /* matmul2d keeps the whole M x N destination's way to the blocked layout in
   * threadgroup memory (no stripes): where that and the staged operands fit */
  int64_t staged = (int64_t)(M + N) * p->kc * bytes, whole = (int64_t)M * N * abytes;
  p->mm = !p->frag && t->has_matmul2d && whole <= 16384 && (din == p->dacc ? (staged > whole ? staged : whole) : staged + whole) <= 24576;
  p->pad = p->mm ? 0 : 16 / bytes; /* at most (M + kc) * 16 bytes more than the 16 KB above */
  p->bt = !p->mm && runs_along(bi->layout, 0) && !runs_along(bi->layout, 1);
  /* pairs: 16-bit inputs into float, an even number of tile rows, and staged
   * rows whose starts are 16-byte aligned (a fragment load reads a row's 8
   * elements at once) */
  p->pair = t->has_mma_16x8 && !p->mm && bytes == 2 && p->dacc == TM_F32 && p->TM % 2 == 0 && p->kc % 16 == 0 &&
            (p->kc + p->pad) * bytes % 16 == 0 && ((p->bt ? p->kc : N) + p->pad) * bytes % 16 == 0;
  return true;
}


/* The staged operands' elements (A's M rows of kc + pad, then B's kc rows of
 * N + pad, or N rows of kc + pad when transposed), for dot `in`; B's alone
 * when A is not staged. */
static int sg_staged(Emitter *E, const Ins *in, const SgPlan *p, bool stage_a) {
  const Ins *ai = &E->f->ins.v[in->args[0]], *bi = &E->f->ins.v[in->args[1]];
  int M = ai->ty.shape[0], N = bi->ty.shape[1], kcp = p->kc + p->pad;
  return (stage_a ? M * kcp : 0) + (p->bt ? N * kcp : p->kc * (N + p->pad));
}

/* Their threadgroup array, the operands from element `base` of it (A's, then
 * B's from *boff) and `extra` elements after them. */
static const char *sg_staging(Emitter *E, const Ins *in, const SgPlan *p, bool stage_a, int base, int extra, int *boff) {
  const Ins *ai = &E->f->ins.v[in->args[0]];
  *boff = base + (stage_a ? ai->ty.shape[0] * (p->kc + p->pad) : 0);
  return em_smem_at(E, (tm_dtype)ai->ty.dt, base, sg_staged(E, in, p, stage_a) + extra);
}

/* The SIMD-group's place in the tiling: tm_w, its first output row tm_r and column tm_c. */
static void sg_place(Emitter *E, const SgPlan *p, int ind) {
  if (p->frag) em_line(E, ind, "uint tm_w = tm_tid / 32u, tm_r = tm_w * 8u, tm_c = 0u;\n");
  else em_line(E, ind, "uint tm_w = tm_tid / 32u, tm_r = tm_w / %du * %du, tm_c = tm_w %% %du * %du;\n", p->WN, p->TM * 8, p->WN, p->TN * 8);
}

/* The first row of the SIMD-group's tile row i (an expression). */
static const char *tile_row(Emitter *E, const SgPlan *p, const char *i) {
  return arena_printf(&E->c->arena, "tm_r + %s * %du", i, p->rstep);
}

/* The call loading the SIMD-group's A fragments of tile rows 2i and 2i + 1
 * (pairs: columns kk to kk + 15) or i (columns kk to kk + 7) of the staged
 * chunk smA (rows of kcp) into dst. */
static const char *load_a(Emitter *E, const SgPlan *p, const char *dst, const char *smA, int base, int kcp) {
  Arena *a = &E->c->arena;
  const char *b = arena_printf(a, "%s%s", E->roff ? E->roff : "", base ? arena_printf(a, "%du + ", base) : "");
  if (!p->pair) return arena_printf(a, "simdgroup_load(%s, %s + (%s(%s) * %du + kk), %d)", dst, smA, b, tile_row(E, p, "i"), kcp, kcp);
  if (p->rstep == 8) return arena_printf(a, "tm_mma_load_a16(%s, %s + (%s(tm_r + i * 16u) * %du + kk), %d)", dst, smA, b, kcp, kcp);
  return arena_printf(a, "tm_mma_load_a16r(%s, %s + (%s(%s) * %du + kk), %s + (%s(%s) * %du + kk), %d)", dst, smA, b,
                      tile_row(E, p, "2u * i"), kcp, smA, b, tile_row(E, p, "(2u * i + 1u)"), kcp, kcp);
}

/* ---- layout_frag values and the matrices, in registers ----
 *
 * Slot (i * TN + j) * 2 + e of a value in layout_frag is element e of the
 * SIMD-group's tile (i, j) (TN tiles along its columns). */

/* The lane permutations between the matrices and layout_frag move a lane's
 * elements of two tiles at once, as one 4-vector (the same source lane for
 * each: TM_SGM_PULL/PUSH depend on the lane alone), or of one tile, as its
 * 2-vector, when the count of tiles is odd: a quarter or a half of the
 * shuffles one per element took (the emulator meets once per shuffle). Metal
 * has no shuffle of bfloat: accumulators are float or half. */
static int frag_per_shuffle(const SgPlan *p) { return p->TM * p->TN % 2 == 0 ? 4 : 2; }

/* The tiles `acc` to layout R (layout_frag): dst = T(TA(addend) + element),
 * or T(element) when addend < 0 (dst names slot k). */
static void frag_to_layout(Emitter *E, const SgPlan *p, const char *acc, Layout *R, const char *dst, int addend, tm_dtype dt, int ind) {
  const char *T = em_tname(E, dt), *TA = em_tname(E, p->dacc);
  int n = frag_per_shuffle(p);
  em_line(E, ind, "for (uint t = 0; t < %du; t += %du) {\n", p->TM * p->TN, n / 2);
  if (n == 4)
    em_line(E, ind + 1,
            "%s4 tm_q = TM_SGM_PULL(%s4(%s[t].thread_elements()[0], %s[t].thread_elements()[1], "
            "%s[t + 1u].thread_elements()[0], %s[t + 1u].thread_elements()[1]), tm_tid %% 32u);\n",
            TA, TA, acc, acc, acc, acc);
  else
    em_line(E, ind + 1,
            "%s2 tm_q = TM_SGM_PULL(%s2(%s[t].thread_elements()[0], %s[t].thread_elements()[1]), tm_tid %% 32u);\n",
            TA, TA, acc, acc);
  em_line(E, ind + 1, "for (uint e = 0; e < %du; ++e) {\n", n);
  em_line(E, ind + 2, "uint k = t * 2u + e;\n");
  const char *val = arena_printf(&E->c->arena, "%s(tm_q[e])", T);
  if (addend >= 0) {
    E->group = R;
    val = arena_printf(&E->c->arena, "%s(%s(%s) + tm_q[e])", T, TA, em_ref(E, addend));
    E->group = NULL;
  }
  em_line(E, ind + 2, "%s = %s;\n", dst, val);
  em_line(E, ind + 1, "}\n");
  em_line(E, ind, "}\n");
}

/* The reverse: value x (layout_frag) into the tiles `acc`. */
static void layout_to_frag(Emitter *E, const SgPlan *p, int x, const char *acc, int ind) {
  const char *TA = em_tname(E, p->dacc);
  int n = frag_per_shuffle(p);
  em_line(E, ind, "for (uint t = 0; t < %du; t += %du) {\n", p->TM * p->TN, n / 2);
  em_line(E, ind + 1, "%s%d tm_q;\n", TA, n);
  em_line(E, ind + 1, "for (uint e = 0; e < %du; ++e) {\n", n);
  em_line(E, ind + 2, "uint k = t * 2u + e;\n");
  E->group = E->f->ins.v[x].layout;
  const char *v = em_ref(E, x);
  E->group = NULL;
  em_line(E, ind + 2, "tm_q[e] = %s(%s);\n", TA, v);
  em_line(E, ind + 1, "}\n");
  em_line(E, ind + 1, "tm_q = TM_SGM_PUSH(tm_q, tm_tid %% 32u);\n");
  em_line(E, ind + 1, "for (uint e = 0; e < %du; ++e) %s[t + e / 2u].thread_elements()[e %% 2u] = tm_q[e];\n", n, acc);
  em_line(E, ind, "}\n");
}

/* Whether A (operand 0 of the dot) can be taken from registers: in
 * layout_frag, whose tile rows are the result's. */
static bool a_in_frag(Emitter *E, const Ins *in, const SgPlan *p) {
  const Ins *ai = &E->f->ins.v[in->args[0]];
  return p->frag && layout_is_frag(ai->layout, E->f->num_warps);
}

/* The SIMD-group's A fragments of step kk of chunk k0 from A's registers
 * (layout_frag: slot (i * K / 8 + column tile) * 2 + e). */
static void frag_a(Emitter *E, const Ins *in, const SgPlan *p, int ind) {
  const Ins *ai = &E->f->ins.v[in->args[0]];
  int KT = ai->ty.shape[1] / 8;
  const char *TI = em_tname(E, (tm_dtype)ai->ty.dt);
  E->group = ai->layout;
  const char *v = em_ref(E, in->args[0]);
  E->group = NULL;
  if (p->pair) { /* tiles (2i, kt), (2i + 1, kt), (2i, kt + 1), (2i + 1, kt + 1), kt = (k0 + kk) / 8 */
    em_line(E, ind, "tm_mma_a16<%s> tm_a[%d];\n", TI, p->TM / 2);
    em_line(E, ind, "for (uint i = 0; i < %du; ++i) {\n", p->TM / 2);
    em_line(E, ind + 1, "%s tm_x[8];\n", TI);
    em_line(E, ind + 1, "for (uint h = 0; h < 4u; ++h)\n");
    em_line(E, ind + 2, "for (uint e = 0; e < 2u; ++e) {\n");
    em_line(E, ind + 3, "uint k = ((2u * i + h %% 2u) * %du + (uint(k0) + kk) / 8u + h / 2u) * 2u + e;\n", KT);
    em_line(E, ind + 3, "tm_x[h * 2u + e] = %s;\n", v);
    em_line(E, ind + 2, "}\n");
    em_line(E, ind + 1, "tm_mma_set_a16(tm_a[i], tm_x);\n");
    em_line(E, ind, "}\n");
    return;
  }
  /* two tiles' elements a shuffle (frag_per_shuffle); Metal has no simd_shuffle
   * of bfloat: through float, exactly */
  const char *TS = ai->ty.dt == TM_BF16 ? "float" : TI;
  int n = p->TM % 2 == 0 ? 4 : 2;
  em_line(E, ind, "simdgroup_matrix<%s, 8, 8> tm_a[%d];\n", TI, p->TM);
  em_line(E, ind, "for (uint i = 0; i < %du; i += %du) {\n", p->TM, n / 2);
  em_line(E, ind + 1, "%s%d tm_q;\n", TS, n);
  em_line(E, ind + 1, "for (uint e = 0; e < %du; ++e) {\n", n);
  em_line(E, ind + 2, "uint k = ((i + e / 2u) * %du + (uint(k0) + kk) / 8u) * 2u + e %% 2u;\n", KT);
  em_line(E, ind + 2, "tm_q[e] = %s(%s);\n", TS, v);
  em_line(E, ind + 1, "}\n");
  em_line(E, ind + 1, "tm_q = TM_SGM_PUSH(tm_q, tm_tid %% 32u);\n");
  em_line(E, ind + 1, "for (uint e = 0; e < %du; ++e) tm_a[i + e / 2u].thread_elements()[e %% 2u] = %s(tm_q[e]);\n", n, TI);
  em_line(E, ind, "}\n");
}

/* Idle SIMD-groups (more of them than tiles) skip the matrix work, never a barrier. */
static const char *sg_busy(Emitter *E, const SgPlan *p) {
  return p->WM * p->WN < E->f->num_warps ? arena_printf(&E->c->arena, "if (tm_w < %du) ", p->WM * p->WN) : "";
}

/* Opens the loop over result stripes of rs rows (none when one stripe holds all M). */
static int stripes_open(Emitter *E, const SgPlan *p, int M, int ind) {
  if (p->rs == M) return ind;
  em_line(E, ind, "for (uint r0 = 0; r0 < %du; r0 += %du) {\n", M, p->rs);
  return ind + 1;
}

static void stripes_close(Emitter *E, const SgPlan *p, int M, int ind) {
  if (p->rs < M) em_line(E, ind, "}\n");
}

/* Slot k of each thread of layout R from the row-major M x N result in smC
 * (rows [r0, r0 + rs) of it when rs < M): dst = T(TA(addend) + element), or
 * T(element) when addend < 0; then a barrier. */
static void stripe_to_layout(Emitter *E, tm_dtype dacc, int rs, int M, int N, const char *smC, Layout *R, const char *dst,
                             int addend, tm_dtype dt, int ind) {
  const char *T = em_tname(E, dt), *TA = em_tname(E, dacc);
  em_line(E, ind, "for (uint k = 0; k < %du; ++k) {\n", R->per_thread);
  em_coords(E, R, &E->out, ind + 1, false);
  const char *el = rs < M ? arena_printf(&E->c->arena, "%s[(uint(c%d) - r0) * %du + c%d]", smC, R->dims[0], N, R->dims[1])
                          : arena_printf(&E->c->arena, "%s[c%d * %d + c%d]", smC, R->dims[0], N, R->dims[1]);
  const char *val = arena_printf(&E->c->arena, "%s(%s)", T, el);
  if (addend >= 0) {
    E->group = R;
    val = arena_printf(&E->c->arena, "%s(%s(%s) + %s)", T, TA, em_ref(E, addend), el);
    E->group = NULL;
  }
  if (rs < M) em_line(E, ind + 1, "if (uint(c%d) >= r0 && uint(c%d) < r0 + %du) %s = %s;\n", R->dims[0], R->dims[0], rs, dst, val);
  else em_line(E, ind + 1, "%s = %s;\n", dst, val);
  em_line(E, ind, "}\n");
  em_barrier(E, ind);
}

/* The reverse: value x (M x N, in its own layout) to the row-major result in
 * smC (rows [r0, r0 + rs) when rs < M), as TA; then a barrier. */
static void layout_to_stripe(Emitter *E, tm_dtype dacc, int rs, int M, int N, int x, const char *smC, int ind) {
  Layout *L = E->f->ins.v[x].layout;
  const char *TA = em_tname(E, dacc);
  em_line(E, ind, "for (uint k = 0; k < %du; ++k) {\n", L->per_thread);
  em_coords(E, L, &E->out, ind + 1, true);
  E->group = L;
  const char *v = em_ref(E, x);
  E->group = NULL;
  const char *cond = L->replicated ? "!dup && " : "";
  if (rs < M)
    em_line(E, ind + 1, "if (%suint(c%d) >= r0 && uint(c%d) < r0 + %du) %s[(uint(c%d) - r0) * %du + c%d] = %s(%s);\n", cond,
         L->dims[0], L->dims[0], rs, smC, L->dims[0], N, L->dims[1], TA, v);
  else if (*cond) em_line(E, ind + 1, "if (!dup) %s[c%d * %d + c%d] = %s(%s);\n", smC, L->dims[0], N, L->dims[1], TA, v);
  else em_line(E, ind + 1, "%s[c%d * %d + c%d] = %s(%s);\n", smC, L->dims[0], N, L->dims[1], TA, v);
  em_line(E, ind, "}\n");
  em_barrier(E, ind);
}

/* Each SIMD-group's tiles of the stripe (rows [r0, r0 + rs) when rs < M) and
 * the stripe in smC: op is simdgroup_store (tiles to memory) or
 * simdgroup_load (back); then a barrier. */
static void tiles_stripe(Emitter *E, const SgPlan *p, int M, int N, const char *op, const char *acc, const char *smC, int ind) {
  int rs = p->rs;
  em_line(E, ind, "%sfor (uint i = 0; i < %du; ++i)\n", sg_busy(E, p), p->TM);
  const char *row = tile_row(E, p, "i");
  if (rs < M) em_line(E, ind + 1, "if (%s >= r0 && %s < r0 + %du)\n", row, row, rs);
  em_line(E, ind + 1 + (rs < M), "for (uint j = 0; j < %du; ++j) %s(%s[i * %du + j], %s + ((%s%s) * %du + tm_c + j * 8u), %d);\n",
       p->TN, op, acc, p->TN, smC, row, rs < M ? " - r0" : "", N, N);
  em_barrier(E, ind);
}

/* The SIMD-groups' tiles `acc` (M x N) to layout R through the stripe smC
 * (see stripe_to_layout). Two barriers per stripe. */
static void tiles_to_layout(Emitter *E, const SgPlan *p, int M, int N, const char *acc, const char *smC, Layout *R,
                            const char *dst, int addend, tm_dtype dt, int ind) {
  int rind = stripes_open(E, p, M, ind);
  tiles_stripe(E, p, M, N, "simdgroup_store", acc, smC, rind);
  stripe_to_layout(E, p->dacc, p->rs, M, N, smC, R, dst, addend, dt, rind);
  stripes_close(E, p, M, ind);
}

/* The reverse: value x (M x N, in its own layout) into the tiles `acc`. */
static void layout_to_tiles(Emitter *E, const SgPlan *p, int M, int N, int x, const char *acc, const char *smC, int ind) {
  int rind = stripes_open(E, p, M, ind);
  layout_to_stripe(E, p->dacc, p->rs, M, N, x, smC, rind);
  tiles_stripe(E, p, M, N, "simdgroup_load", acc, smC, rind);
  stripes_close(E, p, M, ind);
}

/* ---- the matmul2d variant ----
 *
 * On targets with Metal 4 tensor ops the dot is emitted twice, chosen by the
 * preprocessor: TM_TENSOR_OPS (MSL 4.0, and no TM_NO_TENSOR_OPS, which the
 * runtime defines to recompile when the Metal compiler rejects the tensor
 * code) selects a Metal Performance Primitives matmul2d over the same staged
 * operands, run by all SIMD-groups with the accumulator in a cooperative
 * tensor; otherwise the simdgroup_matrix code. The cooperative tensor's
 * element layout is the implementation's: it reaches the blocked layout
 * through threadgroup memory (store / load of a tensor over it). */

static const char *tg_tensor(Emitter *E, tm_dtype dt, const char *data, int x, int y) {
  return arena_printf(&E->c->arena, "metal::tensor<TM_TG(%s), metal::dextents<int, 2>, metal::tensor_inline>(%s, metal::dextents<int, 2>(%d, %d))",
                      em_tname(E, dt), data, x, y);
}

/* Declares dot `id`'s matmul2d op tm_op<id> and its operand tensors tm_ta<id>,
 * tm_tb<id> over the staged chunk, and the cooperative destination `acc`. */
static void mm_declare(Emitter *E, int id, const SgPlan *p, const char *acc, int ind) {
  Ins *in = &E->f->ins.v[id];
  Ins *ai = &E->f->ins.v[in->args[0]], *bi = &E->f->ins.v[in->args[1]];
  int M = ai->ty.shape[0], N = bi->ty.shape[1], kc = p->kc;
  tm_dtype din = (tm_dtype)ai->ty.dt;
  const char *smA = em_smem(E, din, M * kc + kc * N);
  E->tensor_ops = true;
  em_line(E, ind, "constexpr auto tm_desc%d = mpp::tensor_ops::matmul2d_descriptor(%d, %d, %d, false, false, false, "
       "mpp::tensor_ops::matmul2d_descriptor::mode::multiply_accumulate);\n", id, M, N, kc);
  em_line(E, ind, "mpp::tensor_ops::matmul2d<tm_desc%d, metal::execution_simdgroups<%d>> tm_op%d;\n", id, E->f->num_warps, id);
  em_line(E, ind, "auto tm_ta%d = %s;\n", id, tg_tensor(E, din, smA, kc, M));
  em_line(E, ind, "auto tm_tb%d = %s;\n", id, tg_tensor(E, din, arena_printf(&E->c->arena, "%s + %d", smA, M * kc), N, kc));
  em_line(E, ind, "auto %s = tm_op%d.get_destination_cooperative_tensor<decltype(tm_ta%d), decltype(tm_tb%d), %s>();\n", acc, id, id,
       id, em_tname(E, p->dacc));
}

/* Fills the cooperative tensor `acc` of dot `id` with value x (a splat, or
 * any M x N value through threadgroup memory). */
static void mm_fill(Emitter *E, int id, const SgPlan *p, const char *acc, int x, int ind) {
  Ins *in = &E->f->ins.v[id];
  int M = in->ty.shape[0], N = in->ty.shape[1];
  const char *TA = em_tname(E, p->dacc);
  Ins *xi = &E->f->ins.v[x];
  if (xi->op == O_SPLAT) {
    E->group = NULL;
    /* every element up to the capacity, as MLX does: get_mask() is not a
     * member Apple's compiler accepts (reported on an M5 Max, macOS 26.5) */
    em_line(E, ind, "for (ushort i = 0; i < %s.get_capacity(); ++i) %s[i] = %s(%s);\n", acc, acc, TA, em_ref(E, x));
    return;
  }
  const char *smC = em_smem(E, p->dacc, M * N);
  layout_to_stripe(E, p->dacc, M, M, N, x, smC, ind);
  em_line(E, ind, "{\n");
  em_line(E, ind + 1, "auto tm_tc = %s;\n", tg_tensor(E, p->dacc, smC, N, M));
  em_line(E, ind + 1, "%s.load(tm_tc);\n", acc);
  em_line(E, ind, "}\n");
  em_barrier(E, ind);
}

/* The cooperative tensor `acc` of dot `id` to layout R (see stripe_to_layout). */
static void mm_to_layout(Emitter *E, int id, const SgPlan *p, const char *acc, Layout *R, const char *dst, int addend, int ind) {
  Ins *in = &E->f->ins.v[id];
  int M = in->ty.shape[0], N = in->ty.shape[1];
  const char *smC = em_smem(E, p->dacc, M * N);
  em_line(E, ind, "{\n");
  em_line(E, ind + 1, "auto tm_tc = %s;\n", tg_tensor(E, p->dacc, smC, N, M));
  em_line(E, ind + 1, "%s.store(tm_tc);\n", acc);
  em_line(E, ind, "}\n");
  em_barrier(E, ind);
  stripe_to_layout(E, p->dacc, M, M, N, smC, R, dst, addend, (tm_dtype)in->ty.dt, ind);
}

static void pp(Emitter *E, const char *directive) { buf_printf(&E->out, "%s\n", directive); }

/* The row scale r of a carried dot's acc * r[:, None] where each lane holds
 * its tile rows' r in registers (r in layout_frag's family, one slot per
 * tile row): r's id, else -1. */
static int rreg_of(Emitter *E, const Ins *in, const SgPlan *p) {
  int id = (int)(in - E->f->ins.v);
  if (!E->sg_scale[id] || !p->frag) return -1;
  Layout *L = E->f->ins.v[E->sg_scale[id] - 1].layout;
  if (!layout_same_family(L, in->layout) || L->rank != 2 || L->dims[0] != 0 || L->dims[1] != 1 || L->per_thread != p->TM) return -1;
  return E->sg_scale[id] - 1;
}

/* tl.dot on simdgroup matrices (see the header). Names: tm_w the SIMD-group,
 * (tm_r, tm_c) its first output row and column, tm_acc its TM x TN tiles (or
 * the loop's carried matrices, E->sg_acc); with the matmul2d variant, tm_acc
 * is its cooperative tensor. */
static void emit_dot_simdgroup(Emitter *E, int id, const SgPlan *p, int ind) {
  Ins *in = &E->f->ins.v[id];
  Ins *ai = &E->f->ins.v[in->args[0]], *bi = &E->f->ins.v[in->args[1]];
  int M = ai->ty.shape[0], K = ai->ty.shape[1], N = bi->ty.shape[1], kc = p->kc;
  int TM = p->TM, TN = p->TN, active = p->WM * p->WN, nw = E->f->num_warps;
  tm_dtype din = (tm_dtype)ai->ty.dt;
  int kcp = kc + p->pad, Np = N + p->pad; /* the staged rows' pitches (B's: kcp when transposed) */
  const char *qa = E->sg_afrag[id]; /* A's fragments, loaded before the loop (em_dot_hoist_a) */
  bool areg = !qa && a_in_frag(E, in, p); /* or from A's registers */
  /* one K chunk, no matmul2d and no row scale through another dtype's
   * array: the closing barrier is held back (em_hold_dot_barrier), and where
   * another dot's is held, this one stages after that one's elements, so
   * neither waits for the other (flash attention's two dots) */
  const char *carried = E->sg_acc ? E->sg_acc[id] : NULL, *acc = carried ? carried : "tm_acc";
  int rreg = carried ? rreg_of(E, in, p) : -1; /* the row scale's r in registers (layout_frag's rows) */
  bool rstaged = carried && E->sg_scale[id] && rreg < 0; /* or its rows staged, below */
  bool hold = kc == K && !p->mm && !(rstaged && p->dacc != din);
  int extra = rstaged && p->dacc == din ? M : 0; /* r's rows after the operands */
  /* the loop's only dot (em_dot_pingpong): two regions by turns, the turn's
   * at a runtime offset (E->roff) */
  bool turns = E->turn_dot == id && hold && !extra && E->first_kind == 0;
  if (E->turn_dot == id && !turns) em_line(E, ind, "(void)tm_turn%d;\n", E->turn_op);
  int base = hold && !turns ? em_smem_free_at(E, din, sg_staged(E, in, p, !qa && !areg) + extra) : 0;
  int boff; /* where B's staged chunk starts */
  const char *smA = sg_staging(E, in, p, !qa && !areg, base, turns ? 2 * E->turn_n - sg_staged(E, in, p, !qa && !areg) : extra, &boff);
  if (turns) E->roff = arena_printf(&E->c->arena, "(tm_turn%d & 1u) * %du + ", E->turn_op, E->turn_n);
  const char *T = em_tname(E, (tm_dtype)in->ty.dt), *TA = em_tname(E, p->dacc), *TI = em_tname(E, din);
  in->path = (carried ? DOT_SIMDGROUP_CARRIED : DOT_SIMDGROUP) | (p->mm ? DOT_MATMUL2D : 0);
  Arena *ar = &E->c->arena;
  const char *ops = qa ? arena_printf(ar, "A's fragments loaded once, before the loop; B %dx%d staged row-major in threadgroup memory%s",
                                      kc, N, p->bt ? " (B transposed, as its threads hold it)" : "")
                    : areg ? arena_printf(ar, "A %dx%d from its registers (the matrices' layout), B %dx%d staged row-major in threadgroup memory%s",
                                        M, K, kc, N, p->bt ? " (B transposed, as its threads hold it)" : "")
                         : arena_printf(ar, "A %dx%d and B %dx%d staged row-major in threadgroup memory%s", M, kc, kc, N,
                                        p->bt ? " (B transposed, as its threads hold it)" : "");
  const char *to = p->frag ? "the matrices' layout in registers" : "the blocked layout";
  in->note = arena_printf(ar, "%s, K in chunks of %d; accumulator tiles: %dx%d of 8x8 per SIMD-group on a %dx%d grid of SIMD-groups (%d of %d)%s; %s",
                          ops, kc, TM, TN, p->WM, p->WN, active, nw,
                          p->frag ? arena_printf(ar, ", its tile rows %d apart", p->rstep) : "",
                          carried && E->sg_scale[id]
                              ? arena_printf(ar, "the carried matrices' rows scaled in place by r (acc * r[:, None]%s); to %s once, after the loop",
                                             rreg >= 0 ? ", r from registers" : "", to)
                          : carried ? arena_printf(ar, "to %s once, after the loop", to)
                                    : p->frag ? arena_printf(ar, "to %s, where acc is added", to)
                                              : "to the blocked layout through threadgroup memory, where acc is added");
  if (turns) in->note = arena_printf(ar, "%s; staged in two regions by turns (one barrier a turn)", in->note);
  else if (base) in->note = arena_printf(ar, "%s; staged after the previous dot's operands, without waiting for their readers", in->note);
  E->uses_tid = true;
  E->uses_barrier = true; /* simdgroup matrix operations are SIMD-group collectives */
  em_line(E, ind, "// tl.dot: %ssimdgroup_matrix 8x8, %d tiles per SIMD-group (%dx%d; %d of %d SIMD-groups), K in chunks of %d%s\n",
       p->mm ? "matmul2d (Metal 4 tensor ops) or " : "", TM * TN, TM, TN, active, nw, kc,
       carried ? ", accumulating into the loop's matrices" : "");
  if (!carried) em_line(E, ind, "%s v%d[%d];\n", T, id, in->layout->per_thread);
  em_line(E, ind, "{\n");
  ind++;
  sg_place(E, p, ind);
  if (!carried) {
    if (p->mm) {
      pp(E, "#if TM_TENSOR_OPS");
      mm_declare(E, id, p, "tm_acc", ind);
      em_line(E, ind, "for (ushort i = 0; i < tm_acc.get_capacity(); ++i) tm_acc[i] = %s(0);\n", TA);
      pp(E, "#else");
    }
    em_line(E, ind, "simdgroup_matrix<%s, 8, 8> tm_acc[%d];\n", TA, TM * TN);
    em_line(E, ind, "for (uint t = 0; t < %du; ++t) tm_acc[t] = make_filled_simdgroup_matrix<%s, 8, 8>(%s(0));\n", TM * TN, TA, TA);
    if (p->mm) pp(E, "#endif");
  }
  const char *rsm = NULL; /* acc * r[:, None] (row_scaled): r's M rows in threadgroup memory */
  if (rstaged) {
    int r = E->sg_scale[id] - 1;
    Layout *L = E->f->ins.v[r].layout;
    if (p->dacc == din) { /* one array with the staged operands: after them */
      int staged = boff + (p->bt ? N * kcp : kc * Np);
      rsm = arena_printf(&E->c->arena, "(%s + %d)", smA, staged);
    } else {
      rsm = em_smem(E, p->dacc, M);
    }
    em_line(E, ind, "// the carried matrices times r[:, None]: r's rows to threadgroup memory; each lane scales its elements by their row's\n");
    em_line(E, ind, "for (uint k = 0; k < %du; ++k) {\n", L->per_thread);
    em_coords(E, L, &E->out, ind + 1, true);
    E->group = L;
    const char *rv = em_ref(E, r);
    E->group = NULL;
    em_line(E, ind + 1, "%s%s[c%d] = %s;\n", L->replicated ? "if (!dup) " : "", rsm, L->dims[0], rv);
    em_line(E, ind, "}\n");
  }
  em_line(E, ind, "for (int k0 = 0; k0 < %d; k0 += %d) {\n", K, kc);
  if (!qa && !areg) stage_chunk(E, in->args[0], 1, kc, "k0", smA, base, kcp, false, ind + 1);
  stage_chunk(E, in->args[1], 0, kc, "k0", smA, boff, p->bt ? kcp : Np, p->bt, ind + 1);
  /* where B's 8x8 tile j of step kk starts, and its pitch */
  const char *bat = p->bt ? arena_printf(&E->c->arena, "%s%du + (tm_c + j * 8u) * %du + kk", E->roff ? E->roff : "", boff, kcp)
                          : arena_printf(&E->c->arena, "%s%du + kk * %du + tm_c + j * 8u", E->roff ? E->roff : "", boff, Np);
  int bpitch = p->bt ? kcp : Np;
  em_barrier(E, ind + 1);
  if (rsm) { /* before the first chunk's products: (acc * r[:, None]) + a @ b */
    em_line(E, ind + 1, "if (k0 == 0) %sfor (uint i = 0; i < %du; ++i) {\n", sg_busy(E, p), TM);
    em_line(E, ind + 2, "%s tm_f = %s[%s + TM_SGM_ROW(tm_tid %% 32u)];\n", TA, rsm, tile_row(E, p, "i"));
    em_line(E, ind + 2, "for (uint j = 0; j < %du; ++j) {\n", TN);
    em_line(E, ind + 3, "%s[i * %du + j].thread_elements()[0] *= tm_f;\n", acc, TN);
    em_line(E, ind + 3, "%s[i * %du + j].thread_elements()[1] *= tm_f;\n", acc, TN);
    em_line(E, ind + 2, "}\n");
    em_line(E, ind + 1, "}\n");
  }
  if (rreg >= 0) { /* before the first chunk's products, each lane its rows' r from the layout's lanes */
    Layout *L = E->f->ins.v[rreg].layout;
    em_line(E, ind + 1, "if (k0 == 0) for (uint i = 0; i < %du; ++i) {\n", TM);
    em_line(E, ind + 2, "uint k = i;\n");
    E->group = L;
    const char *rv = em_ref(E, rreg);
    E->group = NULL;
    em_line(E, ind + 2, "%s tm_f = TM_SGM_PUSH(%s(%s), tm_tid %% 32u);\n", TA, TA, rv);
    em_line(E, ind + 2, "for (uint j = 0; j < %du; ++j) {\n", TN);
    em_line(E, ind + 3, "%s[i * %du + j].thread_elements()[0] *= tm_f;\n", acc, TN);
    em_line(E, ind + 3, "%s[i * %du + j].thread_elements()[1] *= tm_f;\n", acc, TN);
    em_line(E, ind + 2, "}\n");
    em_line(E, ind + 1, "}\n");
  }
  if (p->mm) {
    pp(E, "#if TM_TENSOR_OPS");
    em_line(E, ind + 1, "tm_op%d.run(tm_ta%d, tm_tb%d, %s);\n", id, id, id, acc);
    pp(E, "#else");
  }
  em_line(E, ind + 1, "%sfor (uint kk = 0; kk < %du; kk += %du) {\n", sg_busy(E, p), kc, p->pair ? 16 : 8);
  if (p->pair) { /* A as 16x16 fragments (tile rows 2i and 2i + 1), B as 16x8 ones */
    if (areg) {
      frag_a(E, in, p, ind + 2);
    } else if (!qa) {
      em_line(E, ind + 2, "tm_mma_a16<%s> tm_a[%d];\n", TI, TM / 2);
      em_line(E, ind + 2, "for (uint i = 0; i < %du; ++i) %s;\n", TM / 2, load_a(E, p, "tm_a[i]", smA, base, kcp));
    }
    em_line(E, ind + 2, "tm_mma_b16<%s> tm_b[%d];\n", TI, TN);
    em_line(E, ind + 2, "for (uint j = 0; j < %du; ++j) tm_mma_load_b16%s(tm_b[j], %s + (%s), %d);\n", TN, p->bt ? "t" : "", smA, bat,
            bpitch);
    em_line(E, ind + 2, "for (uint i = 0; i < %du; ++i)\n", TM / 2);
    em_line(E, ind + 3, "for (uint j = 0; j < %du; ++j) tm_mma_16x8(%s[2u * i * %du + j], %s[(2u * i + 1u) * %du + j], %s, tm_b[j]);\n",
            TN, acc, TN, acc, TN, qa ? arena_printf(&E->c->arena, "%s[(uint(k0) + kk) / 16u][i]", qa) : "tm_a[i]");
  } else {
    if (areg) {
      frag_a(E, in, p, ind + 2);
    } else if (!qa) {
      em_line(E, ind + 2, "simdgroup_matrix<%s, 8, 8> tm_a[%d];\n", TI, TM);
      em_line(E, ind + 2, "for (uint i = 0; i < %du; ++i) %s;\n", TM, load_a(E, p, "tm_a[i]", smA, base, kcp));
    }
    em_line(E, ind + 2, "simdgroup_matrix<%s, 8, 8> tm_b[%d];\n", TI, TN);
    em_line(E, ind + 2, "for (uint j = 0; j < %du; ++j) simdgroup_load(tm_b[j], %s + (%s), %d%s);\n", TN, smA, bat, bpitch,
            p->bt ? ", ulong2(0, 0), true" : "");
    em_line(E, ind + 2, "tm_sgm_mac<%du, %du>(%s, %s, tm_b);\n", TM, TN, acc,
            qa ? arena_printf(&E->c->arena, "%s[(uint(k0) + kk) / 8u]", qa) : "tm_a");
    E->uses_sgm_mac = true;
  }
  em_line(E, ind + 1, "}\n");
  if (p->mm) pp(E, "#endif");
  if (!hold) em_barrier(E, ind + 1);
  em_line(E, ind, "}\n");
  if (hold) em_hold_dot_barrier(E, ind, din, base, turns ? 2 * E->turn_n : boff + (p->bt ? N * kcp : kc * Np) + extra);
  E->roff = NULL;
  if (!carried) { /* the accumulator to the blocked layout; + acc */
    const char *dst = arena_printf(&E->c->arena, "v%d[k]", id);
    if (p->mm) {
      pp(E, "#if TM_TENSOR_OPS");
      mm_to_layout(E, id, p, "tm_acc", in->layout, dst, in->args[2], ind);
      pp(E, "#else");
    }
    if (p->frag) frag_to_layout(E, p, "tm_acc", in->layout, dst, in->args[2], (tm_dtype)in->ty.dt, ind);
    else tiles_to_layout(E, p, M, N, "tm_acc", em_smem(E, p->dacc, p->rs * N), in->layout, dst, in->args[2], (tm_dtype)in->ty.dt, ind);
    if (p->mm) pp(E, "#endif");
    E->in_array[id] = true;
  }
  ind--;
  em_line(E, ind, "}\n");
}

int em_dot_pingpong(Emitter *E, int op) {
  Fn *f = E->f;
  Block *body = f->ins.v[op].regions[0];
  int dot = -1;
  for (int bi = 0; bi < body->ins.n; bi++) {
    Ins *in = &f->ins.v[body->ins.v[bi]];
    switch ((Op)in->op) {
    case O_REDUCE: case O_SCAN: case O_CONVERT: case O_SHUFFLE: case O_ATOMIC: case O_PRINT: case O_ASSERT: case O_BARRIER:
      return -1;
    case O_DOT:
      if (dot >= 0) return -1;
      dot = body->ins.v[bi];
      break;
    default:
      if (in->nregions) return -1;
    }
  }
  if (dot < 0) return -1;
  Ins *in = &f->ins.v[dot];
  SgPlan p;
  if (!sg_plan(E, in, &p) || p.mm || p.kc != f->ins.v[in->args[0]].ty.shape[1]) return -1;
  if (E->sg_acc[dot] && E->sg_scale[dot] && rreg_of(E, in, &p) < 0) return -1; /* r's rows staged too */
  tm_dtype din = (tm_dtype)f->ins.v[in->args[0]].ty.dt;
  bool stage_a = !E->sg_afrag[dot] && !a_in_frag(E, in, &p);
  int n = (sg_staged(E, in, &p, stage_a) + 7) / 8 * 8; /* whole 16-byte vectors */
  int budget = E->c->target->threadgroup_mem_bytes > 0 ? E->c->target->threadgroup_mem_bytes : 32768;
  /* and the stripe that takes the result to the blocked layout, which the
   * dot uses beside its staged operands (a dtype of its own) */
  int64_t stripe = p.frag ? 0 : (int64_t)p.rs * in->ty.shape[1] * tm_dtype_bytes(p.dacc);
  if ((int64_t)2 * n * tm_dtype_bytes(din) + stripe > budget) return -1;
  E->turn_dot = dot, E->turn_op = op, E->turn_n = n;
  return dot;
}

/* ---- an A operand defined before the loop ----
 *
 *   q = tl.load(...)                        stage q chunk by chunk; its fragments
 *   for ...:                                tm_qa<dot>[K / 8][tiles] loaded once
 *       s = tl.dot(q, b)              ->    for (...) { stage b only; multiply with tm_qa }
 *
 * (attention's q @ k.T: q was staged again on every KV iteration.) Only
 * where the fragments are at most 32 32-bit words a thread (64 spilled registers
 * in the d128 attention kernel on the proxy). */

static bool in_tree(Fn *f, Block *b, int id) {
  for (int bi = 0; bi < b->ins.n; bi++) {
    Ins *in = &f->ins.v[b->ins.v[bi]];
    if (b->ins.v[bi] == id) return true;
    for (int r = 0; r < in->nregions; r++)
      if (in_tree(f, in->regions[r], id)) return true;
  }
  return false;
}

void em_dot_hoist_a(Emitter *E, int op, int ind) {
  Fn *f = E->f;
  Block *body = f->ins.v[op].regions[0];
  for (int bi = 0; bi < body->ins.n; bi++) {
    int id = body->ins.v[bi];
    Ins *in = &f->ins.v[id];
    SgPlan p;
    if (in->op != O_DOT || in_tree(f, body, in->args[0]) || !sg_plan(E, in, &p) || p.mm) continue;
    Ins *ai = &f->ins.v[in->args[0]];
    int K = ai->ty.shape[1], kc = p.kc, kcp = kc + p.pad;
    /* 32-bit words a thread holds: a 16x16 pair is 4; an 8x8 matrix is 64 elements over 32 lanes */
    int words = p.pair ? p.TM / 2 * (K / 16) * 4 : p.TM * (K / 8) * 2 * tm_dtype_bytes((tm_dtype)ai->ty.dt) / 4;
    if (words > 32) continue;
    tm_dtype din = (tm_dtype)ai->ty.dt;
    const char *TI = em_tname(E, din), *qa = arena_printf(&E->c->arena, "tm_qa%d", id);
    int saved = E->cur;
    E->cur = id; /* the scratch is the dot's */
    int boff;
    const char *smA = sg_staging(E, in, &p, true, 0, 0, &boff);
    em_line(E, ind, "// tl.dot @%d: A is the same on every iteration: staged and loaded into fragments once, here\n", in->line);
    if (p.pair) em_line(E, ind, "tm_mma_a16<%s> %s[%d][%d];\n", TI, qa, K / 16, p.TM / 2);
    else em_line(E, ind, "simdgroup_matrix<%s, 8, 8> %s[%d][%d];\n", TI, qa, K / 8, p.TM);
    em_line(E, ind, "{\n");
    sg_place(E, &p, ind + 1);
    em_line(E, ind + 1, "for (int k0 = 0; k0 < %d; k0 += %d) {\n", K, kc);
    stage_chunk(E, in->args[0], 1, kc, "k0", smA, 0, kcp, false, ind + 2);
    em_barrier(E, ind + 2);
    em_line(E, ind + 2, "%sfor (uint kk = 0; kk < %du; kk += %du)\n", sg_busy(E, &p), kc, p.pair ? 16 : 8);
    em_line(E, ind + 3, "for (uint i = 0; i < %du; ++i) %s;\n", p.pair ? p.TM / 2 : p.TM,
            load_a(E, &p, arena_printf(&E->c->arena, "%s[(uint(k0) + kk) / %du][i]", qa, p.pair ? 16 : 8), smA, 0, kcp));
    em_barrier(E, ind + 2);
    em_line(E, ind + 1, "}\n");
    em_line(E, ind, "}\n");
    E->cur = saved;
    E->sg_afrag[id] = qa;
  }
}

/* ---- accumulators carried across a loop ----
 *
 *   acc = tl.zeros(...)                     simdgroup_matrix tm_accL_i[TM * TN] = acc
 *   for k in range(...):                    for (...) {
 *       acc = tl.dot(a, b, acc)       ->      stage a, b; multiply-accumulate into tm_accL_i
 *   use(acc)                                }
 *                                           rL_i = tm_accL_i (through threadgroup memory, once)
 *
 * (With the matmul2d variant, tm_accL_i is its cooperative tensor.) The
 * carried value must be read in the body only as that dot's acc, and the dot
 * must be the value yielded for it and have no other use. acc += tl.dot(a, b)
 * (the dot's own acc zero) is the same loop: upstream's combine pass folds
 * acc + dot(a, b, 0) into dot(a, b, acc) too. */

static void count_uses(Fn *f, Block *b, int *uses) {
  for (int bi = 0; bi < b->ins.n; bi++) {
    Ins *in = &f->ins.v[b->ins.v[bi]];
    for (int k = 0; k < in->nargs; k++) uses[in->args[k]]++;
    for (int r = 0; r < in->nregions; r++) count_uses(f, in->regions[r], uses);
  }
}

static bool is_carried(Fn *f, int id, Op kind, int op, int slot) {
  Ins *x = &f->ins.v[id];
  return x->op == kind && x->imm == op && x->aux == slot;
}

/* The dot's own zero acc (tl.dot(a, b) without one): +0 splat. */
static bool is_zero_splat(Fn *f, int id) {
  Ins *x = &f->ins.v[id];
  if (x->op != O_SPLAT) return false;
  Ins *c = &f->ins.v[x->args[0]];
  return c->op == O_CONST && c->imm == 0 && c->fimm == 0 && !signbit(c->fimm);
}

static bool in_block(Block *b, int id) {
  for (int bi = 0; bi < b->ins.n; bi++)
    if (b->ins.v[bi] == id) return true;
  return false;
}

/* acc * r[:, None] with acc the carried value of slot `slot` of loop `op`
 * (read only there) and r an M x 1 value broadcast along the columns, of the
 * accumulator's dtype: r's id, else -1. The dot scales its matrices' rows by r
 * in place (each lane's elements of a tile share one row: TM_SGM_ROW), the
 * flash-attention rescale, instead of taking the accumulator to the blocked
 * layout and back every iteration. */
/* Whether value x is ready where `dot` is emitted: defined outside the loop's
 * body, or before the dot in it (tl.dot(a, b) + r[:, None] * acc computes
 * r[:, None] after the dot). */
static bool ready_before(Fn *f, Block *body, int x, int dot) {
  for (int bi = 0; bi < body->ins.n; bi++) {
    if (body->ins.v[bi] == dot) return !in_block(body, x);
    if (body->ins.v[bi] == x) return true;
  }
  return false;
}

static int row_scaled(Emitter *E, int v, int op, int slot, int dot, int *mul) {
  Fn *f = E->f;
  Ins *m = &f->ins.v[v];
  if (m->op != O_MUL || m->ty.rank != 2 || E->uses[v] != 1) return -1;
  int a = m->args[0], b = m->args[1];
  if (!is_carried(f, a, O_BLOCKARG, op, slot)) {
    int t = a;
    a = b, b = t;
  }
  if (!is_carried(f, a, O_BLOCKARG, op, slot)) return -1;
  Ins *bc = &f->ins.v[b];
  if (bc->op != O_BROADCAST || !type_eq(bc->ty, m->ty)) return -1;
  Ins *r = &f->ins.v[bc->args[0]];
  if (r->ty.rank != 2 || r->ty.shape[1] != 1 || r->ty.shape[0] != m->ty.shape[0] || r->ty.dt != m->ty.dt) return -1;
  if (!ready_before(f, f->ins.v[op].regions[0], bc->args[0], dot)) return -1;
  *mul = v;
  return bc->args[0];
}

int em_dot_carried(Emitter *E, int op, int i) {
  Fn *f = E->f;
  Block *body = f->ins.v[op].regions[0];
  Ins *y = &f->ins.v[body->ins.v[body->ins.n - 1]];
  if (y->op != O_YIELD || i >= y->nargs) return -1;
  if (!E->uses) {
    E->uses = arena_alloc(&E->c->arena, sizeof(int) * (size_t)(f->ins.n + 1));
    count_uses(f, f->body, E->uses);
  }
  int v = y->args[i], dot = v, scale = -1, mul = -1;
  Ins *vi = &f->ins.v[v];
  if (vi->op == O_ADD && vi->ty.rank == 2) { /* acc + tl.dot(a, b), or acc * r[:, None] + tl.dot(a, b) */
    int d = vi->args[1], o = vi->args[0];
    if (f->ins.v[d].op != O_DOT) d = vi->args[0], o = vi->args[1];
    Ins *di = &f->ins.v[d];
    if (di->op != O_DOT || !type_eq(di->ty, vi->ty) || !is_zero_splat(f, di->args[2]) || E->uses[d] != 1) return -1;
    if (!is_carried(f, o, O_BLOCKARG, op, i + 1) && (scale = row_scaled(E, o, op, i + 1, d, &mul)) < 0) return -1;
    dot = d;
  } else if (vi->op != O_DOT ||
             (!is_carried(f, vi->args[2], O_BLOCKARG, op, i + 1) && (scale = row_scaled(E, vi->args[2], op, i + 1, v, &mul)) < 0)) {
    return -1; /* tl.dot(a, b, acc), or tl.dot(a, b, acc * r[:, None]) */
  }
  if (E->uses[v] != 1 || !in_block(body, dot) || (mul >= 0 && !in_block(body, mul))) return -1;
  int reads = 0; /* of the carried value in the body: the one above only */
  for (int id = 0; id < f->ins.n; id++)
    if (is_carried(f, id, O_BLOCKARG, op, i + 1)) reads += E->uses[id];
  SgPlan p;
  if (reads != 1 || !sg_plan(E, &f->ins.v[dot], &p) || (scale >= 0 && p.mm)) return -1;
  E->sg_acc[dot] = arena_printf(&E->c->arena, "tm_acc%d_%d", op, i + 1);
  E->carried[v] = true;
  if (scale >= 0) {
    E->carried[mul] = true;
    E->sg_scale[dot] = scale + 1;
  }
  return dot;
}

void em_dot_carry_in(Emitter *E, int op, int i, int dot, int ind) {
  Fn *f = E->f;
  Ins *in = &f->ins.v[dot];
  SgPlan p;
  sg_plan(E, in, &p);
  int M = in->ty.shape[0], N = in->ty.shape[1], init = f->ins.v[op].args[3 + i];
  const char *TA = em_tname(E, p.dacc), *acc = E->sg_acc[dot];
  E->cur = dot;
  E->uses_tid = true;
  E->uses_barrier = true;
  em_line(E, ind, "// %s: tl.dot's accumulator in %ssimdgroup matrices across the loop\n", acc,
       p.mm ? "a matmul2d cooperative tensor or " : "");
  if (p.mm) {
    pp(E, "#if TM_TENSOR_OPS");
    mm_declare(E, dot, &p, acc, ind);
    mm_fill(E, dot, &p, acc, init, ind);
    pp(E, "#else");
  }
  em_line(E, ind, "simdgroup_matrix<%s, 8, 8> %s[%d];\n", TA, acc, p.TM * p.TN);
  if (f->ins.v[init].op == O_SPLAT) {
    E->group = NULL;
    em_line(E, ind, "for (uint t = 0; t < %du; ++t) %s[t] = make_filled_simdgroup_matrix<%s, 8, 8>(%s(%s));\n", p.TM * p.TN, acc, TA, TA,
         em_ref(E, init));
  } else {
    em_line(E, ind, "{\n");
    sg_place(E, &p, ind + 1);
    if (p.frag && layout_is_frag(f->ins.v[init].layout, f->num_warps)) layout_to_frag(E, &p, init, acc, ind + 1);
    else layout_to_tiles(E, &p, M, N, init, acc, em_smem(E, p.dacc, p.rs * N), ind + 1);
    em_line(E, ind, "}\n");
  }
  if (p.mm) pp(E, "#endif");
}

void em_dot_carry_out(Emitter *E, int op, int i, int dot, int ind) {
  Fn *f = E->f;
  bool read = false; /* the loop's result, if anything reads it */
  for (int id = 0; id < f->ins.n && !read; id++) read = is_carried(f, id, O_RESULT, op, i) && E->uses[id];
  if (!read) return;
  Ins *in = &f->ins.v[dot];
  SgPlan p;
  sg_plan(E, in, &p);
  int M = in->ty.shape[0], N = in->ty.shape[1];
  Layout *R = f->ins.v[f->ins.v[op].args[3 + i]].layout;
  const char *dst = arena_printf(&E->c->arena, "r%d_%d[k]", op, i + 1), *acc = E->sg_acc[dot];
  E->cur = dot;
  if (p.mm) {
    pp(E, "#if TM_TENSOR_OPS");
    mm_to_layout(E, dot, &p, acc, R, dst, -1, ind);
    pp(E, "#else");
  }
  em_line(E, ind, "{\n");
  sg_place(E, &p, ind + 1);
  if (p.frag && layout_is_frag(R, f->num_warps)) frag_to_layout(E, &p, acc, R, dst, -1, (tm_dtype)in->ty.dt, ind + 1);
  else tiles_to_layout(E, &p, M, N, acc, em_smem(E, p.dacc, p.rs * N), R, dst, -1, (tm_dtype)in->ty.dt, ind + 1);
  em_line(E, ind, "}\n");
  if (p.mm) pp(E, "#endif");
}

/* One step of a portable dot's sum: d + tm_a * b, fused (one rounding, as
 * upstream's FMA dot and the simdgroup_matrix path round) for float sums,
 * wrapping for int32 ones. */
static const char *mac(Emitter *E, tm_dtype dacc, const char *d, const char *b) {
  if (dacc == TM_F32) return arena_printf(&E->c->arena, "fma(tm_a, %s, %s)", b, d);
  return arena_printf(&E->c->arena, "%s + tm_a * %s", d, b);
}

/* The coordinates of a portable dot's result slot k (a multiple of G) of
 * thread tm_tid in R as a program-scope functor, tm_dotc<id>
 * (operator()(tm_tid, k): int3(batch, row, column); batch 0 for a 2-D dot),
 * for the prelude's tm_dot_fma: the number to call it by (em_end_functor). */
static int dot_coords_functor(Emitter *E, const Layout *R, int id) {
  int r = R->rank;
  em_begin_functor(E);
  buf_printf(&E->out, "struct tm_dotc%d {\n  inline int3 operator()(uint tm_tid, uint k) const {\n", id);
  em_coords(E, R, &E->out, 2, false);
  em_line(E, 2, "return int3(%s, c%d, c%d);\n", r == 3 ? arena_printf(&E->c->arena, "c%d", R->dims[0]) : "0",
          R->dims[r - 2], R->dims[r - 1]);
  buf_puts(&E->out, "  }\n};\n");
  return em_end_functor(E, id);
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
  in->path = DOT_PORTABLE;
  Ins *ai = &E->f->ins.v[in->args[0]], *bi = &E->f->ins.v[in->args[1]];
  int r = in->ty.rank;
  int M = ai->ty.shape[r - 2], K = ai->ty.shape[r - 1], N = bi->ty.shape[r - 1], B = r == 3 ? ai->ty.shape[0] : 1;
  tm_dtype din = (tm_dtype)ai->ty.dt, dout = (tm_dtype)in->ty.dt;
  tm_dtype dacc = dt_is_float(din) ? TM_F32 : TM_I32;
  int bytes = din == TM_I1 ? 1 : tm_dtype_bytes(din);
  /* the largest power-of-two chunk of K whose operands fit in the target's
   * threadgroup memory (32 KB on every Metal GPU): a 64x64x64 fp32 dot
   * (attention's) is then staged once, one barrier pair, where 16 KB took
   * two chunks, twice the barriers and the staging loops visiting every
   * element twice (20% of the emulator's attention). Where that leaves too
   * little for the kernel's other users, emit() runs again with 16 KB. */
  int lim = E->c->target->threadgroup_mem_bytes > 0 ? E->c->target->threadgroup_mem_bytes : 32768;
  int budget = E->c->narrow_dots || lim < 16384 ? 16384 : lim;
  int kc = K;
  while (kc > 1 && (int64_t)B * (M + N) * kc * bytes > budget) kc /= 2;
  if ((int64_t)B * (M + N) * kc * bytes > 16384) E->wide_dot = true;
  const char *smA = em_smem(E, din, B * M * kc), *smB;
  /* A and B share one array per dtype: B's stripe follows A's */
  em_smem(E, din, B * M * kc + B * kc * N);
  smB = arena_printf(a, "(%s + %d)", smA, B * M * kc);
  in->note = arena_printf(a, "%sA %dx%d and B %dx%d staged row-major in threadgroup memory, K in chunks of %d; each thread "
                          "accumulates its %d result elements of the blocked layout with FMAs in %s",
                          B > 1 ? arena_printf(a, "%d batches; ", B) : "", M, kc, kc, N, kc, in->layout->per_thread,
                          tm_dtype_name(dacc));
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
  stage_chunk(E, in->args[0], r - 1, kc, "k0", smA, 0, 0, false, ind + 1);
  stage_chunk(E, in->args[1], r - 2, kc, "k0", smA, B * M * kc, 0, false, ind + 1);
  const char *smB_name = arena_printf(a, "%s[%d + ", smA, B * M * kc);
  em_barrier(E, ind + 1);
  /* G result slots at a time where G consecutive slots are G neighbouring
   * columns of one row (the last dim's slots fastest, runs of G in a thread):
   * one A element feeds G independent sums, each still over kk in order */
  int pl = R->dims[r - 1], G = 1;
  if (R->stride[pl] == 1)
    while (G < 4 && R->espt[pl] % (2 * G) == 0) G *= 2;
  const char *bm = r == 3 ? arena_printf(a, "c%d * %d + ", R->dims[0], M * kc) : "";
  const char *bn = r == 3 ? arena_printf(a, "c%d * %d + ", R->dims[0], kc * N) : "";
  /* B's G neighbouring elements as one vector read where it is aligned: the
   * run starts at a multiple of G columns (a thread's runs start at
   * multiples of espt, which G divides), and the stripe and the rows keep it */
  bool vb = G > 1 && (din == TM_F32 || din == TM_F16) && N % G == 0 && (B * M * kc) % G == 0;
  if (R->per_thread <= 64 && dacc == TM_F32) {
    /* float sums over few slots: the prelude's tm_dot_fma (kk outermost,
     * every slot's sum in a register, each staged B element read once per
     * kk for all the rows a thread holds; each sum over kk in order), the
     * slots' coordinates from a functor the emulator evaluates for every
     * thread when it computes the whole tile at once */
    int fid = dot_coords_functor(E, R, id);
    E->uses_dot_fma = true;
    const char *TS = em_tname(E, din);
    if (vb)
      em_line(E, ind + 1, "tm_dot_fma_v<%d, %d, %d, %d, %d, %d, %d, %s%d>(%s, k0 == 0, d%d, tm_dotc%d(), tm_tid);\n",
              R->per_thread, G, B, M, N, kc, B * M * kc, TS, G, smA, id, fid);
    else
      em_line(E, ind + 1, "tm_dot_fma<%d, %d, %d, %d, %d, %d, %d>(%s, k0 == 0, d%d, tm_dotc%d(), tm_tid);\n", R->per_thread, G,
              B, M, N, kc, B * M * kc, smA, id, fid);
    em_barrier(E, ind + 1);
    em_line(E, ind, "}\n");
    goto done;
  }
  if (R->per_thread <= 64) {
    /* few result slots: kk outermost, every slot's sum in a register (the
     * slot loop unrolls), so each staged B element is read once per kk for
     * all the rows a thread holds; each sum still runs over kk in order */
    em_line(E, ind + 1, "for (int kk = 0; kk < %d; ++kk) {\n", kc);
    em_line(E, ind + 2, "for (uint k = 0; k < %du; k += %du) {\n", R->per_thread, G);
    em_coords(E, R, &E->out, ind + 3, false);
    em_line(E, ind + 3, "%s tm_a = %s(%s[%sc%d * %d + kk]);\n", TA, TA, smA, bm, R->dims[r - 2], kc);
    if (vb) {
      const char *TV = arena_printf(a, "%s%d", em_tname(E, din), G);
      em_line(E, ind + 3, "%s tm_b = TM_TG_VLOAD(%s, %s, %d + %sc%d + kk * %d);\n", TV, TV, smA, B * M * kc, bn, pl, N);
      for (int g = 0; g < G; g++) {
        const char *d = arena_printf(a, "d%d[k + %du]", id, g), *b = arena_printf(a, "%s(tm_b[%d])", TA, g);
        em_line(E, ind + 3, "%s = %s;\n", d, mac(E, dacc, d, b));
      }
    }
    for (int g = 0; g < G && !vb; g++) {
      const char *d = arena_printf(a, "d%d[k + %du]", id, g);
      const char *b = arena_printf(a, "%s(%s%sc%d + %d + kk * %d])", TA, smB_name, bn, pl, g, N);
      em_line(E, ind + 3, "%s = %s;\n", d, mac(E, dacc, d, b));
    }
    em_line(E, ind + 2, "}\n");
    em_line(E, ind + 1, "}\n");
    em_barrier(E, ind + 1);
    em_line(E, ind, "}\n");
    goto done;
  }
  em_line(E, ind + 1, "for (uint k = 0; k < %du; k += %du) {\n", R->per_thread, G);
  em_coords(E, R, &E->out, ind + 2, false);
  for (int g = 0; g < G; g++) em_line(E, ind + 2, "%s tm_s%d = d%d[k + %du];\n", TA, g, id, g);
  em_line(E, ind + 2, "for (int kk = 0; kk < %d; ++kk) {\n", kc);
  em_line(E, ind + 3, "%s tm_a = %s(%s[%sc%d * %d + kk]);\n", TA, TA, smA, bm, R->dims[r - 2], kc);
  for (int g = 0; g < G; g++) {
    const char *d = arena_printf(a, "tm_s%d", g), *b = arena_printf(a, "%s(%s%sc%d + %d + kk * %d])", TA, smB_name, bn, pl, g, N);
    em_line(E, ind + 3, "%s = %s;\n", d, mac(E, dacc, d, b));
  }
  em_line(E, ind + 2, "}\n");
  for (int g = 0; g < G; g++) em_line(E, ind + 2, "d%d[k + %du] = tm_s%d;\n", id, g, g);
  em_line(E, ind + 1, "}\n");
  em_barrier(E, ind + 1);
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
done:
  E->group = R;
  em_indent(&E->out, ind);
  buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) v%d[k] = %s(%s(%s) + d%d[k]);\n", R->per_thread, id, T, TA,
             em_ref(E, in->args[2]), id);
  E->group = NULL;
  E->in_array[id] = true;
}

