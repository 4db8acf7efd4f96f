/*
 * ir.c: building and printing the tile IR.
 *
 * A function is a Block of instructions in program order; an instruction's id
 * is its value. Control flow is structured: for/if/while own Blocks (regions),
 * carried values enter a region as BLOCKARGs and leave it as RESULTs. The text
 * form, one instruction a line, is what `-d ir` shows and IR tests compare:
 *
 *   %3 = add %1, %2 : <1024xi32>            @14:24
 *   %9 = for %4, %5, %6 init(%7) : ...      @20:5
 *     %10 = blockarg 1 of %9 : <128xfp32>
 *     yield %12
 *   store %9, %8, %4 : <1024x*fp32>         @17:5
 */
#include <stdio.h>
#include <string.h>

#include "tm.h"

static const char *op_names[O_NOPS] = {
    "const", "arg", "program_id", "num_programs", "range", "splat", "broadcast",
    "expand_dims", "add", "sub", "mul", "div", "rem", "and", "or", "xor", "shl", "shr",
    "min", "max", "neg", "not", "cmp", "select", "cast", "bitcast", "math", "hint", "addptr", "load", "store",
    "for", "if", "while", "yield", "condition", "blockarg", "result", "return", "convert", "dot", "atomic", "shuffle", "barrier", "print", "assert", "reduce", "scan"};

static const char *cmp_names[] = {"eq", "ne", "lt", "le", "gt", "ge"};

const char *op_name(Op op) { return op < O_NOPS ? op_names[op] : "?"; }

Block *ir_block(Ctx *c) { return arena_alloc(&c->arena, sizeof(Block)); }

int ir_add(Ctx *c, Fn *f, Block *b, Ins in) {
  int *args = arena_alloc(&c->arena, sizeof(int) * (size_t)(in.nargs + 1));
  if (in.nargs) memcpy(args, in.args, sizeof(int) * (size_t)in.nargs);
  in.args = args;
  vec_push(&c->arena, f->ins, in);
  int id = f->ins.n - 1;
  vec_push(&c->arena, b->ins, id);
  return id;
}

static bool has_result(Op op) {
  return op != O_STORE && op != O_YIELD && op != O_CONDITION && op != O_RETURN && op != O_FOR &&
         op != O_IF && op != O_WHILE && op != O_REDUCE && op != O_SCAN && op != O_BARRIER && op != O_PRINT && op != O_ASSERT;
}

static void print_block(Ctx *c, Fn *f, Block *blk, Buf *b, int depth) {
  for (int bi = 0; bi < blk->ins.n; bi++) {
    int id = blk->ins.v[bi];
    Ins *in = &f->ins.v[id];
    Buf line = {0};
    buf_printf(&line, "%*s", depth * 2, "");
    if (has_result((Op)in->op)) buf_printf(&line, "%%%d = %s", id, op_name((Op)in->op));
    else if (in->nregions) buf_printf(&line, "%s %%%d", op_name((Op)in->op), id);
    else buf_printf(&line, "%s", op_name((Op)in->op));
    if (in->op == O_CMP) buf_printf(&line, " %s", cmp_names[in->aux]);
    if (in->op == O_PROGRAM_ID || in->op == O_NUM_PROGRAMS || in->op == O_EXPAND_DIMS || in->op == O_REDUCE || in->op == O_SCAN)
      buf_printf(&line, " %d", in->aux);
    if (in->op == O_BLOCKARG || in->op == O_RESULT) buf_printf(&line, " %d of %%%lld", in->aux, (long long)in->imm);
    if (in->op == O_ARG) buf_printf(&line, " %s", f->params.v[in->aux].name);
    if (in->op == O_MATH) buf_printf(&line, " %s", math_fns[in->aux].name);
    if (in->op == O_SHUFFLE)
      buf_printf(&line, " %s %lld", (const char *[]){"reshape", "permute", "join", "pick", "cat", "flip", "gather"}[in->aux],
                 (long long)in->imm);
    if (in->op == O_ATOMIC) buf_printf(&line, " %s", (const char *[]){"add", "max", "min", "and", "or", "xor", "xchg", "cas", "add16"}[in->aux]);
    if (in->op == O_CONST) {
      if (dt_is_float((tm_dtype)in->ty.dt)) buf_printf(&line, " %.9g", in->fimm);
      else buf_printf(&line, " %lld", (long long)in->imm);
    }
    if (in->op == O_RANGE) buf_printf(&line, " %lld", (long long)in->imm);
    for (int k = 0; k < in->nargs; k++) buf_printf(&line, "%s%%%d", k ? ", " : " ", in->args[k]);
    if (in->op == O_STORE) buf_printf(&line, " : %s", type_str(&c->arena, f->ins.v[in->args[0]].ty));
    else if (has_result((Op)in->op)) buf_printf(&line, " : %s", type_str(&c->arena, in->ty));
    buf_printf(b, "%-48s @%d:%d\n", line.p, in->line, in->col);
    buf_free(&line);
    for (int r = 0; r < in->nregions; r++) {
      if (r) buf_printf(b, "%*s} else {\n", depth * 2, "");
      else buf_printf(b, "%*s{\n", depth * 2, "");
      print_block(c, f, in->regions[r], b, depth + 1);
    }
    if (in->nregions) buf_printf(b, "%*s}\n", depth * 2, "");
  }
}

char *ir_print(Ctx *c, Fn *f) {
  Buf b = {0};
  buf_printf(&b, "func %s(", f->name);
  for (int i = 0; i < f->params.n; i++) {
    Param *p = &f->params.v[i];
    buf_printf(&b, "%s%s: %s%s", i ? ", " : "", p->name, type_str(&c->arena, p->ty),
               (p->flags & TM_PF_DIV16) ? " {div16}" : "");
  }
  buf_printf(&b, ") num_warps=%d {\n", f->num_warps);
  print_block(c, f, f->body, &b, 1);
  buf_puts(&b, "}\n");
  char *s = arena_strdup(&c->arena, b.p);
  buf_free(&b);
  return s;
}

enum { ROOT_TOP = -2, ROOT_ANY = -1 }; /* nothing known yet; several or unknown */

static int root_meet(int a, int b) { return a == ROOT_TOP ? b : b == ROOT_TOP ? a : a == b ? a : ROOT_ANY; }

/* The yield ending a region (NULL if it ends otherwise). */
static Ins *region_yield(Fn *f, Block *b) {
  if (!b || !b->ins.n) return NULL;
  Ins *y = &f->ins.v[b->ins.v[b->ins.n - 1]];
  return y->op == O_YIELD ? y : NULL;
}

/* The root of a loop's carried value i: its init and what the body yields. */
static int carried_root(Fn *f, const int *r, Ins *op, int i) {
  int init = op->op == O_FOR ? 3 + i : i;
  if (i < 0 || init >= op->nargs) return ROOT_ANY;
  Ins *y = region_yield(f, op->regions[op->op == O_FOR ? 0 : 1]);
  int v = r[op->args[init]];
  return y && i < y->nargs ? root_meet(v, r[y->args[i]]) : ROOT_ANY;
}

static int root_of(Fn *f, const int *r, int id) {
  Ins *in = &f->ins.v[id];
  if (!in->ty.ptr) return ROOT_ANY;
  switch ((Op)in->op) {
  case O_ARG: return in->aux;
  case O_ADDPTR: case O_SPLAT: case O_BROADCAST: case O_EXPAND_DIMS: case O_CONVERT: case O_HINT:
    return r[in->args[0]];
  case O_BITCAST: /* a pointer of another element type; an integer made a pointer has none */
    return f->ins.v[in->args[0]].ty.ptr ? r[in->args[0]] : ROOT_ANY;
  case O_SELECT: return root_meet(r[in->args[1]], r[in->args[2]]);
  case O_SHUFFLE: { /* join, permute, reshape...: the pointer operands' roots */
    int v = ROOT_TOP;
    for (int i = 0; i < in->nargs; i++)
      if (f->ins.v[in->args[i]].ty.ptr) v = root_meet(v, r[in->args[i]]);
    return v == ROOT_TOP ? ROOT_ANY : v;
  }
  case O_BLOCKARG: case O_RESULT: {
    Ins *op = &f->ins.v[in->imm];
    int i = in->op == O_BLOCKARG ? in->aux - 1 : in->aux;
    if (op->op == O_FOR || op->op == O_WHILE) return carried_root(f, r, op, i);
    if (op->op == O_IF && in->op == O_RESULT) {
      int v = ROOT_TOP;
      for (int k = 0; k < op->nregions; k++) {
        Ins *y = region_yield(f, op->regions[k]);
        if (y && i < y->nargs) v = root_meet(v, r[y->args[i]]);
      }
      return v == ROOT_TOP ? ROOT_ANY : v;
    }
    return ROOT_ANY;
  }
  default: return ROOT_ANY; /* loaded from memory, made from an integer, ... */
  }
}

int *ir_pointer_roots(Ctx *c, Fn *f) {
  int n = f->ins.n;
  int *r = arena_alloc(&c->arena, sizeof(int) * (size_t)(n + 1));
  for (int i = 0; i < n; i++) r[i] = ROOT_TOP;
  /* monotone descent from "nothing known" to a fixpoint: loops feed back */
  for (bool changed = true; changed;) {
    changed = false;
    for (int i = 0; i < n; i++) {
      int v = root_meet(r[i], root_of(f, r, i));
      if (v != r[i]) r[i] = v, changed = true;
    }
  }
  for (int i = 0; i < n; i++)
    if (r[i] == ROOT_TOP) r[i] = ROOT_ANY;
  return r;
}

/* The parameter a pointer value is derived from: through pointer arithmetic,
 * splats, broadcasts, layout changes and control flow (a loop's pointer
 * starts as its init). NULL when it is not derived from one parameter. */
Param *ir_pointer_param(Fn *f, int id) {
  for (int hops = 0; hops < 1 << 16; hops++) {
    Ins *in = &f->ins.v[id];
    switch ((Op)in->op) {
    case O_ADDPTR: case O_SPLAT: case O_BROADCAST: case O_EXPAND_DIMS: case O_CONVERT: case O_BITCAST: case O_HINT:
      id = in->args[0];
      break;
    case O_ARG: return &f->params.v[in->aux];
    case O_BLOCKARG: case O_RESULT: {
      Ins *op = &f->ins.v[in->imm];
      int i = in->op == O_BLOCKARG ? in->aux - 1 : in->aux;
      if (op->op == O_FOR && i >= 0) id = op->args[3 + i];
      else if (op->op == O_WHILE && i >= 0) id = op->args[i];
      else if (op->op == O_IF) {
        Block *b = op->regions[0];
        Ins *y = &f->ins.v[b->ins.v[b->ins.n - 1]];
        if (!y->nargs) {
          b = op->regions[1];
          y = &f->ins.v[b->ins.v[b->ins.n - 1]];
        }
        if (y->nargs <= i) return NULL;
        id = y->args[i];
      } else return NULL;
      break;
    }
    default: return NULL;
    }
  }
  return NULL;
}
