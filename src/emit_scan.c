/*
 * emit_scan.c: tl.associative_scan (cumsum, cumprod, ...) in parallel.
 *
 * Along the scanned parent dim d of the input's blocked layout, the elements
 * run: tile after tile (reps), within a tile SIMD-group after SIMD-group, lane
 * after lane, and spt consecutive elements per thread. The scan follows that
 * nesting, keeping the combine's operand order (it need only be associative):
 *
 *   1. in-thread: each thread's run of spt elements, sequentially;
 *   2. lanes: the runs' totals, a Hillis-Steele scan over the tpw lanes along d
 *      with simd_shuffle_up (log2 tpw steps), then each lane's exclusive
 *      prefix from its neighbour; an int32/uint32 sum whose lanes along d are
 *      the low lane bits (stride 1) takes the SIMD-group's prefix sum instead,
 *      and a segment of fewer than 32 lanes or the reverse order subtracts the
 *      prefix at the segment's far end (one shuffle): exact, as wrapping
 *      integer sums are (floats keep the shuffles: Metal leaves a prefix sum's
 *      rounding order unstated, and it would change the bits);
 *   3. SIMD-groups (wpc > 1): each SIMD-group's total through threadgroup
 *      memory, every thread combining the totals of the groups before its own
 *      (two barriers);
 *   4. the prefix of 2 and 3 combined into the run's elements;
 *   5. tiles (reps > 1): each tile's total carried into the next, in order.
 *
 *   element order along d, spt 2, tpw 4, wpc 2:  [t0 t0 t1 t1 t2 t2 t3 t3 | t4 t4 ... t7 t7]
 *                                                  ^ 1: in a thread  ^ 2: lanes  ^ 3: groups
 *
 * reverse=True is the same scan over the reversed order (higher index first:
 * shuffle_down, later SIMD-groups and tiles first), so the combine's left
 * operand is always what comes first in scan order, as in the sequential
 * definition. Shuffles and barriers sit under conditions uniform across the
 * program (slot indices), results are per-thread arrays r<id>_<i> in the
 * input's layout.
 */
#include <string.h>

#include "emit.h"


/* Names of n per-input values: prefix<i>, with an optional index. */
static const char **names(Emitter *E, int n, const char *prefix, const char *idx) {
  const char **v = arena_alloc(&E->c->arena, sizeof(char *) * (size_t)n);
  for (int i = 0; i < n; i++) v[i] = idx ? arena_printf(&E->c->arena, "%s%d[%s]", prefix, i, idx) : arena_printf(&E->c->arena, "%s%d", prefix, i);
  return v;
}

/* The results r<id>_<i+1>[idx]. */
static const char **res(Emitter *E, int id, int n, const char *idx) {
  const char **v = arena_alloc(&E->c->arena, sizeof(char *) * (size_t)n);
  for (int i = 0; i < n; i++) v[i] = arena_printf(&E->c->arena, "r%d_%d[%s]", id, i + 1, idx);
  return v;
}

/* dst = combine(first, dst): through temporaries cc<i> (dst may be read by the combine). */
static void combine_into(Emitter *E, Ins *scan, const char **first, const char **dst, int ind) {
  int n = scan->nargs;
  em_line(E, ind, "{\n");
  for (int i = 0; i < n; i++)
    em_line(E, ind + 1, "%s cc%d = %s;\n", em_tname(E, (tm_dtype)E->f->ins.v[scan->args[i]].ty.dt), i, first[i]);
  em_combine(E, scan, names(E, n, "cc", NULL), dst, ind + 1);
  for (int i = 0; i < n; i++) em_line(E, ind + 1, "%s = cc%d;\n", dst[i], i);
  em_line(E, ind, "}\n");
}

static void declare(Emitter *E, Ins *scan, const char *prefix, const char *dim, int ind) {
  for (int i = 0; i < scan->nargs; i++)
    em_line(E, ind, "%s %s%d%s;\n", em_tname(E, (tm_dtype)E->f->ins.v[scan->args[i]].ty.dt), prefix, i, dim);
}

static void assign(Emitter *E, int n, const char **dst, const char **src, int ind) {
  for (int i = 0; i < n; i++) em_line(E, ind, "%s = %s;\n", dst[i], src[i]);
}

bool em_scan_parallel(Emitter *E, int id, int ind) {
  Ins *in = &E->f->ins.v[id];
  Arena *a = &E->c->arena;
  int n = in->nargs;
  bool rev = in->imm != 0;
  Layout *L = E->f->ins.v[in->args[0]].layout;
  for (int i = 1; i < n; i++)
    if (!layout_eq(E->f->ins.v[in->args[i]].layout, L)) return false;
  int d = L->dims[in->aux];
  int P = L->per_thread, S = L->stride[d], PER = L->per[d], ES = L->espt[d], REPS = L->reps[d];
  int TPW = L->tpw[d], WPC = L->wpc[d];
  /* duplicates along the scanned dim (a tile longer than it) keep the sequential path */
  if (E->c->opt == TM_OPT_NONE || L->size[d] < L->spt[d] * TPW * WPC) return false;
  if (WPC > 1) { /* the SIMD-groups' totals go through threadgroup memory: where they do not
                  * fit, the sequential path (which stages in chunks) takes the scan */
    int64_t lines = type_numel(E->f->ins.v[in->args[0]].ty) / L->shape[in->aux], need = 0;
    for (int i = 0; i < n; i++) {
      tm_dtype dt = (tm_dtype)E->f->ins.v[in->args[i]].ty.dt;
      need += lines * REPS * WPC * (dt == TM_I1 ? 1 : tm_dtype_bytes(dt));
    }
    int budget = E->c->target->threadgroup_mem_bytes > 0 ? E->c->target->threadgroup_mem_bytes : 32768;
    if (need > budget) return false;
  }
  int LS = 1, WS = 1; /* lane and SIMD-group strides of dim d */
  for (int kk = 0; kk < L->prank && L->order[kk] != d; kk++) LS *= L->tpw[L->order[kk]], WS *= L->wpc[L->order[kk]];
  int FIRST = rev ? ES - 1 : 0, LAST = rev ? 0 : ES - 1;
  tm_dtype dt0 = (tm_dtype)E->f->ins.v[in->args[0]].ty.dt;
  bool prefix_sum = n == 1 && LS == 1 && (dt0 == TM_I32 || dt0 == TM_U32) && em_combine_is_add(E, in);
  E->uses_tid = true;
  E->uses_barrier = true; /* SIMD-group shuffles are collectives too */
  in->path = SCAN_PARALLEL;
  const char **r = res(E, id, n, "k"), **t = names(E, n, "u", NULL);
  /* results: r<id>_<i+1> in the input's layout, first the inputs */
  for (int i = 0; i < n; i++) {
    em_line(E, ind, "%s r%d_%d[%d];\n", em_tname(E, (tm_dtype)E->f->ins.v[in->args[i]].ty.dt), id, i + 1, P);
  }
  Layout *saved = E->group;
  E->group = L;
  em_line(E, ind, "for (uint k = 0; k < %du; ++k) {\n", P);
  for (int i = 0; i < n; i++) em_line(E, ind + 1, "%s = %s;\n", r[i], em_ref(E, in->args[i]));
  em_line(E, ind, "}\n");
  E->group = saved;
  em_line(E, ind, "{\n");
  int i1 = ind + 1;
  em_line(E, i1, "uint tm_ld = tm_tid %% 32u / %du %% %du, tm_wd = tm_tid / 32u / %du %% %du;\n", LS, TPW, WS, WPC);
  (void)REPS;
  /* 1. in-thread, in scan order */
  if (ES > 1) {
    em_line(E, i1, rev ? "for (int kk = %d; kk >= 0; --kk) {\n" : "for (int kk = 0; kk < %d; ++kk) {\n", rev ? P - 1 : P);
    em_line(E, i1 + 1, "uint k = uint(kk);\n");
    em_line(E, i1 + 1, "if (k / %du %% %du %% %du == %du) continue;\n", S, PER, ES, FIRST);
    combine_into(E, in, res(E, id, n, arena_printf(a, "k %s %du", rev ? "+" : "-", S)), r, i1 + 1);
    em_line(E, i1, "}\n");
  }
  /* 2. per run (the thread's last slot of each run, in scan order): its
   * total u over the lanes before it and its own, and the lanes' exclusive
   * prefix p (hp: there is one), kept per run; the SIMD-groups' totals to
   * threadgroup memory */
  const char *shfl = rev ? "tm_shfl_down" : "tm_shfl_up";
  const char *run = arena_printf(a, "if (k / %du %% %du %% %du != %du) continue;\n", S, PER, ES, LAST);
  declare(E, in, "U", arena_printf(a, "[%d]", P), i1);
  declare(E, in, "Q", arena_printf(a, "[%d]", P), i1);
  em_line(E, i1, "bool HQ[%d];\n", P);
  const char **sm = NULL, *slot = NULL;
  int i2 = i1 + 2;
  if (WPC > 1) {
    int lines = (int)(type_numel(E->f->ins.v[in->args[0]].ty) / L->shape[in->aux]);
    sm = arena_alloc(a, sizeof(char *) * (size_t)n);
    int used[TM_NDTYPES] = {0};
    for (int i = 0; i < n; i++) {
      tm_dtype dt = (tm_dtype)E->f->ins.v[in->args[i]].ty.dt;
      int off = used[dt]++ * lines * REPS * WPC;
      sm[i] = arena_printf(a, "%s[%d + ", em_smem(E, dt, off + lines * REPS * WPC), off);
    }
    /* a run's place: its line (the coordinates but along d, row-major) and tile */
    const char *line = "0";
    for (int v = 0; v < L->rank; v++)
      if (v != in->aux) line = arena_printf(a, "(%s) * %d + c%d", line, L->shape[v], L->dims[v]);
    slot = arena_printf(a, "uint slot = ((%s) * %du + k / %du %% %du / %du) * %du;\n", line, REPS, S, PER, ES, WPC);
  }
  em_line(E, i1, "for (uint k = 0; k < %du; ++k) {\n", P);
  em_line(E, i1 + 1, "%s", run);
  em_line(E, i1 + 1, "{\n");
  declare(E, in, "u", "", i2);
  assign(E, n, t, r, i2);
  declare(E, in, "p", "", i2);
  /* p counts only where hp says so, but is always copied into Q: a defined
   * value first (the run's own total; copying an uninitialized value is
   * undefined in MSL as in C++, and clang's -Wuninitialized says so) */
  assign(E, n, names(E, n, "p", NULL), t, i2);
  em_line(E, i2, "bool hp = false;\n");
  if (TPW > 1 && prefix_sum) {
    /* an integer sum whose lanes along d are the low lane bits: the SIMD-group's
     * prefix sum (one collective; a shuffle more for a segment of fewer than 32
     * lanes or the reverse order); wrapping integer arithmetic makes each
     * difference below exact */
    em_use_helper(E, "tm_shfl_up"); /* with tm_shfl */
    const char *to = dt0 == TM_U32 ? "" : "as_type<int>", *from = dt0 == TM_U32 ? "" : "as_type<uint>";
    em_line(E, i2, "{\n");
    em_line(E, i2 + 1, "uint tm_px = %s(u0);\n", from);
    em_line(E, i2 + 1, "uint tm_pi = simd_prefix_inclusive_sum(tm_px), tm_pe = tm_pi - tm_px;\n");
    if (rev) /* the lanes from this one to the segment's last */
      em_line(E, i2 + 1, "uint tm_ps = tm_shfl(tm_pi, ushort(tm_tid %% 32u - tm_ld + %du)) - tm_pe;\n", TPW - 1);
    else if (TPW < 32) /* the lanes from the segment's first to this one */
      em_line(E, i2 + 1, "uint tm_ps = tm_pi - tm_shfl(tm_pe, ushort(tm_tid %% 32u - tm_ld));\n");
    else
      em_line(E, i2 + 1, "uint tm_ps = tm_pi;\n");
    em_line(E, i2 + 1, "u0 = %s(tm_ps);\n", to);
    em_line(E, i2 + 1, "p0 = %s(tm_ps - tm_px);\n", to);
    em_line(E, i2, "}\n");
    if (rev) em_line(E, i2, "hp = tm_ld + 1u < %du;\n", TPW);
    else em_line(E, i2, "hp = tm_ld > 0u;\n");
    in->note = TPW < 32 || rev ? "a SIMD-group prefix sum and a shuffle" : "one SIMD-group prefix sum";
  } else if (TPW > 1) {
    em_use_helper(E, "tm_shfl_up");
    em_line(E, i2, "for (ushort off = 1; off < %du; off <<= 1) {\n", TPW);
    for (int i = 0; i < n; i++)
      em_line(E, i2 + 1, "%s y%d = %s(u%d, ushort(off * %du));\n", em_tname(E, (tm_dtype)E->f->ins.v[in->args[i]].ty.dt), i, shfl, i, LS);
    if (rev) em_line(E, i2 + 1, "if (tm_ld + off < %du)\n", TPW);
    else em_line(E, i2 + 1, "if (tm_ld >= off)\n");
    combine_into(E, in, names(E, n, "y", NULL), t, i2 + 2);
    em_line(E, i2, "}\n");
    /* the exclusive prefix: the neighbour's inclusive value */
    for (int i = 0; i < n; i++) em_line(E, i2, "p%d = %s(u%d, ushort(%du));\n", i, shfl, i, LS);
    if (rev) em_line(E, i2, "hp = tm_ld + 1u < %du;\n", TPW);
    else em_line(E, i2, "hp = tm_ld > 0u;\n");
  }
  assign(E, n, names(E, n, "U", "k"), t, i2);
  assign(E, n, names(E, n, "Q", "k"), names(E, n, "p", NULL), i2);
  em_line(E, i2, "HQ[k] = hp;\n");
  if (WPC > 1) { /* each SIMD-group's total, from its last lane in scan order */
    em_coords(E, L, &E->out, i2, true);
    em_line(E, i2, "%s", slot);
    em_line(E, i2, "if (%stm_ld == %du) {\n", L->replicated ? "!dup && " : "", rev ? 0 : TPW - 1);
    for (int i = 0; i < n; i++) em_line(E, i2 + 1, "%sslot + tm_wd] = u%d;\n", sm[i], i);
    em_line(E, i2, "}\n");
  }
  em_line(E, i1 + 1, "}\n");
  em_line(E, i1, "}\n");
  if (WPC > 1) em_barrier(E, i1);
  /* 3, 4. per run: the SIMD-groups before its own into p, the prefix into the
   * run's elements; the tile's total tt for 5 */
  if (REPS > 1) declare(E, in, "tt", arena_printf(a, "[%d]", P), i1);
  em_line(E, i1, "for (uint k = 0; k < %du; ++k) {\n", P);
  em_line(E, i1 + 1, "%s", run);
  em_line(E, i1 + 1, "{\n");
  declare(E, in, "u", "", i2);
  assign(E, n, t, names(E, n, "U", "k"), i2);
  declare(E, in, "p", "", i2);
  assign(E, n, names(E, n, "p", NULL), names(E, n, "Q", "k"), i2);
  em_line(E, i2, "bool hp = HQ[k];\n");
  const char **tot = t; /* the tile's total */
  if (WPC > 1) {
    em_coords(E, L, &E->out, i2, false);
    em_line(E, i2, "%s", slot);
    /* the groups before this one (w), and all of them (a), in scan order */
    declare(E, in, "w", "", i2);
    declare(E, in, "a", "", i2);
    em_line(E, i2, "bool hw = false;\n");
    em_line(E, i2, rev ? "for (int g = %d; g >= 0; --g) {\n" : "for (int g = 0; g < %d; ++g) {\n", rev ? WPC - 1 : WPC);
    for (int i = 0; i < n; i++)
      em_line(E, i2 + 1, "%s v%d = %sslot + uint(g)];\n", em_tname(E, (tm_dtype)E->f->ins.v[in->args[i]].ty.dt), i, sm[i]);
    const char **av = names(E, n, "a", NULL), **vv = names(E, n, "v", NULL), **wv = names(E, n, "w", NULL);
    em_line(E, i2 + 1, "if (g == %d) {\n", rev ? WPC - 1 : 0);
    assign(E, n, av, vv, i2 + 2);
    em_line(E, i2 + 1, "} else {\n"); /* a = a (+) v: v comes later */
    em_combine(E, in, av, vv, i2 + 2);
    em_line(E, i2 + 1, "}\n");
    em_line(E, i2 + 1, rev ? "if (uint(g) > tm_wd) {\n" : "if (uint(g) < tm_wd) {\n");
    em_line(E, i2 + 2, "if (hw) {\n");
    em_combine(E, in, wv, vv, i2 + 3);
    em_line(E, i2 + 2, "} else {\n");
    assign(E, n, wv, vv, i2 + 3);
    em_line(E, i2 + 2, "}\n");
    em_line(E, i2 + 2, "hw = true;\n");
    em_line(E, i2 + 1, "}\n");
    em_line(E, i2, "}\n");
    /* p = w (+) p: the earlier groups come first */
    em_line(E, i2, "if (hw) {\n");
    em_line(E, i2 + 1, "if (hp) {\n");
    combine_into(E, in, wv, names(E, n, "p", NULL), i2 + 2);
    em_line(E, i2 + 1, "} else {\n");
    assign(E, n, names(E, n, "p", NULL), wv, i2 + 2);
    em_line(E, i2 + 1, "}\n");
    em_line(E, i2 + 1, "hp = true;\n");
    em_line(E, i2, "}\n");
    tot = av;
  } else if (REPS > 1 && TPW > 1) {
    /* the tile's total: the inclusive value of its last lane in scan order */
    for (int i = 0; i < n; i++)
      em_line(E, i2, "u%d = tm_shfl(u%d, ushort(tm_tid %% 32u - tm_ld * %du + %du));\n", i, i, LS, (rev ? 0 : TPW - 1) * LS);
  }
  if (REPS > 1)
    for (int i = 0; i < n; i++) em_line(E, i2, "tt%d[k] = %s;\n", i, tot[i]);
  if (TPW > 1 || WPC > 1) {
    em_line(E, i2, "if (hp) {\n");
    em_line(E, i2 + 1, "for (uint j = 0; j < %du; ++j) {\n", ES);
    em_line(E, i2 + 2, "uint kj = k %s j * %du;\n", rev ? "+" : "-", S);
    combine_into(E, in, names(E, n, "p", NULL), res(E, id, n, "kj"), i2 + 2);
    em_line(E, i2 + 1, "}\n");
    em_line(E, i2, "}\n");
  }
  em_line(E, i1 + 1, "}\n");
  em_line(E, i1, "}\n");
  if (WPC > 1) em_barrier(E, i1); /* before the scratch is used again */
  /* 5. tiles, in scan order: each run's elements get the totals of the tiles before */
  if (REPS > 1) {
    int first_rep = rev ? REPS - 1 : 0, tile = ES * S;
    em_line(E, i1, "for (uint k = 0; k < %du; ++k) {\n", P);
    em_line(E, i1 + 1, "if (k / %du %% %du %% %du != %du || k / %du %% %du / %du != %du) continue;\n", S, PER, ES, LAST, S, PER, ES,
       first_rep);
    declare(E, in, "q", "", i1 + 1);
    assign(E, n, names(E, n, "q", NULL), names(E, n, "tt", "k"), i1 + 1);
    em_line(E, i1 + 1, "for (uint rep = 1; rep < %du; ++rep) {\n", REPS);
    em_line(E, i1 + 2, "uint kr = k %s rep * %du;\n", rev ? "-" : "+", tile);
    em_line(E, i1 + 2, "for (uint j = 0; j < %du; ++j) {\n", ES);
    em_line(E, i1 + 3, "uint kj = kr %s j * %du;\n", rev ? "+" : "-", S);
    combine_into(E, in, names(E, n, "q", NULL), res(E, id, n, "kj"), i1 + 3);
    em_line(E, i1 + 2, "}\n");
    em_line(E, i1 + 2, "{\n");
    em_combine(E, in, names(E, n, "q", NULL), names(E, n, "tt", "kr"), i1 + 3);
    em_line(E, i1 + 2, "}\n");
    em_line(E, i1 + 1, "}\n");
    em_line(E, i1, "}\n");
  }
  em_line(E, ind, "}\n");
  return true;
}
