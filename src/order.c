/*
 * order.c: program order for memory that several threads of a program touch.
 *
 * A Triton program is one logical thread: a load that comes before a store in
 * program order does not see that store, and one that comes after it does.
 * Our threads hold replicated copies of scalars (and of the elements a layout
 * duplicates), so a load of such a value is done by every thread, while each
 * store is done by one thread only (scalar stores by thread 0, block stores by
 * each element's owner). Unordered, a thread may load after another thread's
 * store in the same program and see memory the program had not yet written,
 * or miss what it had: the emulator runs a threadgroup's threads one after the
 * other between barriers, and a GPU's SIMD-groups run independently.
 *
 * Two steps, after layouts are assigned:
 *
 *   1. Solo loads. A scalar load whose value is needed by thread 0 alone (it
 *      flows only into scalar computations that end in scalar stores or
 *      atomics, which thread 0 performs) is done by thread 0 alone
 *      (Ins.solo). It then needs no ordering with those stores:
 *        x = tl.load(p); tl.store(p, x * 2)      -> one thread loads and stores
 *
 *   2. Barriers. Walking the program in order with the accesses since the last
 *      barrier, a barrier (device memory ordered, as tl.debug_barrier) goes
 *        - before a store or atomic that may alias a replicated load (WAR),
 *        - before a replicated load that may alias a store or atomic (RAW).
 *      Loop bodies are walked twice, so that one iteration's accesses meet the
 *      next one's; after an if, the accesses of either branch count.
 *
 * Aliasing is by pointer parameter: accesses through one parameter, or through
 * a pointer whose parameter is unknown (loaded from memory, made from an
 * integer), may alias. Distinct parameters are taken not to overlap unless the
 * launch binds overlapping memory to them (req->args_may_alias: the launcher
 * compiles such calls, an in-place x, x say, as a variant of their own).
 * Barriers stand where every thread of the program arrives: control flow in a
 * Triton program depends on scalars, which all its threads hold alike.
 */
#include <string.h>

#include "tm.h"

#define UNKNOWN (UINT64_C(1) << 63)

typedef struct Order {
  Ctx *c;
  Fn *f;
  bool *shared;    /* per value: needed by threads other than thread 0 */
  uint64_t loads;  /* parameters read by replicated loads since the last barrier */
  uint64_t stores; /* parameters written since the last barrier */
  int added;
} Order;

/* ---- step 1: which scalar values threads other than thread 0 need ---- */

static bool pure_scalar(const Ins *in) {
  if (in->ty.rank || in->nregions) return false;
  switch ((Op)in->op) {
  case O_CONST: case O_ARG: case O_PROGRAM_ID: case O_NUM_PROGRAMS: case O_ADD: case O_SUB: case O_MUL: case O_DIV:
  case O_REM: case O_AND: case O_OR: case O_XOR: case O_SHL: case O_SHR: case O_MIN: case O_MAX: case O_NEG:
  case O_NOT: case O_CMP: case O_SELECT: case O_CAST: case O_BITCAST: case O_MATH: case O_HINT: case O_ADDPTR:
  case O_LOAD:
    return true;
  default: return false;
  }
}

static bool mark(Order *o, int id) {
  if (o->shared[id]) return false;
  o->shared[id] = true;
  return true;
}

/* The values carried into slot i of a loop or if (inits and yields), marked shared. */
static bool mark_slot(Order *o, int op_id, int i) {
  Fn *f = o->f;
  if (i < 0) return false; /* a loop's induction variable: its bounds are needed by every thread anyway */
  Ins *op = &f->ins.v[op_id];
  bool ch = false;
  if (op->op == O_FOR && 3 + i < op->nargs) ch |= mark(o, op->args[3 + i]);
  if (op->op == O_WHILE && i < op->nargs) ch |= mark(o, op->args[i]);
  for (int r = 0; r < op->nregions; r++) {
    Block *b = op->regions[r];
    if (!b->ins.n) continue;
    Ins *y = &f->ins.v[b->ins.v[b->ins.n - 1]];
    if (y->op == O_YIELD && i < y->nargs) ch |= mark(o, y->args[i]);
  }
  return ch;
}

static void find_shared(Order *o) {
  Fn *f = o->f;
  for (bool changed = true; changed;) {
    changed = false;
    for (int id = f->ins.n - 1; id >= 0; id--) {
      Ins *in = &f->ins.v[id];
      bool scalar_sink = !in->ty.rank && ((in->op == O_STORE && !f->ins.v[in->args[0]].ty.rank) ||
                                          (in->op == O_ATOMIC && !f->ins.v[in->args[0]].ty.rank));
      bool needs = in->op == O_YIELD ? false : pure_scalar(in) ? o->shared[id] : !scalar_sink;
      if (in->op == O_BLOCKARG || in->op == O_RESULT) {
        if (o->shared[id]) changed |= mark_slot(o, (int)in->imm, in->op == O_BLOCKARG ? in->aux - 1 : in->aux);
        continue;
      }
      if (!needs) continue;
      for (int k = 0; k < in->nargs; k++) changed |= mark(o, in->args[k]);
    }
  }
}

/* ---- step 2: barriers ---- */

static uint64_t param_class(Order *o, int ptr_id) {
  Param *p = ir_pointer_param(o->f, ptr_id);
  if (!p) return UNKNOWN;
  if (o->c->req->args_may_alias) return 1; /* the launch binds overlapping memory: one class */
  int i = (int)(p - o->f->params.v);
  return i < 63 ? UINT64_C(1) << i : UNKNOWN;
}

static bool may_alias(uint64_t set, uint64_t cls) {
  if (!set) return false;
  return (set & UNKNOWN) || (cls & UNKNOWN) || (set & cls);
}

static bool replicated_load(Order *o, int id) {
  Ins *in = &o->f->ins.v[id];
  if (!in->ty.rank) return !in->solo;
  return in->layout && in->layout->replicated;
}

/* Inserts a barrier into b before position pos. */
static void insert_barrier(Order *o, Block *b, int pos, const Ins *at) {
  Block tmp = {0};
  Ins bar = {.op = O_BARRIER, .aux = 1, .line = at->line, .col = at->col};
  int id = ir_add(o->c, o->f, &tmp, bar);
  vec_push(&o->c->arena, b->ins, id);
  memmove(&b->ins.v[pos + 1], &b->ins.v[pos], sizeof(int) * (size_t)(b->ins.n - 1 - pos));
  b->ins.v[pos] = id;
  o->added++;
}

static void walk(Order *o, Block *b, bool insert);

static void walk_loop(Order *o, Block **regions, int n, bool insert) {
  uint64_t l0 = o->loads, s0 = o->stores;
  for (int r = 0; r < n; r++) walk(o, regions[r], false); /* one iteration, to learn what it leaves pending */
  o->loads |= l0;
  o->stores |= s0;
  for (int r = 0; r < n; r++) walk(o, regions[r], insert); /* then with the next iteration's view */
  o->loads |= l0;
  o->stores |= s0;
}

static void walk(Order *o, Block *b, bool insert) {
  for (int i = 0; i < b->ins.n; i++) {
    int id = b->ins.v[i];
    Ins *in = &o->f->ins.v[id];
    switch ((Op)in->op) {
    case O_BARRIER:
      o->loads = o->stores = 0;
      break;
    case O_LOAD: {
      if (!replicated_load(o, id)) break;
      uint64_t cls = param_class(o, in->args[0]);
      if (may_alias(o->stores, cls)) {
        if (insert) insert_barrier(o, b, i++, in);
        o->loads = o->stores = 0;
      }
      o->loads |= cls;
      break;
    }
    case O_STORE: case O_ATOMIC: {
      uint64_t cls = param_class(o, in->args[0]);
      if (may_alias(o->loads, cls)) {
        if (insert) insert_barrier(o, b, i++, in);
        o->loads = o->stores = 0;
      }
      o->stores |= cls;
      break;
    }
    case O_IF: {
      uint64_t l0 = o->loads, s0 = o->stores, l1, s1;
      walk(o, in->regions[0], insert);
      l1 = o->loads;
      s1 = o->stores;
      o->loads = l0;
      o->stores = s0;
      walk(o, in->regions[1], insert);
      o->loads |= l1;
      o->stores |= s1;
      break;
    }
    case O_FOR: walk_loop(o, in->regions, 1, insert); break;
    case O_WHILE: walk_loop(o, in->regions, 2, insert); break;
    default: break;
    }
  }
}

void order_memory(Ctx *c, Fn *f) {
  Order o = {.c = c, .f = f};
  o.shared = arena_alloc(&c->arena, sizeof(bool) * (size_t)(f->ins.n + 1));
  memset(o.shared, 0, sizeof(bool) * (size_t)(f->ins.n + 1));
  find_shared(&o);
  for (int id = 0; id < f->ins.n; id++) {
    Ins *in = &f->ins.v[id];
    if (in->op == O_LOAD && !in->ty.rank && !o.shared[id]) in->solo = true;
  }
  walk(&o, f->body, true);
}
