/*
 * pipeline.c: a loop's tl.dot operand loads issued one iteration ahead.
 *
 * Expects: IR with layouts (layout.c), before order.c and axis.c. In
 *
 *     for k in range(lo, hi, STEP):            (STEP a positive constant)
 *         a = tl.load(pa(k, carried), ma(k, carried))
 *         acc = tl.dot(a, b, acc)
 *         carried = next(carried)
 *
 * every thread waits for a's memory before it can stage a for the dot, and
 * nothing else is in flight: the loop runs at the memory's latency. Here the
 * loop carries the loaded tile, and the body loads the next iteration's
 * (pointers and mask computed for k + STEP and the carried values' next
 * ones, masked off where k + STEP >= hi) before the dot, so the load is in
 * flight while the dot stages and multiplies the current tile:
 *
 *     a_cur = tl.load(pa(lo, init), ma(lo, init) & (lo < hi))
 *     for k in ...  (a_cur carried):
 *         a_nxt = tl.load(pa(k + STEP, next(carried)), ma(...) & (k + STEP < hi))
 *         acc = tl.dot(a_cur, b, acc)
 *         ...  yield ..., a_nxt
 *
 * The same loads, of the same addresses (the pointer and mask expressions
 * are cloned with the same operations, so the values are the same to the
 * bit), one iteration earlier, and one more load, wholly masked off, in the
 * last iteration. Applies to a load in the loop's body whose only use is a
 * dot's operand (directly or through tl.trans, a view), whose pointer, mask
 * and other depend on the body only through pure operations of the
 * induction variable and carried values, in a body with no stores, atomics,
 * barriers, prints, asserts or nested control flow (so no write can come
 * between the old place of the load and the new one). Only on targets with
 * simdgroup_matrix (a GPU's dot path; the emulator's own target has no
 * latency to hide) and above opt level none. The clones keep the layouts
 * of what they copy; the carried tile has the load's layout.
 */
#include <string.h>

#include "tm.h"

typedef struct Pipe {
  Ctx *c;
  Fn *f;
  Block *body;
  int loop;
  int *pos;  /* per value id: its index in body, -1 when not in it */
  int *map;  /* per value id: its clone for the iteration being built, -1 none yet */
  int nmap;
  int dot;   /* the dot the load feeds (the clones go right before it) */
  VEC(int) out; /* the clones, in order */
} Pipe;

static bool pure_op(Op op) {
  switch (op) {
  case O_CONST: case O_ARG: case O_PROGRAM_ID: case O_NUM_PROGRAMS: case O_RANGE: case O_SPLAT: case O_BROADCAST:
  case O_EXPAND_DIMS: case O_ADD: case O_SUB: case O_MUL: case O_DIV: case O_REM: case O_AND: case O_OR: case O_XOR:
  case O_SHL: case O_SHR: case O_MIN: case O_MAX: case O_NEG: case O_NOT: case O_CMP: case O_SELECT: case O_CAST:
  case O_BITCAST: case O_MATH: case O_HINT: case O_ADDPTR:
    return true;
  default:
    return false;
  }
}

static int add_ins(Pipe *P, Ins in) {
  Block tmp = {0};
  int id = ir_add(P->c, P->f, &tmp, in);
  vec_push(&P->c->arena, P->out, id);
  return id;
}

/* Whether v (a value the body uses) can be computed again from outside
 * values, the induction variable and the carried values by pure operations;
 * `yields` set: carried value j's yield must be too (bit j - 1). */
static bool recomputable(Pipe *P, int v, uint64_t *yields, int depth) {
  if (depth > 256) return false;
  if (P->pos[v] < 0) return true; /* defined before the loop */
  Ins *in = &P->f->ins.v[v];
  if (in->op == O_BLOCKARG) {
    if (in->imm != P->loop) return false;
    if (in->aux >= 1) {
      if (in->aux > 64) return false;
      *yields |= 1ull << (in->aux - 1);
    }
    return true;
  }
  if (!pure_op((Op)in->op) || in->nregions) return false;
  for (int k = 0; k < in->nargs; k++)
    if (!recomputable(P, in->args[k], yields, depth + 1)) return false;
  return true;
}

/* The clone of v for the iteration whose induction variable is `iv` and
 * whose carried value j is carried[j] (value ids); outside values are
 * themselves. */
static int clone(Pipe *P, int v, int iv, const int *carried) {
  if (P->pos[v] < 0) return v;
  if (v < P->nmap && P->map[v] >= 0) return P->map[v];
  Ins in = P->f->ins.v[v];
  int r;
  if (in.op == O_BLOCKARG) {
    r = in.aux == 0 ? iv : carried[in.aux - 1];
  } else {
    int args[8];
    if (in.nargs > 8) return -1;
    for (int k = 0; k < in.nargs; k++) args[k] = clone(P, in.args[k], iv, carried);
    in.args = args;
    r = add_ins(P, in);
  }
  if (v < P->nmap) P->map[v] = r;
  return r;
}

static void clear_map(Pipe *P) {
  for (int i = 0; i < P->nmap; i++) P->map[i] = -1;
}

/* The load's next-iteration (or first) copy: its pointer, mask and other
 * cloned, the mask and'ed with `live` (a scalar i1). */
static int clone_load(Pipe *P, int load, int iv, const int *carried, int live) {
  Ins L = P->f->ins.v[load];
  int ptr = clone(P, L.args[0], iv, carried);
  Type bt = L.ty;
  bt.dt = TM_I1;
  bt.ptr = 0;
  Layout *ml = L.nargs > 1 ? P->f->ins.v[L.args[1]].layout : L.layout;
  Ins sp = {.op = O_SPLAT, .nargs = 1, .ty = bt, .args = (int[]){live}, .line = L.line, .col = L.col, .layout = ml};
  int mask = add_ins(P, sp);
  if (L.nargs > 1) {
    int m0 = clone(P, L.args[1], iv, carried);
    Ins and = {.op = O_AND, .nargs = 2, .ty = P->f->ins.v[L.args[1]].ty, .args = (int[]){m0, mask}, .line = L.line,
               .col = L.col, .layout = ml};
    mask = add_ins(P, and);
  }
  int args[3] = {ptr, mask, L.nargs > 2 ? clone(P, L.args[2], iv, carried) : 0};
  L.args = args;
  L.nargs = L.nargs > 2 ? 3 : 2;
  return add_ins(P, L);
}

/* in's arguments with v after them (the arena keeps the old array). */
static void append_arg(Ctx *c, Ins *in, int v) {
  int *args = arena_alloc(&c->arena, sizeof(int) * (size_t)(in->nargs + 1));
  memcpy(args, in->args, sizeof(int) * (size_t)in->nargs);
  args[in->nargs++] = v;
  in->args = args;
}

static int count_uses_in(Fn *f, Block *b, int v) {
  int n = 0;
  for (int i = 0; i < b->ins.n; i++) {
    Ins *in = &f->ins.v[b->ins.v[i]];
    for (int k = 0; k < in->nargs; k++) n += in->args[k] == v;
    for (int r = 0; r < in->nregions; r++) n += count_uses_in(f, in->regions[r], v);
  }
  return n;
}

/* The dot that load's only use reaches (directly, or through one tl.trans
 * view used only by it); its operand slot in *via's user. */
static int feeds_dot(Fn *f, Block *body, int load, int *user, int *slot) {
  for (int pass = 0; pass < 2; pass++) {
    int n = 0, u = -1, s = -1;
    for (int i = 0; i < body->ins.n; i++) {
      Ins *in = &f->ins.v[body->ins.v[i]];
      for (int k = 0; k < in->nargs; k++)
        if (in->args[k] == load) n++, u = body->ins.v[i], s = k;
      for (int r = 0; r < in->nregions; r++) n += count_uses_in(f, in->regions[r], load);
    }
    if (n != 1 || u < 0) return -1;
    Ins *ui = &f->ins.v[u];
    if (pass == 0) *user = u, *slot = s;
    if (ui->op == O_DOT && s <= 1) return u;
    if (pass == 1 || ui->op != O_SHUFFLE || ui->aux != SH_PERMUTE) return -1;
    load = u; /* the view: its one use must be the dot */
  }
  return -1;
}

/* Pipelines the loads of the for loop at position lpos of block b. */
static void pipeline_loop(Ctx *c, Fn *f, Block *b, int lpos) {
  int loop = b->ins.v[lpos];
  Block *body = f->ins.v[loop].regions[0];
  if (!body->ins.n) return;
  int y = body->ins.v[body->ins.n - 1];
  Ins *st = &f->ins.v[f->ins.v[loop].args[2]];
  if (f->ins.v[y].op != O_YIELD || st->op != O_CONST || st->imm <= 0) return;
  Type ivt = f->ins.v[loop].ty;
  if (!type_eq(f->ins.v[f->ins.v[loop].args[1]].ty, ivt) || !type_eq(f->ins.v[f->ins.v[loop].args[0]].ty, ivt)) return;
  for (int i = 0; i < body->ins.n; i++) { /* nothing a moved load could overtake */
    Ins *in = &f->ins.v[body->ins.v[i]];
    switch ((Op)in->op) {
    case O_STORE: case O_ATOMIC: case O_BARRIER: case O_PRINT: case O_ASSERT: case O_RETURN: case O_FOR: case O_IF:
    case O_WHILE:
      return;
    default:
      break;
    }
  }
  Pipe P = {.c = c, .f = f, .body = body, .loop = loop};
  bool moved = false;
  for (int li = 0; li < body->ins.n; li++) {
    int load = body->ins.v[li];
    Ins *L = &f->ins.v[load];
    if (L->op != O_LOAD || !L->ty.rank || !L->layout) continue;
    /* the next tile waits in registers while the dot runs: up to 32 bytes
     * (8 registers) a thread, 64 in a kernel in the matrices' layout
     * (layout_frag: no blocked copy of the scores beside the accumulators;
     * attention with head size 128, 218 registers on the proxy, none
     * spilled); a larger one would spill where the dot's accumulators
     * already fill the registers */
    int user, slot, dot = feeds_dot(f, body, load, &user, &slot);
    if (dot < 0) continue;
    int most = layout_is_frag(f->ins.v[dot].layout, f->num_warps) ? 64 : 32;
    if (L->layout->per_thread * tm_dtype_bytes((tm_dtype)L->ty.dt) > most) continue;
    /* positions (the body changes with each load pipelined) */
    P.nmap = f->ins.n;
    P.pos = arena_alloc(&c->arena, sizeof(int) * (size_t)P.nmap);
    P.map = arena_alloc(&c->arena, sizeof(int) * (size_t)P.nmap);
    for (int i = 0; i < P.nmap; i++) P.pos[i] = -1;
    for (int i = 0; i < body->ins.n; i++) P.pos[body->ins.v[i]] = i;
    uint64_t yields = 0;
    bool ok = true;
    for (int k = 0; k < L->nargs && ok; k++) ok = recomputable(&P, L->args[k], &yields, 0);
    Ins *Y = &f->ins.v[y];
    for (int j = 0; j < 64 && ok; j++) /* the carried values the next addresses need: their yields */
      if (yields >> j & 1) ok = j < Y->nargs && recomputable(&P, Y->args[j], &(uint64_t){0}, 0);
    if (!ok) continue;
    int ncar = f->ins.v[loop].nargs - 3;
    int lline = L->line; /* L moves when instructions are added */

    /* before the loop: the first tile, live where lo < hi */
    P.out.n = 0;
    clear_map(&P);
    int *init = arena_alloc(&c->arena, sizeof(int) * (size_t)(ncar + 1));
    for (int j = 0; j < ncar; j++) init[j] = f->ins.v[loop].args[3 + j];
    Ins lo_lt = {.op = O_CMP, .aux = C_LT, .nargs = 2, .ty = type_scalar(TM_I1),
                 .args = (int[]){f->ins.v[loop].args[0], f->ins.v[loop].args[1]}, .line = f->ins.v[loop].line};
    int live0 = add_ins(&P, lo_lt);
    int first = clone_load(&P, load, f->ins.v[loop].args[0], init, live0);
    f->ins.v[first].note = "the loop's first tile, loaded before the loop (pipelined: one iteration ahead)";
    Block nb = {0};
    for (int i = 0; i < b->ins.n; i++) {
      if (i == lpos)
        for (int k = 0; k < P.out.n; k++) vec_push(&c->arena, nb.ins, P.out.v[k]);
      vec_push(&c->arena, nb.ins, b->ins.v[i]);
    }
    *b = nb;
    lpos += P.out.n;

    /* in the body: the next tile, right before the dot */
    P.out.n = 0;
    clear_map(&P);
    int iv = -1;
    for (int i = 0; i < body->ins.n; i++) {
      Ins *in = &f->ins.v[body->ins.v[i]];
      if (in->op == O_BLOCKARG && in->imm == loop && in->aux == 0) iv = body->ins.v[i];
    }
    if (iv < 0) return;
    /* the carried values' next ones: their yields, as the body computes them
     * (cloned where the body computes them after the dot) */
    int *next = arena_alloc(&c->arena, sizeof(int) * (size_t)(ncar + 1));
    int *cur = arena_alloc(&c->arena, sizeof(int) * (size_t)(ncar + 1));
    for (int j = 0; j < ncar; j++) {
      cur[j] = -1;
      for (int i = 0; i < body->ins.n; i++) {
        Ins *in = &f->ins.v[body->ins.v[i]];
        if (in->op == O_BLOCKARG && in->imm == loop && in->aux == j + 1) cur[j] = body->ins.v[i];
      }
    }
    for (int j = 0; j < ncar; j++) {
      next[j] = -1;
      if (!(yields >> j & 1)) continue;
      int yv = f->ins.v[y].args[j];
      next[j] = P.pos[yv] >= 0 && P.pos[yv] < P.pos[dot] ? yv : clone(&P, yv, iv, cur);
    }
    clear_map(&P);
    Ins step = {.op = O_ADD, .nargs = 2, .ty = ivt, .args = (int[]){iv, f->ins.v[loop].args[2]}, .line = lline};
    int niv = add_ins(&P, step);
    Ins lt = {.op = O_CMP, .aux = C_LT, .nargs = 2, .ty = type_scalar(TM_I1), .args = (int[]){niv, f->ins.v[loop].args[1]},
              .line = lline};
    int live = add_ins(&P, lt);
    int nxt = clone_load(&P, load, niv, next, live);
    f->ins.v[nxt].note = "the next iteration's tile, loaded before the dot (pipelined: one iteration ahead)";
    Type lty = f->ins.v[load].ty;
    Layout *lay = f->ins.v[load].layout;
    int line = f->ins.v[load].line, col = f->ins.v[load].col;
    /* the carried tile: a block argument (first in the body, with the others) */
    Block tmp = {0};
    Ins ba = {.op = O_BLOCKARG, .aux = (int16_t)(ncar + 1), .imm = loop, .ty = lty, .line = line, .col = col, .layout = lay};
    int arg = ir_add(c, f, &tmp, ba);
    Block nbody = {0};
    for (int i = 0; i < body->ins.n; i++) {
      int id = body->ins.v[i];
      if (i == 0) vec_push(&c->arena, nbody.ins, arg);
      if (id == dot)
        for (int k = 0; k < P.out.n; k++) vec_push(&c->arena, nbody.ins, P.out.v[k]);
      if (id != load) vec_push(&c->arena, nbody.ins, id);
    }
    *body = nbody;
    f->ins.v[user].args[slot] = arg;
    /* the yield and the loop's operands get the tile; the loop's result for it */
    append_arg(c, &f->ins.v[y], nxt);
    append_arg(c, &f->ins.v[loop], first);
    Ins res = {.op = O_RESULT, .aux = (int16_t)ncar, .imm = loop, .ty = lty, .line = line, .col = col, .layout = lay};
    int rid = ir_add(c, f, &tmp, res);
    Block nb2 = {0};
    for (int i = 0; i < b->ins.n; i++) {
      vec_push(&c->arena, nb2.ins, b->ins.v[i]);
      if (i == lpos) vec_push(&c->arena, nb2.ins, rid);
    }
    *b = nb2;
    moved = true;
    li = -1; /* the body changed: look again (the tile just made is a block argument, not a load) */
  }
  /* what only the moved loads used: gone (loops left as they were keep their text) */
  for (bool again = moved; again;) {
    again = false;
    Block kept = {0};
    for (int i = 0; i < body->ins.n; i++) {
      int id = body->ins.v[i];
      Ins *in = &f->ins.v[id];
      if (pure_op((Op)in->op) && !in->nregions && count_uses_in(f, body, id) == 0) {
        again = true;
        continue;
      }
      vec_push(&c->arena, kept.ins, id);
    }
    *body = kept;
  }
}

static void walk(Ctx *c, Fn *f, Block *b) {
  for (int pos = 0; pos < b->ins.n; pos++) {
    int id = b->ins.v[pos];
    for (int r = 0; r < f->ins.v[id].nregions; r++) walk(c, f, f->ins.v[id].regions[r]);
    if (f->ins.v[id].op != O_FOR) continue;
    int before = b->ins.n;
    pipeline_loop(c, f, b, pos);
    pos += b->ins.n - before; /* past what was put before and after the loop */
  }
}

void pipeline_dot_loads(Ctx *c, Fn *f) {
  if (!c->target->has_simdgroup_matrix || c->opt == TM_OPT_NONE) return;
  walk(c, f, f->body);
}
