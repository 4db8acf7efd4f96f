/*
 * ir.c: building and printing the tile IR.
 *
 * A function is a list of instructions in program order; an instruction's id
 * is its value. The text form, one instruction a line, is what `-d ir` shows
 * and what IR tests compare:
 *
 *   %3 = add %1, %2 : <1024xi32>            @14:24
 *   store %9, %8, %4 : <1024x*fp32>         @17:5
 */
#include <stdio.h>
#include <string.h>

#include "tm.h"

static const char *op_names[O_NOPS] = {
    "const", "arg", "program_id", "num_programs", "range", "splat", "broadcast",
    "expand_dims", "add", "sub", "mul", "div", "rem", "and", "or", "xor", "shl", "shr",
    "min", "max", "neg", "not", "cmp", "select", "cast", "bitcast", "addptr", "load", "store"};

static const char *cmp_names[] = {"eq", "ne", "lt", "le", "gt", "ge"};

const char *op_name(Op op) { return op < O_NOPS ? op_names[op] : "?"; }

int ir_add(Ctx *c, Fn *f, Ins in) {
  vec_push(&c->arena, f->ins, in);
  int id = f->ins.n - 1;
  vec_push(&c->arena, f->body, id);
  return id;
}

void ir_count_uses(Fn *f) {
  for (int i = 0; i < f->ins.n; i++) f->ins.v[i].uses = 0;
  for (int i = 0; i < f->ins.n; i++)
    for (int k = 0; k < f->ins.v[i].nargs; k++) f->ins.v[f->ins.v[i].args[k]].uses++;
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
  for (int bi = 0; bi < f->body.n; bi++) {
    int id = f->body.v[bi];
    Ins *in = &f->ins.v[id];
    Buf line = {0};
    if (in->op == O_STORE) buf_printf(&line, "  %s", op_name(in->op));
    else buf_printf(&line, "  %%%d = %s", id, op_name(in->op));
    if (in->op == O_CMP) buf_printf(&line, " %s", cmp_names[in->aux]);
    if (in->op == O_PROGRAM_ID || in->op == O_NUM_PROGRAMS || in->op == O_EXPAND_DIMS)
      buf_printf(&line, " %d", in->aux);
    if (in->op == O_ARG) buf_printf(&line, " %s", f->params.v[in->aux].name);
    if (in->op == O_CONST) {
      if (dt_is_float((tm_dtype)in->ty.dt)) buf_printf(&line, " %.9g", in->fimm);
      else buf_printf(&line, " %lld", (long long)in->imm);
    }
    if (in->op == O_RANGE) buf_printf(&line, " %lld", (long long)in->imm);
    for (int k = 0; k < in->nargs; k++) buf_printf(&line, "%s%%%d", k ? ", " : " ", in->args[k]);
    Type shown = in->op == O_STORE ? f->ins.v[in->args[0]].ty : in->ty;
    buf_printf(&line, " : %s", type_str(&c->arena, shown));
    buf_printf(&b, "%-48s @%d:%d\n", line.p, in->line, in->col);
    buf_free(&line);
  }
  buf_puts(&b, "}\n");
  char *s = arena_strdup(&c->arena, b.p);
  buf_free(&b);
  return s;
}
