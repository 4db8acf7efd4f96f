/*
 * emit.c: tile IR -> kernel source text, spelled through a Dialect table.
 *
 * Expects layouts on every block value (layout.c). Scalars become one
 * variable per value. Block values become per-thread code: consecutive block
 * instructions of one layout form a group, emitted as one loop over the
 * thread's slots, in which each block value is a plain scalar variable:
 *
 *   for (uint k = 0; k < 8u; ++k) {      // slot k of this thread
 *     int c0 = int(k * 128u + tm_tid);    // the element it holds (layout.c)
 *     ...one line per instruction...
 *   }
 *
 * Pure scalar instructions met inside a group are hoisted before its loop
 * (they depend on no block value). A block value used by a later group is kept
 * in a per-thread array `T vN[slots]` instead. Scalar loads and stores end a
 * group, keeping memory effects in program order.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tm.h"

typedef struct Emitter {
  Ctx *c;
  Fn *f;
  const Dialect *d;
  Buf out;          /* the function body so far */
  Buf pre, loop;    /* the open group: hoisted scalars, loop body */
  Layout *group;    /* layout of the open group, NULL when none */
  bool *in_array;   /* block value kept in an array across groups */
  bool need_coords, need_dup;
  bool uses_tid, uses_npid;
  const char **param_names;
} Emitter;

static const char *tname(Emitter *E, tm_dtype dt) {
  const char *s = E->d->type_names[dt];
  if (!s) internal_error(E->c, "emit", "dtype %s has no spelling in %s", tm_dtype_name(dt), E->d->name);
  return s;
}

/* The element type a buffer of dt is declared with (bools travel as bytes). */
static const char *mem_tname(Emitter *E, tm_dtype dt) { return dt == TM_I1 ? tname(E, TM_U8) : tname(E, dt); }

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
    return dt == TM_F32 ? s : arena_printf(a, "%s(%s)", tname(E, dt), s);
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
  default: return arena_printf(a, "%s(%lld)", tname(E, dt), (long long)v);
  }
}

static Param *ptr_param(Fn *f, int id) {
  for (;;) {
    Ins *in = &f->ins.v[id];
    if (in->op == O_ADDPTR || in->op == O_SPLAT || in->op == O_BROADCAST) id = in->args[0];
    else if (in->op == O_ARG) return &f->params.v[in->aux];
    else return NULL;
  }
}

/* The declared type of a value: `float`, `device const float*`. */
static const char *decl_type(Emitter *E, int id) {
  Ins *in = &E->f->ins.v[id];
  if (!in->ty.ptr) return tname(E, (tm_dtype)in->ty.dt);
  Param *p = ptr_param(E->f, id);
  const char *q = p && !p->written ? E->d->const_buffer_qual : E->d->buffer_qual;
  return arena_printf(&E->c->arena, "%s %s*", q, mem_tname(E, (tm_dtype)in->ty.dt));
}

/* How instruction `id` is referred to from the current position. */
static const char *ref(Emitter *E, int id) {
  Ins *in = &E->f->ins.v[id];
  switch (in->op) {
  case O_CONST: return literal(E, in);
  case O_ARG: return E->param_names[in->aux];
  case O_SPLAT: return ref(E, in->args[0]);
  default: break;
  }
  if (in->ty.rank && E->in_array[id]) return arena_printf(&E->c->arena, "v%d[k]", id);
  return arena_printf(&E->c->arena, "v%d", id);
}

static const char *binop_expr(Emitter *E, Ins *in) {
  Arena *a = &E->c->arena;
  const char *x = ref(E, in->args[0]), *y = in->nargs > 1 ? ref(E, in->args[1]) : NULL;
  tm_dtype dt = (tm_dtype)E->f->ins.v[in->args[0]].ty.dt;
  bool fl = dt_is_float(dt), sg = dt_is_signed(dt);
  const char *T = tname(E, (tm_dtype)in->ty.dt);
  static const char *sym[O_NOPS] = {[O_ADD] = "+", [O_SUB] = "-", [O_MUL] = "*", [O_AND] = "&", [O_OR] = "|",
                                    [O_XOR] = "^", [O_SHL] = "<<", [O_SHR] = ">>"};
  switch ((Op)in->op) {
  case O_ADD: case O_SUB: case O_MUL:
    if (dt == TM_I1) return arena_printf(a, "bool((%s %s %s) & 1)", x, sym[in->op], y);
    /* fallthrough */
  case O_AND: case O_OR: case O_XOR: case O_SHL: case O_SHR:
    if (fl || dt_bits(dt) >= 32) return arena_printf(a, "%s %s %s", x, sym[in->op], y);
    return arena_printf(a, "%s(%s %s %s)", T, x, sym[in->op], y); /* C promotes narrow ints */
  case O_DIV:
    if (fl) return arena_printf(a, "%s / %s", x, y);
    return arena_printf(a, "tm_%cdiv(%s, %s)", sg ? 's' : 'u', x, y);
  case O_REM:
    if (fl) return arena_printf(a, "fmod(%s, %s)", x, y);
    return arena_printf(a, "tm_%crem(%s, %s)", sg ? 's' : 'u', x, y);
  case O_MIN: return arena_printf(a, "%s(%s, %s)", fl ? "fmin" : "min", x, y);
  case O_MAX: return arena_printf(a, "%s(%s, %s)", fl ? "fmax" : "max", x, y);
  case O_NEG:
    if (fl || dt_bits(dt) >= 32) return arena_printf(a, "-%s", x);
    return arena_printf(a, "%s(-%s)", T, x);
  case O_NOT:
    if (dt == TM_I1) return arena_printf(a, "!%s", x);
    if (dt_bits(dt) >= 32) return arena_printf(a, "~%s", x);
    return arena_printf(a, "%s(~%s)", T, x);
  case O_CMP: {
    static const char *cs[] = {"==", "!=", "<", "<=", ">", ">="};
    return arena_printf(a, "%s %s %s", x, cs[in->aux], y);
  }
  case O_SELECT: return arena_printf(a, "%s ? %s : %s", x, y, ref(E, in->args[2]));
  case O_CAST:
    if (in->ty.dt == TM_I1) return arena_printf(a, "%s != %s(0)", x, tname(E, dt));
    return arena_printf(a, "%s(%s)", T, x);
  case O_BITCAST: return arena_printf(a, "as_type<%s>(%s)", T, x);
  case O_ADDPTR: return arena_printf(a, "%s + %s", x, y);
  case O_PROGRAM_ID:
    return arena_printf(a, "int(tm_pid.%c)", "xyz"[in->aux]);
  case O_NUM_PROGRAMS:
    E->uses_npid = true;
    return arena_printf(a, "int(tm_npid.%c)", "xyz"[in->aux]);
  default: internal_error(E->c, "emit", "no expression for op %s", op_name((Op)in->op));
  }
}

/* Per-slot element coordinates of the open group's layout: c0..c{r-1}, and dup. */
static void coords_code(Emitter *E, Buf *b, const char *ind) {
  Layout *l = E->group;
  int T = E->f->num_warps * 32;
  if (l->rank == 1 && l->spt[0] == 1 && l->tpw[0] == 32 && l->wpc[0] == E->f->num_warps) {
    /* the common case: thread t holds elements t, t+T, t+2T, ... */
    if (l->shape[0] >= T) buf_printf(b, "%sint c0 = int(k * %du + tm_tid);\n", ind, T);
    else buf_printf(b, "%sint c0 = int(tm_tid %% %du);\n", ind, l->shape[0]);
    if (E->need_dup && l->replicated) buf_printf(b, "%sbool dup = tm_tid >= %du;\n", ind, l->shape[0]);
    return;
  }
  buf_printf(b, "%suint lane = tm_tid %% 32u, warp = tm_tid / 32u, s = k;\n", ind);
  if (E->need_dup && l->replicated) buf_printf(b, "%sbool dup = false;\n", ind);
  for (int kk = 0; kk < l->rank; kk++) {
    int d = l->order[kk];
    int per = l->spt[d] * l->reps[d], tile = l->spt[d] * l->tpw[d] * l->wpc[d];
    buf_printf(b, "%suint e%d = (s %% %du) / %du * %du + ((warp %% %du) * %du + lane %% %du) * %du + s %% %du;\n", ind, d,
               per, l->spt[d], tile, l->wpc[d], l->tpw[d], l->tpw[d], l->spt[d], l->spt[d]);
    buf_printf(b, "%slane /= %du; warp /= %du; s /= %du;\n", ind, l->tpw[d], l->wpc[d], per);
    if (E->need_dup && l->replicated) buf_printf(b, "%sdup = dup || e%d >= %du;\n", ind, d, l->shape[d]);
    buf_printf(b, "%sint c%d = int(e%d %% %du);\n", ind, d, d, l->shape[d]);
  }
}

static void close_group(Emitter *E) {
  if (!E->group) return;
  buf_put(&E->out, E->pre.p ? E->pre.p : "", E->pre.len);
  buf_printf(&E->out, "  for (uint k = 0; k < %du; ++k) {\n", E->group->per_thread);
  if (E->need_coords) coords_code(E, &E->out, "    ");
  buf_put(&E->out, E->loop.p ? E->loop.p : "", E->loop.len);
  buf_puts(&E->out, "  }\n");
  E->pre.len = E->loop.len = 0;
  if (E->pre.p) E->pre.p[0] = 0;
  if (E->loop.p) E->loop.p[0] = 0;
  E->group = NULL;
  E->need_coords = E->need_dup = false;
}

static void open_group(Emitter *E, Layout *l) {
  if (E->group && layout_eq(E->group, l)) return;
  close_group(E);
  E->group = l;
}

static bool is_transparent(Ins *in) { return in->op == O_CONST || in->op == O_ARG || in->op == O_SPLAT; }

/* Groups as emit_ins will form them; a block value with a user in another
 * group is kept in an array. */
static void plan_arrays(Emitter *E) {
  Fn *f = E->f;
  int *group = arena_alloc(&E->c->arena, sizeof(int) * (size_t)(f->ins.n + 1));
  Layout *cur = NULL;
  int g = 0;
  for (int bi = 0; bi < f->body.n; bi++) {
    Ins *in = &f->ins.v[f->body.v[bi]];
    if (is_transparent(in)) continue;
    if (in->layout) {
      if (!cur || !layout_eq(cur, in->layout)) g++;
      cur = in->layout;
      group[f->body.v[bi]] = g;
    } else if (in->op == O_LOAD || in->op == O_STORE) {
      cur = NULL;
    }
  }
  for (int bi = 0; bi < f->body.n; bi++) {
    Ins *in = &f->ins.v[f->body.v[bi]];
    if (!in->layout || is_transparent(in)) continue;
    for (int k = 0; k < in->nargs; k++) {
      int a = in->args[k];
      if (!is_transparent(&f->ins.v[a]) && f->ins.v[a].layout && group[a] != group[f->body.v[bi]]) E->in_array[a] = true;
    }
  }
}

static void emit_load_expr(Emitter *E, Ins *in, Buf *b, const char *lhs) {
  Arena *a = &E->c->arena;
  tm_dtype dt = (tm_dtype)in->ty.dt;
  const char *acc = arena_printf(a, "*TM_LD(%s, %d)", ref(E, in->args[0]), in->line);
  if (dt == TM_I1) acc = arena_printf(a, "(%s != 0)", acc);
  if (in->nargs == 1) {
    buf_printf(b, "%s%s;\n", lhs, acc);
    return;
  }
  const char *other = in->nargs == 3 ? ref(E, in->args[2]) : arena_printf(a, "%s(0)", tname(E, dt));
  buf_printf(b, "%s%s ? %s : %s;\n", lhs, ref(E, in->args[1]), acc, other);
}

static void emit_store(Emitter *E, Ins *in, Buf *b, const char *ind, bool block) {
  Arena *a = &E->c->arena;
  tm_dtype dt = (tm_dtype)E->f->ins.v[in->args[0]].ty.dt;
  const char *val = ref(E, in->args[1]);
  if (dt == TM_I1) val = arena_printf(a, "%s(%s)", tname(E, TM_U8), val);
  const char *cond = in->nargs == 3 ? ref(E, in->args[2]) : NULL;
  if (block && E->group->replicated) {
    E->need_dup = true;
    cond = cond ? arena_printf(a, "!dup && %s", cond) : "!dup";
  }
  if (cond) buf_printf(b, "%sif (%s) *TM_ST(%s, %d) = %s;\n", ind, cond, ref(E, in->args[0]), in->line, val);
  else buf_printf(b, "%s*TM_ST(%s, %d) = %s;\n", ind, ref(E, in->args[0]), in->line, val);
}

static void emit_ins(Emitter *E, int bi) {
  int id = E->f->body.v[bi];
  Ins *in = &E->f->ins.v[id];
  Arena *a = &E->c->arena;
  bool block = in->layout != NULL;
  if (is_transparent(in)) return; /* referred to directly */
  if (!block) {
    bool effect = in->op == O_LOAD || in->op == O_STORE;
    if (effect) close_group(E);
    Buf *b = E->group ? &E->pre : &E->out;
    if (in->op == O_STORE) {
      emit_store(E, in, b, "  ", false);
    } else if (in->op == O_LOAD) {
      emit_load_expr(E, in, b, arena_printf(a, "  %s v%d = ", decl_type(E, id), id));
    } else {
      buf_printf(b, "  %s v%d = %s;\n", decl_type(E, id), id, binop_expr(E, in));
    }
    return;
  }
  open_group(E, in->layout);
  if (E->in_array[id]) buf_printf(&E->pre, "  %s v%d[%d];\n", decl_type(E, id), id, in->layout->per_thread);
  const char *lhs = in->op == O_STORE ? NULL
                    : E->in_array[id] ? arena_printf(a, "    v%d[k] = ", id)
                                      : arena_printf(a, "    %s v%d = ", decl_type(E, id), id);
  switch ((Op)in->op) {
  case O_RANGE:
    E->need_coords = true;
    if (in->imm) buf_printf(&E->loop, "%sc0 + %lld;\n", lhs, (long long)in->imm);
    else buf_printf(&E->loop, "%sc0;\n", lhs);
    break;
  case O_LOAD: emit_load_expr(E, in, &E->loop, lhs); break;
  case O_STORE: emit_store(E, in, &E->loop, "    ", true); break;
  default: buf_printf(&E->loop, "%s%s;\n", lhs, binop_expr(E, in)); break;
  }
  E->uses_tid = true;
  if (E->need_dup) E->need_coords = true;
}

static bool reserved(const char *s) {
  static const char *words[] = {
      "kernel", "device", "constant", "threadgroup", "thread", "half", "float", "int", "uint", "bool", "char",
      "short", "long", "uchar", "ushort", "ulong", "bfloat", "void", "k", "c0", "c1", "c2", "c3", "dup", "lane",
      "warp", "s", "e0", "e1", "e2", "e3", "min", "max", "fmin", "fmax", "fmod", "metal", "using", "namespace",
      "template", "typename", "class", "struct", "union", "enum", "const", "static", "auto", "register",
      "signed", "unsigned", "sizeof", "switch", "case", "default", "do", "goto", "new", "delete", "this",
      "operator", "private", "public", "protected", "virtual", "friend", "inline", "volatile", "extern",
      "typedef", "double", "main", "vertex", "fragment", "sampler", "texture", "NAN", "INFINITY", NULL};
  for (int i = 0; words[i]; i++)
    if (!strcmp(words[i], s)) return true;
  if (!strncmp(s, "tm_", 3) || !strncmp(s, "TM_", 3) || !strncmp(s, "__", 2)) return true;
  if (s[0] == 'v' && s[1] >= '0' && s[1] <= '9') return true;
  return false;
}

char *emit(Ctx *c, Fn *f, const Dialect *d, tm_kernel_info *info) {
  Emitter E = {.c = c, .f = f, .d = d};
  E.in_array = arena_alloc(&c->arena, sizeof(bool) * (size_t)(f->ins.n + 1));
  E.param_names = arena_alloc(&c->arena, sizeof(char *) * (size_t)(f->params.n + 1));
  for (int i = 0; i < f->params.n; i++)
    E.param_names[i] = reserved(f->params.v[i].name) ? arena_printf(&c->arena, "%s_", f->params.v[i].name) : f->params.v[i].name;

  plan_arrays(&E);
  for (int bi = 0; bi < f->body.n; bi++) emit_ins(&E, bi);
  close_group(&E);

  Buf k = {0};
  buf_puts(&k, "#include <metal_stdlib>\nusing namespace metal;\n\n");
  buf_puts(&k, d->prelude);
  const char *kname = reserved(f->name) ? arena_printf(&c->arena, "%s_", f->name) : f->name;
  buf_printf(&k, "\n%s %s(", d->kernel_kw, kname);
  const char *sep = "\n    ";
  for (int i = 0; i < f->params.n; i++) {
    Param *p = &f->params.v[i];
    if (p->kind == TM_PARAM_POINTER)
      buf_printf(&k, "%s%s %s* %s [[buffer(%d)]]", sep, p->written ? d->buffer_qual : d->const_buffer_qual,
                 mem_tname(&E, (tm_dtype)p->ty.dt), E.param_names[i], i);
    else
      buf_printf(&k, "%s%s %s& %s [[buffer(%d)]]", sep, d->bytes_qual, tname(&E, (tm_dtype)p->ty.dt), E.param_names[i], i);
    sep = ",\n    ";
  }
  info->nbuiltins = 0;
  tm_builtin bis[3] = {TM_BI_THREADGROUP_POSITION, TM_BI_THREADGROUPS_PER_GRID, TM_BI_THREAD_INDEX};
  bool want[3] = {true, E.uses_npid, E.uses_tid};
  for (int i = 0; i < 3; i++) {
    if (!want[i]) continue;
    buf_printf(&k, "%s%s", sep, d->builtin_decl[bis[i]]);
    info->builtins[info->nbuiltins++] = bis[i];
    sep = ",\n    ";
  }
  buf_puts(&k, ")\n{\n");
  buf_put(&k, E.out.p ? E.out.p : "", E.out.len);
  buf_puts(&k, "}\n");
  bool oom = k.oom || E.out.oom || E.pre.oom || E.loop.oom;
  char *text = oom ? NULL : arena_strdup(&c->arena, k.p);
  buf_free(&k);
  buf_free(&E.out);
  buf_free(&E.pre);
  buf_free(&E.loop);
  if (!text) internal_error(c, "emit", "out of memory");
  info->name = kname;
  info->threads_per_threadgroup = f->num_warps * 32;
  info->threadgroup_mem_bytes = 0;
  info->uses_barriers = 0;
  return text;
}
