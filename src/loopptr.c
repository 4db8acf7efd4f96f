/*
 * loopptr.c: a block of pointers a loop carries, as one scalar base.
 *
 * Expects: typed IR from sema, before layouts. The usual Triton loop walks a
 * tile of pointers through memory:
 *
 *     a_ptrs = a_ptr + rows[:, None] * s0 + ks[None, :] * s1     (before the loop)
 *     for k0 in range(...):
 *         a = tl.load(a_ptrs, ...)
 *         a_ptrs += BLOCK_K * s1                                  (a uniform step)
 *
 * Carried as it is written, every thread keeps its slots' 64-bit pointers
 * live across the whole loop (64 of them for a 128x32 tile on 256 threads),
 * and layouts cannot rebuild the tile in another layout (a loop-carried value
 * is not rematerializable), so a dot operand stays in the kernel's family
 * layout, replicated. Here the loop carries the scalar base instead:
 *
 *     base = a_ptr
 *     for k0 in range(...):
 *         a_ptrs = <the init's pointer expression, with base for a_ptr>
 *         a = tl.load(a_ptrs, ...)
 *         base += BLOCK_K * s1
 *
 * The pointer expression (splat, then addptr / broadcast / expand_dims on the
 * pointer operand) is cloned with the same offset operands, which are defined
 * before the loop: pointer arithmetic in the same steps, so the addresses are
 * the same to the bit (64-bit address arithmetic is associative). Applies when
 * the init is such an expression of a scalar pointer and the yield is the
 * block argument plus a uniform offset (a splat of a scalar, or a broadcast
 * of one). Uses of the loop's result after it get the expression too.
 */
#include <string.h>

#include "tm.h"

/* The scalar pointer at the bottom of v's pointer expression (splat, addptr,
 * broadcast, expand_dims along the pointer operand), or -1. */
static int expr_base(Fn *f, int v) {
  for (int hops = 0; hops < 64; hops++) {
    Ins *in = &f->ins.v[v];
    if (!in->ty.ptr || !in->ty.rank) return -1;
    switch ((Op)in->op) {
    case O_SPLAT: return f->ins.v[in->args[0]].ty.rank ? -1 : in->args[0];
    case O_ADDPTR: case O_BROADCAST: case O_EXPAND_DIMS: v = in->args[0]; break;
    default: return -1;
    }
  }
  return -1;
}

/* The scalar x when v is a splat of it, or a broadcast of such a splat; else -1. */
static int uniform_scalar(Fn *f, int v) {
  for (int hops = 0; hops < 8; hops++) {
    Ins *in = &f->ins.v[v];
    if (!in->ty.rank) return v;
    if (in->op == O_SPLAT) return f->ins.v[in->args[0]].ty.rank ? -1 : in->args[0];
    if (in->op != O_BROADCAST) return -1;
    v = in->args[0];
  }
  return -1;
}

/* Appends to nb a copy of v's pointer expression with `base` in place of its
 * scalar pointer; returns the copy of v. */
static int clone_expr(Ctx *c, Fn *f, Block *nb, int v, int base) {
  Ins in = f->ins.v[v];
  int args[3];
  memcpy(args, in.args, sizeof(int) * (size_t)(in.nargs < 3 ? in.nargs : 3));
  if (in.op == O_SPLAT) args[0] = base;
  else args[0] = clone_expr(c, f, nb, in.args[0], base);
  in.args = args;
  in.layout = NULL;
  return ir_add(c, f, nb, in);
}

/* In b and the blocks inside it, every use of `from` by an instruction with
 * an id below `below` (the clones made here are not touched) becomes `to`. */
static void replace_uses(Fn *f, Block *b, int from, int to, int below) {
  for (int i = 0; i < b->ins.n; i++) {
    int id = b->ins.v[i];
    Ins *in = &f->ins.v[id];
    if (id < below)
      for (int k = 0; k < in->nargs; k++)
        if (in->args[k] == from) in->args[k] = to;
    for (int r = 0; r < in->nregions; r++) replace_uses(f, in->regions[r], from, to, below);
  }
}

/* b's instruction list with a clone of init's pointer expression on `base`
 * inserted after position at; *tile gets the clone of init. */
static void insert_clone(Ctx *c, Fn *f, Block *b, int at, int init, int base, int *tile) {
  Block nb = {0};
  for (int i = 0; i < b->ins.n; i++) {
    vec_push(&c->arena, nb.ins, b->ins.v[i]);
    if (i == at) *tile = clone_expr(c, f, &nb, init, base);
  }
  *b = nb;
}

/* Rewrites carried value j of the for loop at position pos of block b. */
static bool rewrite(Ctx *c, Fn *f, Block *b, int pos, int j) {
  int loop = b->ins.v[pos];
  Ins *op = &f->ins.v[loop];
  Block *body = op->regions[0];
  int init = op->args[3 + j];
  int base = expr_base(f, init);
  if (base < 0 || !body->ins.n) return false;
  Ins *y = &f->ins.v[body->ins.v[body->ins.n - 1]];
  if (y->op != O_YIELD || j >= y->nargs) return false;
  int arg = -1, at = -1, res = -1, res_at = -1;
  for (int i = 0; i < body->ins.n; i++) {
    Ins *in = &f->ins.v[body->ins.v[i]];
    if (in->op == O_BLOCKARG && in->imm == loop && in->aux == j + 1) arg = body->ins.v[i], at = i;
  }
  for (int i = pos + 1; i < b->ins.n; i++) {
    Ins *in = &f->ins.v[b->ins.v[i]];
    if (in->op == O_RESULT && in->imm == loop && in->aux == j) res = b->ins.v[i], res_at = i;
  }
  Ins *step = &f->ins.v[y->args[j]];
  if (arg < 0 || step->op != O_ADDPTR || step->args[0] != arg) return false;
  int x = uniform_scalar(f, step->args[1]);
  if (x < 0) return false;
  Type sty = f->ins.v[base].ty; /* the scalar pointer's type */
  int sline = step->line, scol = step->col;

  /* the body: the block argument becomes the scalar base, the tile is rebuilt
   * from it right after, and the yield advances the base */
  int first_new = f->ins.n, tile = -1;
  f->ins.v[arg].ty = sty;
  insert_clone(c, f, body, at, init, arg, &tile);
  replace_uses(f, body, arg, tile, first_new);
  Ins adv = {.op = O_ADDPTR, .nargs = 2, .ty = sty, .args = (int[]){arg, x}, .line = sline, .col = scol};
  int nstep = ir_add(c, f, body, adv);
  int n = body->ins.n; /* the yield stays last */
  body->ins.v[n - 1] = body->ins.v[n - 2];
  body->ins.v[n - 2] = nstep;
  f->ins.v[body->ins.v[n - 1]].args[j] = nstep;
  f->ins.v[loop].args[3 + j] = base;

  /* after the loop: its result is the base; its users get the tile back */
  if (res >= 0) {
    f->ins.v[res].ty = sty;
    first_new = f->ins.n;
    int back = -1;
    insert_clone(c, f, b, res_at, init, res, &back);
    replace_uses(f, b, res, back, first_new);
  }
  return true;
}

static void walk(Ctx *c, Fn *f, Block *b) {
  for (int pos = 0; pos < b->ins.n; pos++) {
    Ins *in = &f->ins.v[b->ins.v[pos]];
    for (int r = 0; r < in->nregions; r++) walk(c, f, in->regions[r]);
    in = &f->ins.v[b->ins.v[pos]];
    if (in->op != O_FOR) continue;
    for (int j = 0; 3 + j < f->ins.v[b->ins.v[pos]].nargs; j++) {
      Ins *init = &f->ins.v[f->ins.v[b->ins.v[pos]].args[3 + j]];
      if (init->ty.ptr && init->ty.rank) rewrite(c, f, b, pos, j);
    }
  }
}

void loop_pointers(Ctx *c, Fn *f) { walk(c, f, f->body); }
