/*
 * emit.c: tile IR -> kernel source text, spelled through a Dialect table.
 *
 * Expects layouts on every block value (layout.c). Scalars become one
 * variable per value; they are uniform across the program (every thread
 * computes the same value). Block values become per-thread code: consecutive
 * block instructions of one layout in one Block form a group, emitted as one
 * loop over the thread's slots, in which each block value is a plain scalar:
 *
 *   for (uint k = 0; k < 8u; ++k) {      // slot k of this thread
 *     int c0 = int(k * 128u + tm_tid);    // the element it holds (layout.c)
 *     ...one line per instruction...
 *   }
 *
 * Pure scalar instructions met inside a group are hoisted before its loop.
 * A block value used outside its group (another group, a nested region, a
 * yield) is kept in a per-thread array `T vN[slots]` instead.
 *
 * Control flow: for/if/while become C loops and branches. Carried values live
 * in per-op storage `rR_i` (arrays for blocks), which BLOCKARG and RESULT name;
 * a yield computes all new values before assigning any (yield b, a swaps).
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tm.h"

#include "emit.h"

const char *em_tname(Emitter *E, tm_dtype dt) {
  const char *s = E->d->type_names[dt];
  if (!s) internal_error(E->c, "emit", "dtype %s has no spelling in %s", tm_dtype_name(dt), E->d->name);
  return s;
}

/* The element type a buffer of dt is declared with: bools travel as bytes, and
 * float64 memory (which a kernel may take and address but never read as data:
 * sema refuses that) as 8-byte words. */
static const char *mem_tname(Emitter *E, tm_dtype dt) {
  return dt == TM_I1 ? em_tname(E, TM_U8) : dt == TM_F64 ? em_tname(E, TM_U64) : em_tname(E, dt);
}

static const char *literal(Emitter *E, Ins *in) {
  Arena *a = &E->c->arena;
  tm_dtype dt = (tm_dtype)in->ty.dt;
  if (dt_is_float(dt)) {
    double v = in->fimm;
    const char *s;
    if (isnan(v)) s = "NAN";
    else if (isinf(v)) s = v > 0 ? "INFINITY" : "(-INFINITY)";
    else {
      char buf[64];
      snprintf(buf, sizeof buf, "%.9g", dt == TM_F32 ? (double)(float)v : v);
      if (!strpbrk(buf, ".e")) strcat(buf, ".0");
      s = arena_printf(a, "%sf", buf);
      if (buf[0] == '-') s = arena_printf(a, "(%s)", s);
    }
    return dt == TM_F32 ? s : arena_printf(a, "%s(%s)", em_tname(E, dt), s);
  }
  int64_t v = in->imm;
  switch (dt) {
  case TM_I1: return v ? "true" : "false";
  case TM_I32:
    if (v == INT32_MIN) return "(-2147483647 - 1)";
    return v < 0 ? arena_printf(a, "(%lld)", (long long)v) : arena_printf(a, "%lld", (long long)v);
  case TM_I64:
    if (v == INT64_MIN) return "(-9223372036854775807L - 1L)";
    return v < 0 ? arena_printf(a, "(%lldL)", (long long)v) : arena_printf(a, "%lldL", (long long)v);
  case TM_U32: return arena_printf(a, "%lluu", (unsigned long long)(uint32_t)v);
  case TM_U64: return arena_printf(a, "%lluUL", (unsigned long long)v);
  default: return arena_printf(a, "%s(%lld)", em_tname(E, dt), (long long)v);
  }
}

static Param *ptr_param(Fn *f, int id) { return ir_pointer_param(f, id); }

/* The declared type of a value of type t reached through id: `float`, `device const float*`. */
static const char *decl_type(Emitter *E, int id) {
  Ins *in = &E->f->ins.v[id];
  if (!in->ty.ptr) return em_tname(E, (tm_dtype)in->ty.dt);
  Param *p = ptr_param(E->f, id);
  const char *q = p && !p->written ? E->dcq : E->dq;
  return arena_printf(&E->c->arena, "%s %s*", q, mem_tname(E, (tm_dtype)in->ty.dt));
}

static const char *storage(Emitter *E, int op, int i) { return arena_printf(&E->c->arena, "r%d_%d", op, i); }

static bool is_transparent(Ins *in) {
  return in->op == O_CONST || in->op == O_ARG || in->op == O_SPLAT || in->op == O_BLOCKARG || in->op == O_RESULT ||
         in->op == O_HINT;
}

/* The slot of `from` that holds, in this thread, what slot k of `to` holds
 * (layout_maps(from, to) must hold). */
static const char *slot_map(Emitter *E, const Layout *from, const Layout *to) {
  if (layout_eq(from, to)) return "k";
  Buf b = {0};
  for (int d = 0; d < to->prank; d++) {
    if (from->size[d] == 1 || to->per[d] == 1) continue;
    buf_printf(&b, "%s(k / %du %% %du) * %du", b.len ? " + " : "", to->stride[d], to->per[d], from->stride[d]);
  }
  const char *r = arena_strdup(&E->c->arena, b.len ? b.p : "0");
  buf_free(&b);
  return r;
}

/* How instruction `id` is referred to from the current position (slot k of
 * the open group's layout, for block values). */
const char *em_ref(Emitter *E, int id) {
  Ins *in = &E->f->ins.v[id];
  Arena *a = &E->c->arena;
  if (E->subst && E->subst[id]) return E->subst[id];
  const char *idx = "k";
  if (in->ty.rank && in->layout && E->group && !layout_eq(in->layout, E->group)) {
    if (!layout_maps(in->layout, E->group))
      internal_error(E->c, "emit", "value %%%d is read in a group of an incompatible layout", id);
    idx = slot_map(E, in->layout, E->group);
  }
  switch (in->op) {
  case O_CONST: return literal(E, in);
  case O_ARG: return E->param_names[in->aux];
  case O_SPLAT: case O_HINT: return em_ref(E, in->args[0]);
  case O_BLOCKARG: case O_RESULT: {
    int i = in->op == O_BLOCKARG ? in->aux : in->aux + 1;
    const char *s = storage(E, (int)in->imm, i);
    return in->ty.rank ? arena_printf(a, "%s[%s]", s, idx) : s;
  }
  default: break;
  }
  if (in->ty.rank && E->in_array[id]) return arena_printf(a, "v%d[%s]", id, idx);
  return arena_printf(a, "v%d", id);
}

void em_use_helper(Emitter *E, const char *name) {
  for (int i = 0; name && math_helpers[i].name; i++)
    if (!strcmp(math_helpers[i].name, name) && !E->helpers[i]) {
      E->helpers[i] = true;
      em_use_helper(E, math_helpers[i].needs);
    }
}

/* Whether the kernel uses the helper of that name (em_use_helper). */
static bool helper_used(const Emitter *E, const char *name) {
  for (int i = 0; math_helpers[i].name; i++)
    if (!strcmp(math_helpers[i].name, name)) return E->helpers[i];
  return false;
}

static const char *binop_expr(Emitter *E, Ins *in) {
  Arena *a = &E->c->arena;
  const char *x = em_ref(E, in->args[0]), *y = in->nargs > 1 ? em_ref(E, in->args[1]) : NULL;
  tm_dtype dt = (tm_dtype)E->f->ins.v[in->args[0]].ty.dt;
  bool fl = dt_is_float(dt), sg = dt_is_signed(dt);
  const char *T = in->ty.ptr ? mem_tname(E, (tm_dtype)in->ty.dt) : em_tname(E, (tm_dtype)in->ty.dt);
  static const char *sym[O_NOPS] = {[O_ADD] = "+", [O_SUB] = "-", [O_MUL] = "*", [O_AND] = "&", [O_OR] = "|",
                                    [O_XOR] = "^", [O_SHL] = "<<", [O_SHR] = ">>"};
  /* Triton's integers wrap; MSL's signed overflow (and a left shift of a
   * negative value) is undefined, as in C++: signed +, -, * and << go through
   * the unsigned type of their width, and narrow ones (which C promotes to
   * int, where u16 * u16 can overflow) through uint */
  bool wrap = !fl && dt != TM_I1 && (in->op == O_ADD || in->op == O_SUB || in->op == O_MUL || in->op == O_SHL);
  if (wrap && sg && dt_bits(dt) >= 32) {
    const char *U = dt_bits(dt) == 64 ? "ulong" : "uint";
    if (in->op == O_SHL) return arena_printf(a, "as_type<%s>(as_type<%s>(%s) << %s)", T, U, x, y);
    return arena_printf(a, "as_type<%s>(as_type<%s>(%s) %s as_type<%s>(%s))", T, U, x, sym[in->op], U, y);
  }
  if (wrap && dt_bits(dt) < 32) return arena_printf(a, "%s(uint(%s) %s %s)", T, x, sym[in->op], in->op == O_SHL ? y : arena_printf(a, "uint(%s)", y));
  switch ((Op)in->op) {
  case O_ADD: case O_SUB: case O_MUL:
    if (dt == TM_I1) return arena_printf(a, "bool((%s %s %s) & 1)", x, sym[in->op], y);
    /* fallthrough */
  case O_AND: case O_OR: case O_XOR: case O_SHL: case O_SHR:
    if (in->op == O_SHR && (bool)in->aux != sg) { /* the other kind of shift than dt's own */
      static const tm_dtype flip[] = {[TM_I8] = TM_U8, [TM_I16] = TM_U16, [TM_I32] = TM_U32, [TM_I64] = TM_U64,
                                      [TM_U8] = TM_I8, [TM_U16] = TM_I16, [TM_U32] = TM_I32, [TM_U64] = TM_I64};
      return arena_printf(a, "%s(%s(%s) >> %s)", T, em_tname(E, flip[dt]), x, y);
    }
    if (fl || dt_bits(dt) >= 32) return arena_printf(a, "%s %s %s", x, sym[in->op], y);
    return arena_printf(a, "%s(%s %s %s)", T, x, sym[in->op], y); /* C promotes narrow ints */
  case O_DIV:
    if (fl) return arena_printf(a, "%s / %s", x, y);
    em_use_helper(E, "tm_idiv");
    return arena_printf(a, "tm_%cdiv(%s, %s)", sg ? 's' : 'u', x, y);
  case O_REM:
    if (fl) return arena_printf(a, "fmod(%s, %s)", x, y);
    em_use_helper(E, "tm_idiv");
    return arena_printf(a, "tm_%crem(%s, %s)", sg ? 's' : 'u', x, y);
  case O_MIN: case O_MAX: {
    const char *f = fl ? (in->op == O_MIN ? "fmin" : "fmax") : (in->op == O_MIN ? "min" : "max");
    /* Metal has no bfloat fmin/fmax: in float, exactly */
    const char *m = dt == TM_BF16 ? arena_printf(a, "bfloat(%s(float(%s), float(%s)))", f, x, y) : arena_printf(a, "%s(%s, %s)", f, x, y);
    if (fl && in->aux) /* propagate_nan=ALL: a NaN operand wins */
      return arena_printf(a, "(%s != %s || %s != %s) ? %s(%s + %s) : %s", x, x, y, y, T, x, y, m);
    return m;
  }
  case O_NEG: /* -MIN wraps to MIN, as Triton's integers do */
    if (fl) return arena_printf(a, "-%s", x);
    if (dt_bits(dt) == 64) return arena_printf(a, "as_type<%s>(0ul - as_type<ulong>(%s))", T, x);
    if (dt_bits(dt) == 32) return arena_printf(a, "as_type<%s>(0u - as_type<uint>(%s))", T, x);
    return arena_printf(a, "%s(0u - uint(%s))", T, x);
  case O_NOT:
    if (dt == TM_I1) return arena_printf(a, "!%s", x);
    if (dt_bits(dt) >= 32) return arena_printf(a, "~%s", x);
    return arena_printf(a, "%s(~%s)", T, x);
  case O_CMP: {
    static const char *cs[] = {"==", "!=", "<", "<=", ">", ">="};
    return arena_printf(a, "%s %s %s", x, cs[in->aux], y);
  }
  case O_SELECT:
    if (in->ty.ptr) /* either pointer may be declared const (a read-only argument) */
      return arena_printf(a, "(%s)(%s ? %s : %s)", decl_type(E, (int)(in - E->f->ins.v)), x, y, em_ref(E, in->args[2]));
    return arena_printf(a, "%s ? %s : %s", x, y, em_ref(E, in->args[2]));
  case O_CAST:
    if (in->aux == 2) { /* to the bits of a double (a float64 store, sema.c store_f64) */
      em_use_helper(E, "tm_f64_bits");
      if (dt_is_float(dt)) return arena_printf(a, "tm_f64_bits(float(%s))", x);
      if (dt == TM_U64) return arena_printf(a, "tm_f64_bits(ulong(%s))", x);
      return arena_printf(a, "tm_f64_bits(long(%s))", x);
    }
    if (in->aux == 1) { /* fp_downcast_rounding='rtz' */
      const char *h = in->ty.dt == TM_F16 ? "tm_rtz_half" : "tm_rtz_bfloat";
      em_use_helper(E, h);
      return arena_printf(a, "%s(%s)", h, x);
    }
    if (in->ty.ptr) /* int64 -> pointer */
      return arena_printf(a, "(%s %s*)(%s)", E->dq, mem_tname(E, (tm_dtype)in->ty.dt), x);
    if (E->f->ins.v[in->args[0]].ty.ptr) return arena_printf(a, "%s(%s)", T, x); /* pointer -> int64 */
    if (in->ty.dt == TM_I1) return arena_printf(a, "%s != %s(0)", x, em_tname(E, dt));
    if ((dt == TM_BF16 && in->ty.dt == TM_F16) || (dt == TM_F16 && in->ty.dt == TM_BF16))
      return arena_printf(a, "%s(float(%s))", T, x); /* exact widening, then one rounding */
    return arena_printf(a, "%s(%s)", T, x);
  case O_BITCAST:
    if (in->ty.ptr) return arena_printf(a, "(%s)(%s)", decl_type(E, (int)(in - E->f->ins.v)), x);
    return arena_printf(a, "as_type<%s>(%s)", T, x);
  case O_MATH: { /* the table's spelling with $0.. $T substituted */
    em_use_helper(E, math_fns[in->aux].needs);
    /* Metal has no bfloat overloads of its math functions: bfloat operands
     * are widened (exactly) and the function computes in float */
    bool bf = false;
    for (int i = 0; i < in->nargs; i++) bf |= E->f->ins.v[in->args[i]].ty.dt == TM_BF16;
    Buf b = {0};
    for (const char *p = math_fns[in->aux].msl; *p; p++) {
      if (*p == '$' && p[1] >= '0' && p[1] <= '3' && p[1] - '0' < in->nargs) {
        int arg = in->args[*++p - '0'];
        if (E->f->ins.v[arg].ty.dt == TM_BF16) buf_printf(&b, "float(%s)", em_ref(E, arg));
        else buf_puts(&b, em_ref(E, arg));
      } else if (*p == '$' && p[1] == 'T') {
        buf_puts(&b, bf && in->ty.dt == TM_BF16 ? "float" : T);
        p++;
      } else buf_put(&b, p, 1);
    }
    const char *r = bf && in->ty.dt == TM_BF16 ? arena_printf(a, "bfloat(%s)", b.p ? b.p : "") : arena_strdup(a, b.p ? b.p : "");
    buf_free(&b);
    return r;
  }
  case O_ADDPTR: return arena_printf(a, "%s + %s", x, y);
  case O_PROGRAM_ID: return arena_printf(a, "int(tm_pid.%c)", "xyz"[in->aux]);
  case O_NUM_PROGRAMS:
    E->uses_npid = true;
    return arena_printf(a, "int(tm_npid.%c)", "xyz"[in->aux]);
  default: internal_error(E->c, "emit", "no expression for op %s", op_name((Op)in->op));
  }
}

void em_indent(Buf *b, int n) { buf_printf(b, "%*s", n * 2, ""); }

void em_line(Emitter *E, int ind, const char *fmt, ...) {
  char tmp[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || n >= (int)sizeof tmp) internal_error(E->c, "emit", "an emitted line is too long");
  em_indent(&E->out, ind);
  buf_puts(&E->out, tmp);
}

/* Per-slot element coordinates of layout l: c<d> per parent dim d, and dup:
 * whether the element is a duplicate along any dim (or only along dup_dim >= 0). */
static void coords_along(Emitter *E, const Layout *l, Buf *b, int ind, bool need_dup, int dup_dim) {
  int T = E->f->num_warps * 32;
  E->uses_tid = true;
  if (l->prank == 1 && l->spt[0] == 1 && l->tpw[0] == 32 && l->wpc[0] == E->f->num_warps) {
    /* the common case: thread t holds elements t, t+T, t+2T, ... */
    em_indent(b, ind);
    if (l->size[0] >= T) buf_printf(b, "int c0 = int(k * %du + tm_tid);\n", T);
    else buf_printf(b, "int c0 = int(tm_tid %% %du);\n", l->size[0]);
    if (need_dup && l->replicated) {
      em_indent(b, ind);
      buf_printf(b, "bool dup = tm_tid >= %du;\n", l->size[0]);
    }
    return;
  }
  em_indent(b, ind);
  buf_printf(b, "uint lane = tm_tid %% 32u, warp = tm_tid / 32u;\n");
  if (need_dup && l->replicated) {
    em_indent(b, ind);
    buf_printf(b, "bool dup = false;\n");
  }
  for (int kk = 0; kk < l->prank; kk++) {
    int d = l->order[kk];
    int tile = l->spt[d] * l->tpw[d] * l->wpc[d];
    em_indent(b, ind);
    buf_printf(b, "uint e%d = (k / %du %% %du) / %du * %du + ((warp %% %du) * %du + lane %% %du) * %du + (k / %du %% %du) %% %du;\n",
               d, l->stride[d], l->per[d], l->espt[d], tile, l->wpc[d], l->tpw[d], l->tpw[d], l->spt[d], l->stride[d],
               l->per[d], l->espt[d]);
    if (kk + 1 < l->prank) {
      em_indent(b, ind);
      buf_printf(b, "lane /= %du; warp /= %du;\n", l->tpw[d], l->wpc[d]);
    }
    if (need_dup && l->replicated && l->size[d] < tile && (dup_dim < 0 || dup_dim == d)) {
      em_indent(b, ind);
      buf_printf(b, "dup = dup || e%d >= %du;\n", d, l->size[d]);
    }
    em_indent(b, ind);
    buf_printf(b, "int c%d = int(e%d %% %du);\n", d, d, l->size[d]);
  }
}

void em_coords(Emitter *E, const Layout *l, Buf *b, int ind, bool need_dup) {
  coords_along(E, l, b, ind, need_dup, -1);
}

static void coords_code(Emitter *E, Buf *b, int ind) { em_coords(E, E->group, b, ind, E->need_dup); }

/* Row-major flat index of a value's element from the coordinates c<d>. */
static const char *flat_index(Emitter *E, const Layout *l) {
  if (!l->rank) return "0";
  const char *r = arena_printf(&E->c->arena, "c%d", l->dims[0]);
  for (int i = 1; i < l->rank; i++) r = arena_printf(&E->c->arena, "(%s) * %d + c%d", r, l->shape[i], l->dims[i]);
  return r;
}

static void close_group(Emitter *E) {
  if (!E->group) return;
  buf_put(&E->out, E->pre.p ? E->pre.p : "", E->pre.len);
  em_indent(&E->out, E->gind);
  buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", E->group->per_thread);
  if (E->need_coords) coords_code(E, &E->out, E->gind + 1);
  buf_put(&E->out, E->loop.p ? E->loop.p : "", E->loop.len);
  em_indent(&E->out, E->gind);
  buf_puts(&E->out, "}\n");
  E->pre.len = E->loop.len = 0;
  if (E->pre.p) E->pre.p[0] = 0;
  if (E->loop.p) E->loop.p[0] = 0;
  E->group = NULL;
  E->need_coords = E->need_dup = false;
}

static void open_group(Emitter *E, Layout *l, int ind) {
  if (E->group && layout_eq(E->group, l) && E->gind == ind) return;
  close_group(E);
  E->group = l;
  E->gind = ind;
}

/* Instructions that join a group: block-valued (or block-storing) elementwise work. */
static bool groupable(Ins *in) {
  if (is_transparent(in)) return false;
  if ((in->op == O_LOAD || in->op == O_STORE) && in->vec > 1) return false; /* its own vector loop */
  switch ((Op)in->op) {
  case O_FOR: case O_IF: case O_WHILE: case O_YIELD: case O_CONDITION: case O_RETURN: case O_CONVERT:
  case O_REDUCE: case O_DOT: case O_ATOMIC: case O_SHUFFLE: case O_BARRIER: case O_PRINT: case O_ASSERT: return false;
  default: return in->layout != NULL;
  }
}

/* Groups as emit_block will form them. Returns the next free group number. */
static int plan_groups(Emitter *E, Block *b, int g) {
  Fn *f = E->f;
  Layout *cur = NULL;
  for (int bi = 0; bi < b->ins.n; bi++) {
    int id = b->ins.v[bi];
    Ins *in = &f->ins.v[id];
    if (is_transparent(in)) continue;
    if (groupable(in)) {
      if (!cur || !layout_eq(cur, in->layout)) g++;
      cur = in->layout;
      E->group_of[id] = g;
    } else if (in->op == O_LOAD || in->op == O_STORE || in->nregions || in->op == O_YIELD ||
               in->op == O_CONDITION || in->op == O_RETURN || in->op == O_CONVERT || in->op == O_DOT || in->op == O_ATOMIC ||
               in->op == O_SHUFFLE || in->op == O_BARRIER || in->op == O_PRINT || in->op == O_ASSERT) {
      cur = NULL;
      for (int r = 0; r < in->nregions; r++)
        if (in->op != O_REDUCE && in->op != O_SCAN) g = plan_groups(E, in->regions[r], g);
    }
  }
  return g;
}

/* A block value read by an instruction of another group (or by a non-group one) is an array. */
static void plan_arrays(Emitter *E) {
  Fn *f = E->f;
  for (int id = 0; id < f->ins.n; id++) {
    Ins *in = &f->ins.v[id];
    for (int k = 0; k < in->nargs; k++) {
      int a = in->args[k];
      Ins *ai = &f->ins.v[a];
      if (!ai->ty.rank || is_transparent(ai)) continue;
      if (!E->group_of[id] || E->group_of[id] != E->group_of[a]) E->in_array[a] = true;
    }
  }
}

/* The checked access to device memory at p (the value ptr_id, or an address in
 * it): TM_LDA/TM_STA with the parameter the pointer comes from, which the
 * emulator checks the address against, else TM_LD/TM_ST (any bound memory). */
static const char *em_access(Emitter *E, bool store, int ptr_id, const char *p, int line) {
  int r = E->roots[ptr_id];
  if (r >= 0) return arena_printf(&E->c->arena, "TM_%sA(%s, %d, %d)", store ? "ST" : "LD", p, line, r);
  return arena_printf(&E->c->arena, "TM_%s(%s, %d)", store ? "ST" : "LD", p, line);
}

static void emit_load_expr(Emitter *E, Ins *in, Buf *b, const char *lhs) {
  Arena *a = &E->c->arena;
  tm_dtype dt = (tm_dtype)in->ty.dt;
  const char *acc = arena_printf(a, "*%s", em_access(E, false, in->args[0], em_ref(E, in->args[0]), in->line));
  if (dt == TM_I1) acc = arena_printf(a, "(%s != 0)", acc);
  const char *cond = in->nargs > 1 ? em_ref(E, in->args[1]) : NULL;
  if (in->solo) { /* order.c: only thread 0 needs this value */
    E->uses_tid = true;
    cond = cond ? arena_printf(a, "tm_tid == 0u && %s", cond) : "tm_tid == 0u";
  }
  if (!cond) {
    buf_printf(b, "%s%s;\n", lhs, acc);
    return;
  }
  const char *other = in->nargs == 3 ? em_ref(E, in->args[2]) : arena_printf(a, "%s(0)", em_tname(E, dt));
  buf_printf(b, "%s%s ? %s : %s;\n", lhs, cond, acc, other);
}

static void emit_store(Emitter *E, Ins *in, Buf *b, int ind, bool block) {
  Arena *a = &E->c->arena;
  tm_dtype dt = (tm_dtype)E->f->ins.v[in->args[0]].ty.dt;
  const char *val = em_ref(E, in->args[1]);
  if (dt == TM_I1) val = arena_printf(a, "%s(%s)", em_tname(E, TM_U8), val);
  const char *cond = in->nargs == 3 ? em_ref(E, in->args[2]) : NULL;
  if (block && E->group->replicated) {
    E->need_dup = true;
    cond = cond ? arena_printf(a, "!dup && %s", cond) : "!dup";
  }
  if (!block) { /* a scalar: every thread holds it; the program stores it once */
    E->uses_tid = true;
    cond = cond ? arena_printf(a, "tm_tid == 0u && %s", cond) : "tm_tid == 0u";
  }
  em_indent(b, ind);
  const char *acc = em_access(E, true, in->args[0], em_ref(E, in->args[0]), in->line);
  if (cond) buf_printf(b, "if (%s) *%s = %s;\n", cond, acc, val);
  else buf_printf(b, "*%s = %s;\n", acc, val);
}

/* Declares an op's carried storage `rR_i` (i >= 1), typed like vals[i]
 * (inits, or the values a branch yields), filled from them when init (except
 * where skip[i], when given, holds). */
static void declare_storage(Emitter *E, int op, const int *vals, int n, bool init, const bool *skip, int ind) {
  for (int i = 0; i < n; i++) {
    const char *s = storage(E, op, i + 1);
    Ins *v = &E->f->ins.v[vals[i]];
    const char *T = decl_type(E, vals[i]);
    bool fill = init && !(skip && skip[i]);
    em_indent(&E->out, ind);
    if (!v->ty.rank) {
      if (fill) buf_printf(&E->out, "%s %s = %s;\n", T, s, em_ref(E, vals[i]));
      else buf_printf(&E->out, "%s %s;\n", T, s);
      continue;
    }
    Layout *l = v->layout;
    buf_printf(&E->out, "%s %s[%d];\n", T, s, l->per_thread);
    if (fill) {
      em_indent(&E->out, ind);
      buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) %s[k] = %s;\n", l->per_thread, s, em_ref(E, vals[i]));
    }
  }
}

/* yield: new values first, then the storage (so `yield b, a` swaps correctly). */
static void emit_yield(Emitter *E, int op, Ins *y, int ind) {
  for (int i = 0; i < y->nargs; i++) {
    Ins *v = &E->f->ins.v[y->args[i]];
    if (E->carried[y->args[i]]) continue; /* already in the loop's simdgroup matrices */
    const char *T = v->ty.ptr ? decl_type(E, y->args[i]) : em_tname(E, (tm_dtype)v->ty.dt);
    em_indent(&E->out, ind);
    if (!v->ty.rank) buf_printf(&E->out, "%s y%d_%d = %s;\n", T, op, i + 1, em_ref(E, y->args[i]));
    else
      buf_printf(&E->out, "%s y%d_%d[%d]; for (uint k = 0; k < %du; ++k) y%d_%d[k] = %s;\n", T, op, i + 1,
                 v->layout->per_thread, v->layout->per_thread, op, i + 1, em_ref(E, y->args[i]));
  }
  for (int i = 0; i < y->nargs; i++) {
    Ins *v = &E->f->ins.v[y->args[i]];
    if (E->carried[y->args[i]]) continue;
    em_indent(&E->out, ind);
    if (!v->ty.rank) buf_printf(&E->out, "r%d_%d = y%d_%d;\n", op, i + 1, op, i + 1);
    else buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) r%d_%d[k] = y%d_%d[k];\n", v->layout->per_thread, op, i + 1, op, i + 1);
  }
}

static void emit_block(Emitter *E, Block *b, int ind, int op);
static void emit_ins(Emitter *E, int id, int ind, int op);

static void em_flush_barrier(Emitter *E);
static void emit_block_open(Emitter *E, Block *b, int ind, int op);
static bool dot_region_clear(const Emitter *E, tm_dtype dt, int lo, int hi);

static void emit_for(Emitter *E, int id, int ind) {
  Ins *in = &E->f->ins.v[id];
  Arena *a = &E->c->arena;
  int n = in->nargs - 3;
  int *dots = arena_alloc(a, sizeof(int) * (size_t)(n + 1));
  bool *sg = arena_alloc(a, sizeof(bool) * (size_t)(n + 1));
  for (int i = 0; i < n; i++) sg[i] = (dots[i] = em_dot_carried(E, id, i)) >= 0;
  declare_storage(E, id, in->args + 3, n, true, sg, ind);
  for (int i = 0; i < n; i++)
    if (sg[i]) em_dot_carry_in(E, id, i, dots[i], ind);
  em_dot_hoist_a(E, id, ind);
  const char *iv = storage(E, id, 0);
  const char *lo = em_ref(E, in->args[0]), *hi = em_ref(E, in->args[1]), *st = em_ref(E, in->args[2]);
  Ins *si = &E->f->ins.v[in->args[2]];
  const char *cond;
  if (si->op == O_CONST) cond = arena_printf(a, "%s %s %s", iv, si->imm > 0 ? "<" : ">", hi);
  else cond = arena_printf(a, "(%s > 0 ? %s < %s : %s > %s)", st, iv, hi, iv, hi);
  int td = E->turn_dot, to = E->turn_op, tn = E->turn_n;
  bool turns = em_dot_pingpong(E, id) >= 0;
  if (turns) em_line(E, ind, "uint tm_turn%d = 0u; // which of its dot's two staging regions a turn uses\n", id);
  em_indent(&E->out, ind);
  buf_printf(&E->out, "for (%s %s = %s; %s; %s += %s) {\n", em_tname(E, (tm_dtype)in->ty.dt), iv, lo, cond, iv, st);
  em_indent(&E->out, ind + 1);
  buf_printf(&E->out, "TM_POLL(%d);\n", in->line);
  /* the body; a dot's barrier held at its end stays held into the next turn
   * when that turn's first use of scratch is a dot staging elsewhere (flash
   * attention's two dots: one barrier each per turn, not two) */
  int fk = E->first_kind;
  E->first_kind = 0;
  emit_block_open(E, in->regions[0], ind + 1, id);
  bool keep = E->first_kind == 1 && (dot_region_clear(E, E->first_dt, E->first_lo, E->first_hi) ||
                                     (E->bar_pending && E->bar_dot && E->bar_pp == id));
  if (!keep) em_flush_barrier(E);
  if (turns) em_line(E, ind + 1, "++tm_turn%d;\n", id);
  E->turn_dot = td, E->turn_op = to, E->turn_n = tn;
  E->first_kind = fk ? fk : E->first_kind ? 2 : 0; /* the loop may not run: what follows is not known to be that dot */
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
  for (int i = 0; i < n; i++)
    if (sg[i]) em_dot_carry_out(E, id, i, dots[i], ind);
}

static void emit_if(Emitter *E, int id, int ind) {
  Ins *in = &E->f->ins.v[id];
  /* results: the yields of the branch that falls through tell their types */
  Block *then = in->regions[0], *els = in->regions[1];
  Ins *y0 = &E->f->ins.v[then->ins.v[then->ins.n - 1]], *y1 = &E->f->ins.v[els->ins.v[els->ins.n - 1]];
  Ins *y = y0->nargs ? y0 : y1;
  declare_storage(E, id, y->args, y->nargs, false, NULL, ind);
  /* a branch may not run: a dot in it is no loop body's sure first use of scratch (emit_for) */
  if (!E->first_kind) E->first_kind = 2;
  em_indent(&E->out, ind);
  buf_printf(&E->out, "if (%s) {\n", em_ref(E, in->args[0]));
  emit_block(E, then, ind + 1, id);
  if (els->ins.n > 1 || y1->nargs) {
    em_indent(&E->out, ind);
    buf_puts(&E->out, "} else {\n");
    emit_block(E, els, ind + 1, id);
  }
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
}

/* Whether the text from offset `from` of the function body starts, after
 * TM_POLL and fences, with a threadgroup barrier. */
static bool starts_with_barrier(Emitter *E, size_t from) {
  const char *p = E->out.p + from, *end = E->out.p + E->out.len;
  while (p < end) {
    while (p < end && *p == ' ') p++;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return false;
    if (!strncmp(p, "threadgroup_barrier(", 20)) return true;
    if (strncmp(p, "TM_POLL(", 8) && strncmp(p, "TM_FENCE();", 11)) return false;
    p = nl + 1;
  }
  return false;
}

/* A while loop. A barrier held back at the end of its body (a broadcast's or a
 * reduction's closing one) is not emitted there when every turn starts with a
 * barrier (a spin on an atomic: `while tl.atomic_cas(...) == 1`): that one
 * frees the scratch for the next turn, and on leaving the loop the held one is
 * emitted before the next use of scratch, as after any other op. */
static void emit_while(Emitter *E, int id, int ind) {
  Ins *in = &E->f->ins.v[id];
  declare_storage(E, id, in->args, in->nargs, true, NULL, ind);
  if (!E->first_kind) E->first_kind = 2; /* as in emit_if */
  em_indent(&E->out, ind);
  buf_puts(&E->out, "while (true) {\n");
  size_t top = E->out.len;
  em_indent(&E->out, ind + 1);
  buf_printf(&E->out, "TM_POLL(%d);\n", in->line);
  emit_block_open(E, in->regions[0], ind + 1, id); /* the condition: a held barrier stays held into */
  emit_block_open(E, in->regions[1], ind + 1, id); /* the body (its scratch users emit it first) */
  if (E->bar_pending && starts_with_barrier(E, top))
    E->bar_ind = ind;
  else
    em_flush_barrier(E);
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
}

/* Emits a held-back reduction barrier (Emitter.bar_pending). */
static bool after_barrier(Emitter *E);
static void em_flush_barrier(Emitter *E) {
  if (!E->bar_pending) return;
  E->bar_pending = false;
  if (after_barrier(E)) return; /* the barrier just emitted serves */
  em_indent(&E->out, E->bar_ind);
  buf_puts(&E->out, "threadgroup_barrier(mem_flags::mem_threadgroup);\n");
}

static bool dot_region_clear(const Emitter *E, tm_dtype dt, int lo, int hi) {
  return E->bar_pending && E->bar_dot && E->bar_dt == dt && (lo >= E->bar_hi || hi <= E->bar_lo);
}

const char *em_smem_at(Emitter *E, tm_dtype dt, int lo, int n) {
  if (!E->first_kind) E->first_kind = 1, E->first_dt = dt, E->first_lo = lo, E->first_hi = lo + n;
  bool saved = E->bar_keep;
  if (dot_region_clear(E, dt, lo, lo + n)) E->bar_keep = true;
  const char *s = em_smem(E, dt, lo + n);
  E->bar_keep = saved;
  return s;
}

int em_smem_free_at(Emitter *E, tm_dtype dt, int n) {
  if (!E->bar_pending || !E->bar_dot || E->bar_dt != dt) return 0;
  int budget = E->c->target->threadgroup_mem_bytes > 0 ? E->c->target->threadgroup_mem_bytes : 32768;
  int64_t bytes = (int64_t)(E->bar_hi + n) * tm_dtype_bytes(dt);
  for (int d = 0; d < TM_NDTYPES; d++)
    if (d != (int)dt) bytes += (int64_t)E->smem[d] * (d == TM_I1 ? 1 : tm_dtype_bytes((tm_dtype)d));
  return bytes <= budget ? E->bar_hi : 0;
}

void em_hold_dot_barrier(Emitter *E, int ind, tm_dtype dt, int lo, int hi) {
  E->bar_pending = true;
  E->bar_pp = E->turn_dot >= 0 && E->cur == E->turn_dot ? E->turn_op : -1;
  E->bar_ind = ind;
  E->bar_dt = dt;
  E->bar_dot = true;
  E->bar_lo = lo, E->bar_hi = hi;
  E->uses_barrier = true;
}

const char *em_smem(Emitter *E, tm_dtype dt, int n) {
  if (!E->first_kind) E->first_kind = 2;
  if (!E->bar_keep) em_flush_barrier(E);
  if (n > E->smem[dt]) E->smem[dt] = n;
  E->smem_dts[E->cur >= 0 && E->cur < E->f->ins.n ? E->cur : E->f->ins.n] |= 1ull << dt;
  vec_push(&E->c->arena, E->smem_users, E->cur);
  vec_push(&E->c->arena, E->smem_sizes, n * (dt == TM_I1 ? 1 : tm_dtype_bytes(dt)));
  /* every access names its Python line: the emulator bounds-checks it (msl.c) */
  int line = E->cur >= 0 && E->cur < E->f->ins.n ? E->f->ins.v[E->cur].line : E->f->line;
  return arena_printf(&E->c->arena, "TM_TGM(tm_smem_%s, %d)", em_tname(E, dt), line);
}

/* Places each dtype's scratch array in one block of threadgroup memory;
 * returns the block's bytes. Every operation's use of scratch ends with a
 * barrier after its last read (the arrays of one dtype have always been
 * shared by all operations on that ground), so operations' arrays may
 * overlap; only the dtypes one operation uses at once (a dot's operands and
 * its accumulator, a reduction's values and indices) are kept apart. Widest
 * first, each at the lowest 16-byte aligned offset clear of those it is used
 * with. */
static int layout_smem(Emitter *E, int *off) {
  uint64_t with[TM_NDTYPES] = {0};
  for (int i = 0; i <= E->f->ins.n; i++)
    for (int dt = 0; dt < TM_NDTYPES; dt++)
      if (E->smem_dts[i] >> dt & 1) with[dt] |= E->smem_dts[i] & ~(1ull << dt);
  int size[TM_NDTYPES], elem[TM_NDTYPES], order[TM_NDTYPES], n = 0, total = 0;
  for (int dt = 0; dt < TM_NDTYPES; dt++) {
    off[dt] = 0;
    elem[dt] = dt == TM_I1 ? 1 : tm_dtype_bytes((tm_dtype)dt);
    size[dt] = E->smem[dt] * elem[dt];
  }
  for (int bytes = 8; bytes >= 1; bytes /= 2)
    for (int dt = 0; dt < TM_NDTYPES; dt++)
      if (E->smem[dt] && elem[dt] == bytes) order[n++] = dt;
  for (int i = 0; i < n; i++) {
    int dt = order[i], o = 0;
    for (bool moved = true; moved;) {
      moved = false;
      for (int j = 0; j < i; j++) {
        int d2 = order[j];
        if (!(with[dt] >> d2 & 1) || o >= off[d2] + size[d2] || off[d2] >= o + size[dt]) continue;
        o = (off[d2] + size[d2] + 15) / 16 * 16;
        moved = true;
      }
    }
    off[dt] = o;
    if (o + size[dt] > total) total = o + size[dt];
  }
  return total;
}

/* Whether the function body's last line is a threadgroup barrier (of
 * threadgroup memory, with or without device memory): nothing between it and
 * this point, so a threadgroup-memory barrier here would add nothing. */
/* The k-th line from the end of the function body so far (k = 0: the last),
 * without its indentation, as a pointer into it and its length (to the newline
 * included); NULL when there is none. */
static const char *line_back(Emitter *E, int k, size_t *len) {
  size_t end = E->out.len;
  for (;; k--) {
    if (!end || E->out.p[end - 1] != '\n') return NULL;
    size_t start = end - 1;
    while (start > 0 && E->out.p[start - 1] != '\n') start--;
    if (!k) {
      while (start < end && E->out.p[start] == ' ') start++;
      *len = end - start;
      return E->out.p + start;
    }
    end = start;
  }
}

static bool line_is(Emitter *E, int k, const char *text) {
  size_t n;
  const char *l = line_back(E, k, &n);
  return l && n == strlen(text) && !memcmp(l, text, n);
}

/* Whether the function body's last line is a threadgroup barrier (of
 * threadgroup memory, with or without device memory): nothing between it and
 * this point, so a threadgroup-memory barrier here would add nothing. */
static bool after_barrier(Emitter *E) {
  return line_is(E, 0, "threadgroup_barrier(mem_flags::mem_threadgroup);\n") ||
         line_is(E, 0, "threadgroup_barrier(mem_flags::mem_device | mem_flags::mem_threadgroup);\n");
}

/* ... and the line before it a fence: a fence here would order nothing more. */
static bool after_fenced_barrier(Emitter *E) { return after_barrier(E) && line_is(E, 1, "TM_FENCE();\n"); }

/* Whether any instruction of the function reads value id. */
static bool has_users(Emitter *E, int id) {
  for (int i = 0; i < E->f->ins.n; i++) {
    const Ins *u = &E->f->ins.v[i];
    for (int j = 0; j < u->nargs; j++)
      if (u->args[j] == id) return true;
  }
  return false;
}

/* The closing barrier of a scalar broadcast (after every thread read the
 * slot), held back as a reduction's is (Emitter.bar_pending): emitted before
 * the next use of scratch, a control-flow op or a block's end, unless a
 * barrier comes first anyway. No reduction takes the other half after it. */
static void em_hold_barrier(Emitter *E, int ind) {
  E->bar_pending = true;
  E->bar_dot = false;
  E->bar_ind = ind;
  E->bar_dt = (tm_dtype)TM_NDTYPES;
  E->uses_barrier = true;
}

void em_barrier(Emitter *E, int ind) {
  E->bar_pending = false; /* this one serves */
  E->uses_barrier = true;
  if (after_barrier(E)) return;
  em_indent(&E->out, ind);
  buf_puts(&E->out, "threadgroup_barrier(mem_flags::mem_threadgroup);\n");
}

/* ---- staging through threadgroup memory ----
 * Layout conversions and shape ops move every element through threadgroup
 * memory at its index in a staging order (row-major). When the staged
 * elements exceed the target's threadgroup memory, they move in chunks of C
 * indices: for each chunk, the writers store the elements whose index falls in
 * it, a barrier, the readers take theirs, a barrier. Staging is then C
 * elements whatever the block's size (tm_lo: the chunk's first index). */

/* Staged indices per chunk for n elements of dt: n when they fit the target's
 * threadgroup memory, else the largest power of two filling half of it. */
static int stage_chunk(Emitter *E, tm_dtype dt, int n) {
  int bytes = dt == TM_I1 ? 1 : tm_dtype_bytes(dt);
  int budget = E->c->target->threadgroup_mem_bytes > 0 ? E->c->target->threadgroup_mem_bytes : 32768;
  if ((int64_t)n * bytes <= budget) return n;
  int c = 1;
  while ((int64_t)c * 2 * bytes <= budget / 2) c *= 2;
  return c;
}

/* Opens the chunk loop (when chunk < n): `tm_lo` is the chunk's first index. */
static int open_chunks(Emitter *E, int n, int chunk, int ind) {
  if (chunk >= n) return ind;
  em_indent(&E->out, ind);
  buf_printf(&E->out, "for (int tm_lo = 0; tm_lo < %d; tm_lo += %d) {\n", n, chunk);
  return ind + 1;
}

static void close_chunks(Emitter *E, int n, int chunk, int ind) {
  if (chunk >= n) return;
  em_indent(&E->out, ind - 1);
  buf_puts(&E->out, "}\n");
}

/* `sm[idx] = val;` or, chunked, only for an index in the chunk. */
static void stage_store(Emitter *E, const char *sm, const char *idx, const char *val, bool dup, bool chunked, int ind) {
  em_indent(&E->out, ind);
  if (!chunked) {
    buf_printf(&E->out, "%s%s[%s] = %s;\n", dup ? "if (!dup) " : "", sm, idx, val);
    return;
  }
  buf_printf(&E->out, "{ int s = %s; if (%ss >= tm_lo && s < tm_lo + %d) %s[s - tm_lo] = %s; }\n", idx,
             dup ? "!dup && " : "", E->chunk, sm, val);
}

/* `dst = sm[idx];` or, chunked, only for an index in the chunk. */
static void stage_load(Emitter *E, const char *dst, const char *sm, const char *idx, bool chunked, int ind) {
  em_indent(&E->out, ind);
  if (!chunked) {
    buf_printf(&E->out, "%s = %s[%s];\n", dst, sm, idx);
    return;
  }
  buf_printf(&E->out, "{ int s = %s; if (s >= tm_lo && s < tm_lo + %d) %s = %s[s - tm_lo]; }\n", idx, E->chunk, dst, sm);
}

/* A layout change: every element goes through threadgroup memory once.
 *   write: each owner (not a duplicate) stores its elements at their row-major index
 *   read:  each thread loads the elements its slots hold in the new layout */
static void emit_convert(Emitter *E, int id, int ind) {
  Ins *in = &E->f->ins.v[id];
  Ins *x = &E->f->ins.v[in->args[0]];
  Layout *A = x->layout, *B = in->layout;
  if (in->ty.ptr) error_at(E->c, in->line, in->col, "this block of pointers would need a layout conversion, which is not supported yet");
  tm_dtype dt = (tm_dtype)in->ty.dt;
  int n = (int)type_numel(in->ty), chunk = stage_chunk(E, dt, n);
  bool chunked = chunk < n;
  E->chunk = chunk;
  const char *sm = em_smem(E, dt, chunk);
  em_indent(&E->out, ind);
  buf_printf(&E->out, "%s v%d[%d];\n", em_tname(E, dt), id, B->per_thread);
  int ci = open_chunks(E, n, chunk, ind);
  em_indent(&E->out, ci);
  buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", A->per_thread);
  em_coords(E, A, &E->out, ci + 1, true);
  Layout *saved = E->group;
  E->group = A;
  stage_store(E, sm, flat_index(E, A), em_ref(E, in->args[0]), A->replicated, chunked, ci + 1);
  E->group = saved;
  em_indent(&E->out, ci);
  buf_puts(&E->out, "}\n");
  em_barrier(E, ci);
  em_indent(&E->out, ci);
  buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", B->per_thread);
  em_coords(E, B, &E->out, ci + 1, false);
  stage_load(E, arena_printf(&E->c->arena, "v%d[k]", id), sm, flat_index(E, B), chunked, ci + 1);
  em_indent(&E->out, ci);
  buf_puts(&E->out, "}\n");
  em_barrier(E, ci);
  close_chunks(E, n, chunk, ci);
  E->in_array[id] = true;
}

/* One atomic read-modify-write at pointer p: `T old = ...;` at indentation ind. */
static void atomic_rmw(Emitter *E, Ins *in, const char *old, const char *p, const char *v, const char *cmp, int ind) {
  tm_dtype dt = (tm_dtype)in->ty.dt;
  const char *T = em_tname(E, dt);
  const char *mo = "memory_order_relaxed";
  static const char *fetch[] = {"add", "max", "min", "and", "or", "xor"};
  em_indent(&E->out, ind);
  if (in->aux == AT_ADD16 || in->aux == AT_CAS16) {
    /* a 16-bit element: a compare-and-swap loop on the 32-bit word holding it,
     * the half picked by the parity of its offset (args[3]) from an aligned
     * argument; cas retries only while its half still matches (the other
     * half may change meanwhile) */
    const char *off = em_ref(E, in->args[3]);
    em_line(E, 0, "%s %s* e = %s;\n", E->dq, T, p);
    em_line(E, ind, "%s atomic_uint* w = (%s atomic_uint*)(e - (%s & 1));\n", E->dq, E->dq, off);
    em_line(E, ind, "uint sh = uint(%s & 1) * 16u, o = atomic_load_explicit(w, %s);\n", off, mo);
    if (in->aux == AT_ADD16) {
      em_line(E, ind, "while (!atomic_compare_exchange_weak_explicit(w, &o, (o & ~(0xffffu << sh)) | "
                      "(uint(as_type<ushort>(%s(as_type<%s>(ushort(o >> sh)) + %s))) << sh), %s, %s)) {}\n",
              T, T, v, mo, mo);
    } else {
      em_line(E, ind, "ushort want = as_type<ushort>(%s), des = as_type<ushort>(%s);\n", cmp, v);
      em_line(E, ind, "while (ushort(o >> sh) == want && !atomic_compare_exchange_weak_explicit(w, &o, "
                      "(o & ~(0xffffu << sh)) | (uint(des) << sh), %s, %s)) {}\n", mo, mo);
    }
    em_line(E, ind, "%s = as_type<%s>(ushort(o >> sh));\n", old, T);
    return;
  }
  if (in->aux == AT_CAS) {
    /* strong compare-and-swap from the weak one; floats compare bit patterns */
    const char *U = dt == TM_F32 ? "uint" : T;
    const char *A = dt == TM_I32 ? "atomic_int" : "atomic_uint";
    const char *want = dt == TM_F32 ? arena_printf(&E->c->arena, "as_type<uint>(%s)", cmp) : cmp;
    const char *des = dt == TM_F32 ? arena_printf(&E->c->arena, "as_type<uint>(%s)", v) : v;
    buf_printf(&E->out, "%s o = %s; while (!atomic_compare_exchange_weak_explicit((%s %s*)(%s), &o, %s, %s, %s) && o == %s) o = %s;\n",
               U, want, E->dq, A, p, des, mo, mo, want, want);
    em_indent(&E->out, ind);
    buf_printf(&E->out, "%s = %s;\n", old, dt == TM_F32 ? "as_type<float>(o)" : "o");
    return;
  }
  if (dt == TM_F32 && (in->aux == AT_MAX || in->aux == AT_MIN)) {
    /* no float max/min atomics in Metal; upstream's are on the bits too
     * (semantic.py atomic_max/atomic_min): a value whose sign bit is clear
     * takes the signed max (min) of the bits, one whose sign bit is set the
     * unsigned min (max). Both are Metal's 32-bit atomics, and the result is
     * upstream's to the bit: -0.0 < +0.0, a +NaN operand wins a max and a
     * stored +NaN stays, a -NaN loses a max and a stored -NaN does not stay */
    bool mx = in->aux == AT_MAX;
    buf_printf(&E->out, "if (as_type<uint>(%s) >> 31) %s = as_type<float>(atomic_fetch_%s_explicit((%s atomic_uint*)(%s), as_type<uint>(%s), %s));\n",
               v, old, mx ? "min" : "max", E->dq, p, v, mo);
    em_indent(&E->out, ind);
    buf_printf(&E->out, "else %s = as_type<float>(atomic_fetch_%s_explicit((%s atomic_int*)(%s), as_type<int>(%s), %s));\n",
               old, mx ? "max" : "min", E->dq, p, v, mo);
    return;
  }
  const char *A = dt == TM_I32 ? "atomic_int" : dt == TM_U32 ? "atomic_uint" : "atomic_float";
  if (in->aux == AT_XCHG)
    buf_printf(&E->out, "%s = atomic_exchange_explicit((%s %s*)(%s), %s, %s);\n", old, E->dq, A, p, v, mo);
  else
    buf_printf(&E->out, "%s = atomic_fetch_%s_explicit((%s %s*)(%s), %s, %s);\n", old, fetch[in->aux], E->dq, A, p, v, mo);
  (void)T;
}

/* `T old = T(0); if (cond) { old = <the atomic>; }` for one element. */
static void atomic_site(Emitter *E, Ins *in, const char *cond, int ind) {
  bool cas = in->aux == AT_CAS || in->aux == AT_CAS16;
  const char *T = em_tname(E, (tm_dtype)in->ty.dt);
  em_indent(&E->out, ind);
  buf_printf(&E->out, "%s old = %s(0);\n", T, T);
  em_indent(&E->out, ind);
  buf_printf(&E->out, "if (%s) {\n", cond);
  const char *p = em_access(E, true, in->args[0], em_ref(E, in->args[0]), in->line);
  const char *extra = cas ? em_ref(E, in->args[1]) : in->aux == AT_ADD16 ? em_ref(E, in->args[3]) : NULL;
  atomic_rmw(E, in, "old", p, em_ref(E, in->args[cas ? 2 : 1]), extra, ind + 1);
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
}

/* tl.atomic_*: each element's owner (duplicates skipped, masked lanes too)
 * updates memory and gets the old value; a scalar atomic is done once per
 * program, by thread 0, and its old value shared through threadgroup memory. */
static void emit_atomic(Emitter *E, int id, int ind) {
  Ins *in = &E->f->ins.v[id];
  Arena *a = &E->c->arena;
  tm_dtype dt = (tm_dtype)in->ty.dt;
  const char *T = em_tname(E, dt);
  bool cas = in->aux == AT_CAS || in->aux == AT_CAS16;
  /* a scalar atomic whose old value nobody reads is not shared (upstream
   * skips it too): no scratch, no barriers after it */
  bool shared = in->ty.rank || has_users(E, id);
  const char *sm = shared && (!in->ty.rank || in->layout->replicated)
                       ? em_smem(E, dt, in->ty.rank ? (int)type_numel(in->ty) : 1)
                       : NULL;
  E->uses_tid = true;
  /* right after `TM_FENCE(); <barrier>` (a debug_barrier, an acquire) a fence
   * and a barrier would order nothing more */
  bool fenced = !in->ty.rank && (in->imm & AT_FENCE_BEFORE) && after_fenced_barrier(E);
  /* cumulative fences: thread 0 fences for the program (Dialect) */
  bool one = !in->ty.rank && E->d->cumulative_fences;
  if ((in->imm & AT_FENCE_BEFORE) && !fenced && !one) {
    em_indent(&E->out, ind);
    buf_puts(&E->out, "TM_FENCE();\n");
  }
  if (!in->ty.rank) {
    const char *mask = !cas && in->nargs >= 3 ? em_ref(E, in->args[2]) : "true";
    /* every thread has done its earlier loads before thread 0 changes memory,
     * so scalar values stay uniform (`count = load(p); atomic_xchg(p, ...)`) */
    em_barrier(E, ind);
    em_indent(&E->out, ind);
    buf_printf(&E->out, "if (tm_tid == 0u) {\n");
    if (one && (in->imm & AT_FENCE_BEFORE)) em_line(E, ind + 1, "TM_FENCE();\n");
    atomic_site(E, in, mask, ind + 1);
    if (one && (in->imm & AT_FENCE_AFTER)) em_line(E, ind + 1, "TM_FENCE();\n");
    if (shared) {
      em_indent(&E->out, ind + 1);
      buf_printf(&E->out, "%s[0] = old;\n", sm);
    }
    em_indent(&E->out, ind);
    buf_puts(&E->out, "}\n");
    if (shared) {
      em_barrier(E, ind);
      em_indent(&E->out, ind);
      buf_printf(&E->out, "%s v%d = %s[0];\n", T, id, sm);
      em_hold_barrier(E, ind);
    }
  } else {
    Layout *L = in->layout;
    E->group = L;
    em_indent(&E->out, ind);
    buf_printf(&E->out, "%s v%d[%d];\n", T, id, L->per_thread);
    em_indent(&E->out, ind);
    buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", L->per_thread);
    em_coords(E, L, &E->out, ind + 1, true);
    const char *cond = !cas && in->nargs >= 3 ? em_ref(E, in->args[2]) : "true";
    if (L->replicated) cond = arena_printf(a, "!dup && %s", cond);
    atomic_site(E, in, cond, ind + 1);
    em_indent(&E->out, ind + 1);
    buf_printf(&E->out, "v%d[k] = old;\n", id);
    if (L->replicated) { /* duplicates receive their owner's old value */
      em_indent(&E->out, ind + 1);
      buf_printf(&E->out, "if (!dup) %s[%s] = old;\n", sm, flat_index(E, L));
    }
    em_indent(&E->out, ind);
    buf_puts(&E->out, "}\n");
    if (L->replicated) {
      em_barrier(E, ind);
      em_indent(&E->out, ind);
      buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", L->per_thread);
      em_coords(E, L, &E->out, ind + 1, false);
      em_indent(&E->out, ind + 1);
      buf_printf(&E->out, "v%d[k] = %s[%s];\n", id, sm, flat_index(E, L));
      em_indent(&E->out, ind);
      buf_puts(&E->out, "}\n");
      em_barrier(E, ind);
    }
    E->group = NULL;
    E->in_array[id] = true;
  }
  if ((in->imm & AT_FENCE_AFTER) && !one) {
    em_indent(&E->out, ind);
    buf_puts(&E->out, "TM_FENCE();\n");
  }
}

/* Writes every element of value x (non-duplicates) to sm[offset + row-major index]
 * (of the current chunk, when chunked). */
static void stage_all(Emitter *E, int x, const char *sm, int offset, bool chunked, int ind) {
  Layout *A = E->f->ins.v[x].layout;
  em_indent(&E->out, ind);
  buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", A->per_thread);
  em_coords(E, A, &E->out, ind + 1, true);
  Layout *saved = E->group;
  E->group = A;
  stage_store(E, sm, arena_printf(&E->c->arena, "%d + %s", offset, flat_index(E, A)), em_ref(E, x), A->replicated, chunked,
              ind + 1);
  E->group = saved;
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
}

/* Row-major index into a block of `shape` from per-dim index expressions. */
static const char *rowmajor(Emitter *E, int rank, const int *shape, const char **idx) {
  if (!rank) return "0";
  const char *r = idx[0];
  for (int i = 1; i < rank; i++) r = arena_printf(&E->c->arena, "(%s) * %d + %s", r, shape[i], idx[i]);
  return r;
}

/* Whether layout R is layout X with its value dims permuted by perm (out dim o
 * = in dim perm[o], 4 bits each): the same parent layout, so slot k of a
 * thread holds the same element in both. */
static bool permuted_view(const Layout *R, const Layout *X, int64_t perm) {
  if (!R || !X || R->prank != X->prank || R->rank != X->rank || R->per_thread != X->per_thread || R->replicated != X->replicated)
    return false;
  for (int d = 0; d < R->prank; d++)
    if (R->spt[d] != X->spt[d] || R->tpw[d] != X->tpw[d] || R->wpc[d] != X->wpc[d] || R->order[d] != X->order[d] ||
        R->size[d] != X->size[d] || R->stride[d] != X->stride[d])
      return false;
  for (int o = 0; o < R->rank; o++)
    if (R->dims[o] != X->dims[(perm >> (4 * o)) & 15]) return false;
  return true;
}

/* "arr[k + first], arr[k + first + 1], ..." (G of them; "arr[k]" for slot k
 * itself): the slots a vector shuffle packs. */
static const char *vec_pack(Emitter *E, const char *arr, int G, int first) {
  const char *r = NULL;
  for (int j = first; j < first + G; j++) {
    const char *x = j ? arena_printf(&E->c->arena, "%s[k + %du]", arr, j) : arena_printf(&E->c->arena, "%s[k]", arr);
    r = r ? arena_printf(&E->c->arena, "%s, %s", r, x) : x;
  }
  return r;
}

/* Whether block value v holds, at every element, its own coordinate along
 * value dim `axis` (arange(0, n) expanded and broadcast to v's shape, or cast
 * to another integer type). */
static bool is_coordinate(Fn *f, int v, int axis) {
  Ins *x = &f->ins.v[v];
  if (!x->ty.rank || x->ty.ptr) return false;
  switch (x->op) {
  case O_RANGE: return x->ty.rank == 1 && axis == 0 && x->imm == 0;
  case O_EXPAND_DIMS: return x->aux != axis && is_coordinate(f, x->args[0], axis < x->aux ? axis : axis - 1);
  case O_BROADCAST: {
    Ins *y = &f->ins.v[x->args[0]];
    return y->ty.rank == x->ty.rank && y->ty.shape[axis] == x->ty.shape[axis] && is_coordinate(f, x->args[0], axis);
  }
  case O_CAST: return dt_is_int((tm_dtype)x->ty.dt) && x->ty.dt != TM_I1 && is_coordinate(f, x->args[0], axis);
  default: return false;
  }
}

/* A constant integer, scalar or splat/broadcast of one: its value in *out. */
static bool const_int(Fn *f, int v, int64_t *out) {
  Ins *x = &f->ins.v[v];
  if (x->op == O_CONST && !x->ty.rank && dt_is_int((tm_dtype)x->ty.dt)) return *out = x->imm, true;
  if (x->op == O_SPLAT || x->op == O_BROADCAST) return const_int(f, x->args[0], out);
  return false;
}

/* tl.gather(x, c ^ M, axis) with c the coordinate along axis and M a power of
 * two (a bitonic sort's compare-and-swap partner): where the partner of each
 * element is held by the same thread (a bit of its slots along the axis) or by
 * another lane of its SIMD-group (a bit of the lanes), read it from a register
 * or by one xor-shuffle instead of through threadgroup memory and two
 * barriers. False (nothing emitted) when the layout puts it elsewhere. */
static bool gather_xor_partner(Emitter *E, int id, int ind) {
  Ins *in = &E->f->ins.v[id];
  Ins *x = &E->f->ins.v[in->args[0]], *ix = &E->f->ins.v[in->args[1]];
  int axis = (int)in->imm;
  Layout *R = in->layout;
  if (!R || !x->layout || !layout_eq(R, x->layout) || ix->op != O_XOR || in->ty.rank != x->ty.rank) return false;
  int64_t M = 0;
  int cv = -1;
  for (int i = 0; i < 2 && cv < 0; i++)
    if (is_coordinate(E->f, ix->args[i], axis) && const_int(E->f, ix->args[1 - i], &M)) cv = i;
  int d = R->dims[axis];
  int n = R->size[d], spt = R->spt[d], tpw = R->tpw[d], wpc = R->wpc[d], tile = spt * tpw * wpc;
  if (cv < 0 || M <= 0 || M >= n || (M & (M - 1)) || n < tile) return false;
  int LS = 1; /* the lane stride of dim d */
  for (int kk = 0; kk < R->prank && R->order[kk] != d; kk++) LS *= R->tpw[R->order[kk]];
  tm_dtype dt = (tm_dtype)in->ty.dt;
  const char *T = em_tname(E, dt);
  int P = R->per_thread, S = R->stride[d], PER = R->per[d];
  int64_t jm = 0; /* the partner's slot along d: j ^ jm (0: another lane) */
  if (M < spt) jm = M;
  else if (M >= tile) jm = spt * (M / tile);
  else if (M >= spt * tpw) return false; /* another SIMD-group: threadgroup memory */
  em_line(E, ind, "%s v%d[%d];\n", T, id, P);
  em_line(E, ind, "{\n");
  em_line(E, ind + 1, "%s g[%d];\n", T, P);
  Layout *saved = E->group;
  E->group = R;
  em_line(E, ind + 1, "for (uint k = 0; k < %du; ++k) g[k] = %s;\n", P, em_ref(E, in->args[0]));
  E->group = saved;
  if (jm) {
    em_line(E, ind + 1, "for (uint k = 0; k < %du; ++k) {\n", P);
    em_line(E, ind + 2, "uint j = k / %du %% %du;\n", S, PER);
    em_line(E, ind + 2, "v%d[k] = g[k - j * %du + (j ^ %lldu) * %du];\n", id, S, (long long)jm, S);
    em_line(E, ind + 1, "}\n");
    in->note = "the partner along the axis is in the same thread: read from its registers";
  } else {
    E->uses_barrier = true; /* a SIMD-group collective */
    em_use_helper(E, "tm_shfl_xor");
    long long mask = (long long)(M / spt * LS);
    int G = dt == TM_F32 || dt == TM_I32 || dt == TM_U32 || dt == TM_F16 ? (P % 4 == 0 ? 4 : P % 2 == 0 ? 2 : 1) : 1;
    if (G > 1) { /* up to four slots in one vector shuffle, as reductions do; two such by one tm_shfl_xor2 */
      int pairs = G == 4 && P % 8 == 0 ? 2 : 1;
      const char *pack = vec_pack(E, "g", G, 0), *pack2 = vec_pack(E, "g", G, G);
      em_line(E, ind + 1, "for (uint k = 0; k < %du; k += %du) {\n", P, G * pairs);
      if (pairs == 2) {
        em_line(E, ind + 2, "%s%d o = %s%d(%s), ob = %s%d(%s);\n", T, G, T, G, pack, T, G, pack2);
        em_line(E, ind + 2, "tm_shfl_xor2(o, ob, ushort(%lldu));\n", mask);
        em_line(E, ind + 2, "for (uint j = 0; j < %du; ++j) v%d[k + j] = o[j], v%d[k + 4u + j] = ob[j];\n", G, id, id);
      } else {
        em_line(E, ind + 2, "%s%d o = tm_shfl_xor(%s%d(%s), ushort(%lldu));\n", T, G, T, G, pack, mask);
        em_line(E, ind + 2, "for (uint j = 0; j < %du; ++j) v%d[k + j] = o[j];\n", G, id);
      }
      em_line(E, ind + 1, "}\n");
    } else {
      em_line(E, ind + 1, "for (uint k = 0; k < %du; ++k) v%d[k] = tm_shfl_xor(g[k], ushort(%lldu));\n", P, id, mask);
    }
    in->note = G > 1 ? arena_printf(&E->c->arena, "the partner along the axis is in another lane of the SIMD-group: "
                                                   "xor-shuffles of %d elements", G)
                     : "the partner along the axis is in another lane of the SIMD-group: one xor-shuffle per element";
  }
  em_line(E, ind, "}\n");
  E->in_array[id] = true;
  return true;
}

/* Shape ops: inputs written to threadgroup memory in row-major order, then
 * each output element read from where it comes from (tm.h, ShuffleKind). */
static void emit_shuffle(Emitter *E, int id, int ind) {
  Ins *in = &E->f->ins.v[id];
  Arena *a = &E->c->arena;
  Ins *x = &E->f->ins.v[in->args[0]];
  tm_dtype dt = (tm_dtype)in->ty.dt;
  if (in->ty.ptr) error_at(E->c, in->line, in->col, "reshaping or permuting a block of pointers is not supported; apply it to the offsets");
  if (in->aux == SH_PERMUTE && permuted_view(in->layout, x->layout, in->imm)) { /* layout.c permute_views: nothing moves */
    Layout *R = in->layout;
    E->group = x->layout;
    em_line(E, ind, "%s v%d[%d];\n", em_tname(E, dt), id, R->per_thread);
    em_line(E, ind, "for (uint k = 0; k < %du; ++k) v%d[k] = %s;\n", R->per_thread, id, em_ref(E, in->args[0]));
    E->group = NULL;
    E->in_array[id] = true;
    in->note = "the input's layout with its dims permuted: each thread keeps its elements, nothing moves";
    return;
  }
  if (in->aux == SH_GATHER && E->c->opt != TM_OPT_NONE && gather_xor_partner(E, id, ind)) return;
  int nx = (int)type_numel(x->ty);
  bool two = in->aux == SH_JOIN || in->aux == SH_CAT;
  int n = two ? 2 * nx : nx, chunk = stage_chunk(E, dt, n);
  bool chunked = chunk < n;
  const char *sm = em_smem(E, dt, chunk);
  Layout *R = in->layout;
  em_indent(&E->out, ind);
  buf_printf(&E->out, "%s v%d[%d];\n", em_tname(E, dt), id, R->per_thread);
  int outer = ind;
  ind = open_chunks(E, n, chunk, ind);
  E->chunk = chunk;
  stage_all(E, in->args[0], sm, 0, chunked, ind);
  if (two) stage_all(E, in->args[1], sm, nx, chunked, ind);
  em_barrier(E, ind);
  em_indent(&E->out, ind);
  buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", R->per_thread);
  em_coords(E, R, &E->out, ind + 1, false);
  const char *oc[TM_MAX_RANK]; /* output coordinates, by value dim */
  for (int i = 0; i < R->rank; i++) oc[i] = arena_printf(a, "c%d", R->dims[i]);
  const char *ic[TM_MAX_RANK];
  int xr = x->ty.rank, xs[TM_MAX_RANK] = {0};
  for (int i = 0; i < xr; i++) xs[i] = x->ty.shape[i];
  const char *src;
  switch ((ShuffleKind)in->aux) {
  case SH_RESHAPE: src = flat_index(E, R); break;
  case SH_PERMUTE:
    for (int i = 0; i < R->rank; i++) ic[(in->imm >> (4 * i)) & 15] = oc[i];
    src = rowmajor(E, xr, xs, ic);
    break;
  case SH_JOIN:
    src = arena_printf(a, "c%d * %d + %s", R->dims[R->rank - 1], nx, rowmajor(E, xr, xs, oc));
    break;
  case SH_PICK:
    for (int i = 0; i < xr - 1; i++) ic[i] = oc[i];
    ic[xr - 1] = arena_printf(a, "%lld", (long long)in->imm);
    src = rowmajor(E, xr, xs, ic);
    break;
  case SH_CAT: {
    int d = (int)in->imm, n = xs[d];
    for (int i = 0; i < xr; i++) ic[i] = i == d ? arena_printf(a, "(%s %% %d)", oc[i], n) : oc[i];
    src = arena_printf(a, "(%s >= %d ? %d : 0) + %s", oc[d], n, nx, rowmajor(E, xr, xs, ic));
    break;
  }
  case SH_FLIP: {
    int d = (int)in->imm;
    for (int i = 0; i < xr; i++) ic[i] = i == d ? arena_printf(a, "(%d - %s)", xs[d] - 1, oc[i]) : oc[i];
    src = rowmajor(E, xr, xs, ic);
    break;
  }
  case SH_GATHER: {
    int d = (int)in->imm;
    Layout *saved = E->group;
    E->group = R;
    /* an index outside the source reads a clamped element (upstream: undefined) */
    const char *iv = arena_printf(a, "clamp(int(%s), 0, %d)", em_ref(E, in->args[1]), xs[d] - 1);
    E->group = saved;
    for (int i = 0; i < xr; i++) ic[i] = i == d ? iv : oc[i];
    src = rowmajor(E, xr, xs, ic);
    break;
  }
  default: internal_error(E->c, "emit", "unknown shuffle kind %d", in->aux);
  }
  E->chunk = chunk;
  stage_load(E, arena_printf(a, "v%d[k]", id), sm, src, chunked, ind + 1);
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
  em_barrier(E, ind);
  close_chunks(E, n, chunk, ind);
  (void)outer;
  E->in_array[id] = true;
}

/* Emits the combine region of a reduce: left[i] = combine(left, right). */
void em_combine(Emitter *E, Ins *red, const char **left, const char **right, int ind) {
  Block *rb = red->regions[0];
  int n = red->nargs;
  const char **saved = E->subst;
  E->subst = arena_alloc(&E->c->arena, sizeof(char *) * (size_t)E->f->ins.n);
  for (int bi = 0; bi < rb->ins.n; bi++) {
    Ins *b = &E->f->ins.v[rb->ins.v[bi]];
    if (b->op == O_BLOCKARG) E->subst[rb->ins.v[bi]] = b->aux <= n ? left[b->aux - 1] : right[b->aux - n - 1];
  }
  em_indent(&E->out, ind);
  buf_puts(&E->out, "{\n");
  Ins *y = NULL;
  for (int bi = 0; bi < rb->ins.n; bi++) {
    Ins *b = &E->f->ins.v[rb->ins.v[bi]];
    if (b->op == O_YIELD) y = b;
    else emit_ins(E, rb->ins.v[bi], ind + 1, -1);
  }
  for (int i = 0; i < n; i++) {
    em_indent(&E->out, ind + 1);
    buf_printf(&E->out, "%s t%d = %s;\n", em_tname(E, (tm_dtype)E->f->ins.v[y->args[i]].ty.dt), i, em_ref(E, y->args[i]));
  }
  for (int i = 0; i < n; i++) {
    em_indent(&E->out, ind + 1);
    buf_printf(&E->out, "%s = t%d;\n", left[i], i);
  }
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
  E->subst = saved;
}

/* Combines (value, valid) pairs: into acc[i]/av unless the other side is invalid. */
static void combine_valid(Emitter *E, Ins *red, const char **acc, const char *av, const char **other, const char *ov, int ind) {
  em_indent(&E->out, ind);
  buf_printf(&E->out, "if (%s && %s) {\n", av, ov);
  em_combine(E, red, acc, other, ind + 1);
  em_indent(&E->out, ind);
  buf_printf(&E->out, "} else if (%s) {\n", ov);
  for (int i = 0; i < red->nargs; i++) {
    em_indent(&E->out, ind + 1);
    buf_printf(&E->out, "%s = %s;\n", acc[i], other[i]);
  }
  em_indent(&E->out, ind + 1);
  buf_printf(&E->out, "%s = true;\n", av);
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
}

/* Whether a reduce's or scan's combine region is exactly `a + b` of its two
 * arguments (tl.sum, tl.cumsum). */
bool em_combine_is_add(Emitter *E, Ins *red) {
  Block *rb = red->regions[0];
  int adds = 0, args = 0;
  for (int i = 0; i < rb->ins.n; i++) {
    Ins *x = &E->f->ins.v[rb->ins.v[i]];
    if (x->op == O_BLOCKARG) args++;
    else if (x->op == O_ADD && x->nargs == 2 && E->f->ins.v[x->args[0]].op == O_BLOCKARG &&
             E->f->ins.v[x->args[1]].op == O_BLOCKARG && x->args[0] != x->args[1])
      adds++;
    else if (x->op != O_YIELD) return false;
  }
  return adds == 1 && args == 2;
}

/* Whether a reduce's combine region is exactly one NaN-ignoring min or max
 * of its two arguments (tl.min, tl.max): its op, else 0. */
static int plain_minmax(Emitter *E, Ins *red) {
  Block *rb = red->regions[0];
  int op = 0, args = 0;
  for (int i = 0; i < rb->ins.n; i++) {
    Ins *x = &E->f->ins.v[rb->ins.v[i]];
    if (x->op == O_BLOCKARG) {
      args++;
    } else if ((x->op == O_MIN || x->op == O_MAX) && !op && x->aux == 0 && x->nargs == 2 &&
               E->f->ins.v[x->args[0]].op == O_BLOCKARG && E->f->ins.v[x->args[1]].op == O_BLOCKARG &&
               x->args[0] != x->args[1]) {
      op = x->op;
    } else if (x->op != O_YIELD) {
      return 0;
    }
  }
  return args == 2 ? op : 0;
}

/* The definition's text after its first line, each value name v<N> renamed
 * v<k> in order of first appearance, prefixed by the first line's name kind
 * (what precedes the id's digits). */
static const char *functor_canon(Emitter *E, const char *t, size_t n) {
  Buf *b = &E->canon;
  b->len = 0;
  const char *end = t + n, *nl = memchr(t, '\n', n);
  if (!nl) nl = end;
  const char *k = t;
  while (k < nl && !isdigit((unsigned char)*k)) k++;
  buf_put(b, t, (size_t)(k - t));
  VEC(const char *) seen = {0};
  for (const char *p = nl; p < end;) {
    bool word_start = !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
    if (word_start && *p == 'v' && p + 1 < end && isdigit((unsigned char)p[1])) {
      const char *q = p + 1;
      while (q < end && isdigit((unsigned char)*q)) q++;
      if (q == end || !(isalnum((unsigned char)*q) || *q == '_')) {
        int j = 0;
        while (j < seen.n && !(strlen(seen.v[j]) == (size_t)(q - p) && !memcmp(seen.v[j], p, (size_t)(q - p)))) j++;
        if (j == seen.n) vec_push(&E->c->arena, seen, arena_strndup(&E->c->arena, p, (size_t)(q - p)));
        buf_printf(b, "v%d", j);
        p = q;
        continue;
      }
    }
    buf_put(b, p, 1);
    p++;
  }
  return arena_strndup(&E->c->arena, b->p, b->len);
}

void em_begin_functor(Emitter *E) {
  /* both buffers stay owned by the context, whatever an error leaves in them */
  Buf t = E->out;
  E->out = E->aside;
  E->aside = t;
  E->out.len = 0;
}

int em_end_functor(Emitter *E, int id) {
  const char *canon = functor_canon(E, E->out.p, E->out.len);
  int use = id;
  for (int i = 0; i < E->fn_text.n && use == id; i++)
    if (!strcmp(E->fn_text.v[i], canon)) use = E->fn_id.v[i];
  if (use == id) {
    buf_put(&E->fscope, E->out.p, E->out.len);
    vec_push(&E->c->arena, E->fn_text, canon);
    vec_push(&E->c->arena, E->fn_id, id);
  }
  Buf t = E->out;
  E->out = E->aside;
  E->aside = t;
  return use;
}

/* A one-input reduction's combine as a program-scope functor, tm_comb<id>
 * (operator()(thread T &a, T o): a = combine(a, o)), for the prelude's
 * tm_bfly: the number to call it by (em_end_functor), or -1 (nothing
 * written) when the region reads anything but its arguments and constants,
 * which a function outside the kernel cannot see. */
static int combine_functor(Emitter *E, Ins *red, int id) {
  Block *rb = red->regions[0];
  Fn *f = E->f;
  for (int i = 0; i < rb->ins.n; i++) {
    Ins *x = &f->ins.v[rb->ins.v[i]];
    for (int j = 0; j < x->nargs; j++) {
      int a = x->args[j];
      bool inside = f->ins.v[a].op == O_CONST;
      for (int t = 0; t < rb->ins.n && !inside; t++) inside = rb->ins.v[t] == a;
      if (!inside) return -1;
    }
    if (x->nregions || x->op == O_LOAD || x->op == O_STORE) return -1;
  }
  const char *T = em_tname(E, (tm_dtype)f->ins.v[red->args[0]].ty.dt);
  em_begin_functor(E);
  buf_printf(&E->out, "struct tm_comb%d {\n  inline void operator()(thread %s &a, %s o) const {\n", id, T, T);
  const char *l = "a", *r = "o";
  em_combine(E, red, &l, &r, 2);
  buf_puts(&E->out, "  }\n};\n");
  return em_end_functor(E, id);
}

/* A reduction along one axis, with no identity element needed:
 *   1. in-thread over the slots that differ only along the axis (duplicates skipped)
 *   2. across the lanes that differ along it: xor-shuffle butterfly
 *   3. across the SIMD-groups that differ along it: threadgroup memory
 * Every thread ends with the full result for each of its result slots. */
static void emit_reduce(Emitter *E, int id, int ind) {
  Ins *in = &E->f->ins.v[id];
  Arena *a = &E->c->arena;
  int n = in->nargs, fid = -1;
  Layout *A = E->f->ins.v[in->args[0]].layout;
  int pd = A->dims[in->aux];
  int dims[TM_MAX_RANK], shape[TM_MAX_RANK], r = 0;
  for (int i = 0; i < A->rank; i++)
    if (i != in->aux) {
      dims[r] = A->dims[i];
      shape[r++] = A->shape[i];
    }
  Layout *R = layout_in(E->c, A, r, dims, shape);
  int RP = R->per_thread;
  const char **acc = arena_alloc(a, sizeof(char *) * (size_t)n), **oth = arena_alloc(a, sizeof(char *) * (size_t)n);
  /* result storage, visible after the reduction */
  for (int i = 0; i < n; i++) {
    tm_dtype dt = (tm_dtype)E->f->ins.v[in->args[i]].ty.dt;
    em_indent(&E->out, ind);
    if (r) buf_printf(&E->out, "%s r%d_%d[%d];\n", em_tname(E, dt), id, i + 1, RP);
    else buf_printf(&E->out, "%s r%d_%d;\n", em_tname(E, dt), id, i + 1);
  }
  em_indent(&E->out, ind);
  buf_puts(&E->out, "{\n");
  int in1 = ind + 1;
  for (int i = 0; i < n; i++) {
    em_indent(&E->out, in1);
    buf_printf(&E->out, "%s a%d[%d];\n", em_tname(E, (tm_dtype)E->f->ins.v[in->args[i]].ty.dt), i, RP);
  }
  bool dup_pd = A->replicated && A->size[pd] < A->spt[pd] * A->tpw[pd] * A->wpc[pd];
  if (dup_pd) { /* valid flags: a lane may hold only duplicates along the axis */
    em_line(E, in1, "bool av[%d];\n", RP);
    em_line(E, in1, "for (uint k = 0; k < %du; ++k) av[k] = false;\n", RP);
  }
  /* 1. in-thread (unrolled: each slot's accumulator a constant index, no
   * branch on whether an element starts its slot) */
  em_line(E, in1, "TM_UNROLL\n");
  em_indent(&E->out, in1);
  buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", A->per_thread);
  /* only duplicates along the axis would be counted twice; elsewhere a
   * duplicate reduces the same elements as its original, so every thread
   * ends with valid results (a scalar result is uniform) */
  coords_along(E, A, &E->out, in1 + 1, true, pd);
  Layout *saved = E->group;
  E->group = A;
  em_indent(&E->out, in1 + 1);
  buf_printf(&E->out, "uint kr = %s;\n", slot_map(E, R, A));
  for (int i = 0; i < n; i++) {
    em_indent(&E->out, in1 + 1);
    buf_printf(&E->out, "%s x%d = %s;\n", em_tname(E, (tm_dtype)E->f->ins.v[in->args[i]].ty.dt), i, em_ref(E, in->args[i]));
    acc[i] = arena_printf(a, "a%d[kr]", i);
    oth[i] = arena_printf(a, "x%d", i);
  }
  E->group = saved;
  if (dup_pd) { /* the first valid element of a slot starts it; duplicates are skipped */
    em_line(E, in1 + 1, "if (!av[kr]) {\n");
    for (int i = 0; i < n; i++) em_line(E, in1 + 2, "a%d[kr] = x%d;\n", i, i);
    em_line(E, in1 + 2, "av[kr] = !dup;\n");
    em_line(E, in1 + 1, "} else if (!dup) {\n");
    em_combine(E, in, acc, oth, in1 + 2);
    em_line(E, in1 + 1, "}\n");
  } else if (A->per[pd] == 1) { /* one element of each slot in the thread */
    for (int i = 0; i < n; i++) em_line(E, in1 + 1, "a%d[kr] = x%d;\n", i, i);
  } else {
    /* the slot's first element (its digit along the axis 0: the smallest k
     * of the slot) starts it, the others combine into it in k's order: the
     * same order as a flag per slot would give, without the flags */
    em_line(E, in1 + 1, "if (k / %du %% %du == 0u) {\n", A->stride[pd], A->per[pd]);
    for (int i = 0; i < n; i++) em_line(E, in1 + 2, "a%d[kr] = x%d;\n", i, i);
    em_line(E, in1 + 1, "} else {\n");
    em_combine(E, in, acc, oth, in1 + 2);
    em_line(E, in1 + 1, "}\n");
  }
  em_indent(&E->out, in1);
  buf_puts(&E->out, "}\n");
  /* 2. lanes */
  int lstride = 1, wstride = 1;
  for (int kk = 0; kk < A->prank && A->order[kk] != pd; kk++) {
    lstride *= A->tpw[A->order[kk]];
    wstride *= A->wpc[A->order[kk]];
  }
  for (int i = 0; i < n; i++) acc[i] = arena_printf(a, "a%d[k]", i);
  tm_dtype dt0 = (tm_dtype)E->f->ins.v[in->args[0]].ty.dt;
  int minmax = plain_minmax(E, in);
  if (A->tpw[pd] == 32 && lstride == 1 && n == 1 && em_combine_is_add(E, in) && (dt0 == TM_F32 || dt0 == TM_I32 || dt0 == TM_U32)) {
    /* a sum over the whole SIMD-group: one simd_sum (invalid lanes add zero) */
    E->uses_barrier = true;
    in->note = "one simd_sum";
    em_indent(&E->out, in1);
    buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", RP);
    em_indent(&E->out, in1 + 1);
    if (dup_pd) {
      buf_printf(&E->out, "a0[k] = simd_sum(av[k] ? a0[k] : %s(0));\n", em_tname(E, dt0));
      em_indent(&E->out, in1 + 1);
      buf_puts(&E->out, "av[k] = simd_any(av[k]);\n");
    } else { /* every lane holds elements along the axis: all valid */
      buf_puts(&E->out, "a0[k] = simd_sum(a0[k]);\n");
    }
    em_indent(&E->out, in1);
    buf_puts(&E->out, "}\n");
  } else if (A->tpw[pd] == 32 && lstride == 1 && n == 1 && !dup_pd && minmax &&
             (dt0 == TM_F32 || dt0 == TM_F16 || dt0 == TM_I32 || dt0 == TM_U32) && RP <= 4) {
    /* tl.max / tl.min over the whole SIMD-group: one simd_max / simd_min.
     * Floats ignore NaN (maxnum) and go through an order-preserving integer
     * key, so the SIMD-group operation never sees a NaN (Metal does not say
     * what its simd_max makes of one) and one collective does it all: a
     * non-negative float keys as its bits, a negative one as -(magnitude) - 1
     * (-0 below +0, -inf above the integer minimum), NaN as the integer
     * minimum for a max (maximum for a min), which wins only where every lane
     * is NaN; that result decodes to NaN. */
    bool mx = minmax == O_MAX;
    const char *T = em_tname(E, dt0), *fn = mx ? "simd_max" : "simd_min";
    E->uses_barrier = true;
    bool fl = dt0 == TM_F32 || dt0 == TM_F16;
    in->note = fl ? (mx ? "one simd_max of order-preserving integer keys (NaN lanes lowest)"
                        : "one simd_min of order-preserving integer keys (NaN lanes highest)")
                  : (mx ? "one simd_max" : "one simd_min");
    em_line(E, in1, "for (uint k = 0; k < %du; ++k) {\n", RP);
    if (fl) {
      bool h = dt0 == TM_F16;
      const char *UT = h ? "ushort" : "uint", *sign = h ? "0x8000u" : "0x80000000u", *mag = h ? "0x7fffu" : "0x7fffffffu";
      const char *nan_key = mx ? "(-2147483647 - 1)" : "2147483647";
      em_line(E, in1 + 1, "uint tm_b = uint(as_type<%s>(a0[k]));\n", UT);
      em_line(E, in1 + 1, "int tm_key = isnan(a0[k]) ? %s : (tm_b & %s) != 0u ? -int(tm_b & %s) - 1 : int(tm_b);\n", nan_key,
              sign, mag);
      em_line(E, in1 + 1, "tm_key = %s(tm_key);\n", fn);
      em_line(E, in1 + 1, "uint tm_r = tm_key >= 0 ? uint(tm_key) : %s | uint(-(tm_key + 1));\n", sign);
      em_line(E, in1 + 1, "a0[k] = tm_key == %s ? as_type<%s>(%s(%s)) : as_type<%s>(%s(tm_r));\n", nan_key, T, UT,
              h ? "0x7e00u" : "0x7fc00000u", T, UT);
    } else {
      em_line(E, in1 + 1, "a0[k] = %s(a0[k]);\n", fn);
    }
    em_line(E, in1, "}\n");
  } else if (A->tpw[pd] > 1 && !dup_pd && n == 1 && (fid = combine_functor(E, in, id)) >= 0) {
    /* all lanes valid, one input: the prelude's tm_bfly (the emulator's
     * shim: one exchange of the SIMD-group, each lane's steps computed once).
     * Several result slots a thread move up to four a vector shuffle (G),
     * eight as two vectors by one tm_shfl_xor2; otherwise one a scalar
     * tm_shfl_xor (every dtype) */
    bool vec = dt0 == TM_F32 || dt0 == TM_I32 || dt0 == TM_U32 || dt0 == TM_F16;
    int G = vec && RP % 4 == 0 ? 4 : vec && RP % 2 == 0 ? 2 : 1;
    const char *T = em_tname(E, dt0), *V = G > 1 ? arena_printf(a, "%s%d", T, G) : T;
    E->uses_barrier = true;
    E->uses_bfly = true;
    em_use_helper(E, "tm_shfl_xor"); /* the prelude's G = 1 steps */
    em_line(E, in1, "tm_bfly<%d, %s, %d>(a0, ushort(%du), ushort(%du), tm_comb%d());\n", G, V, RP, lstride,
            lstride * A->tpw[pd], fid);
  } else if (A->tpw[pd] > 1) {
    E->uses_barrier = true; /* SIMD-group collectives: the emulator runs threads as fibers */
    em_use_helper(E, "tm_shfl_xor");
    em_indent(&E->out, in1);
    buf_printf(&E->out, "for (ushort m = %du; m < %du; m <<= 1) {\n", lstride, lstride * A->tpw[pd]);
    em_indent(&E->out, in1 + 1);
    buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", RP);
    for (int i = 0; i < n; i++) {
      em_indent(&E->out, in1 + 2);
      buf_printf(&E->out, "%s o%d = tm_shfl_xor(a%d[k], m);\n", em_tname(E, (tm_dtype)E->f->ins.v[in->args[i]].ty.dt), i, i);
      oth[i] = arena_printf(a, "o%d", i);
    }
    if (dup_pd) { /* lanes holding only duplicates along the axis contribute nothing */
      em_indent(&E->out, in1 + 2);
      buf_puts(&E->out, "bool ov = tm_shfl_xor(av[k], m);\n");
      combine_valid(E, in, acc, "av[k]", oth, "ov", in1 + 2);
    } else { /* every lane holds elements along the axis: all valid */
      em_combine(E, in, acc, oth, in1 + 2);
    }
    em_indent(&E->out, in1 + 1);
    buf_puts(&E->out, "}\n");
    em_indent(&E->out, in1);
    buf_puts(&E->out, "}\n");
  }
  /* 3. SIMD-groups: every thread's partials through threadgroup memory, all
   * result slots at once, or KC slots at a time when they do not fit */
  if (A->wpc[pd] > 1) {
    int T = E->f->num_warps * 32, per_k = dup_pd ? T : 0; /* bytes staged per result slot: the valid flags... */
    for (int i = 0; i < n; i++) {
      tm_dtype dt = (tm_dtype)E->f->ins.v[in->args[i]].ty.dt;
      per_k += T * (dt == TM_I1 ? 1 : tm_dtype_bytes(dt)) * (i + 1); /* ...and the inputs' stripes */
    }
    int budget = E->c->target->threadgroup_mem_bytes > 0 ? E->c->target->threadgroup_mem_bytes : 32768;
    int KC = RP;
    if ((int64_t)per_k * RP > budget) {
      KC = 1;
      while (KC * 2 <= RP && (int64_t)per_k * KC * 2 <= budget / 2) KC *= 2;
    }
    bool chunked = KC < RP;
    const char *kk = chunked ? "(k0 + k)" : "k"; /* the result slot */
    const char **sm = arena_alloc(a, sizeof(char *) * (size_t)n);
    /* A reduction of one input with no valid flags holds its closing barrier
     * back; the next such reduction of the same dtype uses the other half of
     * the array (by then every thread has read the first half: it wrote its
     * partial after reading), so a chain of reductions (softmax's max then
     * sum) pays one barrier each. */
    bool hold = n == 1 && !dup_pd && !chunked && (int64_t)2 * per_k * KC <= budget;
    /* where the stripes start: clear of the range a held-back reduction of the
       same dtype still reads (its results may be wider than this one's: [2 x 256]
       summed over axis 0 keeps 4 per thread, its sum 1), else at 0 after its barrier */
    int base = 0;
    if (hold && E->bar_pending && !E->bar_dot && E->bar_dt == dt0) {
      int S = T * KC, at = E->bar_lo >= S ? 0 : E->bar_hi;
      int64_t bytes = (int64_t)(at + S) * (dt0 == TM_I1 ? 1 : tm_dtype_bytes(dt0));
      for (int d = 0; d < TM_NDTYPES; d++)
        if (d != (int)dt0) bytes += (int64_t)E->smem[d] * (d == TM_I1 ? 1 : tm_dtype_bytes((tm_dtype)d));
      if (bytes <= budget) {
        base = at;
        E->bar_keep = true;
      }
    }
    for (int i = 0; i < n; i++) {
      tm_dtype dt = (tm_dtype)E->f->ins.v[in->args[i]].ty.dt;
      int need = base + T * KC * (i + 1); /* inputs of one dtype share an array: input i uses its own stripe */
      sm[i] = em_smem(E, dt, need);
      sm[i] = arena_printf(a, "%s[%d + ", sm[i], base + T * KC * i);
    }
    E->bar_keep = false;
    /* the valid flags take the bool array's stripe after the inputs' (input i
     * uses stripe i of its dtype's array: a bool input must not share theirs) */
    const char *smv = dup_pd ? arena_printf(a, "%s[%d + ", em_smem(E, TM_I1, T * KC * (n + 1)), T * KC * n) : NULL;
    int i3 = in1;
    if (chunked) {
      em_line(E, in1, "for (uint k0 = 0; k0 < %du; k0 += %du) {\n", RP, KC);
      i3 = in1 + 1;
    }
    /* scratch is free here: every user of it ends with a barrier */
    em_indent(&E->out, i3);
    buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", KC);
    for (int i = 0; i < n; i++) {
      em_indent(&E->out, i3 + 1);
      buf_printf(&E->out, "%stm_tid * %du + k] = a%d[%s];\n", sm[i], KC, i, kk);
    }
    if (dup_pd) {
      em_indent(&E->out, i3 + 1);
      buf_printf(&E->out, "%stm_tid * %du + k] = av[%s];\n", smv, KC, kk);
    }
    em_indent(&E->out, i3);
    buf_puts(&E->out, "}\n");
    em_barrier(E, i3);
    em_indent(&E->out, i3);
    buf_printf(&E->out, "uint wbase = tm_tid / 32u - (tm_tid / 32u / %du %% %du) * %du;\n", wstride, A->wpc[pd], wstride);
    em_indent(&E->out, i3);
    buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", KC);
    if (dup_pd) {
      em_indent(&E->out, i3 + 1);
      buf_printf(&E->out, "av[%s] = false;\n", kk);
    } else { /* every SIMD-group's partial is valid: start from the first one's */
      for (int i = 0; i < n; i++)
        em_line(E, i3 + 1, "a%d[%s] = %s(wbase * 32u + tm_tid %% 32u) * %du + k];\n", i, kk, sm[i], KC);
    }
    em_indent(&E->out, i3 + 1);
    buf_printf(&E->out, "for (uint w = %d; w < %du; ++w) {\n", dup_pd ? 0 : 1, A->wpc[pd]);
    em_indent(&E->out, i3 + 2);
    buf_printf(&E->out, "uint t2 = (wbase + w * %du) * 32u + tm_tid %% 32u;\n", wstride);
    for (int i = 0; i < n; i++) {
      em_indent(&E->out, i3 + 2);
      buf_printf(&E->out, "%s o%d = %st2 * %du + k];\n", em_tname(E, (tm_dtype)E->f->ins.v[in->args[i]].ty.dt), i, sm[i], KC);
      oth[i] = arena_printf(a, "o%d", i);
      acc[i] = arena_printf(a, "a%d[%s]", i, kk);
    }
    if (dup_pd) {
      em_indent(&E->out, i3 + 2);
      buf_printf(&E->out, "bool ov = %st2 * %du + k];\n", smv, KC);
      combine_valid(E, in, acc, arena_printf(a, "av[%s]", kk), oth, "ov", i3 + 2);
    } else {
      em_combine(E, in, acc, oth, i3 + 2);
    }
    em_indent(&E->out, i3 + 1);
    buf_puts(&E->out, "}\n");
    em_indent(&E->out, i3);
    buf_puts(&E->out, "}\n");
    if (hold) {
      E->bar_pending = true;
      E->bar_dot = false;
      E->bar_ind = i3;
      E->bar_lo = base, E->bar_hi = base + T * KC;
      E->bar_dt = dt0;
    } else {
      em_barrier(E, i3);
    }
    if (chunked) em_line(E, in1, "}\n");
  }
  for (int i = 0; i < n; i++) {
    em_indent(&E->out, in1);
    if (r) buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) r%d_%d[k] = a%d[k];\n", RP, id, i + 1, i);
    else buf_printf(&E->out, "r%d_%d = a%d[0];\n", id, i + 1, i);
  }
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
}

/* An inclusive scan along one axis, through threadgroup memory: every
 * element is written at its row-major index, then the lines along the axis
 * are scanned sequentially, one line per thread at a time (lines spread over
 * the threadgroup), and every thread reads its elements back. */
/* The sequential scan when its block does not fit threadgroup memory: the
 * lines move through it in chunks of O outer indices x I inner indices
 * (row-major index r = (outer * len + pos) * inner + ii; a chunk stages
 * ((outer - o0) * len + pos) * I + (ii - i0)), each chunk staged, scanned and
 * read back. False when even one line does not fit. */
static bool scan_in_chunks(Emitter *E, int id, int ind, int len, int inner, int bytes, int budget) {
  Ins *in = &E->f->ins.v[id];
  Arena *a = &E->c->arena;
  int n = in->nargs, T = E->f->num_warps * 32;
  bool reverse = in->imm != 0;
  Type t = E->f->ins.v[in->args[0]].ty;
  int outers = (int)type_numel(t) / (len * inner), O = outers, I = inner;
  while ((int64_t)O * len * I * bytes > budget / 2 && (I > 1 || O > 1)) {
    if (I > 1) I /= 2;
    else O /= 2;
  }
  if ((int64_t)O * len * I * bytes > budget) return false;
  int stripe = O * len * I;
  const char **sm = arena_alloc(a, sizeof(char *) * (size_t)n), **acc = arena_alloc(a, sizeof(char *) * (size_t)n),
             **cur = arena_alloc(a, sizeof(char *) * (size_t)n);
  int used[TM_NDTYPES] = {0};
  for (int i = 0; i < n; i++) {
    tm_dtype dt = (tm_dtype)E->f->ins.v[in->args[i]].ty.dt;
    int off = used[dt]++ * stripe;
    sm[i] = arena_printf(a, "%s[%d + ", em_smem(E, dt, off + stripe), off);
  }
  for (int i = 0; i < n; i++) {
    Ins *x = &E->f->ins.v[in->args[i]];
    em_line(E, ind, "%s r%d_%d[%d];\n", em_tname(E, (tm_dtype)x->ty.dt), id, i + 1, x->layout->per_thread);
  }
  em_line(E, ind, "for (int tm_o0 = 0; tm_o0 < %d; tm_o0 += %d)\n", outers, O);
  em_line(E, ind, "for (int tm_i0 = 0; tm_i0 < %d; tm_i0 += %d) {\n", inner, I);
  int i1 = ind + 1;
  /* the chunk's place of row-major index r, or -1 outside it */
  const char *place = arena_printf(a, "(uint(r / %d - tm_o0) < %du && uint(r %% %d - tm_i0) < %du ? "
                                      "((r / %d - tm_o0) * %d + r / %d %% %d) * %d + r %% %d - tm_i0 : -1)",
                                   len * inner, O, inner, I, len * inner, len, inner, len, I, inner);
  for (int i = 0; i < n; i++) { /* stage */
    Layout *A = E->f->ins.v[in->args[i]].layout;
    em_line(E, i1, "for (uint k = 0; k < %du; ++k) {\n", A->per_thread);
    em_coords(E, A, &E->out, i1 + 1, true);
    Layout *saved = E->group;
    E->group = A;
    em_line(E, i1 + 1, "int r = %s, at = %s;\n", flat_index(E, A), place);
    em_line(E, i1 + 1, "if (%sat >= 0) %sat] = %s;\n", A->replicated ? "!dup && " : "", sm[i], em_ref(E, in->args[i]));
    E->group = saved;
    em_line(E, i1, "}\n");
  }
  em_barrier(E, i1);
  em_line(E, i1, "for (uint line = tm_tid; line < %du; line += %du) {\n", O * I, T);
  em_line(E, i1 + 1, "uint base = line / %du * %du + line %% %du;\n", I, len * I, I);
  for (int i = 0; i < n; i++) {
    em_line(E, i1 + 1, "%s s%d = %sbase + %du];\n", em_tname(E, (tm_dtype)E->f->ins.v[in->args[i]].ty.dt), i, sm[i],
            reverse ? (len - 1) * I : 0);
    acc[i] = arena_printf(a, "s%d", i);
    cur[i] = arena_printf(a, "x%d", i);
  }
  em_line(E, i1 + 1, "for (uint j = 1; j < %du; ++j) {\n", len);
  em_line(E, i1 + 2, "uint at = base + %s * %du;\n", reverse ? arena_printf(a, "(%du - j)", len - 1) : "j", I);
  for (int i = 0; i < n; i++)
    em_line(E, i1 + 2, "%s x%d = %sat];\n", em_tname(E, (tm_dtype)E->f->ins.v[in->args[i]].ty.dt), i, sm[i]);
  em_combine(E, in, acc, cur, i1 + 2);
  for (int i = 0; i < n; i++) em_line(E, i1 + 2, "%sat] = s%d;\n", sm[i], i);
  em_line(E, i1 + 1, "}\n");
  em_line(E, i1, "}\n");
  em_barrier(E, i1);
  for (int i = 0; i < n; i++) { /* read back */
    Layout *L = E->f->ins.v[in->args[i]].layout;
    em_line(E, i1, "for (uint k = 0; k < %du; ++k) {\n", L->per_thread);
    em_coords(E, L, &E->out, i1 + 1, false);
    em_line(E, i1 + 1, "int r = %s, at = %s;\n", flat_index(E, L), place);
    em_line(E, i1 + 1, "if (at >= 0) r%d_%d[k] = %sat];\n", id, i + 1, sm[i]);
    em_line(E, i1, "}\n");
  }
  em_barrier(E, i1);
  em_line(E, ind, "}\n");
  return true;
}

static void emit_scan(Emitter *E, int id, int ind) {
  if (em_scan_parallel(E, id, ind)) return;
  Ins *in = &E->f->ins.v[id];
  in->path = SCAN_SEQUENTIAL;
  Arena *a = &E->c->arena;
  int n = in->nargs, axis = in->aux;
  bool reverse = in->imm != 0;
  Type t = E->f->ins.v[in->args[0]].ty;
  int len = t.shape[axis], inner = 1;
  for (int i = axis + 1; i < t.rank; i++) inner *= t.shape[i];
  int numel = (int)type_numel(t), lines = numel / len, T = E->f->num_warps * 32;
  const char **sm = arena_alloc(a, sizeof(char *) * (size_t)n), **acc = arena_alloc(a, sizeof(char *) * (size_t)n),
             **cur = arena_alloc(a, sizeof(char *) * (size_t)n);
  int bytes = 0;
  for (int i = 0; i < n; i++) {
    tm_dtype dt = (tm_dtype)E->f->ins.v[in->args[i]].ty.dt;
    bytes += dt == TM_I1 ? 1 : tm_dtype_bytes(dt);
  }
  int budget = E->c->target->threadgroup_mem_bytes > 0 ? E->c->target->threadgroup_mem_bytes : 32768;
  if ((int64_t)numel * bytes > budget && scan_in_chunks(E, id, ind, len, inner, bytes, budget)) return;
  int used[TM_NDTYPES] = {0};
  for (int i = 0; i < n; i++) { /* inputs of one dtype take consecutive stripes of its array */
    tm_dtype dt = (tm_dtype)E->f->ins.v[in->args[i]].ty.dt;
    int off = used[dt]++ * numel;
    const char *arr = em_smem(E, dt, off + numel);
    sm[i] = arena_printf(a, "%s[%d + ", arr, off);
    stage_all(E, in->args[i], arr, off, false, ind);
  }
  em_barrier(E, ind);
  em_indent(&E->out, ind);
  buf_printf(&E->out, "for (uint line = tm_tid; line < %du; line += %du) {\n", lines, T);
  em_indent(&E->out, ind + 1);
  buf_printf(&E->out, "uint base = line / %du * %du + line %% %du;\n", inner, len * inner, inner);
  for (int i = 0; i < n; i++) {
    const char *ty = em_tname(E, (tm_dtype)E->f->ins.v[in->args[i]].ty.dt);
    em_indent(&E->out, ind + 1);
    buf_printf(&E->out, "%s s%d = %sbase + %du];\n", ty, i, sm[i], reverse ? (len - 1) * inner : 0);
    acc[i] = arena_printf(a, "s%d", i);
    cur[i] = arena_printf(a, "x%d", i);
  }
  em_indent(&E->out, ind + 1);
  buf_printf(&E->out, "for (uint j = 1; j < %du; ++j) {\n", len);
  em_indent(&E->out, ind + 2);
  buf_printf(&E->out, "uint at = base + %s * %du;\n", reverse ? arena_printf(a, "(%du - j)", len - 1) : "j", inner);
  for (int i = 0; i < n; i++) {
    em_indent(&E->out, ind + 2);
    buf_printf(&E->out, "%s x%d = %sat];\n", em_tname(E, (tm_dtype)E->f->ins.v[in->args[i]].ty.dt), i, sm[i]);
  }
  em_combine(E, in, acc, cur, ind + 2);
  for (int i = 0; i < n; i++) {
    em_indent(&E->out, ind + 2);
    buf_printf(&E->out, "%sat] = s%d;\n", sm[i], i);
  }
  em_indent(&E->out, ind + 1);
  buf_puts(&E->out, "}\n");
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
  em_barrier(E, ind);
  for (int i = 0; i < n; i++) {
    Ins *x = &E->f->ins.v[in->args[i]];
    Layout *L = x->layout;
    em_indent(&E->out, ind);
    buf_printf(&E->out, "%s r%d_%d[%d];\n", em_tname(E, (tm_dtype)x->ty.dt), id, i + 1, L->per_thread);
    em_indent(&E->out, ind);
    buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", L->per_thread);
    em_coords(E, L, &E->out, ind + 1, false);
    em_indent(&E->out, ind + 1);
    buf_printf(&E->out, "r%d_%d[k] = %s%s];\n", id, i + 1, sm[i], flat_index(E, L));
    em_indent(&E->out, ind);
    buf_puts(&E->out, "}\n");
  }
  em_barrier(E, ind);
}

/* A block load or store of vec consecutive elements per vector (axis.c): one
 * vector access where the vector's mask is all true, single elements elsewhere. */
/* Element u of a loaded vector t: itself, or (packed) lane u of its 32-bit
 * words viewed as vectors of W (TW), t one word or a vector of them. */
static const char *loaded_elem(Arena *a, bool packed, int words, const char *TW, int W) {
  if (!packed) return "t[u]";
  if (words == 1) return arena_printf(a, "as_type<%s>(t)[u]", TW);
  return arena_printf(a, "as_type<%s>(t[u / %du])[u %% %du]", TW, W, W);
}

static void emit_vector_access(Emitter *E, int id, int ind) {
  Ins *in = &E->f->ins.v[id];
  Arena *a = &E->c->arena;
  Ins *p = &E->f->ins.v[in->args[0]];
  Layout *L = in->layout;
  int V = in->vec, PT = L->per_thread;
  tm_dtype dt = (tm_dtype)p->ty.dt;
  bool store = in->op == O_STORE;
  bool has_mask = store ? in->nargs == 3 : in->nargs >= 2;
  const char *T = em_tname(E, dt), *MT = mem_tname(E, dt);
  const char *TV = arena_printf(a, "%s%d", MT, V);
  /* more than 4 elements (8 halves, 8 bytes): MSL vectors have 4 components,
   * so the access moves 32-bit words (uint2, uint4) of W elements each, and
   * each word is viewed as a vector of W (as_type<half2>(word)) */
  int bytes = tm_dtype_bytes(dt) ? tm_dtype_bytes(dt) : 1, W = 4 / bytes, words = V * bytes / 4;
  bool packed = V > 4;
  const char *TW = packed ? arena_printf(a, "%s%d", MT, W) : NULL;
  if (packed) TV = arena_printf(a, "uint%d", words);
  Param *par = ptr_param(E->f, in->args[0]);
  const char *q = store || (par && par->written) ? E->dq : E->dcq;
  E->group = L;
  E->uses_tid = true;
  const char *pref = em_ref(E, in->args[0]);
  const char *mref = has_mask ? em_ref(E, in->args[store ? 2 : 1]) : "true";
  if (!store) {
    em_indent(&E->out, ind);
    buf_printf(&E->out, "%s v%d[%d];\n", T, id, PT);
    E->in_array[id] = true;
  }
  em_indent(&E->out, ind);
  buf_printf(&E->out, "for (uint k0 = 0; k0 < %du; k0 += %du) { // %d-element vectors\n", PT, V, V);
  const char *all = "true";
  if (has_mask && in->vmask) { /* the mask is the same over each vector (axis.c): read it once */
    em_line(E, ind + 1, "bool all;\n");
    em_line(E, ind + 1, "{ uint k = k0; all = %s; }\n", mref);
    all = "all";
  } else if (has_mask) {
    em_indent(&E->out, ind + 1);
    buf_printf(&E->out, "bool all = true;\n");
    em_indent(&E->out, ind + 1);
    buf_printf(&E->out, "for (uint k = k0; k < k0 + %du; ++k) all = all && %s;\n", V, mref);
    all = "all";
  }
  /* a load whose vector is masked as a whole and whose other value is the
   * same for every element: the vector starts filled with it and the load
   * overwrites it or not. A GPU compiler then predicates the load into the
   * registers that hold the fill (per-element selects otherwise: two byte
   * permutes a half on the proxy, layer norm forward fp16 at 1.5x upstream's
   * instructions) */
  int oid = !store && has_mask && in->vmask && in->nargs == 3 ? in->args[2] : -1;
  while (oid >= 0 && (E->f->ins.v[oid].op == O_SPLAT || E->f->ins.v[oid].op == O_HINT)) oid = E->f->ins.v[oid].args[0];
  bool filled = !store && has_mask && in->vmask && (in->nargs < 3 || (oid >= 0 && !E->f->ins.v[oid].ty.rank));
  if (filled) {
    /* 16-bit elements move as 32-bit words here too: a vector struct of
     * halves would be assembled lane by lane (byte permutes) */
    if (!packed && bytes == 2 && V % 2 == 0) {
      packed = true;
      TW = arena_printf(a, "%s%d", MT, W);
      TV = words == 1 ? "uint" : arena_printf(a, "uint%d", words);
    }
    const char *o = arena_printf(a, "%s(%s)", MT, in->nargs == 3 ? em_ref(E, in->args[2]) : "0");
    if (packed) o = arena_printf(a, "as_type<uint>(%s(%s))", TW, o);
    em_line(E, ind + 1, "%s t = %s(%s);\n", TV, TV, o);
    em_line(E, ind + 1, "if (%s) {\n", all);
    em_line(E, ind + 2, "uint k = k0;\n");
    em_line(E, ind + 2, "t = *%s;\n", em_access(E, false, in->args[0], arena_printf(a, "(%s %s*)(%s)", q, TV, pref), in->line));
    em_line(E, ind + 1, "}\n");
    em_line(E, ind + 1, "for (uint u = 0; u < %du; ++u) v%d[k0 + u] = %s%s;\n", V, id, loaded_elem(a, packed, words, TW, W),
            dt == TM_I1 ? " != 0" : "");
    em_line(E, ind, "}\n");
    E->group = NULL;
    return;
  }
  em_indent(&E->out, ind + 1);
  buf_printf(&E->out, "if (%s) {\n", all);
  em_indent(&E->out, ind + 2);
  buf_puts(&E->out, "uint k = k0;\n");
  em_indent(&E->out, ind + 2);
  if (!store) {
    buf_printf(&E->out, "%s t = *%s;\n", TV, em_access(E, false, in->args[0], arena_printf(a, "(%s %s*)(%s)", q, TV, pref), in->line));
    em_indent(&E->out, ind + 2);
    buf_printf(&E->out, "for (uint u = 0; u < %du; ++u) v%d[k0 + u] = %s%s;\n", V, id, loaded_elem(a, packed, words, TW, W),
               dt == TM_I1 ? " != 0" : "");
  } else if (packed) {
    buf_printf(&E->out, "%s t;\n", TV);
    em_indent(&E->out, ind + 2);
    buf_printf(&E->out, "for (uint w = 0; w < %du; ++w) { %s e; for (uint j = 0; j < %du; ++j) { uint k = k0 + w * %du + j; e[j] = %s(%s); } t[w] = as_type<uint>(e); }\n",
               words, TW, W, W, MT, em_ref(E, in->args[1]));
    em_indent(&E->out, ind + 2);
    buf_printf(&E->out, "*%s = t;\n", em_access(E, true, in->args[0], arena_printf(a, "(%s %s*)(%s)", E->dq, TV, pref), in->line));
  } else {
    buf_printf(&E->out, "%s t;\n", TV);
    em_indent(&E->out, ind + 2);
    buf_printf(&E->out, "for (uint u = 0; u < %du; ++u) { uint k = k0 + u; t[u] = %s(%s); }\n", V, MT, em_ref(E, in->args[1]));
    em_indent(&E->out, ind + 2);
    buf_printf(&E->out, "*%s = t;\n", em_access(E, true, in->args[0], arena_printf(a, "(%s %s*)(%s)", E->dq, TV, pref), in->line));
  }
  /* the else branch: nothing without a mask; the other value for a vector
   * masked off as a whole (vmask); else element by element */
  const char *other = store ? NULL : in->nargs == 3 ? em_ref(E, in->args[2]) : arena_printf(a, "%s(0)", T);
  if (has_mask && in->vmask && !store) {
    em_line(E, ind + 1, "} else {\n");
    em_line(E, ind + 2, "for (uint k = k0; k < k0 + %du; ++k) v%d[k] = %s;\n", V, id, other);
  } else if (has_mask && !in->vmask && !store) {
    const char *acc = arena_printf(a, "*%s", em_access(E, false, in->args[0], pref, in->line));
    if (dt == TM_I1) acc = arena_printf(a, "(%s != 0)", acc);
    em_line(E, ind + 1, "} else {\n");
    em_line(E, ind + 2, "for (uint k = k0; k < k0 + %du; ++k) v%d[k] = %s ? %s : %s;\n", V, id, mref, acc, other);
  } else if (has_mask && !in->vmask) {
    const char *val = em_ref(E, in->args[1]);
    if (dt == TM_I1) val = arena_printf(a, "%s(%s)", MT, val);
    em_line(E, ind + 1, "} else {\n");
    em_line(E, ind + 2, "for (uint k = k0; k < k0 + %du; ++k) if (%s) *%s = %s;\n", V, mref,
            em_access(E, true, in->args[0], pref, in->line), val);
  }
  em_indent(&E->out, ind + 1);
  buf_puts(&E->out, "}\n");
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
  E->group = NULL;
}

/* device_print / device_assert: records appended to the hidden debug buffer
 * (words: [0] cursor, [1] capacity, [2] an assert failed, [3] unused; then
 * records [site, pid.x, pid.y, pid.z, element, value lo/hi...]), written by
 * each element's owner (by thread 0 for scalars) and decoded by the host. */
static void emit_debug(Emitter *E, int id, int ind) {
  Ins *in = &E->f->ins.v[id];
  Arena *a = &E->c->arena;
  const char *dbg = E->param_names[E->f->params.n - 1];
  bool print = in->op == O_PRINT;
  int nv = print ? in->nargs : 0, W = 5 + 2 * nv;
  Ins *first = in->nargs ? &E->f->ins.v[in->args[0]] : NULL;
  Layout *L = first && first->ty.rank ? first->layout : NULL;
  E->uses_tid = true;
  em_indent(&E->out, ind);
  buf_printf(&E->out, "{ // %s @%d\n", print ? "device_print" : "device_assert", in->line);
  int in1 = ind + 1;
  const char *flat = "0u";
  if (L) {
    E->group = L;
    em_indent(&E->out, in1);
    buf_printf(&E->out, "for (uint k = 0; k < %du; ++k) {\n", L->per_thread);
    em_coords(E, L, &E->out, in1 + 1, true);
    flat = arena_printf(a, "uint(%s)", flat_index(E, L));
    in1++;
  }
  const char *cond = L && L->replicated ? "!dup" : L ? "true" : "tm_tid == 0u";
  if (!print) cond = arena_printf(a, "%s && !(%s)", cond, em_ref(E, in->args[0]));
  em_indent(&E->out, in1);
  buf_printf(&E->out, "if (%s) {\n", cond);
  em_indent(&E->out, in1 + 1);
  buf_printf(&E->out, "uint at = atomic_fetch_add_explicit((%s atomic_uint*)%s, %du, memory_order_relaxed) + 4u;\n", E->dq, dbg, W);
  if (!print) {
    em_indent(&E->out, in1 + 1);
    buf_printf(&E->out, "%s[2] = 1u;\n", dbg);
  }
  em_indent(&E->out, in1 + 1);
  buf_printf(&E->out, "if (at + %du <= %s[1]) {\n", W, dbg);
  em_indent(&E->out, in1 + 2);
  buf_printf(&E->out, "%s[at] = %du; %s[at + 1] = tm_pid.x; %s[at + 2] = tm_pid.y; %s[at + 3] = tm_pid.z; %s[at + 4] = %s;\n", dbg,
             in->aux, dbg, dbg, dbg, dbg, flat);
  for (int i = 0; i < nv; i++) {
    em_indent(&E->out, in1 + 2);
    buf_printf(&E->out, "{ ulong b = tm_dbg_bits(%s); %s[at + %d] = uint(b); %s[at + %d] = uint(b >> 32); }\n", em_ref(E, in->args[i]),
               dbg, 5 + 2 * i, dbg, 6 + 2 * i);
  }
  em_indent(&E->out, in1 + 1);
  buf_puts(&E->out, "}\n");
  em_indent(&E->out, in1);
  buf_puts(&E->out, "}\n");
  if (L) {
    em_indent(&E->out, ind + 1);
    buf_puts(&E->out, "}\n");
    E->group = NULL;
  }
  em_indent(&E->out, ind);
  buf_puts(&E->out, "}\n");
}

/* text as the rest of one comment line, then the newline: newlines, carriage
 * returns and backslashes escaped (python/triton_metal/_debug.py unescape). */
static void buf_one_line(Buf *b, const char *text) {
  for (const char *p = text; *p; p++)
    buf_printf(b, *p == '\n' ? "\\n" : *p == '\\' ? "\\\\" : *p == '\r' ? "\\r" : "%c", *p);
  buf_puts(b, "\n");
}

/* debug_info: `#line` directives map the MSL back to the kernel's Python source
 * (Metal's diagnostics and debuggers then name the Python line). */
static void line_mark(Emitter *E, Buf *b, Ins *in) {
  if (!E->c->req->debug_info || in->line <= 0) return;
  buf_printf(b, "#line %d \"%s\"\n", in->line, E->c->src.filename);
}

static void emit_ins(Emitter *E, int id, int ind, int op) {
  Ins *in = &E->f->ins.v[id];
  Arena *a = &E->c->arena;
  if (is_transparent(in)) return; /* referred to directly */
  if (E->carried[id] && in->op != O_DOT) return; /* acc + tl.dot or acc * r[:, None], done by the dot in the loop's matrices */
  E->cur = id;
  if (E->bar_pending && (in->op == O_FOR || in->op == O_IF || in->op == O_WHILE || in->op == O_RETURN)) {
    close_group(E); /* a held-back barrier is not left for one branch to emit */
    em_flush_barrier(E);
  }
  if (E->c->req->debug_info && in->line != E->last_line) {
    bool grouped = groupable(in) && !((in->op == O_LOAD || in->op == O_STORE) && in->vec > 1);
    bool pure = !grouped && !(in->op == O_LOAD || in->op == O_STORE || in->nregions || in->op == O_YIELD ||
                              in->op == O_CONDITION || in->op == O_RETURN);
    Buf *b = grouped ? &E->loop : (pure && E->group) ? &E->pre : &E->out;
    if (!grouped && !pure) close_group(E);
    if (grouped && (!E->group || !layout_eq(E->group, in->layout))) {
      open_group(E, in->layout, ind);
      b = &E->loop;
    }
    line_mark(E, b, in);
    E->last_line = in->line;
  }
  if ((in->op == O_LOAD || in->op == O_STORE) && in->vec > 1) {
    close_group(E);
    emit_vector_access(E, id, ind);
    return;
  }
  if (!groupable(in)) {
    bool pure = !(in->op == O_LOAD || in->op == O_STORE || in->nregions || in->op == O_YIELD ||
                  in->op == O_CONDITION || in->op == O_RETURN || in->op == O_CONVERT || in->op == O_DOT || in->op == O_ATOMIC ||
                  in->op == O_SHUFFLE || in->op == O_BARRIER || in->op == O_PRINT || in->op == O_ASSERT);
    if (!pure) close_group(E);
    Buf *b = E->group ? &E->pre : &E->out;
    switch ((Op)in->op) {
    case O_STORE: emit_store(E, in, b, ind, false); break;
    case O_LOAD: {
      int r = E->roots[in->args[0]];
      if (!in->ty.ptr && !in->solo && (r >= 0 && r < E->f->params.n ? E->shared[r] : E->shared_any)) {
        /* a scalar other programs may be writing (plan_coherence): thread 0
         * reads it for the threadgroup, so every thread branches alike */
        const char *T = decl_type(E, id), *sm = em_smem(E, (tm_dtype)in->ty.dt, 1);
        em_barrier(E, ind);
        em_line(E, ind, "%s v%d;\n", T, id);
        em_line(E, ind, "if (tm_tid == 0u) {\n");
        emit_load_expr(E, in, b, arena_printf(a, "%*s%s[0] = ", (ind + 1) * 2, "", sm));
        em_line(E, ind, "}\n");
        em_barrier(E, ind);
        em_line(E, ind, "v%d = %s[0];\n", id, sm);
        em_hold_barrier(E, ind);
        E->uses_tid = true;
        break;
      }
      const char *lhs = arena_printf(a, "%*s%s v%d = ", ind * 2, "", decl_type(E, id), id);
      emit_load_expr(E, in, b, lhs);
      break;
    }
    case O_FOR: emit_for(E, id, ind); break;
    case O_CONVERT: emit_convert(E, id, ind); break;
    case O_DOT: emit_dot(E, id, ind); break;
    case O_ATOMIC: emit_atomic(E, id, ind); break;
    case O_PRINT: case O_ASSERT: emit_debug(E, id, ind); break;
    case O_SHUFFLE: emit_shuffle(E, id, ind); break;
    case O_REDUCE: emit_reduce(E, id, ind); break;
    case O_SCAN: emit_scan(E, id, ind); break;
    case O_IF: emit_if(E, id, ind); break;
    case O_WHILE: emit_while(E, id, ind); break;
    case O_YIELD: emit_yield(E, op, in, ind); break;
    case O_CONDITION:
      em_indent(&E->out, ind);
      buf_printf(&E->out, "if (!%s) break;\n", em_ref(E, in->args[0]));
      break;
    case O_RETURN:
      em_indent(&E->out, ind);
      buf_puts(&E->out, "return;\n");
      break;
    case O_BARRIER: /* device memory written before is visible to the program's threads, and ordered */
      E->bar_pending = false; /* this one serves a held-back one too */
      if (!E->d->cumulative_fences) em_line(E, ind, "TM_FENCE();\n");
      em_indent(&E->out, ind);
      buf_puts(&E->out, "threadgroup_barrier(mem_flags::mem_device | mem_flags::mem_threadgroup);\n");
      E->uses_barrier = true;
      break;
    default:
      em_indent(b, ind);
      buf_printf(b, "%s v%d = %s;\n", decl_type(E, id), id, binop_expr(E, in));
      break;
    }
    return;
  }
  open_group(E, in->layout, ind);
  if (E->in_array[id]) {
    em_indent(&E->pre, ind);
    buf_printf(&E->pre, "%s v%d[%d];\n", decl_type(E, id), id, in->layout->per_thread);
  }
  const char *lhs = in->op == O_STORE ? NULL
                    : E->in_array[id] ? arena_printf(a, "%*sv%d[k] = ", ind * 2 + 2, "", id)
                                      : arena_printf(a, "%*s%s v%d = ", ind * 2 + 2, "", decl_type(E, id), id);
  switch ((Op)in->op) {
  case O_RANGE:
    E->need_coords = true;
    if (in->imm) buf_printf(&E->loop, "%sc%d + %lld;\n", lhs, in->layout->dims[0], (long long)in->imm);
    else buf_printf(&E->loop, "%sc%d;\n", lhs, in->layout->dims[0]);
    break;
  case O_EXPAND_DIMS: case O_BROADCAST: buf_printf(&E->loop, "%s%s;\n", lhs, em_ref(E, in->args[0])); break;
  case O_LOAD: emit_load_expr(E, in, &E->loop, lhs); break;
  case O_STORE: emit_store(E, in, &E->loop, ind + 1, true); break;
  default: buf_printf(&E->loop, "%s%s;\n", lhs, binop_expr(E, in)); break;
  }
  E->uses_tid = true;
  if (E->need_dup) E->need_coords = true;
}

/* A block's instructions, leaving a held-back barrier pending. */
static void emit_block_open(Emitter *E, Block *b, int ind, int op) {
  for (int bi = 0; bi < b->ins.n; bi++) emit_ins(E, b->ins.v[bi], ind, op);
  close_group(E);
}

static void emit_block(Emitter *E, Block *b, int ind, int op) {
  emit_block_open(E, b, ind, op);
  if (op >= 0) em_flush_barrier(E); /* the next iteration or the enclosing block may use scratch */
  else E->bar_pending = false;     /* the kernel's end: nothing follows */
}

static bool reserved(const char *s) {
  static const char *words[] = {
      "kernel", "device", "constant", "threadgroup", "thread", "half", "float", "int", "uint", "bool", "char",
      "short", "long", "uchar", "ushort", "ulong", "bfloat", "void", "k", "dup", "lane", "warp", "s", "min", "max",
      "fmin", "fmax", "fmod", "metal", "using", "namespace",
      "template", "typename", "class", "struct", "union", "enum", "const", "static", "auto", "register",
      "signed", "unsigned", "sizeof", "switch", "case", "default", "do", "goto", "new", "delete", "this",
      "operator", "private", "public", "protected", "virtual", "friend", "inline", "volatile", "extern",
      "typedef", "double", "main", "vertex", "fragment", "sampler", "texture", "NAN", "INFINITY", "true",
      "false", "while", "for", "if", "else", "break", "continue", "return", NULL};
  for (int i = 0; words[i]; i++)
    if (!strcmp(words[i], s)) return true;
  if (!strncmp(s, "tm_", 3) || !strncmp(s, "TM_", 3) || !strncmp(s, "__", 2)) return true;
  if (strchr("vrydce", s[0]) && s[1] >= '0' && s[1] <= '9') return true; /* the emitter's own names (c<d>, e<d>: coordinates) */
  return false;
}

/* Device memory shared between threadgroups (issue 15 item 4).
 *
 * A kernel that asks for ordering with an atomic (sem acquire, release or
 * acq_rel: upstream's default) may be passing data to other programs through
 * plain loads and stores: the tutorial's layer norm backward takes a lock with
 * atomic_cas, adds into its DW rows and releases it. Metal keeps device memory
 * coherent within a threadgroup only; across threadgroups plain accesses need
 * buffers declared `coherent(device)` and device-scope fences, both MSL 3.2
 * (../shared/reference/metal.md, address spaces and atomics). So where such a
 * kernel reads a parameter's memory that the kernel also writes (plain store
 * or atomic: memory another program may have written), every buffer of the
 * kernel is spelled `coherent(device) device` (one spelling for all, so
 * pointers and casts never mix two), and a scalar read from such memory is
 * made by thread 0 and shared, so that a branch on it (with barriers inside)
 * is taken by the whole threadgroup. Before MSL 3.2 there is no way to make
 * the plain accesses coherent: the kernel is refused, naming both lines,
 * rather than run with stale data. Kernels without ordered atomics, or whose
 * ordered atomics only accumulate into memory they do not read, are
 * untouched. */
static void plan_coherence(Emitter *E) {
  Ctx *c = E->c;
  Fn *f = E->f;
  int np = f->params.n, ordered = -1, read_line = 0, read_param = -1;
  E->dq = E->d->buffer_qual;
  E->dcq = E->d->const_buffer_qual;
  E->shared = arena_alloc(&c->arena, sizeof(bool) * (size_t)(np + 1));
  memset(E->shared, 0, sizeof(bool) * (size_t)(np + 1));
  bool *rd = arena_alloc(&c->arena, sizeof(bool) * (size_t)(np + 1));
  bool *wr = arena_alloc(&c->arena, sizeof(bool) * (size_t)(np + 1));
  memset(rd, 0, sizeof(bool) * (size_t)(np + 1));
  memset(wr, 0, sizeof(bool) * (size_t)(np + 1));
  bool rd_any = false, wr_any = false;
  for (int i = 0; i < f->ins.n; i++) {
    Ins *in = &f->ins.v[i];
    if (in->op != O_LOAD && in->op != O_STORE && in->op != O_ATOMIC) continue;
    int r = E->roots[in->args[0]];
    bool w = in->op != O_LOAD;
    if (r >= 0 && r < np) (w ? wr : rd)[r] = true;
    else if (w) wr_any = true;
    else rd_any = true;
    if (in->op == O_ATOMIC && (in->imm & (AT_FENCE_BEFORE | AT_FENCE_AFTER)) && ordered < 0) ordered = i;
    if (in->op == O_LOAD && (in->imm & LD_VOLATILE) && ordered < 0) ordered = i; /* a volatile read of shared memory */
  }
  if (ordered < 0) return;
  for (int i = 0; i < f->ins.n && read_param < 0; i++) { /* the first plain read of shared memory */
    Ins *in = &f->ins.v[i];
    if (in->op != O_LOAD) continue;
    int r = E->roots[in->args[0]];
    if (r >= 0 && r < np ? wr[r] || wr_any : wr_any) read_param = r >= 0 ? r : np, read_line = in->line;
  }
  if (read_param < 0) return;
  for (int p = 0; p < np; p++) E->shared[p] = (rd[p] || rd_any) && (wr[p] || wr_any);
  E->shared_any = rd_any && wr_any;
  Ins *at = &f->ins.v[ordered];
  if (!c->target->has_device_coherence && at->op == O_LOAD)
    error_at(c, at->line, at->col,
             "this volatile load reads memory the kernel also writes (other programs' writes, as in a spin-wait): "
             "they reach it only through `coherent(device)` buffers, which need MSL 3.2 (macOS 15); target %s has "
             "MSL %d.%d. Use a Mac with macOS 15 or newer", c->target->name, c->target->msl_version / 100,
             c->target->msl_version / 10 % 10);
  if (!c->target->has_device_coherence)
    error_at(c, at->line, at->col,
             "this atomic orders memory (sem='%s') and the kernel reads %s%s%s (line %d), which it "
             "also writes: other programs' writes reach such plain loads only through "
             "`coherent(device)` buffers and device-scope fences, which need MSL 3.2 (macOS 15); "
             "target %s has MSL %d.%d. Use a Mac with macOS 15 or newer, or make the atomics "
             "sem='relaxed' if they do not order the other accesses",
             (at->imm & AT_FENCE_BEFORE) && (at->imm & AT_FENCE_AFTER) ? "acq_rel"
             : at->imm & AT_FENCE_BEFORE                              ? "release"
                                                                      : "acquire",
             read_param < np ? "'" : "memory through a pointer of unknown origin",
             read_param < np ? f->params.v[read_param].name : "", read_param < np ? "'" : "", read_line,
             c->target->name, c->target->msl_version / 100, c->target->msl_version / 10 % 10);
  E->dq = E->d->coherent_qual;
  E->dcq = arena_printf(&c->arena, "%s const", E->d->coherent_qual);
}

char *emit(Ctx *c, Fn *f, const Dialect *d, tm_kernel_info *info) {
  /* in the arena, so an error raised from anywhere below can free its buffers */
  Emitter *E = arena_alloc(&c->arena, sizeof *E);
  *E = (Emitter){.c = c, .f = f, .d = d};
  E->roots = ir_pointer_roots(c, f);
  plan_coherence(E);
  ctx_own_buf(c, &E->out);
  ctx_own_buf(c, &E->pre);
  ctx_own_buf(c, &E->loop);
  ctx_own_buf(c, &E->fscope);
  ctx_own_buf(c, &E->aside);
  ctx_own_buf(c, &E->canon);
  E->group_of = arena_alloc(&c->arena, sizeof(int) * (size_t)(f->ins.n + 1));
  E->in_array = arena_alloc(&c->arena, sizeof(bool) * (size_t)(f->ins.n + 1));
  E->turn_dot = E->turn_op = E->bar_pp = -1;
  E->sg_acc = arena_alloc(&c->arena, sizeof(char *) * (size_t)(f->ins.n + 1));
  E->carried = arena_alloc(&c->arena, sizeof(bool) * (size_t)(f->ins.n + 1));
  E->sg_scale = arena_alloc(&c->arena, sizeof(int) * (size_t)(f->ins.n + 1));
  E->sg_afrag = arena_alloc(&c->arena, sizeof(char *) * (size_t)(f->ins.n + 1));
  E->smem_dts = arena_alloc(&c->arena, sizeof(uint64_t) * (size_t)(f->ins.n + 1));
  E->param_names = arena_alloc(&c->arena, sizeof(char *) * (size_t)(f->params.n + 1));
  int nh = 0;
  while (math_helpers[nh].name) nh++;
  E->helpers = arena_alloc(&c->arena, sizeof(bool) * (size_t)(nh + 1));
  for (int i = 0; i < f->params.n; i++) {
    const char *pn = f->params.v[i].name;
    bool ascii = true;
    for (const char *q = pn; *q; q++) ascii &= (unsigned char)*q < 0x80;
    E->param_names[i] = !ascii ? arena_printf(&c->arena, "tm_arg%d", i) /* a Unicode name: MSL takes ASCII */
                        : reserved(pn) ? arena_printf(&c->arena, "%s_", pn) : pn;
  }

  plan_groups(E, f->body, 0);
  plan_arrays(E);
  emit_block(E, f->body, 1, -1);
  int smem_off[TM_NDTYPES];
  int smem_bytes = layout_smem(E, smem_off);
  int budget = c->target->threadgroup_mem_bytes > 0 ? c->target->threadgroup_mem_bytes : 32768;
  if (smem_bytes > budget && E->wide_dot && !c->narrow_dots) {
    /* a portable dot's wide staging left too little for another user of
     * threadgroup memory: the whole kernel again, dots staged in 16 KB */
    ctx_free_bufs(c);
    c->narrow_dots = true;
    return emit(c, f, d, info);
  }
  if (smem_bytes > budget) { /* name the operations that need it */
    Buf why = {0};
    for (int i = 0; i < E->smem_users.n && i < 8; i++) {
      Ins *u = &f->ins.v[E->smem_users.v[i]];
      buf_printf(&why, "%s%s at %d:%d (%d bytes)", i ? ", " : "", op_name((Op)u->op), u->line, u->col, E->smem_sizes.v[i]);
    }
    const char *list = arena_strdup(&c->arena, why.p ? why.p : "");
    buf_free(&why);
    error_at(c, f->line, f->col, "the kernel needs %d bytes of threadgroup memory; the target '%s' has %d; needed by: %s; "
             "use smaller blocks or fewer SIMD-groups (num_warps)", smem_bytes, c->target->name, budget, list);
  }
  /* per-thread arrays: an upper bound (every array at once). A GPU spills
   * large ones to memory (slow, but it runs, as upstream's kernels do); the
   * emulator sizes its fiber stacks from this figure (info->private_bytes).
   * Beyond 1 MiB a thread, it is surely a mistake. */
  int64_t priv = 0;
  for (int i = 0; i < f->ins.n; i++) {
    Ins *in = &f->ins.v[i];
    if (!in->ty.rank || !in->layout) continue;
    bool stored = E->in_array[i] || ((in->op == O_RESULT || in->op == O_BLOCKARG) && in->aux > 0);
    if (stored) priv += (int64_t)in->layout->per_thread * (in->ty.ptr ? 8 : tm_dtype_bytes((tm_dtype)in->ty.dt));
  }
  if (priv > 1024 * 1024) {
    error_at(c, f->line, f->col, "the kernel would keep about %lld bytes of per-thread arrays (blocks of %d threads); "
             "use smaller blocks or more SIMD-groups (num_warps), or split the work", (long long)priv, f->num_warps * 32);
  }
  info->private_bytes = (int)priv;

  Buf k = {0};
  if (d->head) buf_puts(&k, d->head);
  else buf_puts(&k, "#include <metal_stdlib>\n");
  if (E->tensor_ops) /* a tl.dot's matmul2d variant (emit_dot.c), where the compiler has MSL 4.0 */
    buf_puts(&k, "#if !defined(TM_NO_TENSOR_OPS) && (__METAL_VERSION__ >= 400 || defined(__HAVE_TENSOR__))\n"
                 "#include <metal_tensor>\n"
                 "#include <MetalPerformancePrimitives/MetalPerformancePrimitives.h>\n"
                 "#define TM_TENSOR_OPS 1\n"
                 "#else\n"
                 "#define TM_TENSOR_OPS 0\n"
                 "#endif\n"
                 "#ifndef TM_TG\n"
                 "#define TM_TG(T) threadgroup T\n"
                 "#endif\n");
  buf_puts(&k, "using namespace metal;\n\n");
  buf_puts(&k, d->prelude);
  for (int i = 0; i < f->warnings.n; i++) { /* python/triton_metal/jit.py warns with these when it compiles */
    buf_puts(&k, "// tm-warning ");
    buf_one_line(&k, f->warnings.v[i]);
  }
  for (int i = 0; i < f->static_prints.n; i++) { /* python/triton_metal/jit.py prints these when it compiles */
    buf_puts(&k, "// tm-static-print ");
    buf_one_line(&k, f->static_prints.v[i]);
  }
  if (f->sites.n) {
    buf_puts(&k, "template <typename T> inline ulong tm_dbg_bits(T x) { return ulong(long(x)); }\n"
                 "inline ulong tm_dbg_bits(ulong x) { return x; }\n"
                 "inline ulong tm_dbg_bits(float x) { return ulong(as_type<uint>(x)); }\n"
                 "inline ulong tm_dbg_bits(half x) { return ulong(as_type<uint>(float(x))); }\n");
    if (c->target->has_bfloat) buf_puts(&k, "inline ulong tm_dbg_bits(bfloat x) { return ulong(as_type<uint>(float(x))); }\n");
    /* the records' meaning, for the host (python/triton_metal/_debug.py reads these lines) */
    for (int i = 0; i < f->sites.n; i++) {
      DebugSite *s = &f->sites.v[i];
      buf_printf(&k, "// tm-debug-site %d %s %d %d %d ", i, s->is_assert ? "assert" : "print", s->line, s->col, s->hex);
      for (int j = 0; j < s->nvals; j++)
        buf_printf(&k, "%s%s", j ? "," : "", s->ptrs >> j & 1 ? "ptr" : tm_dtype_sig(s->dts[j]));
      buf_puts(&k, s->nvals ? " " : "- ");
      /* the values' shape (- for scalars) and the program's threads, which each print a scalar on a GPU */
      for (int j = 0; j < s->rank; j++) buf_printf(&k, "%s%d", j ? "x" : "", s->shape[j]);
      buf_printf(&k, "%s %d ", s->rank ? "" : "-", f->num_warps * 32);
      buf_one_line(&k, s->text);
    }
  }
  /* helpers in table order, so one a helper needs comes first if listed first */
  for (int i = 0; i < nh; i++)
    if (E->helpers[i]) buf_printf(&k, "%s", math_helpers[i].text);
  if (c->target->has_bfloat) { /* Metal's simd_shuffle* have no bfloat overloads: as ushort */
    if (helper_used(E, "tm_shfl_xor"))
      buf_puts(&k, "inline bfloat tm_shfl_xor(bfloat x, ushort m) { return as_type<bfloat>(simd_shuffle_xor(as_type<ushort>(x), m)); }\n");
    if (helper_used(E, "tm_shfl_up"))
      buf_puts(&k, "inline bfloat tm_shfl_up(bfloat x, ushort d) { return as_type<bfloat>(simd_shuffle_up(as_type<ushort>(x), d)); }\n"
                   "inline bfloat tm_shfl_down(bfloat x, ushort d) { return as_type<bfloat>(simd_shuffle_down(as_type<ushort>(x), d)); }\n"
                   "inline bfloat tm_shfl(bfloat x, ushort l) { return as_type<bfloat>(simd_shuffle(as_type<ushort>(x), l)); }\n");
  }
  /* after every tm_shfl_xor overload (bfloat's above): the template's
   * unqualified call is looked up where it is defined */
  if (E->uses_bfly) buf_puts(&k, tm_bfly_prelude);
  if (E->uses_dot_fma) buf_puts(&k, tm_dot_prelude);
  if (E->uses_sgm_mac) buf_puts(&k, tm_sgm_prelude);
  if (E->fscope.len) buf_put(&k, E->fscope.p, E->fscope.len);
  const char *kname = reserved(f->name) ? arena_printf(&c->arena, "%s_", f->name) : f->name;
  buf_puts(&k, "\n");
  if (d->kernel_fmt) buf_printf(&k, d->kernel_fmt, f->num_warps * 32);
  else buf_puts(&k, d->kernel_kw);
  buf_printf(&k, " %s(", kname);
  const char *sep = "\n    ";
  for (int i = 0; i < f->params.n; i++) {
    Param *p = &f->params.v[i];
    if (p->kind == TM_PARAM_POINTER)
      buf_printf(&k, "%s%s %s* %s", sep, p->written ? E->dq : E->dcq, mem_tname(E, (tm_dtype)p->ty.dt),
                 E->param_names[i]);
    else if (d->bytes_by_value)
      buf_printf(&k, "%s%s %s", sep, em_tname(E, (tm_dtype)p->ty.dt), E->param_names[i]);
    else
      buf_printf(&k, "%s%s %s& %s", sep, d->bytes_qual, em_tname(E, (tm_dtype)p->ty.dt), E->param_names[i]);
    buf_printf(&k, d->buffer_attr, i);
    sep = ",\n    ";
  }
  info->nbuiltins = 0;
  tm_builtin bis[3] = {TM_BI_THREADGROUP_POSITION, TM_BI_THREADGROUPS_PER_GRID, TM_BI_THREAD_INDEX};
  bool want[3] = {true, E->uses_npid, E->uses_tid};
  Buf locals = {0};
  ctx_own_buf(c, &locals);
  for (int i = 0; i < 3; i++) {
    if (!want[i]) continue;
    info->builtins[info->nbuiltins++] = bis[i];
    if (d->builtin_local[bis[i]]) {
      buf_printf(&locals, "  %s\n", d->builtin_local[bis[i]]);
      continue;
    }
    buf_printf(&k, "%s%s", sep, d->builtin_decl[bis[i]]);
    sep = ",\n    ";
  }
  buf_puts(&k, ")\n{\n");
  if (locals.len) buf_put(&k, locals.p, locals.len);
  /* one array per dtype, at the offsets layout_smem chose, in one block of
   * smem_bytes (the emulator places them at these offsets in its
   * per-threadgroup memory; on a GPU they are views of tm_smem_base) */
  if (smem_bytes) buf_printf(&k, "  TM_TG_BASE(%d);\n", smem_bytes);
  for (int dt = 0; dt < TM_NDTYPES; dt++)
    if (E->smem[dt])
      buf_printf(&k, "  TM_TG_ARRAY(%s, tm_smem_%s, %d, %d);\n", em_tname(E, (tm_dtype)dt), em_tname(E, (tm_dtype)dt), E->smem[dt], smem_off[dt]);
  buf_put(&k, E->out.p ? E->out.p : "", E->out.len);
  buf_puts(&k, "}\n");
  bool oom = k.oom || E->out.oom || E->pre.oom || E->loop.oom;
  char *text = oom ? NULL : arena_strdup(&c->arena, k.p);
  buf_free(&k);
  ctx_free_bufs(c);
  if (!text) internal_error(c, "emit", "out of memory");
  info->name = kname;
  info->source_name = f->name;
  info->threads_per_threadgroup = f->num_warps * 32;
  info->threadgroup_mem_bytes = smem_bytes;
  info->uses_barriers = E->uses_barrier;
  return text;
}
