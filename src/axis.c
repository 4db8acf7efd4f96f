/*
 * axis.c: contiguity and divisibility along a dim, and vector memory.
 *
 * Expects: layouts assigned (layout.c). Computes for every value, along the
 * last dimension (Triton's AxisInfo), and on demand along any other:
 *   contig   values come in runs of `contig` consecutive integers (pointers:
 *            consecutive elements);
 *   div      every run starts at a multiple of div (elements for integers,
 *            bytes for pointers), from arange starts, constants, and the
 *            launch-time specialization (integers divisible by 16, 16-byte
 *            aligned pointers);
 *   uniform  the same value all along the dim (splats and scalars);
 *   cst      (last dim only) runs of cst equal values, each starting at a
 *            position that is a multiple of cst: elementwise ops keep the
 *            shortest of their operands' runs, and an integer comparison
 *            `x < n` (or >=; or n > x, n <= x) of a run-aligned contiguous x
 *            against a uniform n is constant over runs of the largest power
 *            of two dividing x's runs, x's alignment and n's: such a run
 *            [m g, m g + g) is all below n g' or all at or above it.
 * Guarantees: a block load or store gets vec = V > 1 only when each thread's
 * V consecutive slots (along its layout's fastest dim) are V consecutive elements at an
 * address aligned to V elements; the emitter then moves them as one vector,
 * falling back to single elements for a vector whose mask is not all true;
 * a mask with cst >= V (vmask) is read once per vector, so each vector is one
 * predicated access with no fallback (the code a GPU compiler can batch).
 */
#include <string.h>

#include "tm.h"

#define DIV_MAX ((int64_t)1 << 30)

static int64_t pow2_factor(int64_t v) {
  if (v == 0) return DIV_MAX;
  int64_t d = 1;
  while (!(v & 1) && d < DIV_MAX) {
    v >>= 1;
    d <<= 1;
  }
  return d;
}

static int64_t gcd64(int64_t a, int64_t b) { return a < b ? a : b; } /* powers of two */

/* What is known of a value along one of its dims. */
typedef struct Axis {
  int contig;
  int64_t div;
  bool uniform;
} Axis;

static int size_along(Type t, int dim) { return dim >= 0 && dim < t.rank ? t.shape[dim] : 1; }

static bool is_one(Fn *f, int id) {
  Ins *in = &f->ins.v[id];
  while (in->op == O_SPLAT || in->op == O_BROADCAST) in = &f->ins.v[in->args[0]];
  return in->op == O_CONST && dt_is_int((tm_dtype)in->ty.dt) && in->imm == 1;
}

/* The dim of operand `a` that dim `dim` of `in` reads; -1: none (a new dim). */
static int operand_dim(Ins *in, Ins *a, int dim) {
  if (!a->ty.rank) return 0;
  if (in->op != O_EXPAND_DIMS) return dim;
  return dim == in->aux ? -1 : dim - (dim > in->aux);
}

/* One instruction's facts along `dim` from its operands' facts along theirs
 * (operand_dim). Loop-carried values are the caller's business. */
static Axis transfer(Fn *f, Ins *in, int dim, Axis a, Axis b) {
  Ins *ia = in->nargs > 0 ? &f->ins.v[in->args[0]] : NULL;
  Axis r = {.contig = 1, .div = 1, .uniform = in->ty.rank == 0};
  switch ((Op)in->op) {
  case O_CONST:
    r.div = dt_is_int((tm_dtype)in->ty.dt) ? pow2_factor(in->imm) : 1;
    break;
  case O_ARG: {
    Param *p = &f->params.v[in->aux];
    if (in->ty.ptr) r.div = p->flags & TM_PF_DIV16 ? 16 : tm_dtype_bytes((tm_dtype)in->ty.dt);
    else r.div = p->flags & TM_PF_DIV16 ? 16 : 1;
    break;
  }
  case O_RANGE:
    r.contig = size_along(in->ty, dim);
    r.div = pow2_factor(in->imm);
    break;
  case O_SPLAT:
    r.uniform = true;
    r.div = a.div;
    break;
  case O_BROADCAST: /* inherits, unless this dim is what is broadcast */
    r = a;
    if (size_along(ia->ty, dim) == 1 && size_along(in->ty, dim) != 1) {
      r.uniform = true;
      r.contig = 1;
    }
    break;
  case O_EXPAND_DIMS:
    if (dim == in->aux) { /* the new dim, of size 1 */
      r.uniform = true;
      r.div = a.uniform ? a.div : 1;
    } else {
      r = a;
    }
    break;
  case O_ADD: case O_SUB:
    if (b.uniform) {
      r.contig = a.contig;
      r.uniform = a.uniform;
    } else if (a.uniform && in->op == O_ADD) {
      r.contig = b.contig;
    }
    r.div = gcd64(a.div, b.div);
    break;
  case O_MUL:
    r.uniform = a.uniform && b.uniform;
    r.div = a.div * b.div > DIV_MAX ? DIV_MAX : a.div * b.div;
    if (is_one(f, in->args[1])) r.contig = a.contig; /* x * 1: stride 1 specialized as a constant */
    if (is_one(f, in->args[0])) r.contig = b.contig;
    break;
  case O_REM: /* x % n, n the same along the dim: a run of x splits where x passes a
                * multiple of n, so runs of g = the powers of two dividing x's run length,
                * its start and n stay whole (x taken as non-negative, as upstream's
                * analysis takes it: the offsets `(pid * BLOCK + arange) % N`) */
    if (b.uniform && in->ty.rank) {
      int64_t g = pow2_factor(a.contig);
      if (a.div < g) g = a.div;
      if (b.div < g) g = b.div;
      r.contig = (int)g;
      r.div = gcd64(a.div, b.div);
      if (a.contig > g && g < r.div) r.div = g; /* a new run may start inside one of x's */
      r.uniform = a.uniform;
    } else if (b.uniform) {
      r.div = gcd64(a.div, b.div); /* scalars: x - q * n, a multiple of both, of either sign */
    }
    break;
  case O_HINT: /* the programmer's word: multiple_of / max_contiguous (along the last dim) */
    r = a;
    if (in->aux == 0 && in->imm > r.div) r.div = in->imm > DIV_MAX ? DIV_MAX : in->imm;
    if (in->aux == 1 && in->imm > r.contig && dim == in->ty.rank - 1) r.contig = (int)(in->imm > (1 << 30) ? 1 << 30 : in->imm);
    break;
  case O_CONVERT: /* the same values, moved */
    r = a;
    break;
  case O_CAST:
    if (dt_is_int((tm_dtype)in->ty.dt) && dt_is_int((tm_dtype)ia->ty.dt) && in->ty.dt != TM_I1) {
      r.contig = a.contig;
      r.div = a.div;
    }
    r.uniform = a.uniform;
    break;
  case O_ADDPTR: {
    int bytes = tm_dtype_bytes((tm_dtype)in->ty.dt);
    if (a.uniform) r.contig = b.contig;
    else if (b.uniform) r.contig = a.contig; /* p += BLOCK in a loop keeps p's runs */
    int64_t offdiv = b.div * bytes > DIV_MAX ? DIV_MAX : b.div * bytes;
    r.div = gcd64(a.div, offdiv);
    r.uniform = a.uniform && b.uniform;
    break;
  }
  default:
    break;
  }
  if (r.contig > size_along(in->ty, dim)) r.contig = size_along(in->ty, dim);
  if (r.contig < 1) r.contig = 1;
  if (r.div < 1) r.div = 1;
  return r;
}

static Axis stored(Ins *in) { return (Axis){in->contig, in->div, in->uniform}; }

/* A loop-carried value is what enters the loop met with what the body yields
 * (the first pass, optimistically, only what enters). A for loop's induction
 * variable lo + i * step is a multiple of what both lo and step are. */
static void carried(Fn *f, Ins *in, bool with_yield) {
  Ins *op = &f->ins.v[in->imm];
  if (in->op == O_BLOCKARG && in->aux == 0 && op->op == O_FOR) { /* lo + i * step */
    in->div = gcd64(f->ins.v[op->args[0]].div, f->ins.v[op->args[2]].div);
    return;
  }
  int slot = in->op == O_BLOCKARG ? in->aux - 1 : in->aux;
  if (slot < 0 || (op->op != O_FOR && op->op != O_WHILE)) return;
  Ins *init = &f->ins.v[op->args[(op->op == O_FOR ? 3 : 0) + slot]];
  in->contig = init->contig;
  in->div = init->div;
  in->uniform = init->uniform;
  if (!with_yield) return;
  Block *body = op->regions[op->nregions - 1];
  Ins *y = &f->ins.v[body->ins.v[body->ins.n - 1]];
  if (y->op != O_YIELD || y->nargs <= slot) return;
  Ins *v = &f->ins.v[y->args[slot]];
  if (v->contig < in->contig) in->contig = v->contig;
  if (v->div < in->div) in->div = v->div;
  in->uniform = in->uniform && v->uniform;
}

/* Runs of equal values along the last dim (Ins.cst), from the operands'
 * runs and their contiguity and alignment (stored fields). */
static int const_run(Fn *f, Ins *in) {
  int n = in->ty.rank ? in->ty.shape[in->ty.rank - 1] : 1;
  if (in->uniform || !in->ty.rank) return n;
  int r = n;
  switch ((Op)in->op) {
  case O_BROADCAST: case O_EXPAND_DIMS: case O_CONVERT: case O_HINT:
  case O_ADD: case O_SUB: case O_MUL: case O_DIV: case O_REM:
  case O_AND: case O_OR: case O_XOR: case O_SHL: case O_SHR:
  case O_MIN: case O_MAX: case O_NEG: case O_NOT: case O_CMP:
  case O_SELECT: case O_CAST: case O_BITCAST: case O_MATH:
    for (int i = 0; i < in->nargs; i++) {
      Ins *a = &f->ins.v[in->args[i]];
      int c = !a->ty.rank ? n : a->cst < 1 ? 1 : a->cst;
      if (in->op == O_EXPAND_DIMS && in->aux == in->ty.rank - 1) c = n; /* the new last dim: size 1 */
      if (c < r) r = c;
    }
    break;
  default:
    return 1;
  }
  if (in->op == O_CMP && in->nargs == 2) {
    Ins *x = &f->ins.v[in->args[0]], *b = &f->ins.v[in->args[1]];
    Cmp cmp = (Cmp)in->aux;
    if (cmp == C_GT || cmp == C_LE) { /* n > x, n <= x */
      Ins *t = x;
      x = b;
      b = t;
    }
    if ((cmp == C_LT || cmp == C_GE || cmp == C_GT || cmp == C_LE) && dt_is_int((tm_dtype)x->ty.dt) &&
        x->ty.dt != TM_I1 && x->ty.rank && !x->uniform && b->uniform) {
      int64_t g = pow2_factor(x->contig); /* groups of g positions lie within one run */
      if (pow2_factor(x->div) < g) g = pow2_factor(x->div);
      if (pow2_factor(b->div) < g) g = pow2_factor(b->div);
      if (g > r) r = g > n ? n : (int)g;
    }
  }
  return r > n ? n : r;
}

/* Along the last dim, for every value in program order (fields of Ins). */
static void analyze(Fn *f, int id, bool with_yield) {
  Ins *in = &f->ins.v[id];
  Axis none = {1, 1, false};
  if (in->op == O_BLOCKARG || in->op == O_RESULT) {
    in->contig = 1;
    in->div = 1;
    in->uniform = in->ty.rank == 0;
    carried(f, in, with_yield);
    in->cst = in->uniform ? (in->ty.rank ? in->ty.shape[in->ty.rank - 1] : 1) : 1;
    return;
  }
  Axis a = in->nargs > 0 ? stored(&f->ins.v[in->args[0]]) : none;
  Axis b = in->nargs > 1 ? stored(&f->ins.v[in->args[1]]) : none;
  Axis r = transfer(f, in, in->ty.rank ? in->ty.rank - 1 : 0, a, b);
  in->contig = r.contig;
  in->div = r.div;
  in->uniform = r.uniform;
  in->cst = const_run(f, in);
}

/* Along any dim, on demand, before layouts exist (layout.c asks whether a
 * block of pointers runs along another dim than the last). Loop-carried and
 * deep values are assumed to know nothing. */
static Axis along(Fn *f, int id, int dim, int depth) {
  Ins *in = &f->ins.v[id];
  Axis none = {1, 1, in->ty.rank == 0};
  if (depth > TM_REMAT_DEPTH || (in->ty.rank && dim < 0)) return none; /* as deep as layout.c rematerializes */
  if (in->op == O_BLOCKARG && in->aux == 0 && f->ins.v[in->imm].op == O_FOR) { /* a for loop's induction variable */
    Ins *op = &f->ins.v[in->imm];
    none.div = gcd64(along(f, op->args[0], 0, depth + 1).div, along(f, op->args[2], 0, depth + 1).div);
    return none;
  }
  if (in->op == O_BLOCKARG || in->op == O_RESULT) return none;
  Axis x[2] = {{1, 1, false}, {1, 1, false}};
  for (int k = 0; k < in->nargs && k < 2; k++) {
    Ins *a = &f->ins.v[in->args[k]];
    int d = operand_dim(in, a, dim);
    x[k] = d < 0 ? (Axis){1, 1, true} : along(f, in->args[k], d, depth + 1);
  }
  return transfer(f, in, dim, x[0], x[1]);
}

int axis_contig_along(Fn *f, int id, int dim, int64_t *div) {
  Axis r = along(f, id, dim, 0);
  *div = r.div;
  return r.contig;
}

/* How many consecutive slots of a block access can move as one vector. */
static int vector_width(Ctx *c, Fn *f, Ins *in) {
  Ins *p = &f->ins.v[in->args[0]];
  Layout *l = in->layout;
  if (!l || !p->ty.rank || c->opt == TM_OPT_NONE || (l->replicated && in->op == O_STORE)) return 0;
  /* a replicated load: a duplicate reads its original's elements, the same runs */
  /* each thread's consecutive slots run along the layout's fastest dim */
  int vd = -1;
  for (int i = 0; i < l->rank; i++)
    if (l->dims[i] == l->order[0]) vd = i;
  if (vd < 0) return 0;
  int v = l->espt[l->order[0]];
  int64_t div = p->div;
  int contig = vd == l->rank - 1 ? p->contig : axis_contig_along(f, in->args[0], vd, &div);
  int bytes = tm_dtype_bytes((tm_dtype)p->ty.dt);
  if (p->ty.dt == TM_I1) bytes = 1;
  while (v > 1 && (contig < v || div < (int64_t)v * bytes || v * bytes > 16)) v /= 2;
  return v > 1 ? v : 0;
}

void axis_analyze(Ctx *c, Fn *f) {
  /* ids follow program order (a loop's yield after its block arguments), so a
   * few sweeps settle loop-carried values */
  for (int sweep = 0; sweep < 3; sweep++)
    for (int id = 0; id < f->ins.n; id++) analyze(f, id, sweep > 0);
  for (int id = 0; id < f->ins.n; id++) {
    Ins *in = &f->ins.v[id];
    if ((in->op == O_LOAD || in->op == O_STORE) && f->ins.v[in->args[0]].ty.rank &&
        f->ins.v[in->args[0]].ty.dt != TM_F64) /* float64 stores go element by element, as bits */
      in->vec = vector_width(c, f, in);
    bool masked = in->op == O_STORE ? in->nargs == 3 : in->nargs >= 2;
    in->vmask = false;
    if (in->vec > 1 && masked) { /* a mask the same over each vector, along the last dim */
      Layout *l = in->layout;
      Ins *m = &f->ins.v[in->args[in->op == O_STORE ? 2 : 1]];
      in->vmask = l->dims[l->rank - 1] == l->order[0] && m->ty.rank && m->cst >= in->vec;
    }
  }
}
