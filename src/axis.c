/*
 * axis.c: contiguity and divisibility along the last dim, and vector memory.
 *
 * Expects: layouts assigned (layout.c). Computes for every value, along the
 * last dimension (Triton's AxisInfo, one dim):
 *   contig   values come in runs of `contig` consecutive integers (pointers:
 *            consecutive elements);
 *   div      every run starts at a multiple of div (elements for integers,
 *            bytes for pointers), from arange starts, constants, and the
 *            launch-time specialization (integers divisible by 16, 16-byte
 *            aligned pointers);
 *   uniform  the same value all along the dim (splats and scalars).
 * Guarantees: a block load or store gets vec = V > 1 only when each thread's
 * V consecutive slots along the last dim are V consecutive elements at an
 * address aligned to V elements; the emitter then moves them as one vector,
 * falling back to single elements for a vector whose mask is not all true.
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

static int last_size(Type t) { return t.rank ? t.shape[t.rank - 1] : 1; }

static bool is_one(Fn *f, int id) {
  Ins *in = &f->ins.v[id];
  while (in->op == O_SPLAT || in->op == O_BROADCAST) in = &f->ins.v[in->args[0]];
  return in->op == O_CONST && dt_is_int((tm_dtype)in->ty.dt) && in->imm == 1;
}

/* A loop-carried value is what enters the loop met with what the body yields
 * (the first pass, optimistically, only what enters). */
static void carried(Fn *f, Ins *in, bool with_yield) {
  Ins *op = &f->ins.v[in->imm];
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

static void analyze(Fn *f, int id, bool with_yield) {
  Ins *in = &f->ins.v[id];
  Ins *a = in->nargs > 0 ? &f->ins.v[in->args[0]] : NULL, *b = in->nargs > 1 ? &f->ins.v[in->args[1]] : NULL;
  in->contig = 1;
  in->div = 1;
  in->uniform = in->ty.rank == 0;
  switch ((Op)in->op) {
  case O_CONST:
    in->div = dt_is_int((tm_dtype)in->ty.dt) ? pow2_factor(in->imm) : 1;
    break;
  case O_ARG: {
    Param *p = &f->params.v[in->aux];
    if (in->ty.ptr) in->div = p->flags & TM_PF_DIV16 ? 16 : tm_dtype_bytes((tm_dtype)in->ty.dt);
    else in->div = p->flags & TM_PF_DIV16 ? 16 : 1;
    break;
  }
  case O_RANGE:
    in->contig = last_size(in->ty);
    in->div = pow2_factor(in->imm);
    break;
  case O_SPLAT:
    in->uniform = true;
    in->div = a->div;
    break;
  case O_BROADCAST: /* inherits, unless the last dim is what is broadcast */
    if (last_size(a->ty) == 1 && last_size(in->ty) != 1) {
      in->uniform = true;
      in->div = a->div;
    } else {
      in->contig = a->contig;
      in->div = a->div;
      in->uniform = a->uniform;
    }
    break;
  case O_EXPAND_DIMS:
    if (in->aux == in->ty.rank - 1) { /* a new last dim of size 1 */
      in->uniform = true;
      in->div = a->uniform ? a->div : gcd64(a->div, 1);
    } else {
      in->contig = a->contig;
      in->div = a->div;
      in->uniform = a->uniform;
    }
    break;
  case O_ADD: case O_SUB:
    if (b->uniform) {
      in->contig = a->contig;
      in->uniform = a->uniform;
    } else if (a->uniform && in->op == O_ADD) {
      in->contig = b->contig;
    }
    in->div = gcd64(a->div, b->div);
    break;
  case O_MUL:
    in->uniform = a->uniform && b->uniform;
    in->div = a->div * b->div > DIV_MAX ? DIV_MAX : a->div * b->div;
    if (is_one(f, in->args[1])) in->contig = a->contig; /* x * 1: stride 1 specialized as a constant */
    if (is_one(f, in->args[0])) in->contig = b->contig;
    break;
  case O_HINT: /* the programmer's word: multiple_of / max_contiguous */
    in->contig = a->contig;
    in->div = a->div;
    in->uniform = a->uniform;
    if (in->aux == 0 && in->imm > in->div) in->div = in->imm > DIV_MAX ? DIV_MAX : in->imm;
    if (in->aux == 1 && in->imm > in->contig) in->contig = (int)(in->imm > (1 << 30) ? 1 << 30 : in->imm);
    break;
  case O_CONVERT: /* the same values, moved */
    in->contig = a->contig;
    in->div = a->div;
    in->uniform = a->uniform;
    break;
  case O_CAST:
    if (dt_is_int((tm_dtype)in->ty.dt) && dt_is_int((tm_dtype)a->ty.dt) && in->ty.dt != TM_I1) {
      in->contig = a->contig;
      in->div = a->div;
    }
    in->uniform = a->uniform;
    break;
  case O_ADDPTR: {
    int bytes = tm_dtype_bytes((tm_dtype)in->ty.dt);
    if (a->uniform) in->contig = b->contig;
    else if (b->uniform) in->contig = a->contig; /* p += BLOCK in a loop keeps p's runs */
    int64_t offdiv = b->div * bytes > DIV_MAX ? DIV_MAX : b->div * bytes;
    in->div = gcd64(a->div, offdiv);
    in->uniform = a->uniform && b->uniform;
    break;
  }
  case O_BLOCKARG: case O_RESULT:
    carried(f, in, with_yield);
    break;
  default:
    if (in->ty.rank == 0) in->uniform = true;
    break;
  }
  if (in->contig > last_size(in->ty)) in->contig = last_size(in->ty);
  if (in->contig < 1) in->contig = 1;
  if (in->div < 1) in->div = 1;
}

/* How many consecutive slots of a block access can move as one vector. */
static int vector_width(Ctx *c, Fn *f, Ins *in) {
  Ins *p = &f->ins.v[in->args[0]];
  Layout *l = in->layout;
  if (!l || !p->ty.rank || c->opt == TM_OPT_NONE || l->replicated) return 0;
  int d = l->dims[l->rank - 1];
  if (l->order[0] != d) return 0;  /* slots along the last dim must be adjacent */
  int v = l->espt[d];
  int bytes = tm_dtype_bytes((tm_dtype)p->ty.dt);
  if (p->ty.dt == TM_I1) bytes = 1;
  while (v > 1 && (p->contig < v || p->div < (int64_t)v * bytes || v * bytes > 16)) v /= 2;
  return v > 1 ? v : 0;
}

void axis_analyze(Ctx *c, Fn *f) {
  /* ids follow program order (a loop's yield after its block arguments), so a
   * few sweeps settle loop-carried values */
  for (int sweep = 0; sweep < 3; sweep++)
    for (int id = 0; id < f->ins.n; id++) analyze(f, id, sweep > 0);
  for (int id = 0; id < f->ins.n; id++) {
    Ins *in = &f->ins.v[id];
    if ((in->op == O_LOAD || in->op == O_STORE) && f->ins.v[in->args[0]].ty.rank) in->vec = vector_width(c, f, in);
  }
}
