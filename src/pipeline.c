/*
 * pipeline.c: a dot loop's tile loads issued one iteration ahead.
 *
 * Expects: IR with layouts (layout.c), before order.c and axis.c. A loop
 * that loads its tiles and multiplies them,
 *
 *     for k in range(lo, hi, STEP):            a0 = load(p(lo, init), mask & lo < hi)
 *         a = tl.load(p(k, c), mask)      ->    for k ... carrying a_cur = a0:
 *         acc = tl.dot(a, ..., acc)               a_next = load(p(k + STEP, c'), mask' & k + STEP < hi)
 *         c = c + step                            acc = tl.dot(a_cur, ..., acc)
 *                                                 yield ..., a_next
 *
 * waits for global memory at the top of every iteration, with every warp of
 * the program stopped at the dot's barrier (on the proxy GPU more than half
 * of the matmul's stall cycles, bench/results). Here the load of iteration
 * k + 1 is issued at the top of iteration k, before its dot, and carried into
 * the next one: its latency hides behind the multiply. p(k + STEP, c') is the
 * load's pointer and mask expression cloned with the induction variable one
 * step on and each carried value by the expression its yield computes (the
 * same operations on the same operands, so the same addresses to the bit);
 * the clone before the loop takes lo and the inits. The last iteration's
 * prefetch and a loop that runs no iteration load nothing (masked off).
 *
 * Applies to rank-2 loads at the top of the body of a for loop with a
 * constant positive step whose body holds a tl.dot and nothing that writes
 * or orders memory (stores, atomics, barriers, prints, asserts, while loops,
 * at any depth: the prefetch moves a load across them), when the load's
 * pointer, mask and other are pure expressions of the induction variable, the
 * carried values and values defined before the loop. Results are unchanged:
 * the same loads read the same memory, one iteration earlier, in a loop that
 * writes none. What it costs is the registers of the carried tile.
 */
#include <stdlib.h>
#include <string.h>

#include "tm.h"

/* Whether block b (at any depth) holds an instruction that writes or orders
 * memory or a loop of unknown trip count. */
static bool effects(Fn *f, Block *b) {
  for (int i = 0; i < b->ins.n; i++) {
    Ins *in = &f->ins.v[b->ins.v[i]];
    switch ((Op)in->op) {
    case O_STORE: case O_ATOMIC: case O_BARRIER: case O_PRINT: case O_ASSERT: case O_WHILE: case O_RETURN: return true;
    default: break;
    }
    for (int r = 0; r < in->nregions; r++)
      if (effects(f, in->regions[r])) return true;
  }
  return false;
}

static bool pure_op(Op op) {
  return op == O_CONST || op == O_ARG || op == O_PROGRAM_ID || op == O_NUM_PROGRAMS || op == O_RANGE || op == O_SPLAT ||
         op == O_BROADCAST || op == O_EXPAND_DIMS || (op >= O_ADD && op <= O_HINT) || op == O_ADDPTR || op == O_CONVERT;
}

typedef struct Pipe {
  Ctx *c;
  Fn *f;
  int loop;      /* the O_FOR */
  Block *body;
  bool *in_body; /* top-level instructions of the body */
  int *memo[3];  /* per mode: the clone of a value (0: none yet) */
  int iv_next;   /* the induction variable one step on */
  Block *out;    /* where clones go */
} Pipe;

enum { M_INIT, M_CUR, M_NEXT };

static int clone_in(Pipe *P, int v, int mode);

/* Whether v's expression (within the body) is pure and clonable: at the next
 * iteration (next), where a carried value is its yield's expression at this
 * one, or at this one, where the block arguments are what they are. */
static bool clonable(Pipe *P, int v, int depth, bool next) {
  if (depth > 64) return false;
  Fn *f = P->f;
  if (!P->in_body[v]) return true;
  Ins *in = &f->ins.v[v];
  if (in->op == O_BLOCKARG) {
    if (in->imm != P->loop) return false;
    if (in->aux == 0 || !next) return true;
    Ins *y = &f->ins.v[P->body->ins.v[P->body->ins.n - 1]];
    return y->op == O_YIELD && in->aux - 1 < y->nargs && clonable(P, y->args[in->aux - 1], depth + 1, false);
  }
  if (!pure_op((Op)in->op) || in->nregions) return false;
  for (int k = 0; k < in->nargs; k++)
    if (!clonable(P, in->args[k], depth + 1, next)) return false;
  return true;
}

/* The value of v at the loop's entry (M_INIT), at this iteration computed
 * anew (M_CUR) or at the next iteration (M_NEXT), appending what it needs to
 * P->out. */
static int clone_in(Pipe *P, int v, int mode) {
  Fn *f = P->f;
  if (!P->in_body[v]) return v;
  if (P->memo[mode][v]) return P->memo[mode][v] - 1;
  Ins *in = &f->ins.v[v];
  int r;
  if (in->op == O_BLOCKARG) {
    Ins *loop = &f->ins.v[P->loop];
    if (in->aux == 0) r = mode == M_INIT ? loop->args[0] : mode == M_NEXT ? P->iv_next : v;
    else if (mode == M_INIT) r = loop->args[3 + in->aux - 1];
    else if (mode == M_CUR) r = v;
    else r = clone_in(P, f->ins.v[P->body->ins.v[P->body->ins.n - 1]].args[in->aux - 1], M_CUR);
  } else {
    Ins copy = *in;
    int *args = arena_alloc(&P->c->arena, sizeof(int) * (size_t)(in->nargs + 1));
    for (int k = 0; k < copy.nargs; k++) args[k] = clone_in(P, copy.args[k], mode);
    copy.args = args;
    r = ir_add(P->c, f, P->out, copy);
  }
  P->memo[mode][v] = r + 1;
  return r;
}

/* A load of ld's pointer, mask and other at `mode`, masked off unless `cond`
 * (a scalar bool) holds. */
static int guarded_load(Pipe *P, int ld, int mode, int cond) {
  Fn *f = P->f;
  Ins l = f->ins.v[ld];
  int ptr = clone_in(P, l.args[0], mode);
  int mask = l.nargs >= 2 ? clone_in(P, l.args[1], mode) : -1;
  int other = l.nargs == 3 ? clone_in(P, l.args[2], mode) : -1;
  Layout *ml = mask >= 0 ? f->ins.v[mask].layout : l.layout;
  Type bt = type_block(type_scalar(TM_I1), l.ty.rank, l.ty.shape);
  Ins sp = {.op = O_SPLAT, .nargs = 1, .args = (int[]){cond}, .ty = bt, .layout = ml, .line = l.line, .col = l.col};
  int guard = ir_add(P->c, f, P->out, sp);
  if (mask >= 0) {
    Ins and_ = {.op = O_AND, .nargs = 2, .args = (int[]){mask, guard}, .ty = bt, .layout = ml, .line = l.line, .col = l.col};
    guard = ir_add(P->c, f, P->out, and_);
  }
  int args[3] = {ptr, guard, other};
  Ins nl = l;
  nl.nargs = other >= 0 ? 3 : 2;
  nl.args = args;
  return ir_add(P->c, f, P->out, nl);
}

static int scalar_cmp_lt(Pipe *P, int a, int b, int line) {
  Ins cmp = {.op = O_CMP, .aux = C_LT, .nargs = 2, .args = (int[]){a, b}, .ty = type_scalar(TM_I1), .line = line};
  return ir_add(P->c, P->f, P->out, cmp);
}

/* Every use of `from` in b (at any depth) becomes `to`. */
static void replace_uses(Fn *f, Block *b, int from, int to) {
  for (int i = 0; i < b->ins.n; i++) {
    Ins *in = &f->ins.v[b->ins.v[i]];
    for (int k = 0; k < in->nargs; k++)
      if (in->args[k] == from) in->args[k] = to;
    for (int r = 0; r < in->nregions; r++) replace_uses(f, in->regions[r], from, to);
  }
}

static bool block_has_dot(Fn *f, Block *b) {
  for (int i = 0; i < b->ins.n; i++)
    if (f->ins.v[b->ins.v[i]].op == O_DOT) return true;
  return false;
}

/* Pipelines the loads of the for loop at position pos of block b. */
static void pipeline_loop(Ctx *c, Fn *f, Block *b, int pos) {
  int loop = b->ins.v[pos];
  Block *body = f->ins.v[loop].regions[0];
  if (!body->ins.n || !block_has_dot(f, body) || effects(f, body)) return;
  Ins *y = &f->ins.v[body->ins.v[body->ins.n - 1]];
  Ins *st = &f->ins.v[f->ins.v[loop].args[2]];
  if (y->op != O_YIELD || st->op != O_CONST || st->imm <= 0 || f->ins.v[loop].ty.rank) return;
  int n0 = f->ins.n;
  Pipe P = {.c = c, .f = f, .loop = loop, .body = body};
  P.in_body = calloc((size_t)n0, sizeof(bool));
  for (int m = 0; m < 3; m++) P.memo[m] = NULL;
  int *loads = calloc((size_t)body->ins.n + 1, sizeof(int)), nl = 0;
  if (!P.in_body || !loads) goto done;
  for (int i = 0; i < body->ins.n; i++) P.in_body[body->ins.v[i]] = true;
  for (int i = 0; i < body->ins.n; i++) {
    Ins *in = &f->ins.v[body->ins.v[i]];
    if (in->op != O_LOAD || in->ty.rank != 2 || !in->layout) continue;
    bool ok = true;
    for (int k = 0; k < in->nargs && ok; k++) ok = clonable(&P, in->args[k], 0, true);
    if (ok) loads[nl++] = body->ins.v[i];
  }
  if (!nl) goto done;
  /* the memo tables cover the instructions made here too */
  for (int m = 0; m < 3; m++) P.memo[m] = calloc((size_t)n0, sizeof(int)); /* clones start from original values */
  if (!P.memo[0] || !P.memo[1] || !P.memo[2]) goto done;

  Ins *L = &f->ins.v[loop];
  int lo = L->args[0], hi = L->args[1], stepv = L->args[2], line = L->line;
  int ivarg = -1, nargs_body = 0; /* the block arguments come first */
  for (int i = 0; i < body->ins.n; i++) {
    Ins *in = &f->ins.v[body->ins.v[i]];
    if (in->op == O_BLOCKARG && in->imm == loop) {
      nargs_body = i + 1;
      if (in->aux == 0) ivarg = body->ins.v[i];
    }
  }
  if (ivarg < 0) goto done;
  Type ivt = f->ins.v[ivarg].ty;
  if (f->ins.v[stepv].ty.dt != ivt.dt || f->ins.v[hi].ty.dt != ivt.dt || f->ins.v[lo].ty.dt != ivt.dt) goto done;

  /* before the loop: lo < hi, then each load at lo and the inits */
  Block pre = {0};
  P.out = &pre;
  int enter = scalar_cmp_lt(&P, lo, hi, line);
  int *first = arena_alloc(&c->arena, sizeof(int) * (size_t)nl);
  for (int i = 0; i < nl; i++) first[i] = guarded_load(&P, loads[i], M_INIT, enter);

  /* the body's head: block args, then the induction variable one step on,
   * whether that iteration runs, the next tiles */
  Block head = {0};
  P.out = &head;
  int ncarry = f->ins.v[loop].nargs - 3;
  int *cur = arena_alloc(&c->arena, sizeof(int) * (size_t)nl);
  for (int i = 0; i < nl; i++) { /* the carried tiles' block arguments */
    Ins ba = {.op = O_BLOCKARG, .aux = (int16_t)(ncarry + 1 + i), .imm = loop, .ty = f->ins.v[loads[i]].ty,
              .layout = f->ins.v[loads[i]].layout, .line = f->ins.v[loads[i]].line, .col = f->ins.v[loads[i]].col};
    cur[i] = ir_add(c, f, &head, ba);
  }
  Ins add = {.op = O_ADD, .nargs = 2, .args = (int[]){ivarg, stepv}, .ty = ivt, .line = line};
  P.iv_next = ir_add(c, f, &head, add);
  int more = scalar_cmp_lt(&P, P.iv_next, hi, line);
  int *next = arena_alloc(&c->arena, sizeof(int) * (size_t)nl);
  for (int i = 0; i < nl; i++) next[i] = guarded_load(&P, loads[i], M_NEXT, more);

  /* the loop: new carried values (inits, block args, yields); the body's
   * uses of each load read its block argument; the load itself goes */
  Ins *op = &f->ins.v[loop];
  int *oargs = arena_alloc(&c->arena, sizeof(int) * (size_t)(op->nargs + nl));
  memcpy(oargs, op->args, sizeof(int) * (size_t)op->nargs);
  for (int i = 0; i < nl; i++) oargs[op->nargs + i] = first[i];
  op->args = oargs;
  op->nargs += nl;
  Ins *yi = &f->ins.v[body->ins.v[body->ins.n - 1]];
  int *yargs = arena_alloc(&c->arena, sizeof(int) * (size_t)(yi->nargs + nl));
  memcpy(yargs, yi->args, sizeof(int) * (size_t)yi->nargs);
  for (int i = 0; i < nl; i++) yargs[yi->nargs + i] = next[i];
  yi->args = yargs;
  yi->nargs += nl;
  Block nb = {0};
  for (int i = 0; i < nargs_body; i++) vec_push(&c->arena, nb.ins, body->ins.v[i]);
  for (int i = 0; i < head.ins.n; i++) vec_push(&c->arena, nb.ins, head.ins.v[i]);
  for (int i = nargs_body; i < body->ins.n; i++) {
    int id = body->ins.v[i];
    bool gone = false;
    for (int k = 0; k < nl; k++) gone = gone || id == loads[k];
    if (!gone) vec_push(&c->arena, nb.ins, id);
  }
  *body = nb;
  for (int k = 0; k < nl; k++) replace_uses(f, body, loads[k], cur[k]); /* the yield's too */
  Block nparent = {0};
  for (int i = 0; i < b->ins.n; i++) {
    if (i == pos)
      for (int k = 0; k < pre.ins.n; k++) vec_push(&c->arena, nparent.ins, pre.ins.v[k]);
    vec_push(&c->arena, nparent.ins, b->ins.v[i]);
  }
  *b = nparent;
  f->ins.v[loop].note = arena_printf(&c->arena, "%d tile load%s issued one iteration ahead (the next iteration's, before this one's tl.dot)",
                                     nl, nl > 1 ? "s" : "");
done:
  free(P.in_body);
  free(loads);
  for (int m = 0; m < 3; m++) free(P.memo[m]);
}

static void walk(Ctx *c, Fn *f, Block *b) {
  for (int pos = 0; pos < b->ins.n; pos++) {
    int id = b->ins.v[pos];
    for (int r = 0; r < f->ins.v[id].nregions; r++) walk(c, f, f->ins.v[id].regions[r]);
    if (f->ins.v[id].op != O_FOR) continue;
    int before = b->ins.n;
    pipeline_loop(c, f, b, pos);
    pos += b->ins.n - before; /* the prologue went in before the loop */
  }
}

void pipeline_loads(Ctx *c, Fn *f) {
  if (c->opt == TM_OPT_NONE) return;
  walk(c, f, f->body);
  layout_drop_unused(f); /* the loads' old pointer and mask expressions */
}
