/*
 * parse.c: tokens -> AST for the Python subset kernels are written in.
 *
 * Recursive descent; each function carries the grammar line it parses.
 * Constructs of Python outside the subset (lambda, comprehensions, with,
 * try, class, star-args...) are refused here with their location, so later
 * passes only see shapes they know. Node field use per kind is listed in tm.h
 * and at each constructor below.
 */
#include <stdlib.h>
#include <string.h>

#include "tm.h"

typedef struct Parser {
  Ctx *c;
  TokVec toks;
  int i;
  bool more;  /* the last simple statement ended with ';' and another follows on its line */
  int depth;  /* nesting of the expression being parsed (recursion plus left-nested chains) */
} Parser;

/* Every pass over an expression recurses on its nesting; beyond this it is an
 * error (Python itself stops at about 200 nested parentheses). */
#define MAX_NEST 200

static Tok *peek(Parser *P) { return &P->toks.v[P->i]; }
static Tok *next(Parser *P) {
  Tok *t = &P->toks.v[P->i];
  if (t->kind != T_EOF) P->i++;
  return t;
}

static bool tok_is(Tok *t, TokKind k, const char *s) {
  return t->kind == k && (int)strlen(s) == t->len && !memcmp(t->s, s, (size_t)t->len);
}
static bool is_op(Parser *P, const char *s) { return tok_is(peek(P), T_OP, s); }
static bool is_kw(Parser *P, const char *s) { return tok_is(peek(P), T_KEYWORD, s); }

static const char *tok_text(Parser *P, Tok *t) {
  if (t->kind == T_NEWLINE) return "end of line";
  if (t->kind == T_INDENT) return "indent";
  if (t->kind == T_DEDENT) return "dedent";
  if (t->kind == T_EOF) return "end of input";
  return arena_printf(&P->c->arena, "'%.*s'", t->len, t->s);
}

static _Noreturn void fail(Parser *P, Tok *t, const char *what) {
  error_at(P->c, t->line, t->col, "expected %s, found %s", what, tok_text(P, t));
}

static void expect_op(Parser *P, const char *s) {
  if (!is_op(P, s)) fail(P, peek(P), arena_printf(&P->c->arena, "'%s'", s));
  next(P);
}

/* One more level of nesting at token t; an error beyond MAX_NEST. Callers restore
 * P->depth when they return. */
static void deeper(Parser *P, Tok *t) {
  if (++P->depth > MAX_NEST)
    error_at(P->c, t->line, t->col, "expression nested too deeply (more than %d levels of parentheses, operators or "
             "calls); split it into several statements", MAX_NEST);
}

static Node *mk(Parser *P, NodeKind k, Tok *at) {
  Node *n = arena_alloc(&P->c->arena, sizeof(Node));
  n->kind = k;
  n->line = at->line;
  n->col = at->col;
  return n;
}

static const char *name_of(Parser *P, Tok *t) { return arena_strndup(&P->c->arena, t->s, (size_t)t->len); }

static Node *expr(Parser *P);
static Node *test(Parser *P);
static Node *test_inner(Parser *P);
static void block(Parser *P, NodeVec *out);

/* atom: NAME | NUMBER | STRING+ | True | False | None | '(' [testlist] ')' | '[' [testlist] ']' */
static Node *atom(Parser *P) {
  Tok *t = peek(P);
  if (t->kind == T_NAME) {
    next(P);
    Node *n = mk(P, N_NAME, t);
    n->name = name_of(P, t);
    return n;
  }
  if (t->kind == T_INT) {
    next(P);
    Node *n = mk(P, N_INT, t);
    n->ival = t->ival;
    if (t->fval) n->op = "u64";
    return n;
  }
  if (t->kind == T_FLOAT) {
    next(P);
    Node *n = mk(P, N_FLOAT, t);
    n->fval = t->fval;
    return n;
  }
  if (t->kind == T_STR) {
    Node *n = mk(P, N_STR, t);
    const char *s = "";
    while (peek(P)->kind == T_STR) {
      if (peek(P)->ival) error_at(P->c, peek(P)->line, peek(P)->col, "f-strings are not supported in kernels");
      s = arena_printf(&P->c->arena, "%s%s", s, next(P)->str);
    }
    n->str = s;
    return n;
  }
  if (tok_is(t, T_KEYWORD, "True") || tok_is(t, T_KEYWORD, "False") || tok_is(t, T_KEYWORD, "None")) {
    next(P);
    return mk(P, t->s[0] == 'T' ? N_TRUE : t->s[0] == 'F' ? N_FALSE : N_NONE, t);
  }
  if (tok_is(t, T_OP, "(") || tok_is(t, T_OP, "[")) {
    bool list = t->s[0] == '[';
    const char *close = list ? "]" : ")";
    next(P);
    Node *n = mk(P, list ? N_LIST : N_TUPLE, t);
    bool comma = false;
    while (!is_op(P, close)) {
      vec_push(&P->c->arena, n->list, test(P));
      if (is_kw(P, "for")) error_at(P->c, peek(P)->line, peek(P)->col, "comprehensions are not supported in kernels");
      if (!is_op(P, ",")) break;
      next(P);
      comma = true;
    }
    expect_op(P, close);
    if (!list && n->list.n == 1 && !comma) return n->list.v[0]; /* parenthesized */
    return n;
  }
  if (tok_is(t, T_KEYWORD, "lambda"))
    error_at(P->c, t->line, t->col, "lambda expressions are not supported in kernels");
  if (tok_is(t, T_OP, "{"))
    error_at(P->c, t->line, t->col, "dict and set displays are not supported in kernels");
  fail(P, t, "an expression");
}

/* subscript: test | [test] ':' [test] [':' [test]] */
static Node *subscript_item(Parser *P) {
  Tok *t = peek(P);
  Node *lo = NULL;
  if (!is_op(P, ":")) {
    lo = test(P);
    if (!is_op(P, ":")) return lo;
  }
  Node *n = mk(P, N_SLICE, t);
  n->a = lo;
  next(P); /* ':' */
  if (!is_op(P, ":") && !is_op(P, "]") && !is_op(P, ",")) n->b = test(P);
  if (is_op(P, ":")) {
    next(P);
    if (!is_op(P, "]") && !is_op(P, ",")) n->c = test(P);
  }
  return n;
}

/* arglist: (test | NAME '=' test)* ; positional arguments before keywords */
static void call_args(Parser *P, Node *call) {
  while (!is_op(P, ")")) {
    Tok *t = peek(P);
    if (tok_is(t, T_OP, "**"))
      error_at(P->c, t->line, t->col, "** arguments are not supported in kernels");
    if (tok_is(t, T_OP, "*")) { /* f(*t): t's items as positional arguments (t a tuple) */
      if (call->list2.n) error_at(P->c, t->line, t->col, "positional argument follows keyword argument");
      next(P);
      Node *st = mk(P, N_STARRED, t);
      st->a = test(P);
      vec_push(&P->c->arena, call->list, st);
      if (!is_op(P, ",")) break;
      next(P);
      continue;
    }
    if (t->kind == T_NAME && tok_is(&P->toks.v[P->i + 1], T_OP, "=")) {
      next(P);
      next(P);
      Node *kw = mk(P, N_KWARG, t);
      kw->name = name_of(P, t);
      kw->a = test(P);
      vec_push(&P->c->arena, call->list2, kw);
    } else {
      if (call->list2.n) error_at(P->c, t->line, t->col, "positional argument follows keyword argument");
      vec_push(&P->c->arena, call->list, test(P));
    }
    if (!is_op(P, ",")) break;
    next(P);
  }
  expect_op(P, ")");
}

/* power: atom trailer* ['**' factor]   trailer: '(' args ')' | '[' subscripts ']' | '.' NAME */
static Node *factor(Parser *P);
static Node *power(Parser *P) {
  int depth0 = P->depth;
  Node *n = atom(P);
  for (;;) {
    Tok *t = peek(P);
    if (tok_is(t, T_OP, "(") || tok_is(t, T_OP, "[") || tok_is(t, T_OP, ".")) deeper(P, t);
    if (tok_is(t, T_OP, "(")) {
      next(P);
      Node *call = mk(P, N_CALL, t);
      call->line = n->line; /* a call is located where its callee starts */
      call->col = n->col;
      call->a = n;
      call_args(P, call);
      n = call;
    } else if (tok_is(t, T_OP, "[")) {
      next(P);
      Node *s = mk(P, N_SUBSCRIPT, t);
      s->a = n;
      Node *first = subscript_item(P);
      if (is_op(P, ",")) {
        Node *tup = mk(P, N_TUPLE, t);
        vec_push(&P->c->arena, tup->list, first);
        while (is_op(P, ",")) {
          next(P);
          if (is_op(P, "]")) break;
          vec_push(&P->c->arena, tup->list, subscript_item(P));
        }
        first = tup;
      }
      s->b = first;
      expect_op(P, "]");
      n = s;
    } else if (tok_is(t, T_OP, ".")) {
      next(P);
      Tok *nt = next(P);
      if (nt->kind != T_NAME) fail(P, nt, "an attribute name");
      Node *a = mk(P, N_ATTR, nt);
      a->line = n->line;
      a->col = n->col;
      a->a = n;
      a->name = name_of(P, nt);
      n = a;
    } else {
      break;
    }
  }
  if (is_op(P, "**")) {
    Tok *t = next(P);
    deeper(P, t);
    Node *b = mk(P, N_BINOP, t);
    b->op = "**";
    b->a = n;
    b->b = factor(P);
    n = b;
  }
  P->depth = depth0;
  return n;
}

/* factor: ('+'|'-'|'~') factor | power */
static Node *factor(Parser *P) {
  Tok *t = peek(P);
  if (tok_is(t, T_OP, "-") || tok_is(t, T_OP, "+") || tok_is(t, T_OP, "~")) {
    next(P);
    deeper(P, t);
    Node *n = mk(P, N_UNARY, t);
    n->op = arena_strndup(&P->c->arena, t->s, 1);
    n->a = factor(P);
    P->depth--;
    return n;
  }
  return power(P);
}

/* Binary levels, loosest first; each is left-associative: x (op x)* */
static const char *levels[][5] = {
    {"|", NULL}, {"^", NULL}, {"&", NULL}, {"<<", ">>", NULL},
    {"+", "-", NULL}, {"*", "/", "//", "%", "@"},
};
enum { NLEVELS = sizeof levels / sizeof levels[0] };

static Node *binary(Parser *P, int level) {
  if (level == NLEVELS) return factor(P);
  int depth0 = P->depth;
  Node *n = binary(P, level + 1);
  for (;;) {
    Tok *t = peek(P);
    const char *op = NULL;
    for (int k = 0; k < 5 && levels[level][k]; k++)
      if (tok_is(t, T_OP, levels[level][k])) op = levels[level][k];
    if (!op) {
      P->depth = depth0;
      return n;
    }
    next(P);
    deeper(P, t); /* x + x + ... nests to the left */
    Node *b = mk(P, N_BINOP, t);
    b->op = op;
    b->a = n;
    b->b = binary(P, level + 1);
    n = b;
  }
}

static Node *expr(Parser *P) { return binary(P, 0); }

/* comparison: expr (compop expr)?   -- chained comparisons are refused */
static Node *comparison(Parser *P) {
  Node *n = expr(P);
  static const char *cmps[] = {"<", ">", "==", ">=", "<=", "!=", NULL};
  for (int round = 0;; round++) {
    Tok *t = peek(P);
    const char *op = NULL;
    for (int k = 0; cmps[k]; k++)
      if (tok_is(t, T_OP, cmps[k])) op = cmps[k];
    if (tok_is(t, T_KEYWORD, "in")) op = "in";
    if (tok_is(t, T_KEYWORD, "is")) op = "is";
    if (tok_is(t, T_KEYWORD, "not") && tok_is(&P->toks.v[P->i + 1], T_KEYWORD, "in")) op = "not in";
    if (!op) return n;
    if (round) error_at(P->c, t->line, t->col, "chained comparisons are not supported in kernels; use '&'");
    next(P);
    if (!strcmp(op, "not in")) next(P);
    if (!strcmp(op, "is") && is_kw(P, "not")) {
      next(P);
      op = "is not";
    }
    Node *c = mk(P, N_COMPARE, t);
    c->op = op;
    c->a = n;
    c->b = expr(P);
    n = c;
  }
}

/* not_test: 'not' not_test | comparison */
static Node *not_test(Parser *P) {
  Tok *t = peek(P);
  if (tok_is(t, T_KEYWORD, "not")) {
    next(P);
    deeper(P, t);
    Node *n = mk(P, N_UNARY, t);
    n->op = "not";
    n->a = not_test(P);
    P->depth--;
    return n;
  }
  return comparison(P);
}

/* and_test: not_test ('and' not_test)*   or_test: and_test ('or' and_test)* */
static Node *boolop(Parser *P, const char *kw) {
  bool is_or = kw[0] == 'o';
  Node *first = is_or ? boolop(P, "and") : not_test(P);
  if (!is_kw(P, kw)) return first;
  Node *n = mk(P, N_BOOLOP, peek(P));
  n->op = kw;
  vec_push(&P->c->arena, n->list, first);
  while (is_kw(P, kw)) {
    next(P);
    vec_push(&P->c->arena, n->list, is_or ? boolop(P, "and") : not_test(P));
  }
  return n;
}

/* test: or_test ['if' or_test 'else' test] */
static Node *test(Parser *P) {
  deeper(P, peek(P));
  Node *n = test_inner(P);
  P->depth--;
  return n;
}

static Node *test_inner(Parser *P) {
  Node *n = boolop(P, "or");
  if (is_kw(P, "if")) {
    Tok *t = next(P);
    Node *c = mk(P, N_IFEXP, t);
    c->b = n;
    c->a = boolop(P, "or");
    if (!is_kw(P, "else")) fail(P, peek(P), "'else'");
    next(P);
    c->c = test(P);
    return c;
  }
  return n;
}

/* testlist: test (',' test)* [','] -- a tuple when there is a comma */
static Node *testlist(Parser *P) {
  Tok *t = peek(P);
  Node *n = test(P);
  if (!is_op(P, ",")) return n;
  Node *tup = mk(P, N_TUPLE, t);
  vec_push(&P->c->arena, tup->list, n);
  while (is_op(P, ",")) {
    next(P);
    if (peek(P)->kind == T_NEWLINE || is_op(P, "=") || is_op(P, ")")) break;
    vec_push(&P->c->arena, tup->list, test(P));
  }
  return tup;
}

/* The end of a simple statement: a newline, or ';' (then another simple
 * statement may follow on the line: P->more). */
static void end_stmt(Parser *P) {
  if (is_op(P, ";")) {
    next(P);
    if (peek(P)->kind != T_NEWLINE && peek(P)->kind != T_EOF) {
      P->more = true;
      return;
    }
  }
  if (peek(P)->kind != T_NEWLINE && peek(P)->kind != T_EOF) fail(P, peek(P), "end of line");
  next(P);
}

static Node *simple_stmt(Parser *P);

/* Appends n and the simple statements that follow it after ';' on its line. */
static void push_stmts(Parser *P, NodeVec *out, Node *n) {
  vec_push(&P->c->arena, *out, n);
  while (P->more) {
    P->more = false;
    vec_push(&P->c->arena, *out, simple_stmt(P));
  }
}

static Node *stmt(Parser *P);

/* if_stmt: 'if' test ':' block ('elif' test ':' block)* ['else' ':' block] */
static Node *if_stmt(Parser *P) {
  Tok *t = next(P); /* if / elif */
  Node *n = mk(P, N_IF, t);
  n->a = test(P);
  expect_op(P, ":");
  block(P, &n->list);
  if (is_kw(P, "elif")) {
    vec_push(&P->c->arena, n->list2, if_stmt(P));
  } else if (is_kw(P, "else")) {
    next(P);
    expect_op(P, ":");
    block(P, &n->list2);
  }
  return n;
}

/* simple statements: return, pass, break, continue, assert, raise, expression, assignment */
static Node *simple_stmt(Parser *P) {
  Tok *t = peek(P);
  if (tok_is(t, T_KEYWORD, "return")) {
    next(P);
    Node *n = mk(P, N_RETURN, t);
    if (peek(P)->kind != T_NEWLINE) n->a = testlist(P);
    end_stmt(P);
    return n;
  }
  if (tok_is(t, T_KEYWORD, "pass") || tok_is(t, T_KEYWORD, "break") || tok_is(t, T_KEYWORD, "continue")) {
    next(P);
    Node *n = mk(P, t->s[0] == 'p' ? N_PASS : t->s[0] == 'b' ? N_BREAK : N_CONTINUE, t);
    end_stmt(P);
    return n;
  }
  if (tok_is(t, T_KEYWORD, "raise")) { /* an error only where compiled: upstream skips untaken constexpr branches */
    next(P);
    Node *n = mk(P, N_RAISE, t);
    if (peek(P)->kind != T_NEWLINE && !is_op(P, ";")) {
      n->a = test(P);
      if (tok_is(peek(P), T_KEYWORD, "from")) {
        next(P);
        n->b = test(P);
      }
    }
    end_stmt(P);
    return n;
  }
  if (tok_is(t, T_KEYWORD, "assert")) {
    next(P);
    Node *n = mk(P, N_ASSERT, t);
    n->a = test(P);
    if (is_op(P, ",")) {
      next(P);
      n->b = test(P);
    }
    end_stmt(P);
    return n;
  }
  if (t->kind == T_KEYWORD && !tok_is(t, T_KEYWORD, "not") && !tok_is(t, T_KEYWORD, "None") &&
      !tok_is(t, T_KEYWORD, "True") && !tok_is(t, T_KEYWORD, "False") && !tok_is(t, T_KEYWORD, "lambda"))
    error_at(P->c, t->line, t->col, "'%.*s' statements are not supported in kernels", t->len, t->s);
  Node *lhs = testlist(P);
  Tok *o = peek(P);
  if (tok_is(o, T_OP, ":")) { /* annotated assignment */
    next(P);
    Node *n = mk(P, N_ANNASSIGN, o);
    n->a = lhs;
    n->b = test(P);
    if (is_op(P, "=")) {
      next(P);
      n->c = testlist(P);
    }
    end_stmt(P);
    return n;
  }
  if (tok_is(o, T_OP, "=")) {
    Node *n = mk(P, N_ASSIGN, o);
    vec_push(&P->c->arena, n->list, lhs);
    Node *rhs = NULL;
    while (is_op(P, "=")) {
      next(P);
      rhs = testlist(P);
      if (is_op(P, "=")) vec_push(&P->c->arena, n->list, rhs);
    }
    n->a = rhs;
    end_stmt(P);
    return n;
  }
  if (o->kind == T_OP && o->len >= 2 && o->s[o->len - 1] == '=' && strchr("+-*/%&|^<>@", o->s[0]) &&
      strcmp(arena_strndup(&P->c->arena, o->s, (size_t)o->len), "==") &&
      !tok_is(o, T_OP, "<=") && !tok_is(o, T_OP, ">=")) {
    next(P);
    Node *n = mk(P, N_AUGASSIGN, o);
    n->op = arena_strndup(&P->c->arena, o->s, (size_t)o->len - 1);
    n->a = lhs;
    n->b = testlist(P);
    end_stmt(P);
    return n;
  }
  if (tok_is(o, T_OP, ":="))
    error_at(P->c, o->line, o->col, "assignment expressions (:=) are not supported in kernels");
  Node *n = mk(P, N_EXPR_STMT, t);
  n->a = lhs;
  end_stmt(P);
  return n;
}

/* for_stmt: 'for' target 'in' test ':' block ['else' ':' block] */
static Node *for_stmt(Parser *P) {
  Tok *t = next(P);
  Node *n = mk(P, N_FOR, t);
  n->a = expr(P);
  if (is_op(P, ",")) error_at(P->c, peek(P)->line, peek(P)->col, "for loops over tuples of targets are not supported in kernels");
  if (!is_kw(P, "in")) fail(P, peek(P), "'in'");
  next(P);
  n->b = test(P);
  expect_op(P, ":");
  block(P, &n->list);
  if (is_kw(P, "else")) error_at(P->c, peek(P)->line, peek(P)->col, "'else' on a loop is not supported in kernels");
  return n;
}

/* while_stmt: 'while' test ':' block */
static Node *while_stmt(Parser *P) {
  Tok *t = next(P);
  Node *n = mk(P, N_WHILE, t);
  n->a = test(P);
  expect_op(P, ":");
  block(P, &n->list);
  if (is_kw(P, "else")) error_at(P->c, peek(P)->line, peek(P)->col, "'else' on a loop is not supported in kernels");
  return n;
}

static Node *def_stmt(Parser *P);

static Node *stmt(Parser *P) {
  if (is_kw(P, "if")) return if_stmt(P);
  if (is_kw(P, "for")) return for_stmt(P);
  if (is_kw(P, "while")) return while_stmt(P);
  if (is_kw(P, "def") || is_op(P, "@"))
    error_at(P->c, peek(P)->line, peek(P)->col, "nested function definitions are not supported in kernels; define a @jit function at module level");
  return simple_stmt(P);
}

/* block: NEWLINE INDENT stmt+ DEDENT | simple_stmt */
static void block(Parser *P, NodeVec *out) {
  deeper(P, peek(P)); /* nested blocks count too */
  if (peek(P)->kind != T_NEWLINE) {
    push_stmts(P, out, simple_stmt(P));
    P->depth--;
    return;
  }
  next(P);
  if (peek(P)->kind != T_INDENT) fail(P, peek(P), "an indented block");
  next(P);
  while (peek(P)->kind != T_DEDENT && peek(P)->kind != T_EOF) push_stmts(P, out, stmt(P));
  next(P);
  P->depth--;
}

/* def_stmt: ('@' test NEWLINE)* 'def' NAME '(' [param (',' param)*] ')' ['->' test] ':' block
 * param: NAME [':' test] ['=' test] */
static Node *def_stmt(Parser *P) {
  Node *decos = NULL;
  while (is_op(P, "@")) {
    Tok *t = next(P);
    if (!decos) decos = mk(P, N_LIST, t);
    vec_push(&P->c->arena, decos->list, test(P));
    end_stmt(P);
  }
  Tok *t = peek(P);
  if (!tok_is(t, T_KEYWORD, "def")) fail(P, t, "'def'");
  next(P);
  Tok *nt = next(P);
  if (nt->kind != T_NAME) fail(P, nt, "a function name");
  Node *n = mk(P, N_DEF, nt);
  n->name = name_of(P, nt);
  n->a = decos;
  expect_op(P, "(");
  while (!is_op(P, ")")) {
    Tok *pt = peek(P);
    if (tok_is(pt, T_OP, "*") || tok_is(pt, T_OP, "**") || tok_is(pt, T_OP, "/"))
      error_at(P->c, pt->line, pt->col, "'%.*s' in a kernel's parameter list is not supported", pt->len, pt->s);
    if (pt->kind != T_NAME) fail(P, pt, "a parameter name");
    next(P);
    Node *p = mk(P, N_PARAM, pt);
    p->name = name_of(P, pt);
    if (is_op(P, ":")) {
      next(P);
      p->a = test(P);
    }
    if (is_op(P, "=")) {
      next(P);
      p->b = test(P);
    }
    for (int i = 0; i < n->list.n; i++)
      if (!strcmp(n->list.v[i]->name, p->name))
        error_at(P->c, pt->line, pt->col, "duplicate parameter '%s'", p->name);
    vec_push(&P->c->arena, n->list, p);
    if (!is_op(P, ",")) break;
    next(P);
  }
  expect_op(P, ")");
  if (is_op(P, "->")) {
    next(P);
    test(P);
  }
  expect_op(P, ":");
  block(P, &n->list2);
  return n;
}

Node *parse_def_at(Ctx *c, TokVec toks, int index) {
  Parser P = {.c = c, .toks = toks, .i = index};
  return def_stmt(&P);
}

Node *parse_expr_at(Ctx *c, TokVec toks, int index) {
  Parser P = {.c = c, .toks = toks, .i = index};
  Node *n = testlist(&P);
  if (peek(&P)->kind != T_NEWLINE && peek(&P)->kind != T_EOF) fail(&P, peek(&P), "end of line");
  return n;
}

/* Skips one top-level statement, with its indented block if it has one. */
static void skip_stmt(Parser *P) {
  while (peek(P)->kind != T_NEWLINE && peek(P)->kind != T_EOF) next(P);
  next(P);
  if (peek(P)->kind == T_INDENT) {
    int depth = 0;
    do {
      Tok *t = next(P);
      if (t->kind == T_INDENT) depth++;
      if (t->kind == T_DEDENT) depth--;
    } while (depth > 0 && peek(P)->kind != T_EOF);
  }
}

static const char *dotted_name(Parser *P) {
  Tok *t = next(P);
  if (t->kind != T_NAME) fail(P, t, "a module name");
  const char *s = name_of(P, t);
  while (is_op(P, ".")) {
    next(P);
    Tok *u = next(P);
    if (u->kind != T_NAME) fail(P, u, "a module name");
    s = arena_printf(&P->c->arena, "%s.%.*s", s, u->len, u->s);
  }
  return s;
}

/* import_stmt: 'import' dotted ['as' NAME] (',' ...)* | 'from' dotted 'import' NAME ['as' NAME] (',' ...)* */
static void import_stmt(Parser *P, Node *mod) {
  Tok *t = next(P);
  bool from = t->s[0] == 'f';
  const char *module = from ? dotted_name(P) : NULL;
  if (from) {
    if (!is_kw(P, "import")) fail(P, peek(P), "'import'");
    next(P);
  }
  bool paren = from && is_op(P, "(");
  if (paren) next(P);
  for (;;) {
    Tok *at = peek(P);
    Node *n = mk(P, N_IMPORT, at);
    if (from) {
      if (is_op(P, "*")) {
        next(P);
        n->name = module;
        n->str = "*";
        n->op = "*";
      } else {
        Tok *nt = next(P);
        if (nt->kind != T_NAME) fail(P, nt, "a name");
        n->name = module;
        n->str = name_of(P, nt);
        n->op = n->str;
      }
    } else {
      n->name = dotted_name(P);
      const char *dot = strchr(n->name, '.');
      n->op = dot ? arena_strndup(&P->c->arena, n->name, (size_t)(dot - n->name)) : n->name;
      if (dot) n->ival = 1; /* `import a.b` binds `a` to the top module */
    }
    if (is_kw(P, "as")) {
      next(P);
      Tok *a = next(P);
      if (a->kind != T_NAME) fail(P, a, "a name");
      n->op = name_of(P, a);
      n->ival = 0;
    }
    vec_push(&P->c->arena, mod->list, n);
    if (!is_op(P, ",")) break;
    next(P);
    if (paren && is_op(P, ")")) break;
  }
  if (paren) expect_op(P, ")");
  end_stmt(P);
}

Node *parse_module(Ctx *c, TokVec toks) {
  Parser P = {.c = c, .toks = toks};
  Node *mod = mk(&P, N_MODULE, peek(&P));
  while (peek(&P)->kind != T_EOF) {
    Tok *t = peek(&P);
    if (t->kind == T_INDENT) {
      /* as Python: an indented line outside a block (it would otherwise be read
       * as a module-level statement) */
      error_at(c, t->line, t->col, "unexpected indent");
    } else if (t->kind == T_NEWLINE || t->kind == T_DEDENT) {
      next(&P);
    } else if (tok_is(t, T_OP, "@") || tok_is(t, T_KEYWORD, "def")) {
      int start = P.i;
      while (is_op(&P, "@")) skip_stmt(&P); /* decorators */
      Tok *d = peek(&P);
      if (!tok_is(d, T_KEYWORD, "def")) { /* a decorated class or similar */
        skip_stmt(&P);
        continue;
      }
      Tok *nt = &P.toks.v[P.i + 1];
      Node *n = mk(&P, N_DEF, nt);
      n->name = name_of(&P, nt);
      n->ival = start;
      vec_push(&c->arena, mod->list, n);
      skip_stmt(&P);
    } else if (tok_is(t, T_KEYWORD, "import") || tok_is(t, T_KEYWORD, "from")) {
      import_stmt(&P, mod);
    } else if (t->kind == T_NAME && (tok_is(&P.toks.v[P.i + 1], T_OP, "=") || tok_is(&P.toks.v[P.i + 1], T_OP, ":"))) {
      Node *n = mk(&P, N_ASSIGN, t);
      n->name = name_of(&P, t);
      next(&P);
      if (is_op(&P, ":")) { /* NAME: annotation = value */
        while (!is_op(&P, "=") && peek(&P)->kind != T_NEWLINE && peek(&P)->kind != T_EOF) next(&P);
      }
      if (is_op(&P, "=")) {
        next(&P);
        n->ival = P.i;
        vec_push(&c->arena, mod->list, n);
      }
      skip_stmt(&P);
    } else {
      skip_stmt(&P);
    }
  }
  return mod;
}

/* ------------------------------------------------------------ printing */

static const char *kind_names[] = {
    "Name", "Int", "Float", "Str", "True", "False", "None", "Tuple", "List", "Attr", "Call",
    "Subscript", "Slice", "BinOp", "Unary", "Compare", "BoolOp", "IfExp", "Kwarg", "Starred",
    "Def", "Param", "Assign", "AugAssign", "AnnAssign", "Expr", "If", "For", "While", "Return",
    "Pass", "Break", "Continue", "Assert", "Import", "Module"};

static void print_node(Buf *b, Node *n, int depth) {
  if (!n) return;
  buf_printf(b, "%*s%s", depth * 2, "", kind_names[n->kind]);
  if (n->op) buf_printf(b, " %s", n->op);
  if (n->name) buf_printf(b, " %s", n->name);
  if (n->kind == N_INT) buf_printf(b, " %lld", (long long)n->ival);
  if (n->kind == N_FLOAT) buf_printf(b, " %.17g", n->fval);
  if (n->kind == N_STR) buf_printf(b, " \"%s\"", n->str);
  buf_printf(b, " @%d:%d\n", n->line, n->col);
  print_node(b, n->a, depth + 1);
  print_node(b, n->b, depth + 1);
  print_node(b, n->c, depth + 1);
  for (int i = 0; i < n->list.n; i++) print_node(b, n->list.v[i], depth + 1);
  if (n->list2.n) buf_printf(b, "%*s--\n", depth * 2 + 2, "");
  for (int i = 0; i < n->list2.n; i++) print_node(b, n->list2.v[i], depth + 1);
}

char *ast_print(Ctx *c, Node *n) {
  Buf b = {0};
  print_node(&b, n, 0);
  char *s = arena_strdup(&c->arena, b.p ? b.p : "");
  buf_free(&b);
  return s;
}
