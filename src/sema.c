/*
 * sema.c: AST -> tile IR.
 *
 * Walks the kernel's statements with an environment of names. A name is bound
 * to a compile-time value (Python int/float/bool/None/str, dtype, module,
 * library function, @jit function, tuple) or to a runtime value (an IR value
 * with its Type). Compile-time arithmetic follows Python (floor division,
 * sign-of-divisor modulo); runtime arithmetic follows Triton: the promotion
 * algorithm of upstream's semantic.py (Python scalars do not widen tensors of
 * the same or a higher kind; scalar kernel arguments are 0-d tensors), C
 * truncating `//` and `%`, `/` always floating, scalar range checks.
 *
 * Calls to other @jit functions are inlined; recursion is refused. Constexpr
 * `if` is decided here; static_range and constexpr-bounded range loops are
 * unrolled. Everything refused is refused with the construct's location.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm.h"

typedef enum VK {
  V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_DTYPE, V_MODULE, V_FUNC, V_JITFN,
  V_TUPLE, V_TENSOR, V_METHOD, V_SLICE,
  V_BLOCKPTR,   /* make_block_ptr: n = rank; items: base, shape[n], strides[n], offsets[n], block[n], order[n] */
  V_TENSORDESC, /* make_tensor_descriptor: n = rank; items: base, shape[n], strides[n], block[n]; i = pad NaN */
  V_HOSTFN,     /* a host function run at compile time: i = index in the request's globals, s = name */
  V_TUPLETYPE   /* a NamedTuple class: calling it makes a named tuple; s = name, fields[n] */
} VK;

typedef struct JitFn JitFn;
typedef struct Val Val;

struct Val {
  VK k;
  bool u64;         /* INT: i holds the bits of a value in [2**63, 2**64) */
  uint8_t tdt;      /* BOOL, INT, FLOAT: 0 for a Python value; else the tm_dtype of the
                       0-d tensor upstream makes of it (a typed constant, see typed()) */
  int64_t i;        /* BOOL, INT; DTYPE: tm_dtype */
  double f;         /* FLOAT */
  const char *s;    /* STR text; MODULE/FUNC canonical path; METHOD name */
  int id;           /* TENSOR: IR value */
  Val *items;       /* TUPLE items; METHOD: items[0] is the receiver */
  const char **fields; /* TUPLE: a named tuple's field names (n of them), else NULL;
                          TUPLETYPE: the class's field names */
  int n;
  JitFn *fn;        /* JITFN */
};

struct JitFn {
  const char *name;
  Node *def;        /* parsed lazily */
  Src src;
  TokVec toks;
  int tok_index;
  Node *module;     /* where its global names resolve */
  bool stdlib;      /* defined in src/stdlib.py: sees only that module */
  int active;       /* being inlined: recursion guard */
};

typedef struct Binding {
  const char *name;
  Val v;
} Binding;

/* A statement list being executed, and the index of the statement running:
 * the continuation of a point in a function is the rest of every frame. */
typedef struct Frame {
  NodeVec body;
  int i;
} Frame;

#define MAX_FRAMES 64

typedef struct Scope {
  VEC(Binding) vars;
  bool returned;
  Val ret;
  bool is_kernel;
  int base_depth;   /* S->depth when the function's body started */
  int loop_depth;   /* device loops of this function around the statement running */
  int unroll_depth; /* static_range loops likewise */
  Frame frames[MAX_FRAMES];
  int nframes;
} Scope;

typedef struct Sema {
  Ctx *c;
  Fn *fn;
  Node *module;      /* the module global names resolve in now */
  TokVec toks;       /* its tokens */
  bool in_stdlib;    /* compiling a function of src/stdlib.py */
  Node *stdlib;      /* src/stdlib.py, scanned on first use */
  TokVec stdlib_toks;
  Src stdlib_src;
  VEC(JitFn *) jitfns;
  JitFn **global_fns;  /* per request global: its @jit function, parsed once (recursion is
                          then caught by JitFn.active, however it is reached) */
  Scope *scope;
  Block *blk;        /* where new instructions go */
  int depth;         /* nesting of runtime control flow */
  int line, col;     /* location of the expression being lowered */
} Sema;

#define ERR(S, ...) error_at((S)->c, (S)->line, (S)->col, __VA_ARGS__)

static Val eval(Sema *S, Node *n);
static void exec_block(Sema *S, NodeVec body);
static bool is_constexpr_annotation(Sema *S, Node *ann);
static bool is_const_annotation(Node *ann);
typedef enum Combine { CB_SUM, CB_PROD, CB_MAX, CB_MIN, CB_XOR, CB_OR, CB_ARGMAX, CB_ARGMIN, CB_USER } Combine;
static Val reduce_axis(Sema *S, Val *in, int n, int axis, Combine cb, JitFn *fn, bool tie_left);
static const char *up_name(tm_dtype dt);
static Val deep_copy(Sema *S, Val v);

/* ------------------------------------------------------------ values */

static Val v_int(int64_t i) { return (Val){.k = V_INT, .i = i}; }
static Val v_bool(bool b) { return (Val){.k = V_BOOL, .i = b}; }
static Val v_float(double f) { return (Val){.k = V_FLOAT, .f = f}; }
static Val v_none(void) { return (Val){.k = V_NONE}; }
static Val v_dtype(tm_dtype dt) { return (Val){.k = V_DTYPE, .i = dt}; }
#define DT_PTR TM_DTYPE_PTR /* a V_DTYPE of a pointer type: i = element dtype | DT_PTR */

static bool is_const(Val v) { return v.k == V_INT || v.k == V_BOOL || v.k == V_FLOAT; }

static Ins *ins_of(Sema *S, Val v) { return &S->fn->ins.v[v.id]; }
static Type ty_of(Sema *S, Val v) { return ins_of(S, v)->ty; }

static Val *arena_memdup_val(Sema *S, Val v) {
  Val *p = arena_alloc(&S->c->arena, sizeof(Val));
  *p = v;
  return p;
}

static const char *vk_name(Sema *S, Val v) {
  switch (v.k) {
  case V_NONE: return "None";
  case V_BOOL: return "bool";
  case V_INT: return "int";
  case V_FLOAT: return "float";
  case V_STR: return "str";
  case V_DTYPE: return "dtype";
  case V_MODULE: return arena_printf(&S->c->arena, "module '%s'", v.s);
  case V_FUNC: return arena_printf(&S->c->arena, "function '%s'", v.s);
  case V_JITFN: return arena_printf(&S->c->arena, "@jit function '%s'", v.fn->name);
  case V_TUPLE: return "tuple";
  case V_TENSOR: return arena_printf(&S->c->arena, "tensor of type %s", type_str(&S->c->arena, ty_of(S, v)));
  case V_METHOD: return "method";
  case V_SLICE: return "slice";
  case V_BLOCKPTR: return "block pointer";
  case V_TENSORDESC: return "tensor descriptor";
  case V_HOSTFN: return "host function";
  case V_TUPLETYPE: return "named tuple class";
  }
  return "value";
}

static int mk_ins(Sema *S, Op op, Type ty, int nargs, int a0, int a1, int a2) {
  int args[3] = {a0, a1, a2};
  Ins in = {.op = (uint8_t)op, .nargs = nargs, .ty = ty, .line = S->line, .col = S->col, .args = args};
  return ir_add(S->c, S->fn, S->blk, in);
}

/* An instruction with any number of arguments. */
static int mk_insv(Sema *S, Op op, Type ty, int nargs, const int *args) {
  Ins in = {.op = (uint8_t)op, .nargs = nargs, .ty = ty, .line = S->line, .col = S->col, .args = (int *)args};
  return ir_add(S->c, S->fn, S->blk, in);
}

static Val tensor(int id) { return (Val){.k = V_TENSOR, .id = id}; }

static void check_device_dtype(Sema *S, tm_dtype dt) {
  if (dt == TM_F64)
    ERR(S, "float64 is not supported on the device (Metal has no double); use float32");
  if (dt == TM_BF16 && !S->c->target->has_bfloat)
    ERR(S, "bfloat16 needs Metal Shading Language 3.1 (macOS 14); the target '%s' offers MSL %d.%d", S->c->target->name,
        S->c->target->msl_version / 100, S->c->target->msl_version / 10 % 10);
  if (dt >= TM_FP8E5 && dt < TM_DT_END)
    ERR(S, "%s: fp8 data is not supported on Apple GPUs (no fp8 arithmetic or conversions); use float16 or bfloat16",
        tm_dtype_name(dt));
  if (dt == TM_VOID || dt >= TM_NDTYPES) ERR(S, "unsupported dtype");
}

/* ------------------------------------------------------------ names */

static void bind(Sema *S, const char *name, Val v) {
  Scope *sc = S->scope;
  for (int i = 0; i < sc->vars.n; i++)
    if (!strcmp(sc->vars.v[i].name, name)) {
      sc->vars.v[i].v = v;
      return;
    }
  Binding b = {name, v};
  vec_push(&S->c->arena, sc->vars, b);
}

static const char *canon_module(Sema *S, const char *path) {
  if (!strncmp(path, "triton_metal", 12)) return arena_printf(&S->c->arena, "triton%s", path + 12);
  return path;
}

static JitFn *jitfn_new(Sema *S, const char *name, Src src, TokVec toks, int index, Node *module) {
  for (int i = 0; i < S->jitfns.n; i++)
    if (S->jitfns.v[i]->toks.v == toks.v && S->jitfns.v[i]->tok_index == index) return S->jitfns.v[i];
  JitFn *f = arena_alloc(&S->c->arena, sizeof(JitFn));
  f->name = name;
  f->src = src;
  f->toks = toks;
  f->tok_index = index;
  f->module = module;
  vec_push(&S->c->arena, S->jitfns, f);
  return f;
}

static bool lookup_request_global(Sema *S, const char *name, Val *out);

static Val from_tm_value(Sema *S, tm_value v) {
  switch (v.kind) {
  case TM_V_NONE: return v_none();
  case TM_V_BOOL: return v_bool(v.i != 0);
  case TM_V_INT: return v_int(v.i);
  case TM_V_FLOAT: return v_float(v.f);
  case TM_V_DTYPE: return v_dtype((tm_dtype)v.i);
  case TM_V_STR: return (Val){.k = V_STR, .s = arena_strdup(&S->c->arena, v.s ? v.s : "")};
  case TM_V_TUPLE: {
    Val t = {.k = V_TUPLE, .n = (int)v.i};
    t.items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(t.n + 1));
    for (int k = 0; k < t.n; k++) t.items[k] = from_tm_value(S, v.items[k]);
    return t;
  }
  case TM_V_GLOBAL: {
    Val g;
    if (!v.s || !lookup_request_global(S, v.s, &g)) ERR(S, "internal: argument global '%s' is missing", v.s ? v.s : "");
    return g;
  }
  }
  return v_none();
}

/* A global from the caller's table. */
static bool lookup_request_global(Sema *S, const char *name, Val *out) {
  const tm_compile_request *r = S->c->req;
  for (int i = 0; i < r->nglobals; i++) {
    const tm_global *g = &r->globals[i];
    if (!g->name || strcmp(g->name, name)) continue;
    switch (g->kind) {
    case TM_G_MODULE: *out = (Val){.k = V_MODULE, .s = canon_module(S, g->target ? g->target : "")}; return true;
    case TM_G_FUNC: *out = (Val){.k = V_FUNC, .s = canon_module(S, g->target ? g->target : "")}; return true;
    case TM_G_VALUE: *out = from_tm_value(S, g->value); return true;
    case TM_G_HOSTFN: *out = (Val){.k = V_HOSTFN, .i = i, .s = g->name}; return true;
    case TM_G_TUPLETYPE: {
      if (g->value.kind != TM_V_TUPLE) return false;
      Val t = {.k = V_TUPLETYPE, .n = (int)g->value.i, .s = g->target ? g->target : g->name};
      t.fields = arena_alloc(&S->c->arena, sizeof(char *) * (size_t)(t.n + 1));
      for (int k = 0; k < t.n; k++) {
        if (g->value.items[k].kind != TM_V_STR) return false;
        t.fields[k] = arena_strdup(&S->c->arena, g->value.items[k].s);
      }
      *out = t;
      return true;
    }
    case TM_G_UNUSABLE:
      ERR(S, "global '%s' is a %s, which kernels cannot use: a kernel may use globals that are numbers, strings, "
             "dtypes, tuples of these, tl.constexpr values, @jit functions or modules",
          name, g->target ? g->target : "Python object");
    case TM_G_JITFN: {
      if (!g->source) return false;
      if (!S->global_fns) {
        S->global_fns = arena_alloc(&S->c->arena, sizeof(JitFn *) * (size_t)(r->nglobals + 1));
        memset(S->global_fns, 0, sizeof(JitFn *) * (size_t)(r->nglobals + 1));
      }
      if (S->global_fns[i]) {
        *out = (Val){.k = V_JITFN, .fn = S->global_fns[i]};
        return true;
      }
      Ctx *c = S->c;
      Src saved = c->src;
      c->src = (Src){.text = arena_strdup(&c->arena, g->source),
                     .filename = arena_strdup(&c->arena, g->file ? g->file : "<jit>"),
                     .first_line = g->line > 0 ? g->line : 1};
      Src src = c->src;
      TokVec toks = lex(c);
      c->src = saved;
      Node *mod = parse_module(c, toks);
      for (int k = 0; k < mod->list.n; k++) {
        Node *e = mod->list.v[k];
        if (e->kind == N_DEF) {
          S->global_fns[i] = jitfn_new(S, e->name, src, toks, (int)e->ival, mod);
          *out = (Val){.k = V_JITFN, .fn = S->global_fns[i]};
          return true;
        }
      }
      return false;
    }
    }
  }
  return false;
}

/* A name defined at the top level of the compiled text (the CLI's file). */
static bool lookup_module_entry(Sema *S, const char *name, Val *out) {
  Node *mod = S->module;
  for (int k = mod->list.n - 1; k >= 0; k--) {
    Node *e = mod->list.v[k];
    if (e->kind == N_IMPORT && e->op && !strcmp(e->op, name)) {
      const char *m = canon_module(S, e->name);
      if (e->str) *out = (Val){.k = V_FUNC, .s = arena_printf(&S->c->arena, "%s.%s", m, e->str)};
      else if (e->ival) *out = (Val){.k = V_MODULE, .s = canon_module(S, e->op)};
      else *out = (Val){.k = V_MODULE, .s = m};
      /* `from triton import language as tl` names a module */
      if (e->str && (!strcmp(out->s, "triton.language") || !strcmp(out->s, "triton.language.math") ||
                     !strcmp(out->s, "triton.language.extra.libdevice")))
        out->k = V_MODULE;
      return true;
    }
    if (e->kind == N_DEF && !strcmp(e->name, name)) {
      *out = (Val){.k = V_JITFN, .fn = jitfn_new(S, e->name, S->c->src, S->toks, (int)e->ival, S->module)};
      out->fn->stdlib = S->in_stdlib;
      return true;
    }
    if (e->kind == N_ASSIGN && !strcmp(e->name, name)) {
      if (e->op) ERR(S, "global '%s' is defined in terms of itself", name);
      e->op = "evaluating"; /* a cycle guard: `X = X + 1` at module level */
      Node *x = parse_expr_at(S->c, S->toks, (int)e->ival);
      Scope *saved = S->scope;
      Scope empty = {0};
      S->scope = &empty;
      Val v = eval(S, x);
      S->scope = saved;
      e->op = NULL;
      if (v.k == V_TENSOR) ERR(S, "global '%s' must be a compile-time constant", name);
      *out = v;
      return true;
    }
  }
  return false;
}

static Val lookup(Sema *S, const char *name) {
  for (Scope *sc = S->scope; sc; sc = NULL)
    for (int i = sc->vars.n - 1; i >= 0; i--)
      if (!strcmp(sc->vars.v[i].name, name)) return sc->vars.v[i].v;
  Val v;
  if (!S->in_stdlib && lookup_request_global(S, name, &v)) return v;
  if (lookup_module_entry(S, name, &v)) return v;
  static const char *builtins[] = {"range", "min", "max", "int", "float", "bool", "len", "print",
                                   "isinstance", "tuple", "str", "getattr", NULL};
  for (int i = 0; builtins[i]; i++)
    if (!strcmp(builtins[i], name)) return (Val){.k = V_FUNC, .s = arena_printf(&S->c->arena, "builtins.%s", name)};
  ERR(S, "name '%s' is not defined", name);
}

/* ------------------------------------------------------------ dtypes */

static const struct {
  const char *name;
  tm_dtype dt;
} dtype_names[] = {
    {"int1", TM_I1}, {"int8", TM_I8}, {"int16", TM_I16}, {"int32", TM_I32}, {"int64", TM_I64},
    {"uint8", TM_U8}, {"uint16", TM_U16}, {"uint32", TM_U32}, {"uint64", TM_U64},
    {"float16", TM_F16}, {"bfloat16", TM_BF16}, {"float32", TM_F32}, {"float64", TM_F64},
    {"bool", TM_I1}, {"half", TM_F16}, {"float", TM_F32}, {"double", TM_F64},
    {"float8e5", TM_FP8E5}, {"float8e5b16", TM_FP8E5B16}, {"float8e4nv", TM_FP8E4NV}, {"float8e4b8", TM_FP8E4B8},
    {"float8e4b15", TM_FP8E4B15}, {NULL, TM_VOID}};

static bool dtype_by_name(const char *name, tm_dtype *dt) {
  for (int i = 0; dtype_names[i].name; i++)
    if (!strcmp(dtype_names[i].name, name)) {
      *dt = dtype_names[i].dt;
      return true;
    }
  return false;
}

/* Kind order of upstream's dtype.kind(): bool < int < float. */
static int dt_kind(tm_dtype dt) { return dt == TM_I1 ? 0 : dt_is_int(dt) ? 1 : 2; }

/* The dtype a Python literal takes when it meets the device (semantic.py to_tensor_type). */
static tm_dtype literal_dtype(Sema *S, Val v) {
  if (v.k == V_BOOL) return TM_I1;
  if (v.k == V_INT) {
    if (v.u64) return TM_U64;
    if (v.i >= INT32_MIN && v.i <= INT32_MAX) return TM_I32;
    if (v.i >= 0 && v.i <= (int64_t)UINT32_MAX) return TM_U32;
    return TM_I64;
  }
  if (v.k == V_FLOAT) {
    double a = fabs(v.f);
    if (v.f == 0 || isinf(v.f) || isnan(v.f) || (a >= 0x1p-126 && a <= 3.4028234663852886e38)) return TM_F32;
    return TM_F64;
  }
  ERR(S, "%s cannot be used as a device value", vk_name(S, v));
}

/* C's usual arithmetic conversions on two integer dtypes (integer_promote_impl). */
static tm_dtype integer_promote(tm_dtype a, tm_dtype b) {
  int ab = dt_bits(a), bb = dt_bits(b);
  bool as = dt_is_signed(a), bs = dt_is_signed(b);
  if (as == bs) return ab >= bb ? a : b;
  if (!as && ab >= bb) return a;
  if (!bs && bb >= ab) return b;
  return as ? a : b;
}

/* computation_type_impl: the dtype both operands of a binary op are cast to. */
static tm_dtype computation_type(Sema *S, tm_dtype a, bool a_py, tm_dtype b, bool b_py, bool divmod) {
  if (a_py != b_py) {
    tm_dtype tensor = a_py ? b : a, scalar = a_py ? a : b;
    if (dt_kind(scalar) <= dt_kind(tensor)) {
      if (divmod && (tensor == TM_F16 || tensor == TM_BF16)) return TM_F32;
      return tensor;
    }
  }
  if (a == TM_F64 || b == TM_F64) return TM_F64;
  if (a == TM_F32 || b == TM_F32) return TM_F32;
  if (a == TM_F16 || b == TM_F16) return divmod ? TM_F32 : TM_F16;
  if (a == TM_BF16 && b == TM_BF16) return divmod ? TM_F32 : TM_BF16;
  if (a == TM_BF16 || b == TM_BF16) return TM_F32;
  if (divmod && dt_is_signed(a) != dt_is_signed(b))
    ERR(S, "Cannot use /, //, or %% with %s and %s because they have different signedness; cast one of them first", tm_dtype_name(a),
        tm_dtype_name(b));
  return integer_promote(a, b);
}

/* ------------------------------------------------------------ runtime values */

static int make_const(Sema *S, Val v, tm_dtype dt) {
  check_device_dtype(S, dt);
  Ins in = {.op = O_CONST, .ty = type_scalar(dt), .line = S->line, .col = S->col};
  if (dt_is_float(dt)) in.fimm = v.k == V_FLOAT ? v.f : (double)v.i;
  else if (dt == TM_I1) in.imm = v.k == V_FLOAT ? v.f != 0 : v.i != 0;
  else in.imm = v.k == V_FLOAT ? (int64_t)v.f : v.i;
  return ir_add(S->c, S->fn, S->blk, in);
}

/* Range check of a Python int meeting an integer dtype (upstream raises ValueError). */
static void check_scalar_range(Sema *S, Val v, tm_dtype dt) {
  if (v.k != V_INT || !dt_is_int(dt) || dt == TM_I1) return;
  if (v.u64) {
    if (dt != TM_U64) ERR(S, "scalar %llu is out of range for type %s", (unsigned long long)v.i, tm_dtype_name(dt));
    return;
  }
  int bits = dt_bits(dt);
  if (dt_is_signed(dt)) {
    int64_t lo = bits == 64 ? INT64_MIN : -(INT64_C(1) << (bits - 1));
    int64_t hi = bits == 64 ? INT64_MAX : (INT64_C(1) << (bits - 1)) - 1;
    if (v.i < lo || v.i > hi) ERR(S, "scalar %lld is out of range for type %s", (long long)v.i, tm_dtype_name(dt));
  } else {
    if (v.i < 0) ERR(S, "scalar %lld is out of range for type %s (negative value with an unsigned type)", (long long)v.i, tm_dtype_name(dt));
    if (bits < 64 && v.i > (int64_t)((UINT64_C(1) << bits) - 1))
      ERR(S, "scalar %lld is out of range for type %s", (long long)v.i, tm_dtype_name(dt));
  }
}

static Val cast_to(Sema *S, Val v, tm_dtype dt);
static Val compare(Sema *S, const char *op, Val a, Val b);

/* Any compile-time scalar or tensor as a tensor (literal typing for constants). */
static Val to_tensor(Sema *S, Val v) {
  if (v.k == V_TENSOR) return v;
  if (!is_const(v)) ERR(S, "%s cannot be used as a device value", vk_name(S, v));
  return tensor(make_const(S, v, v.tdt ? (tm_dtype)v.tdt : literal_dtype(S, v)));
}

static Val cast_to(Sema *S, Val v, tm_dtype dt) {
  if (v.k != V_TENSOR && v.tdt && v.tdt != dt) v = to_tensor(S, v); /* a typed constant converts as a tensor */
  if (v.k != V_TENSOR) {
    if (!v.tdt) check_scalar_range(S, v, dt);
    return tensor(make_const(S, v, dt));
  }
  Type t = ty_of(S, v);
  if (t.ptr && dt == TM_I1) { /* as upstream: a pointer is true where its address is not 0 (`if p:`) */
    Type it = t;
    it.ptr = 0;
    it.dt = TM_I64;
    return compare(S, "!=", tensor(mk_ins(S, O_CAST, it, 1, v.id, 0, 0)), v_int(0));
  }
  if (t.ptr) ERR(S, "cannot convert a pointer to %s", tm_dtype_name(dt));
  if (t.dt == dt) return v;
  check_device_dtype(S, dt);
  Type r = t;
  r.dt = (uint8_t)dt;
  return tensor(mk_ins(S, O_CAST, r, 1, v.id, 0, 0));
}

static Val expand_dims(Sema *S, Val v, int axis) {
  Type t = ty_of(S, v);
  if (axis < 0) axis += t.rank + 1;
  if (axis < 0 || axis > t.rank)
    ERR(S, "expand_dims: invalid axis %d; a block of rank %d takes %d <= axis < %d", axis < 0 ? axis - t.rank - 1 : axis, t.rank,
        -t.rank - 1, t.rank + 1);
  if (t.rank + 1 > TM_MAX_RANK) ERR(S, "blocks of rank above %d are not supported", TM_MAX_RANK);
  if (!t.rank) {
    int32_t one[1] = {1};
    return tensor(mk_ins(S, O_SPLAT, type_block(t, 1, one), 1, v.id, 0, 0));
  }
  int32_t shape[TM_MAX_RANK];
  for (int i = 0, k = 0; i <= t.rank; i++) shape[i] = i == axis ? 1 : t.shape[k++];
  int id = mk_ins(S, O_EXPAND_DIMS, type_block(type_elem(t), t.rank + 1, shape), 1, v.id, 0, 0);
  S->fn->ins.v[id].aux = (int16_t)axis;
  return tensor(id);
}

/* NumPy broadcasting of v to exactly the shape of `to` (rank padding on the left). */
static Val broadcast_to(Sema *S, Val v, Type to) {
  Type t = ty_of(S, v);
  if (t.rank == 0) {
    if (!to.rank) return v;
    return tensor(mk_ins(S, O_SPLAT, type_block(t, to.rank, to.shape), 1, v.id, 0, 0));
  }
  if (t.rank > to.rank)
    ERR(S, "cannot broadcast %s to shape of %s", type_str(&S->c->arena, t), type_str(&S->c->arena, to));
  while (t.rank < to.rank) {
    v = expand_dims(S, v, 0);
    t = ty_of(S, v);
  }
  bool same = true;
  for (int i = 0; i < t.rank; i++) {
    if (t.shape[i] == to.shape[i]) continue;
    if (t.shape[i] != 1)
      ERR(S, "cannot broadcast %s to shape of %s", type_str(&S->c->arena, ty_of(S, v)), type_str(&S->c->arena, to));
    same = false;
  }
  if (same) return v;
  return tensor(mk_ins(S, O_BROADCAST, type_block(type_elem(t), to.rank, to.shape), 1, v.id, 0, 0));
}

/* broadcast_to for a value meeting a pointer (load/store/atomic operands) or
 * tl.broadcast_to: as upstream's broadcast_impl_shape, a block must already
 * have the target's rank (a scalar is splat). */
static Val broadcast_exact(Sema *S, Val v, Type to) {
  Type t = ty_of(S, v);
  if (t.rank && t.rank != to.rank) {
    const char *a = "", *b = "";
    for (int i = 0; i < t.rank; i++) a = arena_printf(&S->c->arena, "%s%s%d", a, i ? ", " : "", t.shape[i]);
    for (int i = 0; i < to.rank; i++) b = arena_printf(&S->c->arena, "%s%s%d", b, i ? ", " : "", to.shape[i]);
    ERR(S, "Cannot broadcast, rank mismatch: [%s], [%s]", a, b);
  }
  return broadcast_to(S, v, to);
}

/* Broadcasts two tensors against each other (NumPy rules). */
static void broadcast_pair(Sema *S, Val *a, Val *b) {
  Type ta = ty_of(S, *a), tb = ty_of(S, *b);
  if (!ta.rank && !tb.rank) return;
  int r = ta.rank > tb.rank ? ta.rank : tb.rank;
  int32_t shape[TM_MAX_RANK];
  for (int i = 0; i < r; i++) {
    int ia = i - (r - ta.rank), ib = i - (r - tb.rank);
    int sa = ia >= 0 ? ta.shape[ia] : 1, sb = ib >= 0 ? tb.shape[ib] : 1;
    if (sa != sb && sa != 1 && sb != 1)
      ERR(S, "cannot make shapes compatible: %s and %s", type_str(&S->c->arena, ta), type_str(&S->c->arena, tb));
    shape[i] = sa > sb ? sa : sb;
  }
  *a = broadcast_to(S, *a, type_block(type_elem(ta), r, shape));
  *b = broadcast_to(S, *b, type_block(type_elem(tb), r, shape));
}

static Type with_dt(Type t, tm_dtype dt) {
  t.dt = (uint8_t)dt;
  t.ptr = 0;
  return t;
}

static tm_dtype val_dtype(Sema *S, Val v, bool *is_py) {
  *is_py = v.k != V_TENSOR && !v.tdt;
  if (v.k != V_TENSOR) return v.tdt ? (tm_dtype)v.tdt : literal_dtype(S, v);
  Type t = ty_of(S, v);
  return (tm_dtype)t.dt;
}

/* Brings both operands to their computation dtype and a common shape. */
static tm_dtype unify(Sema *S, Val *a, Val *b, bool divmod) {
  bool apy, bpy;
  tm_dtype da = val_dtype(S, *a, &apy), db = val_dtype(S, *b, &bpy);
  tm_dtype dt = computation_type(S, da, apy, db, bpy, divmod);
  check_device_dtype(S, dt);
  *a = cast_to(S, *a, dt);
  *b = cast_to(S, *b, dt);
  broadcast_pair(S, a, b);
  return dt;
}

static Val binop_ptr(Sema *S, const char *op, Val a, Val b) {
  bool a_ptr = a.k == V_TENSOR && ty_of(S, a).ptr;
  if (!strcmp(op, "-") && !a_ptr) ERR(S, "cannot subtract a pointer from a value");
  if (strcmp(op, "+") && strcmp(op, "-")) ERR(S, "operator '%s' is not defined for pointers", op);
  Val p = a_ptr ? a : b, off = a_ptr ? b : a;
  off = to_tensor(S, off);
  Type to = ty_of(S, off);
  if (to.ptr) ERR(S, "cannot add two pointers");
  if (!dt_is_int((tm_dtype)to.dt)) ERR(S, "pointer offsets must be integers, not %s", tm_dtype_name((tm_dtype)to.dt));
  if (to.dt == TM_I1) off = cast_to(S, off, TM_I32); /* a bool offset counts 0 or 1, as upstream (zero-extended) */
  if (!strcmp(op, "-")) off = tensor(mk_ins(S, O_NEG, ty_of(S, off), 1, off.id, 0, 0));
  broadcast_pair(S, &p, &off);
  return tensor(mk_ins(S, O_ADDPTR, ty_of(S, p), 2, p.id, off.id, 0));
}

/* Compile-time arithmetic with Python semantics. */
static __int128 ival128(Val v) { return v.u64 ? (__int128)(uint64_t)v.i : (__int128)v.i; }

/* A compile-time integer result: int64, or [2**63, 2**64) marked u64 (typed uint64). */
static Val v_int128(Sema *S, __int128 r) {
  if (r >= INT64_MIN && r <= INT64_MAX) return v_int((int64_t)r);
  if (r >= 0 && r <= (__int128)UINT64_MAX) {
    Val v = v_int((int64_t)(uint64_t)r);
    v.u64 = true;
    return v;
  }
  ERR(S, "compile-time integer arithmetic leaves the 64-bit range");
}

static Val fold_binop(Sema *S, const char *op, Val a, Val b) {
  bool fl = a.k == V_FLOAT || b.k == V_FLOAT;
  double x = a.k == V_FLOAT ? a.f : (double)a.i, y = b.k == V_FLOAT ? b.f : (double)b.i;
  int64_t p = a.i, q = b.i, r;
  if (!strcmp(op, "/")) {
    if (y == 0) ERR(S, "division by zero");
    return v_float(x / y);
  }
  if (fl) {
    if (!strcmp(op, "+")) return v_float(x + y);
    if (!strcmp(op, "-")) return v_float(x - y);
    if (!strcmp(op, "*")) return v_float(x * y);
    if (!strcmp(op, "**")) return v_float(pow(x, y));
    if (!strcmp(op, "//") || !strcmp(op, "%")) { /* CPython's float_divmod */
      if (y == 0) ERR(S, "float division by zero");
      double m = fmod(x, y), d = (x - m) / y;
      if (m != 0 && ((y < 0) != (m < 0))) {
        m += y;
        d -= 1.0;
      }
      if (m == 0) m = copysign(0.0, y);
      double fd = floor(d);
      if (d != 0 && d - fd > 0.5) fd += 1.0;
      if (d == 0) fd = copysign(0.0, x / y);
      return !strcmp(op, "%") ? v_float(m) : v_float(fd);
    }
    ERR(S, "unsupported operand types for %s: float", op);
  }
  /* integers: Python semantics within [-2**63, 2**64) */
  __int128 P = ival128(a), Q = ival128(b), R;
  (void)p;
  (void)q;
  (void)r;
  if (!strcmp(op, "+")) return v_int128(S, P + Q);
  if (!strcmp(op, "-")) return v_int128(S, P - Q);
  if (!strcmp(op, "*")) {
    if (__builtin_mul_overflow(P, Q, &R)) goto overflow;
    return v_int128(S, R);
  }
  if (!strcmp(op, "//") || !strcmp(op, "%")) {
    if (Q == 0) ERR(S, "integer division or modulo by zero");
    __int128 d = P / Q, m = P % Q;
    if (m != 0 && ((m < 0) != (Q < 0))) {
      d -= 1;
      m += Q;
    }
    return v_int128(S, !strcmp(op, "%") ? m : d);
  }
  if (!strcmp(op, "**")) {
    if (Q < 0) return v_float(pow(x, y));
    __int128 acc = 1;
    for (__int128 i = 0; i < Q; i++)
      if (__builtin_mul_overflow(acc, P, &acc) || acc > (__int128)UINT64_MAX || acc < (__int128)INT64_MIN) goto overflow;
    return v_int128(S, acc);
  }
  bool both_bool = a.k == V_BOOL && b.k == V_BOOL;
  if (!strcmp(op, "&")) return both_bool ? v_bool(P & Q) : v_int128(S, P & Q);
  if (!strcmp(op, "|")) return both_bool ? v_bool(P | Q) : v_int128(S, P | Q);
  if (!strcmp(op, "^")) return both_bool ? v_bool(P ^ Q) : v_int128(S, P ^ Q);
  if (!strcmp(op, "<<")) {
    if (Q < 0) ERR(S, "negative shift count");
    if (Q > 64) goto overflow;
    return v_int128(S, P * ((__int128)1 << Q));
  }
  if (!strcmp(op, ">>")) {
    if (Q < 0) ERR(S, "negative shift count");
    return v_int128(S, Q >= 127 ? (P < 0 ? -1 : 0) : P >> Q);
  }
  ERR(S, "unsupported operator '%s' on compile-time values", op);
overflow:
  ERR(S, "compile-time integer arithmetic overflows 64 bits");
}

/* ---- typed constants ----
 * Upstream makes a 0-d tensor of every Python value assigned to a name or
 * returned by a helper (semantic.py to_tensor: int32, uint32, int64 or uint64 by
 * range; fp32, or fp64 beyond fp32's range). We keep such a value a compile-time
 * constant that carries that dtype in Val.tdt, so that it promotes as the tensor
 * it is upstream (int8_block * n is int32, fp16_block * scale is fp32), computes
 * in its dtype (int32 arithmetic wraps), and stays usable where a compile-time
 * integer is needed (where upstream would refuse it). Arithmetic on typed
 * constants folds here when the result is defined and exactly computable (ints of
 * at most 64 bits, fp32 and fp64); anything else becomes device code. */

static Val typed(Sema *S, Val v) {
  if (S->in_stdlib) return v; /* src/stdlib.py is written with Python values in mind */
  if (is_const(v)) {
    if (!v.tdt) v.tdt = (uint8_t)literal_dtype(S, v);
    return v;
  }
  if (v.k == V_TUPLE) {
    Val *items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(v.n + 1));
    for (int i = 0; i < v.n; i++) items[i] = typed(S, v.items[i]);
    v.items = items;
  }
  return v;
}

/* x reduced to dtype dt's range as the device's integer conversions do: the low
 * bits, read as dt's signedness; int1 is x != 0. */
static __int128 wrap_int(__int128 x, tm_dtype dt) {
  if (dt == TM_I1) return x != 0;
  int bits = dt_bits(dt);
  unsigned __int128 u = (unsigned __int128)x & ((((unsigned __int128)1) << bits) - 1);
  if (dt_is_signed(dt) && ((u >> (bits - 1)) & 1)) return (__int128)u - ((__int128)1 << bits);
  return (__int128)u;
}

/* The value of constant v as an integer of dtype dt (C conversion: wraps), or
 * false when that conversion is undefined (a float out of dt's range, NaN). */
static bool const_as_int(Val v, tm_dtype dt, __int128 *out) {
  __int128 x;
  if (v.k == V_FLOAT) {
    if (isnan(v.f) || fabs(v.f) >= 0x1p64) return false;
    x = (__int128)v.f; /* truncation toward zero */
    int bits = dt_bits(dt);
    __int128 lo = dt_is_signed(dt) ? -((__int128)1 << (bits - 1)) : 0;
    __int128 hi = dt_is_signed(dt) ? ((__int128)1 << (bits - 1)) - 1 : ((__int128)1 << bits) - 1;
    if (dt == TM_I1) return false;
    if (x < lo || x > hi) return false;
  } else {
    x = ival128(v);
  }
  *out = wrap_int(x, dt);
  return true;
}

static Val typed_int(tm_dtype dt, __int128 x) {
  Val v = dt == TM_I1 ? v_bool(x != 0) : v_int((int64_t)(uint64_t)x);
  v.u64 = dt == TM_U64 && x > INT64_MAX;
  v.tdt = (uint8_t)dt;
  return v;
}

static Val typed_float(tm_dtype dt, double f) {
  Val v = v_float(dt == TM_F32 ? (double)(float)f : f);
  v.tdt = (uint8_t)dt;
  return v;
}

/* The value of constant v in float dtype dt (fp32: rounded to it). */
static double const_as_float(Val v, tm_dtype dt) {
  double x = v.k == V_FLOAT ? v.f : v.u64 ? (double)(uint64_t)v.i : (double)v.i;
  return dt == TM_F32 ? (double)(float)x : x;
}

static bool foldable_dtype(tm_dtype dt) {
  return dt == TM_I1 || dt_is_int(dt) || dt == TM_F32 || dt == TM_F64;
}

/* op on two constants at least one of which is typed; *ok false: not folded. */
static Val typed_fold(Sema *S, const char *op, Val a, Val b, bool *ok) {
  bool apy, bpy, divmod = !strcmp(op, "/") || !strcmp(op, "//") || !strcmp(op, "%");
  tm_dtype da = val_dtype(S, a, &apy), db = val_dtype(S, b, &bpy);
  *ok = false;
  if (!strcmp(op, "**") || !strcmp(op, "@")) return a;
  tm_dtype dt = computation_type(S, da, apy, db, bpy, divmod);
  if (!apy) check_device_dtype(S, da);
  if (!bpy) check_device_dtype(S, db);
  if (apy) check_scalar_range(S, a, dt);
  if (bpy) check_scalar_range(S, b, dt);
  if (!strcmp(op, "/") && !dt_is_float(dt)) dt = TM_F32;
  if (!foldable_dtype(dt)) return a;
  if (dt_is_float(dt)) {
    double x = const_as_float(a, dt), y = const_as_float(b, dt);
    if (!strcmp(op, "+")) x = x + y;
    else if (!strcmp(op, "-")) x = x - y;
    else if (!strcmp(op, "*")) x = x * y;
    else if (!strcmp(op, "/")) x = x / y;
    else if (!strcmp(op, "%")) x = fmod(x, y);
    else return a; /* //, bitwise: the device path says what is wrong */
    *ok = true;
    return typed_float(dt, x);
  }
  __int128 x, y, r;
  if (!const_as_int(a, dt, &x) || !const_as_int(b, dt, &y)) return a;
  int bits = dt == TM_I1 ? 1 : dt_bits(dt);
  if (!strcmp(op, "+")) r = x + y;
  else if (!strcmp(op, "-")) r = x - y;
  else if (!strcmp(op, "*")) {
    if (__builtin_mul_overflow(x, y, &r)) return a;
  } else if (!strcmp(op, "//") || !strcmp(op, "%")) {
    if (y == 0) return a; /* undefined on the device: left to it */
    if (dt_is_signed(dt) && y == -1 && x == -((__int128)1 << (bits - 1))) return a;
    r = !strcmp(op, "//") ? x / y : x % y; /* C: truncating, as the device */
  } else if (!strcmp(op, "&")) r = x & y;
  else if (!strcmp(op, "|")) r = x | y;
  else if (!strcmp(op, "^")) r = x ^ y;
  else if (!strcmp(op, "<<") || !strcmp(op, ">>")) {
    if (y < 0 || y >= bits) return a; /* poison on the device */
    if (op[0] == '<') r = (__int128)((unsigned __int128)x << y);
    else if (dt_is_signed(apy && !bpy ? db : da)) { /* arithmetic: the shifted value's own signedness */
      __int128 sx = x;
      if (!dt_is_signed(dt) && (x >> (bits - 1)) & 1) sx = x - ((__int128)1 << bits);
      r = sx >> y;
    } else {
      r = (__int128)(((unsigned __int128)x & ((((unsigned __int128)1) << bits) - 1)) >> y);
    }
  } else return a;
  *ok = true;
  return typed_int(dt, wrap_int(r, dt));
}

/* a compare b on constants at least one of which is typed (in their computation type). */
static Val typed_compare(Sema *S, int k, Val a, Val b, bool *ok) {
  bool apy, bpy;
  tm_dtype da = val_dtype(S, a, &apy), db = val_dtype(S, b, &bpy);
  tm_dtype dt = computation_type(S, da, apy, db, bpy, false);
  *ok = false;
  if (apy) check_scalar_range(S, a, dt);
  if (bpy) check_scalar_range(S, b, dt);
  if (!foldable_dtype(dt)) return a;
  bool r;
  if (dt_is_float(dt)) {
    double x = const_as_float(a, dt), y = const_as_float(b, dt);
    r = k == 0 ? x == y : k == 1 ? x != y : k == 2 ? x < y : k == 3 ? x <= y : k == 4 ? x > y : x >= y;
  } else {
    __int128 x, y;
    if (!const_as_int(a, dt, &x) || !const_as_int(b, dt, &y)) return a;
    r = k == 0 ? x == y : k == 1 ? x != y : k == 2 ? x < y : k == 3 ? x <= y : k == 4 ? x > y : x >= y;
  }
  *ok = true;
  return typed_int(TM_I1, r);
}

static Val binop(Sema *S, const char *op, Val a, Val b) {
  if (is_const(a) && is_const(b)) {
    if (!a.tdt && !b.tdt) return fold_binop(S, op, a, b);
    bool ok;
    Val r = typed_fold(S, op, a, b, &ok);
    if (ok) return r;
    a = to_tensor(S, a); /* not folded: computed on the device, as upstream */
    b = to_tensor(S, b);
  }
  if (a.k == V_TUPLE && b.k == V_TUPLE && !strcmp(op, "+")) { /* concatenation */
    Val r = {.k = V_TUPLE, .n = a.n + b.n};
    r.items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(r.n + 1));
    for (int i = 0; i < a.n; i++) r.items[i] = a.items[i];
    for (int i = 0; i < b.n; i++) r.items[a.n + i] = b.items[i];
    return r;
  }
  if ((a.k == V_TUPLE && b.k == V_INT) || (a.k == V_INT && b.k == V_TUPLE)) {
    if (strcmp(op, "*")) ERR(S, "unsupported operand types for %s: tuple and int", op);
    Val t = a.k == V_TUPLE ? a : b;
    int64_t k = a.k == V_INT ? a.i : b.i;
    if (k < 0) k = 0;
    if (k * t.n > 4096) ERR(S, "tuple repetition too long");
    Val r = {.k = V_TUPLE, .n = (int)(k * t.n)};
    r.items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(r.n + 1));
    for (int i = 0; i < r.n; i++) r.items[i] = t.items[i % t.n];
    return r;
  }
  if ((a.k == V_TENSOR && ty_of(S, a).ptr) || (b.k == V_TENSOR && ty_of(S, b).ptr)) return binop_ptr(S, op, a, b);
  if ((a.k != V_TENSOR && !is_const(a)) || (b.k != V_TENSOR && !is_const(b)))
    ERR(S, "unsupported operand types for %s: %s and %s", op, vk_name(S, a), vk_name(S, b));
  static const struct {
    const char *op;
    Op ir;
  } arith[] = {{"+", O_ADD}, {"-", O_SUB}, {"*", O_MUL}, {"&", O_AND}, {"|", O_OR}, {"^", O_XOR}, {"<<", O_SHL}, {">>", O_SHR}};
  if (!strcmp(op, "/")) {
    tm_dtype dt = unify(S, &a, &b, true);
    if (!dt_is_float(dt)) {
      dt = TM_F32;
      a = cast_to(S, a, dt);
      b = cast_to(S, b, dt);
    }
    return tensor(mk_ins(S, O_DIV, ty_of(S, a), 2, a.id, b.id, 0));
  }
  if (!strcmp(op, "//") || !strcmp(op, "%")) {
    tm_dtype dt = unify(S, &a, &b, true);
    if (!strcmp(op, "//") && dt_is_float(dt))
      ERR(S, "floor division '//' is not defined for floating-point values (%s); use '/' and tl.floor", tm_dtype_name(dt));
    return tensor(mk_ins(S, !strcmp(op, "//") ? O_DIV : O_REM, ty_of(S, a), 2, a.id, b.id, 0));
  }
  if (!strcmp(op, "**")) ERR(S, "'**' on device values is not supported; use tl.exp/tl.log or libdevice.pow");
  if (!strcmp(op, "@")) ERR(S, "'@' is not supported; use tl.dot");
  for (size_t i = 0; i < sizeof arith / sizeof arith[0]; i++) {
    if (strcmp(op, arith[i].op)) continue;
    bool bitwise = i >= 3;
    /* >> is arithmetic when the shifted tensor's own dtype is signed, whatever
     * dtype both operands are promoted to (upstream's tensor.__rshift__) */
    bool apy, bpy;
    tm_dtype da = val_dtype(S, a, &apy), db = val_dtype(S, b, &bpy);
    bool arith_shift = dt_is_signed(apy && !bpy ? db : da);
    tm_dtype dt = unify(S, &a, &b, false);
    if (bitwise && !dt_is_int(dt))
      ERR(S, "invalid operands of type %s for operator '%s': bitwise operators need integers", tm_dtype_name(dt), op);
    int id = mk_ins(S, arith[i].ir, ty_of(S, a), 2, a.id, b.id, 0);
    if (arith[i].ir == O_SHR) S->fn->ins.v[id].aux = arith_shift;
    return tensor(id);
  }
  ERR(S, "unsupported operator '%s'", op);
}

static Val compare(Sema *S, const char *op, Val a, Val b) {
  static const char *ops[] = {"==", "!=", "<", "<=", ">", ">="};
  int k = -1;
  for (int i = 0; i < 6; i++)
    if (!strcmp(op, ops[i])) k = i;
  if (!strcmp(op, "in") || !strcmp(op, "not in")) {
    if (b.k != V_TUPLE) ERR(S, "'%s' needs a tuple on its right", op);
    bool found = false;
    for (int i = 0; i < b.n && !found; i++) {
      Val c = compare(S, "==", a, b.items[i]);
      if (c.k != V_BOOL) ERR(S, "'%s' on device values is not supported", op);
      found = c.i;
    }
    return v_bool(op[0] == 'i' ? found : !found);
  }
  if (!strcmp(op, "is") || !strcmp(op, "is not")) {
    if (a.k == V_TENSOR || b.k == V_TENSOR) { /* decided at compile time: a device value is never None */
      if (a.k != V_NONE && b.k != V_NONE) ERR(S, "'%s' between device values is not supported", op);
      return v_bool(op[2] != 0);
    }
    bool same = a.k == b.k && (a.k == V_NONE || ((a.k == V_BOOL || a.k == V_INT || a.k == V_DTYPE) && a.i == b.i));
    return v_bool(op[2] ? !same : same);
  }
  if (k < 0) ERR(S, "operator '%s' is not supported in kernels", op);
  if (is_const(a) && is_const(b) && (a.tdt || b.tdt)) {
    bool ok;
    Val r = typed_compare(S, k, a, b, &ok);
    if (ok) return r;
    a = to_tensor(S, a);
    b = to_tensor(S, b);
  }
  if (is_const(a) && is_const(b)) {
    double x = a.k == V_FLOAT ? a.f : (double)a.i, y = b.k == V_FLOAT ? b.f : (double)b.i;
    bool fl = a.k == V_FLOAT || b.k == V_FLOAT;
    __int128 P = ival128(a), Q = ival128(b);
    if (fl && a.u64) x = (double)(uint64_t)a.i;
    if (fl && b.u64) y = (double)(uint64_t)b.i;
    bool r = fl ? (k == 0 ? x == y : k == 1 ? x != y : k == 2 ? x < y : k == 3 ? x <= y : k == 4 ? x > y : x >= y)
                : (k == 0 ? P == Q : k == 1 ? P != Q : k == 2 ? P < Q : k == 3 ? P <= Q : k == 4 ? P > Q : P >= Q);
    return v_bool(r);
  }
  if (a.k == V_TUPLE && b.k == V_TUPLE && k <= 1) { /* shapes: a.shape == [16, 32] */
    bool same = a.n == b.n;
    for (int i = 0; i < a.n && same; i++) {
      Val c = compare(S, "==", a.items[i], b.items[i]);
      if (c.k != V_BOOL) ERR(S, "cannot compare tuples holding device values");
      same = c.i != 0;
    }
    return v_bool(k == 0 ? same : !same);
  }
  if ((a.k == V_DTYPE && b.k == V_DTYPE) || (a.k == V_STR && b.k == V_STR) || (a.k == V_NONE || b.k == V_NONE)) {
    bool same = a.k == b.k && (a.k == V_STR ? !strcmp(a.s, b.s) : a.i == b.i);
    if (k == 0) return v_bool(same);
    if (k == 1) return v_bool(!same);
  }
  if ((a.k != V_TENSOR && !is_const(a)) || (b.k != V_TENSOR && !is_const(b)))
    ERR(S, "cannot compare %s and %s", vk_name(S, a), vk_name(S, b));
  if ((a.k == V_TENSOR && ty_of(S, a).ptr) || (b.k == V_TENSOR && ty_of(S, b).ptr))
    ERR(S, "comparisons of pointers are not supported");
  unify(S, &a, &b, false);
  int id = mk_ins(S, O_CMP, with_dt(ty_of(S, a), TM_I1), 2, a.id, b.id, 0);
  S->fn->ins.v[id].aux = (int16_t)k;
  return tensor(id);
}

static bool truthy(Sema *S, Val v) {
  switch (v.k) {
  case V_NONE: return false;
  case V_BOOL: case V_INT: return v.i != 0;
  case V_FLOAT: return v.f != 0;
  case V_STR: return v.s[0] != 0;
  case V_TUPLE: return v.n != 0;
  case V_TENSOR:
    ERR(S, "a condition on a device value is not supported here yet; conditions must be compile-time constants (tl.constexpr)");
  default: return true;
  }
}

static void device_assert(Sema *S, Val c, const char *msg, Val mask);

/* a + b, a - b, a * b with upstream's overflow sanitizer: in debug mode an
 * integer result narrower than 64 bits is also computed in int64 and a
 * device assert checks it fits the result's type ("int32 overflow detected
 * for operation add"). sanitize=false: tl.add(..., sanitize_overflow=False). */
static Val arith(Sema *S, const char *op, Val a, Val b, bool sanitize) {
  Val r = binop(S, op, a, b);
  if (!sanitize || !S->c->req->debug || r.k != V_TENSOR) return r;
  const char *name = !strcmp(op, "+") ? "add" : !strcmp(op, "-") ? "sub" : !strcmp(op, "*") ? "mul" : NULL;
  Type t = ty_of(S, r);
  if (!name || t.ptr || !dt_is_int((tm_dtype)t.dt) || t.dt == TM_I1 || tm_dtype_bytes((tm_dtype)t.dt) >= 8) return r;
  bool a_ptr = a.k == V_TENSOR && ty_of(S, a).ptr, b_ptr = b.k == V_TENSOR && ty_of(S, b).ptr;
  if (a_ptr || b_ptr) return r;
  tm_dtype dt = (tm_dtype)t.dt;
  Val wa = cast_to(S, cast_to(S, to_tensor(S, a), dt), TM_I64), wb = cast_to(S, cast_to(S, to_tensor(S, b), dt), TM_I64);
  Val wide = binop(S, op, wa, wb);
  int bits = 8 * tm_dtype_bytes(dt);
  bool uns = dt == TM_U8 || dt == TM_U16 || dt == TM_U32;
  int64_t lo = uns ? 0 : -((int64_t)1 << (bits - 1)), hi = uns ? ((int64_t)1 << bits) - 1 : ((int64_t)1 << (bits - 1)) - 1;
  Val ok = binop(S, "&", compare(S, "<=", wide, typed_int(TM_I64, hi)), compare(S, ">=", wide, typed_int(TM_I64, lo)));
  device_assert(S, ok, arena_printf(&S->c->arena, "int%d overflow detected for operation %s", bits, name), v_none());
  return r;
}

static Val unary(Sema *S, const char *op, Val a) {
  if (!strcmp(op, "not")) {
    if (a.k == V_TENSOR) {
      Type t = ty_of(S, a);
      if (t.dt != TM_I1 || t.ptr) ERR(S, "'not' needs a boolean (int1) tensor; use '== 0'");
      return tensor(mk_ins(S, O_NOT, t, 1, a.id, 0, 0));
    }
    return v_bool(!truthy(S, a));
  }
  if (is_const(a) && a.tdt) { /* a typed constant: the 0-d tensor's arithmetic */
    tm_dtype dt = (tm_dtype)a.tdt;
    if (!strcmp(op, "+")) return a;
    if (a.k == V_FLOAT && !strcmp(op, "-")) return typed_float(dt, -a.f);
    if (a.k != V_FLOAT && dt != TM_I1 && (!strcmp(op, "-") || !strcmp(op, "~")))
      return typed_int(dt, wrap_int(op[0] == '-' ? -ival128(a) : ~ival128(a), dt));
    a = to_tensor(S, a);
  }
  if (is_const(a)) {
    if (!strcmp(op, "+")) return a.k == V_BOOL ? v_int(a.i) : a;
    if (!strcmp(op, "-")) {
      if (a.k == V_FLOAT) return v_float(-a.f);
      return v_int128(S, -ival128(a));
    }
    if (!strcmp(op, "~")) {
      if (a.k == V_FLOAT) ERR(S, "bad operand type for unary ~: 'float'");
      return v_int(~a.i);
    }
  }
  if (a.k != V_TENSOR) ERR(S, "bad operand type for unary %s: %s", op, vk_name(S, a));
  Type t = ty_of(S, a);
  if (t.ptr) ERR(S, "unary '%s' is not defined for pointers", op);
  if (!strcmp(op, "+")) return a;
  if (!strcmp(op, "-")) return tensor(mk_ins(S, O_NEG, t, 1, a.id, 0, 0));
  if (!dt_is_int((tm_dtype)t.dt)) ERR(S, "operator '~' is not defined for %s", tm_dtype_name((tm_dtype)t.dt));
  return tensor(mk_ins(S, O_NOT, t, 1, a.id, 0, 0));
}

/* ------------------------------------------------------------ calls */

typedef struct Args {
  Val *pos;
  int npos;
  const char **kwname;
  Val *kw;
  Node **kwnode;
  int nkw;
  const char *fname;
  bool *kwused;
} Args;

/* Gets argument `name` at position `pos` (or -1 for keyword-only); `def` when absent. */
static bool arg_opt(Sema *S, Args *A, int pos, const char *name, Val *out) {
  for (int i = 0; i < A->nkw; i++)
    if (!strcmp(A->kwname[i], name)) {
      if (pos >= 0 && pos < A->npos) ERR(S, "%s() got multiple values for argument '%s'", A->fname, name);
      A->kwused[i] = true;
      *out = A->kw[i];
      return true;
    }
  if (pos >= 0 && pos < A->npos) {
    *out = A->pos[pos];
    return true;
  }
  return false;
}

static Val arg_req(Sema *S, Args *A, int pos, const char *name) {
  Val v;
  if (!arg_opt(S, A, pos, name, &v)) ERR(S, "%s() missing required argument '%s'", A->fname, name);
  return v;
}

static void args_done(Sema *S, Args *A, int max_pos) {
  if (A->npos > max_pos) ERR(S, "%s() takes at most %d positional arguments but %d were given", A->fname, max_pos, A->npos);
  for (int i = 0; i < A->nkw; i++)
    if (!A->kwused[i]) ERR(S, "%s() got an unexpected keyword argument '%s'", A->fname, A->kwname[i]);
}

static int64_t const_int(Sema *S, Val v, const char *what) {
  if (v.k == V_INT || v.k == V_BOOL) return v.i;
  ERR(S, "%s must be a compile-time integer (tl.constexpr), got %s", what, vk_name(S, v));
}

static tm_dtype dtype_arg(Sema *S, Val v, const char *what) {
  if (v.k == V_DTYPE && (v.i & DT_PTR)) ERR(S, "%s must be a scalar dtype, not a pointer type", what);
  if (v.k == V_DTYPE) {
    if (v.i >= TM_FP8E5) check_device_dtype(S, (tm_dtype)v.i);
    return (tm_dtype)v.i;
  }
  if (v.k == V_STR) {
    tm_dtype dt = tm_dtype_parse(v.s);
    if (dt != TM_VOID) return dt;
  }
  ERR(S, "%s must be a dtype, got %s", what, vk_name(S, v));
}

static void check_block_shape(Sema *S, int rank, const int32_t *shape) {
  int64_t numel = 1;
  for (int i = 0; i < rank; i++) {
    if (shape[i] <= 0 || (shape[i] & (shape[i] - 1)))
      ERR(S, "Shape element %d must be a power of 2", i); /* upstream's words (the excerpt shows the shape) */
    numel *= shape[i];
  }
  if (numel > 1048576) ERR(S, "a block may hold at most 1048576 elements, got %lld", (long long)numel);
}

static Val call_arange(Sema *S, Args *A) {
  int64_t start = const_int(S, arg_req(S, A, 0, "start"), "arange's start");
  int64_t end = const_int(S, arg_req(S, A, 1, "end"), "arange's end");
  args_done(S, A, 2);
  if (start < 0 || start >> 32 || end < 0 || end >> 32) ERR(S, "arange's bounds must be in [0, 2**32)");
  if (end <= start) ERR(S, "arange's end must be greater than its start");
  int64_t n = end - start;
  if (n & (n - 1)) ERR(S, "arange's range must be a power of 2");
  int32_t shape[1] = {(int32_t)n};
  check_block_shape(S, 1, shape);
  int id = mk_ins(S, O_RANGE, type_block(type_scalar(TM_I32), 1, shape), 0, 0, 0, 0);
  S->fn->ins.v[id].imm = start;
  return tensor(id);
}

static Val call_program_id(Sema *S, Args *A, Op op) {
  int64_t axis = const_int(S, arg_req(S, A, 0, "axis"), "axis");
  args_done(S, A, 1);
  if (axis < 0 || axis > 2) ERR(S, "program_id axis must be 0, 1, or 2 but got %lld", (long long)axis);
  int id = mk_ins(S, op, type_scalar(TM_I32), 0, 0, 0, 0);
  S->fn->ins.v[id].aux = (int16_t)axis;
  return tensor(id);
}

static void check_mask(Sema *S, Val m) {
  Type t = ty_of(S, m);
  if (t.ptr || t.dt != TM_I1) ERR(S, "mask must be a boolean (int1) tensor, got %s", type_str(&S->c->arena, t));
}

static void check_hint_strings(Sema *S, Args *A, bool store) {
  Val v;
  if (arg_opt(S, A, -1, "cache_modifier", &v)) {
    const char *ok_load[] = {"", ".ca", ".cg", ".cs", ".cv", NULL}, *ok_store[] = {"", ".wb", ".cg", ".cs", ".wt", NULL};
    const char **ok = store ? ok_store : ok_load;
    bool good = false;
    for (int i = 0; v.k == V_STR && ok[i]; i++) good |= !strcmp(v.s, ok[i]);
    if (!good) ERR(S, "cache_modifier %s is not valid for %s", v.k == V_STR ? v.s : vk_name(S, v), store ? "store" : "load");
  }
  if (arg_opt(S, A, -1, "eviction_policy", &v)) {
    if (v.k != V_STR || (strcmp(v.s, "") && strcmp(v.s, "evict_first") && strcmp(v.s, "evict_last")))
      ERR(S, "eviction_policy must be '', 'evict_first' or 'evict_last'");
  }
  if (arg_opt(S, A, -1, "boundary_check", &v) && !(v.k == V_TUPLE && v.n == 0) && v.k != V_NONE)
    ERR(S, "boundary_check is only for block pointers (tl.make_block_ptr)");
  if (arg_opt(S, A, -1, "padding_option", &v) && !(v.k == V_STR && !v.s[0]) && v.k != V_NONE)
    ERR(S, "padding_option is only for block pointers (tl.make_block_ptr)");
}

/* Memory of pt's element type must be data the device computes with: a
 * float64 array may be taken and addressed, but not read or written. */
static void check_pointee(Sema *S, Val p, const char *what) {
  Type pt = ty_of(S, p);
  if (pt.dt != TM_F64) return;
  Param *par = ir_pointer_param(S->fn, p.id);
  ERR(S, "%s through %s%s%s, a float64 array: float64 is not supported on the device (Metal has no double); "
      "convert the array to float32", what, par ? "'" : "a float64 pointer", par ? par->name : "", par ? "'" : "");
}

static Val pointer_arg(Sema *S, Val p, const char *fname) {
  if (p.k != V_TENSOR || !ty_of(S, p).ptr)
    ERR(S, "%s() expects a pointer (or block of pointers) as its first argument, got %s", fname, vk_name(S, p));
  if (strcmp(fname, "store")) check_pointee(S, p, fname); /* stores into float64 memory: store_f64 */
  return p;
}

static Val blockptr_load(Sema *S, Val bp, Args *A);
static Val blockptr_store(Sema *S, Val bp, Args *A);

static Val call_load(Sema *S, Args *A) {
  if (A->npos && A->pos[0].k == V_BLOCKPTR) return blockptr_load(S, A->pos[0], A);
  Val p = pointer_arg(S, arg_req(S, A, 0, "pointer"), "load");
  Type pt = ty_of(S, p);
  Val mask = v_none(), other = v_none();
  arg_opt(S, A, 1, "mask", &mask);
  arg_opt(S, A, 2, "other", &other);
  check_hint_strings(S, A, false);
  Val vol = v_bool(false);
  arg_opt(S, A, -1, "volatile", &vol);
  args_done(S, A, 3);
  Type rt = with_dt(pt, (tm_dtype)pt.dt);
  if (other.k != V_NONE && mask.k == V_NONE) ERR(S, "load: 'other' is given without 'mask'");
  int id;
  if (mask.k == V_NONE) {
    id = mk_ins(S, O_LOAD, rt, 1, p.id, 0, 0);
  } else {
    mask = to_tensor(S, mask);
    check_mask(S, mask);
    mask = broadcast_exact(S, mask, pt);
    if (other.k == V_NONE) {
      id = mk_ins(S, O_LOAD, rt, 2, p.id, mask.id, 0);
    } else {
      other = cast_to(S, other, (tm_dtype)pt.dt);
      other = broadcast_exact(S, other, pt);
      id = mk_ins(S, O_LOAD, rt, 3, p.id, mask.id, other.id);
    }
  }
  /* volatile: memory other programs write (a spin-wait, a decoupled look-back);
     emit.c plan_coherence makes its scalar loads one value per program */
  if (truthy(S, vol)) S->fn->ins.v[id].imm = LD_VOLATILE;
  return tensor(id);
}

static Param *param_of_pointer(Sema *S, Val p) {
  return ir_pointer_param(S->fn, p.id);
}

/* A store into float64 memory: the value (computed in a type the device has)
 * converted to the bits of the double it equals, exactly as upstream's
 * conversion to fp64 (floats widen exactly, 64-bit integers round to nearest),
 * with integer arithmetic (Metal has no double). A Python number becomes its
 * double at compile time. */
static Val store_f64(Sema *S, Val p, Val v, Val mask) {
  Type pt = ty_of(S, p);
  Param *par = param_of_pointer(S, p);
  if (par) {
    if (par->flags & TM_PF_READONLY) ERR(S, "store through '%s', which was passed as a read-only array", par->name);
    par->written = true;
  }
  if (v.k != V_TENSOR && !is_const(v)) ERR(S, "store: the value must be a tensor or a number, not %s", vk_name(S, v));
  Val bits;
  if (is_const(v) && !v.tdt) { /* a Python number: its double, now */
    double d = v.k == V_FLOAT ? v.f : v.u64 ? (double)(uint64_t)v.i : (double)v.i;
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    Val c = v_int((int64_t)b);
    c.u64 = b > INT64_MAX;
    bits = tensor(make_const(S, c, TM_U64));
  } else {
    v = to_tensor(S, v);
    Type vt = ty_of(S, v);
    if (vt.ptr) ERR(S, "a pointer can be stored only into int64 or uint64 memory, not float64");
    if (vt.dt == TM_F64) ERR(S, "float64 is not supported on the device (Metal has no double)");
    Type bt = vt;
    bt.dt = TM_U64;
    int id = mk_ins(S, O_CAST, bt, 1, v.id, 0, 0);
    S->fn->ins.v[id].aux = 2; /* to float64 bits */
    bits = tensor(id);
  }
  bits = broadcast_exact(S, bits, with_dt(pt, TM_U64));
  if (mask.k == V_NONE) {
    mk_ins(S, O_STORE, (Type){0}, 2, p.id, bits.id, 0);
  } else {
    mask = to_tensor(S, mask);
    check_mask(S, mask);
    mask = broadcast_exact(S, mask, pt);
    mk_ins(S, O_STORE, (Type){0}, 3, p.id, bits.id, mask.id);
  }
  return v_none();
}

static Val call_store(Sema *S, Args *A) {
  if (A->npos && A->pos[0].k == V_BLOCKPTR) return blockptr_store(S, A->pos[0], A);
  Val p = pointer_arg(S, arg_req(S, A, 0, "pointer"), "store");
  Val v = arg_req(S, A, 1, "value");
  Val mask = v_none();
  arg_opt(S, A, 2, "mask", &mask);
  check_hint_strings(S, A, true);
  args_done(S, A, 3);
  Type pt = ty_of(S, p);
  if (pt.ptr == PTR_CONST) ERR(S, "Cannot store to a constant pointer (the parameter is annotated tl.const)");
  if (pt.dt == TM_F64) return store_f64(S, p, v, mask);
  Param *par = param_of_pointer(S, p);
  if (par) {
    if (par->flags & TM_PF_READONLY)
      ERR(S, "store through '%s', which was passed as a read-only array", par->name);
    par->written = true;
  }
  if (v.k != V_TENSOR && !is_const(v)) ERR(S, "store: the value must be a tensor or a number, not %s", vk_name(S, v));
  if (v.k == V_TENSOR && ty_of(S, v).ptr) { /* a pointer is stored as its 64-bit address, as upstream */
    if (pt.dt != TM_I64 && pt.dt != TM_U64)
      ERR(S, "a pointer can be stored only into int64 or uint64 memory, not %s", tm_dtype_name((tm_dtype)pt.dt));
    Type rt = ty_of(S, v);
    rt.ptr = 0;
    rt.dt = pt.dt;
    v = tensor(mk_ins(S, O_CAST, rt, 1, v.id, 0, 0));
  }
  v = cast_to(S, v, (tm_dtype)pt.dt);
  v = broadcast_exact(S, v, pt);
  Type vt = {0};
  if (mask.k == V_NONE) {
    mk_ins(S, O_STORE, vt, 2, p.id, v.id, 0);
  } else {
    mask = to_tensor(S, mask);
    check_mask(S, mask);
    mask = broadcast_exact(S, mask, pt);
    mk_ins(S, O_STORE, vt, 3, p.id, v.id, mask.id);
  }
  return v_none();
}

/* A warning the host raises (UserWarning) when it compiles the kernel, located here. */
static void compile_warning(Sema *S, const char *fmt, const char *arg) {
  const char *text = arena_printf(&S->c->arena, fmt, arg);
  vec_push(&S->c->arena, S->fn->warnings,
           arena_printf(&S->c->arena, "%s:%d:%d: %s", S->c->src.filename ? S->c->src.filename : "<kernel>", S->line, S->col, text));
}

static Val call_where(Sema *S, Args *A) {
  Val c = to_tensor(S, arg_req(S, A, 0, "condition"));
  Val x = arg_req(S, A, 1, "x"), y = arg_req(S, A, 2, "y");
  args_done(S, A, 3);
  if (ty_of(S, c).dt != TM_I1 || ty_of(S, c).ptr) /* upstream's words; the condition is then tested against 0 */
    compile_warning(S, "tl.where with a non-boolean condition is deprecated and will error out in a future triton "
                       "release. Got %s",
                    ty_of(S, c).ptr ? arena_printf(&S->c->arena, "pointer<%s>", up_name((tm_dtype)ty_of(S, c).dt))
                                    : up_name((tm_dtype)ty_of(S, c).dt));
  c = cast_to(S, c, TM_I1);
  bool xp = x.k == V_TENSOR && ty_of(S, x).ptr, yp = y.k == V_TENSOR && ty_of(S, y).ptr;
  if (xp || yp) { /* a choice between pointers of one type */
    if (!xp || !yp || ty_of(S, x).dt != ty_of(S, y).dt || ty_of(S, x).ptr != ty_of(S, y).ptr)
      ERR(S, "where() on pointers needs two pointers of the same type, got %s and %s",
          x.k == V_TENSOR ? type_str(&S->c->arena, ty_of(S, x)) : vk_name(S, x),
          y.k == V_TENSOR ? type_str(&S->c->arena, ty_of(S, y)) : vk_name(S, y));
  } else {
    unify(S, &x, &y, false);
  }
  broadcast_pair(S, &c, &x);
  broadcast_pair(S, &c, &y);
  broadcast_pair(S, &x, &y);
  return tensor(mk_ins(S, O_SELECT, ty_of(S, x), 3, c.id, x.id, y.id));
}

/* propagate_nan: tl.PropagateNan.NONE (0, NaN ignored) or ALL (0xffff). */
static int propagate_nan_arg(Sema *S, Val pn) {
  if (pn.k == V_NONE) return 0;
  int64_t v = const_int(S, pn, "propagate_nan");
  if (v != 0 && v != 0xffff) ERR(S, "propagate_nan must be tl.PropagateNan.NONE or tl.PropagateNan.ALL");
  return v != 0;
}

static Val minmax(Sema *S, Op op, Val x, Val y, int nan_all) {
  unify(S, &x, &y, false);
  int id = mk_ins(S, op, ty_of(S, x), 2, x.id, y.id, 0);
  S->fn->ins.v[id].aux = (int16_t)(nan_all && dt_is_float((tm_dtype)ty_of(S, x).dt));
  return tensor(id);
}

static Val call_minmax(Sema *S, Args *A, Op op) {
  Val x = arg_req(S, A, 0, "x"), y = arg_req(S, A, 1, "y");
  Val pn = v_none();
  arg_opt(S, A, 2, "propagate_nan", &pn);
  args_done(S, A, 3);
  return minmax(S, op, x, y, propagate_nan_arg(S, pn));
}

/* tl.clamp(x, min, max, propagate_nan): floating point only, as upstream. */
static Val call_clamp(Sema *S, Args *A) {
  Val x = to_tensor(S, arg_req(S, A, 0, "x")), lo = arg_req(S, A, 1, "min"), hi = arg_req(S, A, 2, "max");
  Val pn = v_none();
  arg_opt(S, A, 3, "propagate_nan", &pn);
  args_done(S, A, 4);
  if (!dt_is_float((tm_dtype)ty_of(S, x).dt)) ERR(S, "clamp() is only defined for floating-point values, got %s", up_name((tm_dtype)ty_of(S, x).dt));
  int all = propagate_nan_arg(S, pn);
  return minmax(S, O_MIN, minmax(S, O_MAX, x, lo, all), hi, all);
}

static int shape_arg(Sema *S, Val v, int32_t *shape) {
  if (v.k == V_INT) {
    shape[0] = (int32_t)v.i;
    check_block_shape(S, 1, shape);
    return 1;
  }
  if (v.k != V_TUPLE) ERR(S, "shape must be a tuple of compile-time integers");
  if (v.n < 1 || v.n > TM_MAX_RANK) ERR(S, "blocks of rank %d are not supported (rank 1 to %d)", v.n, TM_MAX_RANK);
  for (int i = 0; i < v.n; i++) shape[i] = (int32_t)const_int(S, v.items[i], "shape dimension");
  check_block_shape(S, v.n, shape);
  return v.n;
}

/* tl.full / tl.zeros: shape () is a 0-d value (a scalar); the value may be a
 * runtime scalar, converted to dtype as upstream's full does. */
static Val call_full(Sema *S, Args *A, bool zeros) {
  int32_t shape[TM_MAX_RANK];
  Val sv = arg_req(S, A, 0, "shape");
  bool rank0 = (sv.k == V_TUPLE && sv.n == 0);
  int rank = rank0 ? 0 : shape_arg(S, sv, shape);
  Val value = zeros ? v_int(0) : arg_req(S, A, 1, "value");
  tm_dtype dt = dtype_arg(S, arg_req(S, A, zeros ? 1 : 2, "dtype"), "dtype");
  args_done(S, A, zeros ? 2 : 3);
  if (value.k == V_TENSOR) {
    Type vt = ty_of(S, value);
    if (vt.rank || vt.ptr) ERR(S, "full()'s value must be a scalar, got a block or a pointer");
  } else if (!is_const(value)) {
    ERR(S, "full()'s value must be a number or a scalar, got %s", vk_name(S, value));
  }
  Val s = cast_to(S, value, dt);
  return rank0 ? s : broadcast_to(S, s, type_block(type_scalar(dt), rank, shape));
}

static Val call_cast(Sema *S, Val x, Args *A, int first) {
  Val target = arg_req(S, A, first, "dtype");
  if (target.k == V_DTYPE && (target.i & DT_PTR)) { /* a pointer of another element type */
    Val rest;
    arg_opt(S, A, first + 1, "fp_downcast_rounding", &rest);
    arg_opt(S, A, first + 2, "bitcast", &rest);
    args_done(S, A, first + 3);
    Val t = to_tensor(S, x);
    Type ty = ty_of(S, t);
    tm_dtype e = (tm_dtype)(target.i & ~DT_PTR);
    check_device_dtype(S, e);
    if (!ty.ptr) { /* int64 -> pointer (upstream's int_to_ptr) */
      if (ty.dt != TM_I64 && ty.dt != TM_U64) ERR(S, "only 64-bit integers can become pointers, not %s", tm_dtype_name((tm_dtype)ty.dt));
      Type rt = ty;
      rt.ptr = 1;
      rt.dt = (uint8_t)e;
      int id = mk_ins(S, O_CAST, rt, 1, t.id, 0, 0);
      return tensor(id);
    }
    if (ty.dt == e) return t;
    Type rt = ty;
    rt.dt = (uint8_t)e;
    return tensor(mk_ins(S, O_BITCAST, rt, 1, t.id, 0, 0));
  }
  if (x.k == V_TENSOR && ty_of(S, x).ptr) { /* pointer -> int64 (upstream's ptr_to_int) */
    tm_dtype dt = dtype_arg(S, target, "dtype");
    if (dt == TM_I1) {
      args_done(S, A, A->npos);
      return cast_to(S, x, TM_I1);
    }
    if (dt != TM_I64 && dt != TM_U64) ERR(S, "a pointer can only become a 64-bit integer or int1, not %s", tm_dtype_name(dt));
    args_done(S, A, A->npos);
    Type rt = ty_of(S, x);
    rt.ptr = 0;
    rt.dt = (uint8_t)dt;
    return tensor(mk_ins(S, O_CAST, rt, 1, x.id, 0, 0));
  }
  tm_dtype dt = dtype_arg(S, target, "dtype");
  Val bc = v_bool(false), rnd = v_none();
  arg_opt(S, A, first + 1, "fp_downcast_rounding", &rnd);
  arg_opt(S, A, first + 2, "bitcast", &bc);
  args_done(S, A, first + 3);
  bool rtz = false;
  if (rnd.k != V_NONE) {
    if (rnd.k != V_STR || (strcmp(rnd.s, "rtne") && strcmp(rnd.s, "rtz")))
      ERR(S, "fp_downcast_rounding must be 'rtne' or 'rtz'");
    rtz = !strcmp(rnd.s, "rtz");
  }
  if (truthy(S, bc)) {
    Val t = to_tensor(S, x);
    Type ty = ty_of(S, t);
    if (ty.ptr) ERR(S, "bitcast of pointers is not supported yet");
    if (dt_bits((tm_dtype)ty.dt) != dt_bits(dt))
      ERR(S, "cannot bitcast %s to %s: the bit widths differ", tm_dtype_name((tm_dtype)ty.dt), tm_dtype_name(dt));
    check_device_dtype(S, dt);
    if (ty.dt == dt) return t;
    return tensor(mk_ins(S, O_BITCAST, with_dt(ty, dt), 1, t.id, 0, 0));
  }
  Val t = to_tensor(S, x);
  if (rtz) { /* only float32 -> float16/bfloat16 rounds; elsewhere upstream refuses */
    Type ty = ty_of(S, t);
    if (ty.dt != TM_F32 || (dt != TM_F16 && dt != TM_BF16))
      ERR(S, "fp_downcast_rounding='rtz' is for float32 -> float16/bfloat16 casts, not %s -> %s",
          tm_dtype_name((tm_dtype)ty.dt), tm_dtype_name(dt));
    check_device_dtype(S, dt);
    int id = mk_ins(S, O_CAST, with_dt(ty, dt), 1, t.id, 0, 0);
    S->fn->ins.v[id].aux = 1;
    return tensor(id);
  }
  return cast_to(S, t, dt);
}

static Val call_cdiv(Sema *S, Args *A) {
  Val x = arg_req(S, A, 0, "x"), d = arg_req(S, A, 1, "div");
  args_done(S, A, 2);
  if (is_const(x) && is_const(d)) {
    if (x.k == V_FLOAT || d.k == V_FLOAT) ERR(S, "cdiv needs integers");
    return fold_binop(S, "//", fold_binop(S, "+", x, fold_binop(S, "-", d, v_int(1))), d);
  }
  return binop(S, "//", binop(S, "+", x, binop(S, "-", d, v_int(1))), d);
}

static Val call_jitfn(Sema *S, JitFn *f, Args *A);

static Val v_str0(void) { return (Val){.k = V_STR, .s = ""}; }

static int debug_site(Sema *S, bool is_assert, bool hex, const char *text) {
  DebugSite d = {.is_assert = is_assert, .hex = hex, .line = S->line, .col = S->col, .text = text};
  vec_push(&S->c->arena, S->fn->sites, d);
  return S->fn->sites.n - 1;
}

/* Python's str() of a compile-time value or of a block, as upstream's
 * static_print shows them: a block as `fp32[constexpr[16], constexpr[8]]`, a
 * pointer dtype as `pointer<fp32>`, a float as Python's shortest repr. */
static void py_str(Sema *S, Buf *b, Val v) {
  switch (v.k) {
  case V_STR: buf_printf(b, "%s", v.s); return;
  case V_INT: buf_printf(b, v.u64 ? "%llu" : "%lld", (long long)v.i); return;
  case V_BOOL: buf_printf(b, "%s", v.i ? "True" : "False"); return;
  case V_NONE: buf_printf(b, "None"); return;
  case V_FLOAT: {
    if (isnan(v.f)) { buf_printf(b, "nan"); return; }
    if (isinf(v.f)) { buf_printf(b, "%sinf", v.f < 0 ? "-" : ""); return; }
    char t[40], dg[24];
    for (int p = 1; p <= 17; p++) { /* the fewest digits that read back as the same double */
      snprintf(t, sizeof t, "%.*e", p - 1, v.f);
      if (strtod(t, NULL) == v.f) break;
    }
    const char *q = t;
    if (*q == '-') buf_printf(b, "-"), q++;
    int nd = 0;
    for (; *q && *q != 'e'; q++)
      if (*q >= '0' && *q <= '9') dg[nd++] = *q;
    int e = atoi(q + 1);
    while (nd > 1 && dg[nd - 1] == '0') nd--;
    dg[nd] = 0;
    if (e >= 16 || e < -4) { /* Python's repr: d.ddde+XX */
      buf_printf(b, "%c%s%s%se%c%02d", dg[0], nd > 1 ? "." : "", dg + 1, "", e < 0 ? '-' : '+', e < 0 ? -e : e);
    } else if (e < 0) {
      buf_printf(b, "0.%.*s%s", -e - 1, "0000", dg);
    } else {
      for (int k = 0; k <= e; k++) buf_printf(b, "%c", k < nd ? dg[k] : '0');
      buf_printf(b, ".%s", nd > e + 1 ? dg + e + 1 : "0");
    }
    return;
  }
  case V_DTYPE:
    if (v.i & DT_PTR) buf_printf(b, "pointer<%s>", up_name((tm_dtype)(v.i & ~DT_PTR)));
    else buf_printf(b, "%s", up_name((tm_dtype)v.i));
    return;
  case V_TENSOR: {
    Type t = ty_of(S, v);
    if (t.ptr) buf_printf(b, "pointer<%s>[", up_name((tm_dtype)t.dt));
    else buf_printf(b, "%s[", up_name((tm_dtype)t.dt));
    for (int k = 0; k < t.rank; k++) buf_printf(b, "%sconstexpr[%d]", k ? ", " : "", t.shape[k]);
    buf_printf(b, "]");
    return;
  }
  case V_TUPLE:
    buf_printf(b, "(");
    for (int k = 0; k < v.n; k++) {
      if (k) buf_printf(b, ", ");
      if (v.items[k].k == V_STR) buf_printf(b, "'%s'", v.items[k].s);
      else py_str(S, b, v.items[k]);
    }
    buf_printf(b, v.n == 1 ? ",)" : ")");
    return;
  default: buf_printf(b, "%s", vk_name(S, v)); return;
  }
}

/* tl.device_print(prefix, *args, hex=False) (and the builtin print): every
 * value is printed by the host after the launch, per program and element, in
 * upstream's format; the prefix is adjusted as upstream does (a leading space,
 * ending in ": " when there are values). */
static Val call_device_print(Sema *S, Args *A) {
  Val prefix = arg_req(S, A, 0, "prefix"), hex = v_bool(false);
  arg_opt(S, A, -1, "hex", &hex);
  args_done(S, A, A->npos);
  if (prefix.k != V_STR) ERR(S, "device_print's prefix must be a string");
  for (const char *p = prefix.s; *p; p++)
    if ((unsigned char)*p > 127) ERR(S, "device_print's prefix must be ASCII");
  int n = A->npos - 1;
  if (n > 16) ERR(S, "device_print takes at most 16 values");
  size_t len = strlen(prefix.s);
  char *text = arena_alloc(&S->c->arena, len + 4);
  memcpy(text, prefix.s, len + 1);
  if (n > 0 && (!len || text[len - 1] != ' ')) text[len++] = ' ', text[len] = 0;
  if (n > 0 && (len < 2 || text[len - 2] != ':')) text[len - 1] = ':', text[len++] = ' ', text[len] = 0;
  if (len > 2 && text[0] != ' ') {
    memmove(text + 1, text, len + 1);
    text[0] = ' ';
  }
  Val *v = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(n + 1));
  int ids[16];
  unsigned ptrs = 0;
  for (int i = 0; i < n; i++) {
    v[i] = to_tensor(S, A->pos[1 + i]);
    Type t = ty_of(S, v[i]);
    if (t.ptr) { /* printed as its address (upstream's %p) */
      t.ptr = 0;
      t.dt = TM_U64;
      v[i] = tensor(mk_ins(S, O_CAST, t, 1, v[i].id, 0, 0));
      ptrs |= 1u << i;
    }
  }
  for (int i = 1; i < n; i++) broadcast_pair(S, &v[0], &v[i]);
  for (int i = 1; i < n; i++) broadcast_pair(S, &v[0], &v[i]);
  int site = debug_site(S, false, truthy(S, hex), text);
  DebugSite *d = &S->fn->sites.v[site];
  d->nvals = n;
  d->ptrs = ptrs;
  if (n > 0) {
    Type t = ty_of(S, v[0]);
    d->rank = t.rank;
    for (int k = 0; k < t.rank; k++) d->shape[k] = t.shape[k];
  }
  for (int i = 0; i < n; i++) {
    d->dts[i] = (tm_dtype)ty_of(S, v[i]).dt;
    ids[i] = v[i].id;
  }
  int id = mk_insv(S, O_PRINT, (Type){0}, n, ids);
  S->fn->ins.v[id].aux = (int16_t)site;
  return v_none();
}

/* device_assert / `assert` on device values: checked only in debug mode (as
 * upstream); a failure is reported by the host after the launch. */
static void device_assert(Sema *S, Val c, const char *msg, Val mask) {
  if (!S->c->req->debug) return; /* as upstream: no check at all without debug, even of a constant */
  if (c.k != V_TENSOR) {
    if (truthy(S, c)) return;
    c = to_tensor(S, v_bool(false)); /* a false constant fails when the kernel runs, as upstream's does */
  }
  c = cast_to(S, c, TM_I1);
  if (mask.k != V_NONE) c = binop(S, "|", c, unary(S, "not", cast_to(S, to_tensor(S, mask), TM_I1)));
  int site = debug_site(S, true, false, msg);
  int id = mk_ins(S, O_ASSERT, (Type){0}, 1, c.id, 0, 0);
  S->fn->ins.v[id].aux = (int16_t)site;
}

/* Upstream's dtype names in messages: fp16, bf16, fp32, int32, uint8, int1. */
static const char *up_name(tm_dtype dt) { return dt_is_float(dt) ? tm_dtype_sig(dt) : tm_dtype_name(dt); }

static _Noreturn void math_dtype_error(Sema *S, const MathFn *m, tm_dtype dt) {
  if (m->dtypes == MT_F32) ERR(S, "%s(): expected dtype %s but got %s", m->name, m->fp32_only ? "['fp32']" : "['fp32', 'fp64']", up_name(dt));
  ERR(S, "%s() is not defined for %s", m->name, tm_dtype_name(dt));
}

/* A function of the math table. Each operand must be of the kind the function
 * takes (no silent int -> float); several operands are then promoted like
 * arithmetic, unless the last has dtypes of its own (ldexp's exponent, sad's
 * uint32 addend). The spelling names the operands $0 .. $3. */
static Val call_math(Sema *S, int mi, Args *A) {
  const MathFn *m = &math_fns[mi];
  A->fname = m->name;
  static const char *names[] = {"x", "y", "z", "w"};
  Val v[4];
  int last = m->arity - 1;
  for (int i = 0; i < m->arity; i++) v[i] = arg_req(S, A, i, names[i]);
  Val ieee = v_bool(false);
  if (!strcmp(m->name, "fdiv")) arg_opt(S, A, 2, "ieee_rounding", &ieee);
  args_done(S, A, m->arity + !strcmp(m->name, "fdiv"));
  for (int i = 0; i < m->arity; i++) {
    v[i] = to_tensor(S, v[i]);
    if (ty_of(S, v[i]).ptr) ERR(S, "%s() is not defined for pointers", m->name);
    unsigned allowed = i == last && i > 0 && m->dtypes2 ? m->dtypes2 : m->dtypes;
    tm_dtype di = (tm_dtype)ty_of(S, v[i]).dt;
    bool float_fn = !(allowed & (MT_INT | (1u << TM_I1)));
    if (float_fn && !dt_is_float(di)) {
      if (m->arity == 1 || m->dtypes == MT_F32) math_dtype_error(S, m, di);
      ERR(S, "%s(): operands must be floating-point, got %s", m->name, up_name(di));
    }
    if (!float_fn && !(allowed & MT_FLOAT) && dt_is_float(di)) ERR(S, "%s() is not defined for %s", m->name, tm_dtype_name(di));
  }
  if (m->dtypes2) {
    if (last == 2) unify(S, &v[0], &v[1], false);
    broadcast_pair(S, &v[0], &v[last]);
    if (last == 2) broadcast_pair(S, &v[1], &v[last]);
    if (!(m->dtypes2 & (1u << ty_of(S, v[last]).dt)))
      ERR(S, "%s(): %s operand of dtype %s is not accepted", m->name, last == 1 ? "second" : "third", up_name((tm_dtype)ty_of(S, v[last]).dt));
  } else {
    if (m->arity >= 2) unify(S, &v[0], &v[1], false);
    if (m->arity == 3) {
      unify(S, &v[0], &v[2], false);
      unify(S, &v[1], &v[2], false);
      unify(S, &v[0], &v[1], false);
    }
    if (m->arity == 4) /* twice: the first round leaves v[0] at the common dtype and shape */
      for (int r = 0; r < 2; r++)
        for (int i = 1; i < 4; i++) unify(S, &v[0], &v[i], false);
  }
  tm_dtype dt = (tm_dtype)ty_of(S, v[0]).dt;
  if (!(m->dtypes & (1u << dt))) math_dtype_error(S, m, dt);
  if (truthy(S, ieee)) { /* fdiv(..., ieee_rounding=True) is div_rn */
    if (dt != TM_F32) ERR(S, "fdiv(ieee_rounding=True) needs fp32, got %s", up_name(dt));
    mi = math_lookup(MF_MATH, "div_rn");
    m = &math_fns[mi];
  }
  Type rt = ty_of(S, v[0]);
  if (m->result == MR_BOOL) rt.dt = TM_I1;
  if (m->result == MR_I32) rt.dt = TM_I32;
  if (m->result == MR_F32) rt.dt = TM_F32;
  if (m->result == MR_I64) rt.dt = TM_I64;
  int ids[4];
  for (int i = 0; i < m->arity; i++) ids[i] = v[i].id;
  int id = mk_insv(S, O_MATH, rt, m->arity, ids);
  S->fn->ins.v[id].aux = (int16_t)mi;
  return tensor(id);
}

/* ---- block pointers and tensor descriptors ----
 * As upstream (3.7+) does, they are compile-time aggregates lowered to
 * ordinary pointer blocks and masks at each load and store. */

static Val int64_scalar(Sema *S, Val v, const char *what) {
  v = to_tensor(S, v);
  Type t = ty_of(S, v);
  if (t.rank || t.ptr || !dt_is_int((tm_dtype)t.dt)) ERR(S, "%s must be integer scalars", what);
  return cast_to(S, v, TM_I64);
}

static Val *tuple_items(Sema *S, Val v, int n, const char *what) {
  if (v.k != V_TUPLE) {
    if (n == 1) return arena_memdup_val(S, v);
    ERR(S, "%s must be a tuple of %d values", what, n);
  }
  if (v.n != n) ERR(S, "%s must have %d values, got %d", what, n, v.n);
  return v.items;
}

static Val call_make_block_ptr(Sema *S, Args *A) {
  Val base = pointer_arg(S, arg_req(S, A, 0, "base"), "make_block_ptr");
  Val shape = arg_req(S, A, 1, "shape"), strides = arg_req(S, A, 2, "strides"), offs = arg_req(S, A, 3, "offsets");
  Val bs = arg_req(S, A, 4, "block_shape"), order = arg_req(S, A, 5, "order");
  args_done(S, A, 6);
  if (ty_of(S, base).rank) ERR(S, "make_block_ptr's base must be a scalar pointer");
  int r = bs.k == V_TUPLE ? bs.n : 1;
  if (r < 1 || r > TM_MAX_RANK) ERR(S, "block pointers of rank %d are not supported (1 to %d)", r, TM_MAX_RANK);
  Val bp = {.k = V_BLOCKPTR, .n = r};
  bp.items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(1 + 5 * r));
  bp.items[0] = base;
  Val *sh = tuple_items(S, shape, r, "shape"), *st = tuple_items(S, strides, r, "strides"), *of = tuple_items(S, offs, r, "offsets");
  Val *b = tuple_items(S, bs, r, "block_shape"), *o = tuple_items(S, order, r, "order");
  int32_t bshape[TM_MAX_RANK];
  int seen = 0;
  for (int d = 0; d < r; d++) {
    bp.items[1 + d] = int64_scalar(S, sh[d], "shape");
    bp.items[1 + r + d] = int64_scalar(S, st[d], "strides");
    bp.items[1 + 2 * r + d] = int64_scalar(S, of[d], "offsets");
    bshape[d] = (int32_t)const_int(S, b[d], "block_shape");
    bp.items[1 + 3 * r + d] = v_int(bshape[d]);
    int64_t od = const_int(S, o[d], "order");
    if (od < 0 || od >= r || (seen & (1 << od))) ERR(S, "order must be a permutation of 0..%d", r - 1);
    seen |= 1 << od;
    bp.items[1 + 4 * r + d] = v_int(od);
  }
  check_block_shape(S, r, bshape);
  return bp;
}

static Val call_advance(Sema *S, Args *A) {
  Val bp = arg_req(S, A, 0, "base"), offs = arg_req(S, A, 1, "offsets");
  args_done(S, A, 2);
  if (bp.k != V_BLOCKPTR) ERR(S, "advance() needs a block pointer, got %s", vk_name(S, bp));
  Val nb = deep_copy(S, bp);
  Val *of = tuple_items(S, offs, bp.n, "offsets");
  for (int d = 0; d < bp.n; d++) {
    Val delta = of[d];
    if (is_const(delta) && delta.i == 0 && delta.k == V_INT) continue;
    nb.items[1 + 2 * bp.n + d] = binop(S, "+", nb.items[1 + 2 * bp.n + d], int64_scalar(S, delta, "offsets"));
  }
  return nb;
}

/* Pointers of a block at `offs` (per dim: offs[d] + arange(block[d])) and, for
 * the dims in `check` (bitmask), the in-bounds mask 0 <= coord < shape. */
static Val block_pointers(Sema *S, Val base, const Val *shape, const Val *strides, const Val *offs, const int32_t *block,
                          int r, unsigned check, Val *mask) {
  Type bt = type_block(type_scalar(TM_I64), r, block);
  Val ptr = base;
  *mask = v_none();
  for (int d = 0; d < r; d++) {
    int32_t one[1] = {block[d]};
    Val ar = cast_to(S, tensor(mk_ins(S, O_RANGE, type_block(type_scalar(TM_I32), 1, one), 0, 0, 0, 0)), TM_I64);
    for (int i = 0; i < d; i++) ar = expand_dims(S, ar, 0);
    for (int i = d + 1; i < r; i++) ar = expand_dims(S, ar, ty_of(S, ar).rank);
    Val coord = binop(S, "+", ar, offs[d]);
    ptr = binop(S, "+", ptr, binop(S, "*", coord, strides[d]));
    if (check & (1u << d)) {
      Val in = binop(S, "&", compare(S, ">=", coord, v_int(0)), compare(S, "<", coord, shape[d]));
      *mask = mask->k == V_NONE ? in : binop(S, "&", *mask, in);
    }
  }
  ptr = broadcast_to(S, ptr, type_block(ty_of(S, ptr), r, block));
  if (mask->k != V_NONE) *mask = broadcast_to(S, *mask, with_dt(bt, TM_I1));
  return ptr;
}

static unsigned boundary_dims(Sema *S, Val v, int r) {
  if (v.k == V_NONE) return 0;
  Val *d = v.k == V_TUPLE ? v.items : &v;
  int n = v.k == V_TUPLE ? v.n : 1;
  unsigned m = 0;
  for (int i = 0; i < n; i++) {
    int64_t k = const_int(S, d[i], "boundary_check");
    if (k < 0 || k >= r) ERR(S, "boundary_check dim %lld is out of range for a block pointer of rank %d", (long long)k, r);
    m |= 1u << k;
  }
  return m;
}

static Val masked_block_load(Sema *S, Val ptr, Val mask, const char *padding) {
  check_pointee(S, ptr, "load");
  Type pt = ty_of(S, ptr);
  Type rt = with_dt(pt, (tm_dtype)pt.dt);
  if (mask.k == V_NONE) return tensor(mk_ins(S, O_LOAD, rt, 1, ptr.id, 0, 0));
  Val other;
  if (!strcmp(padding, "nan")) {
    if (!dt_is_float((tm_dtype)pt.dt)) ERR(S, "padding_option='nan' needs a floating-point block");
    other = broadcast_to(S, cast_to(S, v_float(NAN), (tm_dtype)pt.dt), rt);
  } else {
    other = broadcast_to(S, cast_to(S, v_int(0), (tm_dtype)pt.dt), rt);
  }
  return tensor(mk_ins(S, O_LOAD, rt, 3, ptr.id, mask.id, other.id));
}

/* The pointers of block pointer bp's block, and in *m the mask of the dims
 * boundary_check names (what tl.load and tl.store of a block pointer share). */
static Val blockptr_pointers(Sema *S, Val bp, Val bc, Val *m) {
  int r = bp.n;
  int32_t block[TM_MAX_RANK];
  for (int d = 0; d < r; d++) block[d] = (int32_t)bp.items[1 + 3 * r + d].i;
  return block_pointers(S, bp.items[0], bp.items + 1, bp.items + 1 + r, bp.items + 1 + 2 * r, block, r, boundary_dims(S, bc, r), m);
}

static Val blockptr_load(Sema *S, Val bp, Args *A) {
  Val mask = v_none(), other = v_none(), bc = v_none(), pad = v_none();
  arg_opt(S, A, 1, "mask", &mask);
  arg_opt(S, A, 2, "other", &other);
  arg_opt(S, A, 3, "boundary_check", &bc);
  arg_opt(S, A, 4, "padding_option", &pad);
  Val v;
  arg_opt(S, A, 5, "cache_modifier", &v);
  arg_opt(S, A, 6, "eviction_policy", &v);
  arg_opt(S, A, 7, "volatile", &v);
  args_done(S, A, 8);
  if (mask.k != V_NONE || other.k != V_NONE) ERR(S, "load from a block pointer takes boundary_check and padding_option, not mask/other");
  const char *padding = pad.k == V_STR ? pad.s : "";
  if (strcmp(padding, "") && strcmp(padding, "zero") && strcmp(padding, "nan")) ERR(S, "padding_option must be '', 'zero' or 'nan'");
  Val m, ptr = blockptr_pointers(S, bp, bc, &m);
  return masked_block_load(S, ptr, m, padding);
}

static Val store_block(Sema *S, Val ptr, Val value, Val mask) {
  check_pointee(S, ptr, "store");
  Type pt = ty_of(S, ptr);
  Param *par = param_of_pointer(S, ptr);
  if (par) {
    if (par->flags & TM_PF_READONLY) ERR(S, "store through '%s', which was passed as a read-only array", par->name);
    par->written = true;
  }
  value = broadcast_to(S, cast_to(S, value, (tm_dtype)pt.dt), pt);
  if (mask.k == V_NONE) mk_ins(S, O_STORE, (Type){0}, 2, ptr.id, value.id, 0);
  else mk_ins(S, O_STORE, (Type){0}, 3, ptr.id, value.id, mask.id);
  return v_none();
}

static Val blockptr_store(Sema *S, Val bp, Args *A) {
  Val value = arg_req(S, A, 1, "value"), mask = v_none(), bc = v_none(), v;
  arg_opt(S, A, 2, "mask", &mask);
  arg_opt(S, A, 3, "boundary_check", &bc);
  arg_opt(S, A, 4, "cache_modifier", &v);
  arg_opt(S, A, 5, "eviction_policy", &v);
  args_done(S, A, 6);
  if (mask.k != V_NONE) ERR(S, "store to a block pointer takes boundary_check, not mask");
  Val m, ptr = blockptr_pointers(S, bp, bc, &m);
  return store_block(S, ptr, value, m);
}

static Val call_make_tensor_descriptor(Sema *S, Args *A) {
  Val base = pointer_arg(S, arg_req(S, A, 0, "base"), "make_tensor_descriptor");
  Val shape = arg_req(S, A, 1, "shape"), strides = arg_req(S, A, 2, "strides"), bs = arg_req(S, A, 3, "block_shape");
  Val pad = v_none();
  arg_opt(S, A, 4, "padding_option", &pad);
  args_done(S, A, 5);
  if (ty_of(S, base).rank) ERR(S, "make_tensor_descriptor's base must be a scalar pointer");
  int r = bs.k == V_TUPLE ? bs.n : 1;
  if (r < 1 || r > TM_MAX_RANK) ERR(S, "tensor descriptors of rank %d are not supported (1 to %d)", r, TM_MAX_RANK);
  const char *padding = pad.k == V_STR ? pad.s : "zero";
  if (strcmp(padding, "zero") && strcmp(padding, "nan")) ERR(S, "padding_option must be 'zero' or 'nan'");
  Val d = {.k = V_TENSORDESC, .n = r, .i = !strcmp(padding, "nan")};
  d.items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(1 + 3 * r));
  d.items[0] = base;
  Val *sh = tuple_items(S, shape, r, "shape"), *st = tuple_items(S, strides, r, "strides"), *b = tuple_items(S, bs, r, "block_shape");
  int32_t bshape[TM_MAX_RANK];
  for (int k = 0; k < r; k++) {
    d.items[1 + k] = cast_to(S, int64_scalar(S, sh[k], "shape"), TM_I32);
    d.items[1 + r + k] = int64_scalar(S, st[k], "strides");
    bshape[k] = (int32_t)const_int(S, b[k], "block_shape");
    d.items[1 + 2 * r + k] = v_int(bshape[k]);
  }
  if (is_const(st[r - 1]) && st[r - 1].i != 1) ERR(S, "a tensor descriptor's last stride must be 1");
  check_block_shape(S, r, bshape);
  if (bshape[r - 1] * tm_dtype_bytes((tm_dtype)ty_of(S, base).dt) < 16)
    ERR(S, "Descriptor block shape must have at least 16 bytes in the last dimension (a tensor descriptor's last block dimension spans fewer)");
  return d;
}

/* desc.load(offsets) / desc.store(offsets, value): out-of-bounds elements read
 * as zero (or NaN) and are not written. */
static Val desc_method(Sema *S, Val d, const char *name, Args *A) {
  int r = d.n;
  int32_t block[TM_MAX_RANK];
  for (int k = 0; k < r; k++) block[k] = (int32_t)d.items[1 + 2 * r + k].i;
  if (strcmp(name, "load") && strcmp(name, "store"))
    ERR(S, "tensor descriptor method '%s' is not supported yet", name);
  Val offs = arg_req(S, A, 0, "offsets");
  Val *of = tuple_items(S, offs, r, "offsets");
  Val o64[TM_MAX_RANK];
  for (int k = 0; k < r; k++) o64[k] = int64_scalar(S, of[k], "offsets");
  Val sh64[TM_MAX_RANK];
  for (int k = 0; k < r; k++) sh64[k] = cast_to(S, d.items[1 + k], TM_I64);
  Val m;
  Val ptr = block_pointers(S, d.items[0], sh64, d.items + 1 + r, o64, block, r, (1u << r) - 1, &m);
  if (!strcmp(name, "load")) {
    args_done(S, A, 1);
    return masked_block_load(S, ptr, m, d.i ? "nan" : "zero");
  }
  Val value = to_tensor(S, arg_req(S, A, 1, "value"));
  args_done(S, A, 2);
  Type vt = ty_of(S, value);
  if (vt.rank != r) ERR(S, "desc.store: the value's shape must be the block shape");
  for (int k = 0; k < r; k++)
    if (vt.shape[k] != block[k]) ERR(S, "desc.store: the value's shape must be the block shape");
  return store_block(S, ptr, value, m);
}

/* tl.dot: acc + a @ b with upstream's typing (int8 -> int32; fp16 -> out_dtype,
 * fp32 by default; fp32 and bf16 -> fp32), rank 2 or batched rank 3. */
static Val call_dot(Sema *S, Args *A) {
  Val a = to_tensor(S, arg_req(S, A, 0, "input")), b = to_tensor(S, arg_req(S, A, 1, "other"));
  Val acc = v_none(), ip = v_none(), tf32 = v_none(), imp = v_none(), od = v_none();
  arg_opt(S, A, 2, "acc", &acc);
  arg_opt(S, A, 3, "input_precision", &ip);
  arg_opt(S, A, 4, "allow_tf32", &tf32);
  arg_opt(S, A, 5, "max_num_imprecise_acc", &imp);
  arg_opt(S, A, 6, "out_dtype", &od);
  args_done(S, A, 7);
  if (ip.k != V_NONE && tf32.k != V_NONE) ERR(S, "dot: give input_precision or allow_tf32, not both");
  if (ip.k != V_NONE) {
    if (ip.k != V_STR || (strcmp(ip.s, "ieee") && strcmp(ip.s, "tf32") && strcmp(ip.s, "tf32x3") && strcmp(ip.s, "bf16x3") &&
                          strcmp(ip.s, "bf16x6")))
      ERR(S, "dot: input_precision must be one of 'ieee', 'tf32', 'tf32x3', 'bf16x3', 'bf16x6'");
  }
  Type ta = ty_of(S, a), tb = ty_of(S, b);
  if (ta.ptr || tb.ptr) ERR(S, "dot of pointers");
  if (ta.rank != tb.rank || (ta.rank != 2 && ta.rank != 3))
    ERR(S, "dot needs two blocks of rank 2 (or 3, batched), got %s and %s", type_str(&S->c->arena, ta), type_str(&S->c->arena, tb));
  int r = ta.rank;
  if (ta.shape[r - 1] != tb.shape[r - 2])
    ERR(S, "dot: inner dimensions differ: %s @ %s", type_str(&S->c->arena, ta), type_str(&S->c->arena, tb));
  if (r == 3 && ta.shape[0] != tb.shape[0]) ERR(S, "dot: batch dimensions differ");
  tm_dtype da = (tm_dtype)ta.dt, db = (tm_dtype)tb.dt;
  if (da != db) ERR(S, "dot: both operands must have the same dtype, got %s and %s", tm_dtype_name(da), tm_dtype_name(db));
  tm_dtype out;
  if (da == TM_I8) out = TM_I32;
  else if (da == TM_F32 || da == TM_BF16) out = TM_F32;
  else if (da == TM_F16) out = TM_F32;
  else if (da == TM_U8) ERR(S, "dot: only int8 is supported among 8-bit integers");
  else ERR(S, "dot does not support %s operands", tm_dtype_name(da));
  if (od.k != V_NONE) { /* as upstream: integer operands give int32 whatever out_dtype says; fp32 and
                          * bf16 operands give fp32; fp16 operands give out_dtype (fp16 or fp32) */
    tm_dtype want = dtype_arg(S, od, "out_dtype");
    if (da != TM_I8) {
      if (want == TM_BF16)
        ERR(S, "out_dtype=bfloat16 is unsupported. Please use out_dtype=float32/float16 and cast with `.to(tl.bfloat16)`");
      if (da == TM_F16) {
        if (want != TM_F16 && want != TM_F32) ERR(S, "dot: out_dtype %s is not possible for float16 operands", tm_dtype_name(want));
        out = want;
      }
    }
  }
  int32_t shape[3];
  for (int i = 0; i < r - 1; i++) shape[i] = ta.shape[i];
  shape[r - 1] = tb.shape[r - 1];
  Type rt = type_block(type_scalar(out), r, shape);
  if (acc.k == V_NONE) {
    acc = broadcast_to(S, cast_to(S, v_int(0), out), rt);
  } else {
    acc = to_tensor(S, acc);
    Type tc = ty_of(S, acc);
    if (tc.dt != out) ERR(S, "dot: acc has dtype %s but the result is %s", tm_dtype_name((tm_dtype)tc.dt), tm_dtype_name(out));
    acc = broadcast_to(S, acc, rt);
  }
  return tensor(mk_ins(S, O_DOT, rt, 3, a.id, b.id, acc.id));
}

/* tl.atomic_*: returns the old values. sem orders the kernel's other memory
 * accesses around it (fences); scope is accepted and validated. */
static Val call_atomic(Sema *S, const char *kind, Args *A) {
  static const char *kinds[] = {"add", "max", "min", "and", "or", "xor", "xchg", "cas"};
  int k = -1;
  for (int i = 0; i < 8; i++)
    if (!strcmp(kind, kinds[i])) k = i;
  if (k < 0) ERR(S, "tl.atomic_%s does not exist", kind);
  bool cas = k == AT_CAS;
  Val p = pointer_arg(S, arg_req(S, A, 0, "pointer"), A->fname);
  if (ty_of(S, p).ptr == PTR_CONST) ERR(S, "Cannot store to a constant pointer (atomic_%s through a tl.const parameter)", kind);
  Val cmp = v_none(), val, mask = v_none(), sem = v_none(), scope = v_none();
  if (cas) {
    cmp = arg_req(S, A, 1, "cmp");
    val = arg_req(S, A, 2, "val");
    arg_opt(S, A, 3, "sem", &sem);
    arg_opt(S, A, 4, "scope", &scope);
  } else {
    val = arg_req(S, A, 1, "val");
    arg_opt(S, A, 2, "mask", &mask);
    arg_opt(S, A, 3, "sem", &sem);
    arg_opt(S, A, 4, "scope", &scope);
  }
  args_done(S, A, 5);
  int fence = AT_FENCE_BEFORE | AT_FENCE_AFTER; /* upstream's default is acq_rel */
  if (sem.k != V_NONE) {
    if (sem.k != V_STR) ERR(S, "sem must be a string");
    if (!strcmp(sem.s, "relaxed")) fence = 0;
    else if (!strcmp(sem.s, "acquire")) fence = AT_FENCE_AFTER;
    else if (!strcmp(sem.s, "release")) fence = AT_FENCE_BEFORE;
    else if (strcmp(sem.s, "acq_rel")) ERR(S, "sem must be 'relaxed', 'acquire', 'release' or 'acq_rel', got '%s'", sem.s);
  }
  if (scope.k != V_NONE && (scope.k != V_STR || (strcmp(scope.s, "gpu") && strcmp(scope.s, "cta") && strcmp(scope.s, "sys"))))
    ERR(S, "scope must be 'gpu', 'cta' or 'sys'");
  Type pt = ty_of(S, p);
  tm_dtype dt = (tm_dtype)pt.dt;
  Param *par = param_of_pointer(S, p);
  if (par) {
    if (par->flags & TM_PF_READONLY) ERR(S, "atomic through '%s', which was passed as a read-only array", par->name);
    par->written = true;
  }
  bool ok = dt == TM_I32 || dt == TM_U32 || (dt == TM_F32 && k != AT_AND && k != AT_OR && k != AT_XOR);
  bool half_add = (dt == TM_F16 || dt == TM_BF16) && k == AT_ADD; /* upstream: 16-bit floats only for add */
  bool half_cas = cas && dt_bits(dt) == 16;                        /* and any 16-bit element for cas */
  if (half_add || half_cas) {
    check_device_dtype(S, dt);
    /* Metal's atomics are 32-bit: a compare-and-swap loop on the word holding
       the element, whose half is picked by the element's offset from a 16-byte-
       aligned pointer argument: the offsets of a chain of additions (`p += row * N;
       p + cols`) add up */
    Val off = v_int(0);
    int base = p.id;
    for (;;) {
      Ins *bi = &S->fn->ins.v[base];
      if (bi->op == O_SPLAT || bi->op == O_BROADCAST) {
        base = bi->args[0];
      } else if (bi->op == O_ADDPTR) {
        int next = bi->args[0];
        off = binop(S, "+", cast_to(S, tensor(bi->args[1]), TM_I64), cast_to(S, off, TM_I64));
        base = next;
      } else {
        break;
      }
    }
    Ins *bi = &S->fn->ins.v[base];
    if (bi->op != O_ARG || !(S->fn->params.v[bi->aux].flags & TM_PF_DIV16))
      ERR(S, "atomic_%s on %s needs the pointer argument plus an offset (ptr + offs), the argument 16-byte aligned "
          "(as arrays from NumPy and torch are)", kind, tm_dtype_name(dt));
    off = broadcast_to(S, cast_to(S, off, TM_I64), with_dt(pt, TM_I64));
    val = broadcast_to(S, cast_to(S, val, dt), pt);
    int args4[4];
    if (half_cas) {
      cmp = broadcast_to(S, cast_to(S, cmp, dt), pt);
      args4[0] = p.id, args4[1] = cmp.id, args4[2] = val.id, args4[3] = off.id;
    } else {
      mask = mask.k == V_NONE ? cast_to(S, v_bool(true), TM_I1) : to_tensor(S, mask);
      check_mask(S, mask);
      mask = broadcast_to(S, mask, pt);
      args4[0] = p.id, args4[1] = val.id, args4[2] = mask.id, args4[3] = off.id;
    }
    int id = mk_insv(S, O_ATOMIC, with_dt(pt, dt), 4, args4);
    S->fn->ins.v[id].aux = half_cas ? AT_CAS16 : AT_ADD16;
    S->fn->ins.v[id].imm = fence;
    return tensor(id);
  }
  if (!ok) {
    if (dt_bits(dt) == 64)
      ERR(S, "64-bit atomics (%s) are not supported on Apple GPUs; use 32-bit values", tm_dtype_name(dt));
    ERR(S, "atomic_%s on %s is not supported (32-bit integers%s)", kind, tm_dtype_name(dt),
        k == AT_AND || k == AT_OR || k == AT_XOR ? "" : " and float32");
  }
  val = broadcast_exact(S, cast_to(S, val, dt), pt);
  int id;
  if (cas) {
    cmp = broadcast_exact(S, cast_to(S, cmp, dt), pt);
    id = mk_ins(S, O_ATOMIC, with_dt(pt, dt), 3, p.id, cmp.id, val.id);
  } else if (mask.k != V_NONE) {
    mask = to_tensor(S, mask);
    check_mask(S, mask);
    mask = broadcast_exact(S, mask, pt);
    id = mk_ins(S, O_ATOMIC, with_dt(pt, dt), 3, p.id, val.id, mask.id);
  } else {
    id = mk_ins(S, O_ATOMIC, with_dt(pt, dt), 2, p.id, val.id, 0);
  }
  S->fn->ins.v[id].aux = (int16_t)k;
  S->fn->ins.v[id].imm = fence;
  return tensor(id);
}

/* ---- shape ops: reshape, permute/trans, join/split/interleave, cat, flip, gather ---- */

static Val shuffle(Sema *S, ShuffleKind kind, Type rt, Val a, Val b, int64_t imm) {
  check_block_shape(S, rt.rank, rt.shape);
  int id = b.k == V_TENSOR ? mk_ins(S, O_SHUFFLE, rt, 2, a.id, b.id, 0) : mk_ins(S, O_SHUFFLE, rt, 1, a.id, 0, 0);
  S->fn->ins.v[id].aux = (int16_t)kind;
  S->fn->ins.v[id].imm = imm;
  return tensor(id);
}

/* Shape arguments given either as one tuple or as varargs from position `from`. */
static int shape_varargs(Sema *S, Args *A, int from, const char *kw, int32_t *shape) {
  Val v;
  if (A->npos > from + 1) {
    Val tup = {.k = V_TUPLE, .items = A->pos + from, .n = A->npos - from};
    A->npos = from;
    return shape_arg(S, tup, shape);
  }
  if (!arg_opt(S, A, from, kw, &v)) ERR(S, "%s() missing required argument '%s'", A->fname, kw);
  if (A->npos > from) A->npos = from;
  return shape_arg(S, v, shape);
}

static Val do_reshape(Sema *S, Val x, int rank, const int32_t *shape) {
  Type t = ty_of(S, x);
  Type rt = type_block(type_elem(t), rank, shape);
  if (type_numel(rt) != (t.rank ? type_numel(t) : 1))
    ERR(S, "cannot reshape %s to %s: the element counts differ", type_str(&S->c->arena, t), type_str(&S->c->arena, rt));
  if (!t.rank) return broadcast_to(S, x, rt);
  if (type_eq(t, rt)) return x;
  return shuffle(S, SH_RESHAPE, rt, x, v_none(), 0);
}

static Val do_permute(Sema *S, Val x, const int *perm, int n) {
  Type t = ty_of(S, x);
  if (n != t.rank) ERR(S, "permute needs %d dims for a block of rank %d, got %d", t.rank, t.rank, n);
  int seen = 0;
  int64_t imm = 0;
  int32_t shape[TM_MAX_RANK];
  bool ident = true;
  for (int i = 0; i < n; i++) {
    int p = perm[i] < 0 ? perm[i] + n : perm[i];
    if (p < 0 || p >= n || (seen & (1 << p))) ERR(S, "permute: dims must be a permutation of 0..%d", n - 1);
    seen |= 1 << p;
    shape[i] = t.shape[p];
    imm |= (int64_t)p << (4 * i);
    ident &= p == i;
  }
  if (ident) return x;
  return shuffle(S, SH_PERMUTE, type_block(type_elem(t), n, shape), x, v_none(), imm);
}

static Val do_join(Sema *S, Val a, Val b) {
  a = to_tensor(S, a);
  b = to_tensor(S, b);
  unify(S, &a, &b, false);
  Type t = ty_of(S, a);
  if (t.rank + 1 > TM_MAX_RANK) ERR(S, "join would make a block of rank above %d", TM_MAX_RANK);
  int32_t shape[TM_MAX_RANK];
  for (int i = 0; i < t.rank; i++) shape[i] = t.shape[i];
  shape[t.rank] = 2;
  if (!t.rank) { /* scalars: join [1] and [1] into [1, 2], then a block of two */
    int32_t one_two[2] = {1, 2}, two[1] = {2};
    Val j = shuffle(S, SH_JOIN, type_block(type_elem(t), 2, one_two), expand_dims(S, a, 0), expand_dims(S, b, 0), 0);
    return do_reshape(S, j, 1, two);
  }
  return shuffle(S, SH_JOIN, type_block(type_elem(t), t.rank + 1, shape), a, b, 0);
}

static bool call_shape_op(Sema *S, const char *name, Args *A, Val *out) {
  A->fname = name;
  if (!strcmp(name, "reshape") || !strcmp(name, "view")) {
    Val x = to_tensor(S, arg_req(S, A, 0, "input"));
    Val cr;
    arg_opt(S, A, -1, "can_reorder", &cr);
    int32_t shape[TM_MAX_RANK];
    int rank = shape_varargs(S, A, 1, "shape", shape);
    args_done(S, A, 1);
    *out = do_reshape(S, x, rank, shape);
    return true;
  }
  if (!strcmp(name, "ravel")) {
    Val x = to_tensor(S, arg_req(S, A, 0, "x"));
    Val cr;
    arg_opt(S, A, 1, "can_reorder", &cr);
    args_done(S, A, 2);
    int32_t n[1] = {(int32_t)(ty_of(S, x).rank ? type_numel(ty_of(S, x)) : 1)};
    *out = do_reshape(S, x, 1, n);
    return true;
  }
  if (!strcmp(name, "trans") || !strcmp(name, "permute")) {
    Val x = to_tensor(S, arg_req(S, A, 0, "input"));
    Type t = ty_of(S, x);
    int perm[TM_MAX_RANK], n = 0;
    if (A->npos > 2) {
      for (int i = 1; i < A->npos && n < TM_MAX_RANK; i++) perm[n++] = (int)const_int(S, A->pos[i], "dims");
      A->npos = 1;
    } else {
      Val d;
      if (arg_opt(S, A, 1, "dims", &d) && d.k != V_NONE) {
        if (d.k == V_TUPLE)
          for (int i = 0; i < d.n && n < TM_MAX_RANK; i++) perm[n++] = (int)const_int(S, d.items[i], "dims");
        else perm[n++] = (int)const_int(S, d, "dims");
      } else if (!strcmp(name, "permute")) {
        ERR(S, "permute() missing required argument 'dims'");
      }
      if (A->npos > 1) A->npos = 1;
    }
    args_done(S, A, 1);
    if (!n) { /* trans() of a 2-D block swaps its dims */
      if (t.rank != 2) ERR(S, "trans() without dims needs a 2-D block, got rank %d", t.rank);
      perm[0] = 1;
      perm[1] = 0;
      n = 2;
    }
    *out = do_permute(S, x, perm, n);
    return true;
  }
  if (!strcmp(name, "join")) {
    Val a = arg_req(S, A, 0, "a"), b = arg_req(S, A, 1, "b");
    args_done(S, A, 2);
    *out = do_join(S, a, b);
    return true;
  }
  if (!strcmp(name, "interleave")) {
    Val a = arg_req(S, A, 0, "a"), b = arg_req(S, A, 1, "b");
    args_done(S, A, 2);
    Val j = do_join(S, a, b);
    Type t = ty_of(S, j);
    if (t.rank < 2) { /* scalars: join already made the block of two */
      *out = j;
      return true;
    }
    int32_t shape[TM_MAX_RANK];
    for (int i = 0; i < t.rank - 2; i++) shape[i] = t.shape[i];
    shape[t.rank - 2] = t.shape[t.rank - 2] * 2;
    *out = do_reshape(S, j, t.rank - 1, shape);
    return true;
  }
  if (!strcmp(name, "split")) {
    Val x = to_tensor(S, arg_req(S, A, 0, "a"));
    args_done(S, A, 1);
    Type t = ty_of(S, x);
    if (!t.rank || t.shape[t.rank - 1] != 2) ERR(S, "split() needs a block whose last dimension is 2, got %s", type_str(&S->c->arena, t));
    int32_t shape[TM_MAX_RANK];
    for (int i = 0; i < t.rank - 1; i++) shape[i] = t.shape[i];
    Type rt = t.rank > 1 ? type_block(type_elem(t), t.rank - 1, shape) : type_elem(t);
    Val r = {.k = V_TUPLE, .n = 2};
    r.items = arena_alloc(&S->c->arena, sizeof(Val) * 2);
    for (int k = 0; k < 2; k++) {
      if (!rt.rank) { /* a <2> block: its elements as scalars */
        Val red = shuffle(S, SH_PICK, type_block(type_elem(t), 1, (int32_t[]){1}), x, v_none(), k);
        r.items[k] = reduce_axis(S, &red, 1, 0, CB_SUM, NULL, true);
      } else {
        r.items[k] = shuffle(S, SH_PICK, rt, x, v_none(), k);
      }
    }
    *out = r;
    return true;
  }
  if (!strcmp(name, "cat")) {
    Val a = to_tensor(S, arg_req(S, A, 0, "input")), b = to_tensor(S, arg_req(S, A, 1, "other"));
    Val cr, dv = v_int(0);
    arg_opt(S, A, 2, "can_reorder", &cr);
    arg_opt(S, A, 3, "dim", &dv);
    args_done(S, A, 4);
    unify(S, &a, &b, false);
    Type t = ty_of(S, a);
    if (!t.rank) ERR(S, "cat() needs blocks");
    int dim = (int)const_int(S, dv, "dim");
    if (dim < 0) dim += t.rank;
    if (dim < 0 || dim >= t.rank) ERR(S, "cat(): dim %d is out of range", dim);
    int32_t shape[TM_MAX_RANK];
    for (int i = 0; i < t.rank; i++) shape[i] = t.shape[i];
    shape[dim] *= 2;
    *out = shuffle(S, SH_CAT, type_block(type_elem(t), t.rank, shape), a, b, dim);
    return true;
  }
  if (!strcmp(name, "flip")) {
    Val x = to_tensor(S, arg_req(S, A, 0, "x")), dv = v_none();
    arg_opt(S, A, 1, "dim", &dv);
    args_done(S, A, 2);
    Type t = ty_of(S, x);
    if (!t.rank) ERR(S, "flip() needs a block");
    int dim = dv.k == V_NONE ? t.rank - 1 : (int)const_int(S, dv, "dim");
    if (dim < 0) dim += t.rank;
    if (dim < 0 || dim >= t.rank) ERR(S, "flip(): dim %d is out of range", dim);
    *out = shuffle(S, SH_FLIP, t, x, v_none(), dim);
    return true;
  }
  if (!strcmp(name, "gather")) {
    Val src = to_tensor(S, arg_req(S, A, 0, "src")), idx = to_tensor(S, arg_req(S, A, 1, "index"));
    int axis = (int)const_int(S, arg_req(S, A, 2, "axis"), "axis");
    args_done(S, A, 3);
    Type ts = ty_of(S, src), ti = ty_of(S, idx);
    if (ts.rank != ti.rank || !ts.rank) ERR(S, "gather(): src and index must have the same rank");
    if (axis < 0) axis += ts.rank;
    if (axis < 0 || axis >= ts.rank) ERR(S, "gather(): axis %d is out of range", axis);
    for (int i = 0; i < ts.rank; i++)
      if (i != axis && ts.shape[i] != ti.shape[i]) ERR(S, "gather(): index and src shapes must match outside the axis");
    if (!dt_is_int((tm_dtype)ti.dt) || ti.dt == TM_I1) ERR(S, "gather(): index must be integers");
    *out = shuffle(S, SH_GATHER, type_block(type_elem(ts), ti.rank, ti.shape), src, idx, axis);
    return true;
  }
  return false;
}

/* A def of src/stdlib.py, or NULL. */
static JitFn *stdlib_fn(Sema *S, const char *name) {
  if (!S->stdlib) {
    Ctx *c = S->c;
    Src saved = c->src;
    S->stdlib_src = (Src){.text = tm_stdlib_text, .filename = "<triton-metal stdlib>", .first_line = 1};
    c->src = S->stdlib_src;
    S->stdlib_toks = lex(c);
    S->stdlib = parse_module(c, S->stdlib_toks);
    c->src = saved;
  }
  for (int i = 0; i < S->stdlib->list.n; i++) {
    Node *e = S->stdlib->list.v[i];
    if (e->kind == N_DEF && !strcmp(e->name, name)) {
      JitFn *f = jitfn_new(S, e->name, S->stdlib_src, S->stdlib_toks, (int)e->ival, S->stdlib);
      f->stdlib = true;
      return f;
    }
  }
  return NULL;
}

static bool call_reduction(Sema *S, const char *name, Args *A, Val *out);
static bool call_shape_op(Sema *S, const char *name, Args *A, Val *out);

static Val call_device_print(Sema *S, Args *A);
static void device_assert(Sema *S, Val c, const char *msg, Val mask);
static Val v_str0(void);

static Val attribute(Sema *S, Val obj, const char *name);

static Val call_builtin(Sema *S, const char *path, Args *A) {
  const char *name = strrchr(path, '.');
  name = name ? name + 1 : path;
  A->fname = name;
  bool lang = !strncmp(path, "triton.language.", 16) || !strncmp(path, "triton.", 7);
  if (!strncmp(path, "builtins.", 9)) {
    if (!strcmp(name, "range")) ERR(S, "range() is only supported as a for-loop iterable");
    if (!strcmp(name, "min") || !strcmp(name, "max")) {
      if (A->npos < 1 || A->nkw) ERR(S, "%s() needs positional compile-time arguments", name);
      Val best = A->pos[0];
      for (int i = 1; i < A->npos; i++) {
        Val x = A->pos[i];
        if (is_const(x) && is_const(best)) {
          if (compare(S, name[1] == 'i' ? "<" : ">", x, best).i) best = x;
          continue;
        }
        /* on device values: tl.minimum / tl.maximum, as upstream */
        unify(S, &best, &x, false);
        best = tensor(mk_ins(S, name[1] == 'i' ? O_MIN : O_MAX, ty_of(S, best), 2, best.id, x.id, 0));
      }
      return best;
    }
    if (!strcmp(name, "int") || !strcmp(name, "float") || !strcmp(name, "bool")) {
      Val x = arg_req(S, A, 0, "x");
      args_done(S, A, 1);
      if (x.k == V_STR && name[0] == 'f') { /* float('inf'), float('-inf'), float('nan') */
        char *end;
        double d = strtod(x.s, &end);
        if (*end || !*x.s) ERR(S, "could not convert string to float: '%s'", x.s);
        return v_float(d);
      }
      if (!is_const(x)) ERR(S, "%s() needs a compile-time value", name);
      if (name[0] == 'i') return v_int(x.k == V_FLOAT ? (int64_t)x.f : x.i);
      if (name[0] == 'f') return v_float(x.k == V_FLOAT ? x.f : (double)x.i);
      return v_bool(truthy(S, x));
    }
    if (!strcmp(name, "len")) {
      Val x = arg_req(S, A, 0, "x");
      args_done(S, A, 1);
      if (x.k == V_TUPLE) return v_int(x.n);
      if (x.k == V_TENSOR && ty_of(S, x).rank) return v_int(ty_of(S, x).shape[0]);
      ERR(S, "len() of %s", vk_name(S, x));
    }
    if (!strcmp(name, "print")) return call_device_print(S, A); /* upstream: the builtin is device_print */
    if (!strcmp(name, "getattr")) { /* getattr(tl, FUNC) with a compile-time name */
      Val obj = arg_req(S, A, 0, "object"), attr = arg_req(S, A, 1, "name");
      args_done(S, A, 2);
      if (attr.k != V_STR) ERR(S, "getattr(): the attribute name must be a compile-time string, got %s", vk_name(S, attr));
      return attribute(S, obj, attr.s);
    }
    if (!strcmp(name, "isinstance")) {
      Val x = arg_req(S, A, 0, "obj"), cls = arg_req(S, A, 1, "class_or_tuple");
      args_done(S, A, 2);
      Val *cs = cls.k == V_TUPLE ? cls.items : &cls;
      int nc = cls.k == V_TUPLE ? cls.n : 1;
      for (int i = 0; i < nc; i++) {
        if (cs[i].k != V_FUNC) ERR(S, "isinstance(): the second argument must be a type");
        const char *t = strrchr(cs[i].s, '.') + 1;
        bool dev = x.k == V_TENSOR || (is_const(x) && x.tdt); /* a typed constant is upstream's 0-d tensor */
        bool r = (!strcmp(t, "constexpr") && !dev) || (!strcmp(t, "tensor") && dev) ||
                 (!strcmp(t, "int") && (x.k == V_INT || x.k == V_BOOL)) || (!strcmp(t, "bool") && x.k == V_BOOL) ||
                 (!strcmp(t, "float") && x.k == V_FLOAT) || (!strcmp(t, "tuple") && x.k == V_TUPLE) ||
                 (!strcmp(t, "str") && x.k == V_STR) || (!strcmp(t, "dtype") && x.k == V_DTYPE);
        if (r) return v_bool(true);
      }
      return v_bool(false);
    }
    ERR(S, "builtin %s() is not supported in kernels", name);
  }
  if (!lang) ERR(S, "'%s' is not a Triton function", path);
  if (!strcmp(name, "program_id")) return call_program_id(S, A, O_PROGRAM_ID);
  if (!strcmp(name, "num_programs")) return call_program_id(S, A, O_NUM_PROGRAMS);
  if (!strcmp(name, "arange")) return call_arange(S, A);
  if (!strcmp(name, "load")) return call_load(S, A);
  if (!strcmp(name, "store")) return call_store(S, A);
  if (!strcmp(name, "add") || !strcmp(name, "sub") || !strcmp(name, "mul")) { /* tl.add(x, y, sanitize_overflow=True) */
    Val x = arg_req(S, A, 0, "x"), y = arg_req(S, A, 1, "y"), so = v_bool(true);
    arg_opt(S, A, 2, "sanitize_overflow", &so);
    args_done(S, A, 3);
    return arith(S, name[0] == 'a' ? "+" : name[0] == 's' ? "-" : "*", x, y, truthy(S, so));
  }
  if (!strcmp(name, "where")) return call_where(S, A);
  if (!strcmp(name, "minimum")) return call_minmax(S, A, O_MIN);
  if (!strcmp(name, "maximum")) return call_minmax(S, A, O_MAX);
  if (!strcmp(name, "clamp")) return call_clamp(S, A);
  if (!strcmp(name, "full")) return call_full(S, A, false);
  if (!strcmp(name, "zeros")) return call_full(S, A, true);
  if (!strcmp(name, "cdiv")) return call_cdiv(S, A);
  Val red;
  if (call_reduction(S, name, A, &red)) return red;
  if (!strcmp(name, "dot")) return call_dot(S, A);
  if (!strcmp(name, "make_block_ptr")) return call_make_block_ptr(S, A);
  if (!strcmp(name, "advance")) return call_advance(S, A);
  if (!strcmp(name, "make_tensor_descriptor")) return call_make_tensor_descriptor(S, A);
  if (!strcmp(name, "load_tensor_descriptor") || !strcmp(name, "store_tensor_descriptor")) {
    Val d = arg_req(S, A, 0, "desc");
    if (d.k != V_TENSORDESC) ERR(S, "%s() needs a tensor descriptor", name);
    Args B = *A;
    B.pos = A->pos + 1;
    B.npos = A->npos - 1;
    return desc_method(S, d, name[0] == 'l' ? "load" : "store", &B);
  }
  if (!strncmp(name, "atomic_", 7)) return call_atomic(S, name + 7, A);
  Val shv;
  if (call_shape_op(S, name, A, &shv)) return shv;
  if (!strcmp(name, "expand_dims")) {
    Val x = to_tensor(S, arg_req(S, A, 0, "input")), ax = arg_req(S, A, 1, "axis");
    args_done(S, A, 2);
    if (ax.k == V_TUPLE) { /* each axis counts in the result's rank; applied in ascending order */
      int rank = ty_of(S, x).rank + ax.n, axes[TM_MAX_RANK + 1];
      if (ax.n > TM_MAX_RANK) ERR(S, "expand_dims: too many axes");
      for (int i = 0; i < ax.n; i++) {
        int d = (int)const_int(S, ax.items[i], "axis");
        if (d < -rank || d >= rank) ERR(S, "expand_dims: invalid axis %d; the result's rank %d takes %d <= axis < %d", d, rank, -rank, rank);
        axes[i] = d < 0 ? d + rank : d;
      }
      for (int i = 0; i < ax.n; i++)
        for (int j = i + 1; j < ax.n; j++)
          if (axes[i] == axes[j]) {
            const char *list = "";
            for (int k = 0; k < ax.n; k++) list = arena_printf(&S->c->arena, "%s%s%d", list, k ? ", " : "", axes[k]);
            ERR(S, "expand_dims: duplicate axes, normalized axes = [%s]", list);
          }
      for (int i = 1; i < ax.n; i++) /* ascending */
        for (int j = i; j > 0 && axes[j - 1] > axes[j]; j--) {
          int t = axes[j];
          axes[j] = axes[j - 1];
          axes[j - 1] = t;
        }
      for (int i = 0; i < ax.n; i++) x = expand_dims(S, x, axes[i]);
      return x;
    }
    return expand_dims(S, x, (int)const_int(S, ax, "axis"));
  }
  if (!strcmp(name, "broadcast_to")) {
    Val x = to_tensor(S, arg_req(S, A, 0, "input"));
    int32_t shape[TM_MAX_RANK];
    int rank;
    if (A->npos > 2) {
      Val tup = {.k = V_TUPLE, .items = A->pos + 1, .n = A->npos - 1};
      rank = shape_arg(S, tup, shape);
      A->npos = 1;
    } else {
      rank = shape_arg(S, arg_req(S, A, 1, "shape"), shape);
    }
    args_done(S, A, 2);
    return broadcast_exact(S, x, type_block(type_elem(ty_of(S, x)), rank, shape));
  }
  if (!strcmp(name, "broadcast")) {
    Val x = to_tensor(S, arg_req(S, A, 0, "input")), y = to_tensor(S, arg_req(S, A, 1, "other"));
    args_done(S, A, 2);
    broadcast_pair(S, &x, &y);
    Val t = {.k = V_TUPLE, .n = 2};
    t.items = arena_alloc(&S->c->arena, sizeof(Val) * 2);
    t.items[0] = x;
    t.items[1] = y;
    return t;
  }
  if (!strcmp(name, "zeros_like")) {
    Val x = to_tensor(S, arg_req(S, A, 0, "input"));
    args_done(S, A, 1);
    Type t = ty_of(S, x);
    return broadcast_to(S, cast_to(S, v_int(0), (tm_dtype)t.dt), t);
  }
  if (!strcmp(name, "full_like")) {
    Val x = to_tensor(S, arg_req(S, A, 0, "input")), v = arg_req(S, A, 1, "fill_value");
    args_done(S, A, 2);
    Type t = ty_of(S, x);
    return broadcast_to(S, cast_to(S, v, (tm_dtype)t.dt), t);
  }
  if (!strcmp(name, "cast")) return call_cast(S, arg_req(S, A, 0, "input"), A, 1);
  if (!strcmp(name, "pointer_type")) {
    Val e = arg_req(S, A, 0, "element_ty"), as;
    arg_opt(S, A, 1, "address_space", &as);
    arg_opt(S, A, 2, "const", &as);
    args_done(S, A, 3);
    return (Val){.k = V_DTYPE, .i = dtype_arg(S, e, "element_ty") | DT_PTR};
  }
  if (!strcmp(name, "inline_asm_elementwise") || !strcmp(name, "map_elementwise"))
    ERR(S, "tl.%s is not supported: inline assembly has no Metal equivalent", name);
  if (!strcmp(name, "dot_scaled")) ERR(S, "tl.dot_scaled (microscaling formats) is not supported yet");
  if (!strcmp(name, "to_tensor")) {
    Val x = arg_req(S, A, 0, "x");
    args_done(S, A, 1);
    return to_tensor(S, x);
  }
  if (!strcmp(name, "constexpr")) {
    Val v = arg_req(S, A, 0, "value");
    args_done(S, A, 1);
    return v;
  }
  if (!strcmp(name, "next_power_of_2")) {
    int64_t n = const_int(S, arg_req(S, A, 0, "n"), "n");
    args_done(S, A, 1);
    if (n < 0 || n > (INT64_C(1) << 62)) ERR(S, "next_power_of_2(%lld) is out of range", (long long)n);
    int64_t p = 1;
    while (p < n) p <<= 1;
    return v_int(n == 0 ? 0 : p); /* upstream: next_power_of_2(0) == 0 */
  }
  if (!strcmp(name, "multiple_of") || !strcmp(name, "max_contiguous") || !strcmp(name, "max_constancy")) {
    Val x = to_tensor(S, arg_req(S, A, 0, "input"));
    Val v;
    if (!arg_opt(S, A, 1, "values", &v)) ERR(S, "%s() missing required argument 'values'", name);
    args_done(S, A, 2);
    /* the hint for the last dim (axis.c reads it): a value or a tuple, one per dim */
    Val last = v.k == V_TUPLE ? (v.n ? v.items[v.n - 1] : v_int(1)) : v;
    int64_t h = const_int(S, last, "a hint value");
    if (h < 1) ERR(S, "%s() values must be positive", name);
    if (name[4] == 'c' && name[1] == 'a') return x; /* max_constancy: accepted, not used */
    int id = mk_ins(S, O_HINT, ty_of(S, x), 1, x.id, 0, 0);
    S->fn->ins.v[id].aux = name[0] == 'm' && name[1] == 'u' ? 0 : 1; /* 0: multiple_of, 1: max_contiguous */
    S->fn->ins.v[id].imm = h;
    return tensor(id);
  }
  if (!strcmp(name, "static_assert")) {
    Val c = arg_req(S, A, 0, "cond"), msg = v_none();
    arg_opt(S, A, 1, "msg", &msg);
    args_done(S, A, 2);
    if (c.k == V_TENSOR) ERR(S, "static_assert needs a compile-time condition");
    if (!truthy(S, c)) ERR(S, "static_assert failed%s%s", msg.k == V_STR ? ": " : "", msg.k == V_STR ? msg.s : "");
    return v_none();
  }
  if (!strcmp(name, "static_print")) { /* printed by the host when it compiles (upstream prints at compile time) */
    Val sep = (Val){.k = V_STR, .s = " "}, end = (Val){.k = V_STR, .s = "\n"};
    for (int i = 0; i < A->nkw; i++) {
      Val *dst = !strcmp(A->kwname[i], "sep") ? &sep : !strcmp(A->kwname[i], "end") ? &end : NULL;
      if (dst && A->kw[i].k != V_NONE) {
        if (A->kw[i].k != V_STR) ERR(S, "static_print's %s must be a string", A->kwname[i]);
        *dst = A->kw[i];
      }
      A->kwused[i] = true; /* file=, flush=: the host's stdout, as upstream's print */
    }
    Buf b = {0};
    for (int i = 0; i < A->npos; i++) {
      buf_printf(&b, "%s", i ? sep.s : "");
      py_str(S, &b, A->pos[i]);
    }
    buf_printf(&b, "%s", end.s);
    vec_push(&S->c->arena, S->fn->static_prints, arena_strdup(&S->c->arena, b.p ? b.p : ""));
    buf_free(&b);
    return v_none();
  }
  if (!strcmp(name, "device_print")) return call_device_print(S, A);
  if (!strcmp(name, "device_assert")) {
    Val c = arg_req(S, A, 0, "cond"), msg = v_str0();
    arg_opt(S, A, 1, "msg", &msg);
    Val mask = v_none();
    arg_opt(S, A, 2, "mask", &mask);
    args_done(S, A, 3);
    device_assert(S, c, msg.k == V_STR ? msg.s : "", mask);
    return v_none();
  }
  if (!strcmp(name, "debug_barrier")) {
    args_done(S, A, 0);
    mk_ins(S, O_BARRIER, (Type){0}, 0, 0, 0, 0);
    return v_none();
  }
  if (!strcmp(name, "assume")) {
    arg_req(S, A, 0, "cond");
    args_done(S, A, 1);
    return v_none(); /* a hint: accepted */
  }
  if (!strcmp(name, "jit")) ERR(S, "triton.jit cannot be called inside a kernel");
  if (!strncmp(path, "triton.language.extra.cuda.", 27) || !strncmp(path, "triton.language.extra.hip.", 26)) {
    /* the backend modules' program-shape queries; their other functions are NVIDIA/AMD hardware */
    if (!strcmp(name, "num_threads") || !strcmp(name, "num_warps")) {
      args_done(S, A, 0);
      return typed(S, v_int(name[4] == 't' ? S->fn->num_warps * 32 : S->fn->num_warps));
    }
    ERR(S, "%s is specific to %s GPUs and has no Apple GPU counterpart", path, path[22] == 'c' ? "NVIDIA" : "AMD");
  }
  int space = !strncmp(path, "triton.language.extra.libdevice.", 32) ? MF_LIBDEVICE
              : !strncmp(path, "triton.language.math.", 21)          ? MF_MATH
                                                                      : MF_TL;
  int mi = math_lookup(space, name);
  if (mi < 0 && space == MF_MATH) mi = math_lookup(MF_LIBDEVICE, name); /* Triton 2.x: tl.math.tanh */
  if (mi >= 0) return call_math(S, mi, A);
  if (space == MF_LIBDEVICE) { /* upstream's float64-only functions: named, so kernels that only mention them compile */
    static const char *fp64_only[] = {"isfinited", "rcp64h", "double_as_longlong", "longlong_as_double",
                                      "hiloint2double", "double2loint", "double2hiint",
                                      "double2float_rn", "double2float_rz", "double2float_rd", "double2float_ru",
                                      "double2int_rn", "double2int_rz", "double2int_rd", "double2int_ru",
                                      "double2uint_rn", "double2uint_rz", "double2uint_rd", "double2uint_ru",
                                      "double2ll_rn", "double2ll_rz", "double2ll_rd", "double2ll_ru",
                                      "double2ull_rn", "double2ull_rz", "double2ull_rd", "double2ull_ru",
                                      "int2double_rn", "uint2double_rn",
                                      "ll2double_rn", "ll2double_rz", "ll2double_rd", "ll2double_ru",
                                      "ull2double_rn", "ull2double_rz", "ull2double_rd", "ull2double_ru", NULL};
    for (int i = 0; fp64_only[i]; i++)
      if (!strcmp(name, fp64_only[i]))
        ERR(S, "libdevice.%s() computes float64, which Apple GPUs do not (Metal has no double)%s", name,
            i == 0 ? "; for float32 use libdevice.finitef()" : "");
  }
  JitFn *sf = stdlib_fn(S, name);
  if (sf) return call_jitfn(S, sf, A);
  ERR(S, "%s.%s is not supported yet", space == MF_LIBDEVICE ? "libdevice" : space == MF_MATH ? "tl.math" : "tl", name);
}

/* dtype predicates: tl.float16.is_floating(), x.dtype.is_int_signed(), ... */
static Val dtype_method(Sema *S, Val self, const char *name, Args *A) {
  args_done(S, A, 0);
  tm_dtype dt = (tm_dtype)(self.i & ~DT_PTR);
  bool ptr = self.i & DT_PTR;
  if (!strcmp(name, "is_ptr")) return v_bool(ptr);
  static const struct {
    const char *name;
    int dt;
  } exact[] = {{"is_int1", TM_I1}, {"is_bool", TM_I1}, {"is_int8", TM_I8}, {"is_int16", TM_I16}, {"is_int32", TM_I32},
               {"is_int64", TM_I64}, {"is_uint8", TM_U8}, {"is_uint16", TM_U16}, {"is_uint32", TM_U32},
               {"is_uint64", TM_U64}, {"is_fp16", TM_F16}, {"is_bf16", TM_BF16}, {"is_fp32", TM_F32}, {"is_fp64", TM_F64}};
  for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
    if (!strcmp(name, exact[i].name)) return v_bool(!ptr && (int)dt == exact[i].dt);
  bool fp8 = !ptr && dt >= TM_FP8E5 && dt < TM_DT_END;
  if (!strcmp(name, "is_fp8")) return v_bool(fp8);
  if (!strncmp(name, "is_fp8", 6)) {
    static const char *fp8s[] = {"is_fp8e5", "is_fp8e5b16", "is_fp8e4nv", "is_fp8e4b8", "is_fp8e4b15"};
    for (int i = 0; i < 5; i++)
      if (!strcmp(name, fp8s[i])) return v_bool(fp8 && (int)dt == TM_FP8E5 + i);
  }
  if (!strcmp(name, "is_floating")) return v_bool(!ptr && (dt_is_float(dt) || fp8));
  if (!strcmp(name, "is_standard_floating")) return v_bool(!ptr && dt_is_float(dt));
  if (!strcmp(name, "is_int")) return v_bool(!ptr && dt_is_int(dt));
  if (!strcmp(name, "is_int_signed")) return v_bool(!ptr && dt_is_signed(dt));
  if (!strcmp(name, "is_int_unsigned")) return v_bool(!ptr && dt_is_int(dt) && !dt_is_signed(dt));
  if (!strcmp(name, "is_block")) return v_bool(false);
  ERR(S, "dtype has no method '%s'", name);
}

static Val desc_method(Sema *S, Val d, const char *name, Args *A);

static Val call_method(Sema *S, Val self, const char *name, Args *A) {
  A->fname = name;
  if (self.k == V_DTYPE) return dtype_method(S, self, name, A);
  if (self.k == V_TENSORDESC) return desc_method(S, self, name, A);
  if (self.k != V_TENSOR) ERR(S, "%s has no method '%s'", vk_name(S, self), name);
  if (!strcmp(name, "to")) return call_cast(S, self, A, 0);
  if (!strcmp(name, "logical_and") || !strcmp(name, "logical_or")) { /* tensor methods only, as upstream */
    Val o = arg_req(S, A, 0, "other");
    args_done(S, A, 1);
    Val ops[2] = {self, to_tensor(S, o)};
    for (int i = 0; i < 2; i++)
      if (ty_of(S, ops[i]).ptr || ty_of(S, ops[i]).dt != TM_I1)
        ERR(S, "%s() takes int1 (boolean) operands, as upstream (which bitcasts others to int1 and fails); got %s", name,
            ty_of(S, ops[i]).ptr ? "a pointer" : tm_dtype_name((tm_dtype)ty_of(S, ops[i]).dt));
    return binop(S, name[8] == 'a' ? "&" : "|", ops[0], ops[1]);
  }
  static const char *fns[] = {"sum", "max", "min", "argmax", "argmin", "xor_sum", "reduce_or", "reduce",
                              "expand_dims", "broadcast_to", "reshape", "view", "trans", "permute", "ravel", "split",
                              "cumsum", "cumprod", "associative_scan", NULL};
  (void)fns;
  { /* as upstream's tensor members: x.sum(0), x.exp(), x.sort(), ... are tl.<name>(x, ...) */
      Args B = *A;
      B.pos = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(A->npos + 2));
      B.pos[0] = self;
      if (A->npos) memcpy(B.pos + 1, A->pos, sizeof(Val) * (size_t)A->npos);
      B.npos = A->npos + 1;
      return call_builtin(S, arena_printf(&S->c->arena, "triton.language.%s", name), &B);
  }
}

/* A compile-time value as the host sees it (typed constants as their Python value). */
static tm_value to_tm_value(Sema *S, Val v, const char *fname) {
  switch (v.k) {
  case V_NONE: return (tm_value){.kind = TM_V_NONE};
  case V_BOOL: return (tm_value){.kind = TM_V_BOOL, .i = v.i};
  case V_INT:
    if (v.u64) ERR(S, "%s(): integer arguments of host functions must fit in int64", fname);
    return (tm_value){.kind = TM_V_INT, .i = v.i};
  case V_FLOAT: return (tm_value){.kind = TM_V_FLOAT, .f = v.f};
  case V_STR: return (tm_value){.kind = TM_V_STR, .s = v.s};
  case V_DTYPE:
    if (v.i & DT_PTR) ERR(S, "%s(): pointer types cannot be passed to host functions", fname);
    return (tm_value){.kind = TM_V_DTYPE, .i = v.i};
  default: ERR(S, "%s() runs at compile time: its arguments must be compile-time values, got %s", fname, vk_name(S, v));
  }
}

/* A @triton.constexpr_function called by the kernel: run on the host now. */
static Val call_hostfn(Sema *S, Val f, Args *A) {
  const tm_compile_request *r = S->c->req;
  if (!r->host_call) ERR(S, "%s() is a host function; this compiler was called without a host to run it", f.s);
  if (A->nkw) ERR(S, "%s(): keyword arguments are not supported for host functions", f.s);
  tm_value *args = arena_alloc(&S->c->arena, sizeof(tm_value) * (size_t)(A->npos + 1));
  for (int i = 0; i < A->npos; i++) args[i] = to_tm_value(S, A->pos[i], f.s);
  tm_value out = {0};
  char *err = NULL;
  if (r->host_call(r->host_ctx, &r->globals[f.i], args, A->npos, &out, &err)) {
    const char *m = arena_strdup(&S->c->arena, err ? err : "failed");
    free(err);
    ERR(S, "%s() failed at compile time: %s", f.s, m);
  }
  free(err);
  return from_tm_value(S, out);
}

/* NamedTupleClass(a, b, field=c): a tuple with the class's field names;
 * every field must be given (defaults are not passed to the compiler). */
static Val make_named_tuple(Sema *S, Val cls, Args *A) {
  if (A->npos > cls.n) ERR(S, "%s takes %d fields but %d positional arguments were given", cls.s, cls.n, A->npos);
  Val t = {.k = V_TUPLE, .n = cls.n, .fields = cls.fields};
  t.items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(cls.n + 1));
  bool *set = arena_alloc(&S->c->arena, sizeof(bool) * (size_t)(cls.n + 1));
  memset(set, 0, sizeof(bool) * (size_t)(cls.n + 1));
  for (int i = 0; i < A->npos; i++) {
    t.items[i] = A->pos[i];
    set[i] = true;
  }
  for (int i = 0; i < A->nkw; i++) {
    int k = 0;
    while (k < cls.n && strcmp(cls.fields[k], A->kwname[i])) k++;
    if (k == cls.n) ERR(S, "%s has no field '%s'", cls.s, A->kwname[i]);
    if (set[k]) ERR(S, "%s: field '%s' given twice", cls.s, A->kwname[i]);
    t.items[k] = A->kw[i];
    set[k] = true;
    A->kwused[i] = true;
  }
  for (int k = 0; k < cls.n; k++)
    if (!set[k]) ERR(S, "%s: field '%s' is not given (a kernel must give every field)", cls.s, cls.fields[k]);
  return t;
}

static Val call(Sema *S, Node *n) {
  Val f = eval(S, n->a);
  Args A = {0};
  int cap = n->list.n;
  Val *pos = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(cap + 1));
  for (int i = 0; i < n->list.n; i++) {
    Node *a = n->list.v[i];
    if (a->kind != N_STARRED) {
      pos[A.npos++] = eval(S, a);
      continue;
    }
    Val t = eval(S, a->a);
    S->line = a->line;
    S->col = a->col;
    if (t.k != V_TUPLE) ERR(S, "*%s: only a tuple can be unpacked into arguments", vk_name(S, t));
    Val *grown = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(cap + t.n + 1));
    memcpy(grown, pos, sizeof(Val) * (size_t)A.npos);
    pos = grown;
    cap += t.n;
    for (int k = 0; k < t.n; k++) pos[A.npos++] = t.items[k];
  }
  A.pos = pos;
  A.nkw = n->list2.n;
  A.kw = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(A.nkw + 1));
  A.kwname = arena_alloc(&S->c->arena, sizeof(char *) * (size_t)(A.nkw + 1));
  A.kwused = arena_alloc(&S->c->arena, sizeof(bool) * (size_t)(A.nkw + 1));
  for (int i = 0; i < A.nkw; i++) {
    A.kwname[i] = n->list2.v[i]->name;
    A.kw[i] = eval(S, n->list2.v[i]->a);
  }
  S->line = n->line;
  S->col = n->col;
  if (f.k == V_FUNC) return call_builtin(S, f.s, &A);
  if (f.k == V_METHOD) return call_method(S, f.items[0], f.s, &A);
  if (f.k == V_JITFN) return call_jitfn(S, f.fn, &A);
  if (f.k == V_HOSTFN) return call_hostfn(S, f, &A);
  if (f.k == V_TUPLETYPE) return make_named_tuple(S, f, &A);
  if (f.k == V_DTYPE) ERR(S, "dtypes are not callable; use x.to(dtype)");
  ERR(S, "%s is not callable", vk_name(S, f));
}

/* ------------------------------------------------------------ expressions */

static Val attribute(Sema *S, Val obj, const char *name) {
  if (obj.k == V_TUPLE && obj.fields) {
    for (int k = 0; k < obj.n; k++)
      if (!strcmp(obj.fields[k], name)) return obj.items[k];
  }
  if (obj.k == V_MODULE) {
    tm_dtype dt;
    bool lang = !strcmp(obj.s, "triton.language") || !strcmp(obj.s, "triton.language.core");
    if (lang && dtype_by_name(name, &dt) && strcmp(name, "bool") && strcmp(name, "half") && strcmp(name, "float") && strcmp(name, "double"))
      return v_dtype(dt);
    if (!strcmp(obj.s, "triton") && !strcmp(name, "language")) return (Val){.k = V_MODULE, .s = "triton.language"};
    if (lang && !strcmp(name, "pi32_t")) return (Val){.k = V_DTYPE, .i = TM_I32 | DT_PTR}; /* pointer to int32 */
    if (lang && (!strcmp(name, "core") || !strcmp(name, "standard") || !strcmp(name, "random")))
      return (Val){.k = V_MODULE, .s = "triton.language"}; /* tl.core.int16, tl.core.constexpr(v): the same names */
    if (lang && (!strcmp(name, "math") || !strcmp(name, "extra")))
      return (Val){.k = V_MODULE, .s = arena_printf(&S->c->arena, "triton.language.%s", name)};
    if (!strcmp(obj.s, "triton.language.extra") && !strcmp(name, "libdevice"))
      return (Val){.k = V_MODULE, .s = "triton.language.extra.libdevice"};
    if (!strcmp(obj.s, "triton.language.extra") && (!strcmp(name, "cuda") || !strcmp(name, "hip")))
      return (Val){.k = V_MODULE, .s = arena_printf(&S->c->arena, "triton.language.extra.%s", name)};
    if ((!strcmp(obj.s, "triton.language.extra.cuda") || !strcmp(obj.s, "triton.language.extra.hip")) &&
        !strcmp(name, "libdevice"))
      return (Val){.k = V_MODULE, .s = "triton.language.extra.libdevice"};
    if (!strncmp(obj.s, "triton", 6)) return (Val){.k = V_FUNC, .s = arena_printf(&S->c->arena, "%s.%s", obj.s, name)};
    if (!strncmp(obj.s, "pymod:", 6)) { /* a Python module of the program's (`import helpers as h; h.f(x)`) */
      Val v;
      if (lookup_request_global(S, arena_printf(&S->c->arena, "%s.%s", obj.s, name), &v)) return v;
      ERR(S, "module '%s' has no attribute '%s' that kernels can use (a @jit function, a number, a dtype or a module)",
          obj.s + 6, name);
    }
    ERR(S, "module '%s' is not usable in kernels", obj.s);
  }
  if (obj.k == V_FUNC && !strcmp(obj.s, "triton.language.PropagateNan")) {
    if (!strcmp(name, "NONE")) return v_int(0);
    if (!strcmp(name, "ALL")) return v_int(0xffff);
    ERR(S, "PropagateNan has no member '%s'", name);
  }
  if ((is_const(obj) || obj.k == V_DTYPE || obj.k == V_STR || obj.k == V_NONE) && !strcmp(name, "value")) {
    obj.tdt = 0; /* constexpr.value: the Python value */
    return obj;
  }
  if (is_const(obj) && obj.tdt) { /* a typed constant answers as its 0-d tensor */
    if (!strcmp(name, "dtype") || !strcmp(name, "type")) return v_dtype((tm_dtype)obj.tdt);
    obj = to_tensor(S, obj);
  }
  if (obj.k == V_TENSOR) {
    Type t = ty_of(S, obj);
    if (!strcmp(name, "dtype")) return (Val){.k = V_DTYPE, .i = t.dt | (t.ptr ? DT_PTR : 0)};
    if (!strcmp(name, "type")) return (Val){.k = V_DTYPE, .i = t.dt | (t.ptr ? DT_PTR : 0)};
    if (!strcmp(name, "shape")) {
      Val tup = {.k = V_TUPLE, .n = t.rank};
      tup.items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(t.rank + 1));
      for (int i = 0; i < t.rank; i++) tup.items[i] = v_int(t.shape[i]);
      return tup;
    }
    if (!strcmp(name, "numel")) return v_int(type_numel(t));
    if (!strcmp(name, "T")) {
      if (t.rank != 2) ERR(S, ".T needs a 2-D block");
      int perm[2] = {1, 0};
      return do_permute(S, obj, perm, 2);
    }
    Val m = {.k = V_METHOD, .s = name, .n = 1};
    m.items = arena_alloc(&S->c->arena, sizeof(Val));
    m.items[0] = obj;
    return m;
  }
  if (obj.k == V_TENSORDESC || obj.k == V_BLOCKPTR) {
    int r = obj.n;
    if (obj.k == V_TENSORDESC && (!strcmp(name, "load") || !strcmp(name, "store"))) {
      Val m = {.k = V_METHOD, .s = name, .n = 1};
      m.items = arena_memdup_val(S, obj);
      return m;
    }
    if (!strcmp(name, "block_shape")) {
      Val t = {.k = V_TUPLE, .n = r};
      t.items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)r);
      for (int k = 0; k < r; k++) t.items[k] = obj.items[1 + (obj.k == V_TENSORDESC ? 2 : 3) * r + k];
      return t;
    }
    /* Block types are not modelled (a tensor's .type is its element type), so a
       block pointer's .type is a pointer to its element type: .type.element_ty is
       what upstream's x.to(p.type.element_ty) casts to. A descriptor's .dtype is
       its element type, as upstream's. */
    tm_dtype el = (tm_dtype)ty_of(S, obj.items[0]).dt;
    if (obj.k == V_BLOCKPTR && (!strcmp(name, "type") || !strcmp(name, "dtype")))
      return (Val){.k = V_DTYPE, .i = el | DT_PTR};
    if (obj.k == V_TENSORDESC && !strcmp(name, "dtype")) return v_dtype(el);
    ERR(S, "%s has no attribute '%s'", vk_name(S, obj), name);
  }
  if (obj.k == V_DTYPE) {
    tm_dtype dt = (tm_dtype)(obj.i & ~DT_PTR);
    bool ptr = obj.i & DT_PTR;
    if (!strcmp(name, "element_ty")) {
      if (!ptr) ERR(S, "dtype %s has no element_ty: it is not a pointer type", tm_dtype_name(dt));
      return v_dtype(dt);
    }
    if (!strcmp(name, "scalar")) return obj;
    if (!strcmp(name, "name")) return (Val){.k = V_STR, .s = ptr ? arena_printf(&S->c->arena, "pointer<%s>", up_name(dt)) : up_name(dt)};
    if (ptr) {
      if (!strcmp(name, "is_ptr")) return (Val){.k = V_METHOD, .s = "is_ptr", .n = 1, .items = arena_memdup_val(S, obj)};
      ERR(S, "pointer type has no attribute '%s'", name);
    }
    if (!strcmp(name, "primitive_bitwidth") || !strcmp(name, "int_bitwidth")) return v_int(dt_bits(dt));
    if (!strcmp(name, "fp_mantissa_width")) return v_int(dt_fp_mantissa(dt));
    if (!strncmp(name, "is_", 3)) return (Val){.k = V_METHOD, .s = name, .n = 1, .items = arena_memdup_val(S, obj)};
  }
  ERR(S, "%s has no attribute '%s'", vk_name(S, obj), name);
}

/* x[:, None], x[None, :], x[None]: ':' keeps a dimension, None inserts one. */
static Val subscript(Sema *S, Val x, Node *idx) {
  Node *one[1] = {idx};
  Node **items = idx->kind == N_TUPLE ? idx->list.v : one;
  int n = idx->kind == N_TUPLE ? idx->list.n : 1;
  int dim = 0;
  for (int i = 0; i < n; i++) {
    Node *it = items[i];
    if (it->kind == N_NONE) {
      x = expand_dims(S, x, dim++);
    } else if (it->kind == N_SLICE && !it->a && !it->b && !it->c) {
      dim++; /* as upstream: ':' keeps a dimension and is not checked against the rank */
    } else {
      S->line = it->line;
      S->col = it->col;
      ERR(S, "unsupported tensor index: blocks can only be indexed with ':' and None (x[:, None]); use tl.load with offsets or tl.gather");
    }
  }
  return x;
}

static int region_op(Sema *S, Op op, int nargs, const int *args, int nregions);

/* `a if c else b` on a scalar device condition: an if op whose branches each
 * compute their value (only the branch taken runs), as upstream. */
static Val ifexp_device(Sema *S, Node *n, Val c) {
  if (ty_of(S, c).rank) ERR(S, "a conditional expression needs a scalar condition, not a block; use tl.where for blocks");
  c = cast_to(S, c, TM_I1);
  Block *outer = S->blk;
  int op = region_op(S, O_IF, 1, &c.id, 2);
  Node *branch[2] = {n->b, n->c};
  Type t[2];
  bool none[2];
  for (int side = 0; side < 2; side++) {
    S->blk = S->fn->ins.v[op].regions[side];
    S->depth++;
    Val v = eval(S, branch[side]);
    none[side] = v.k == V_NONE; /* `tl.store(a, x) if c else tl.store(b, x)`: no value */
    if (!none[side]) v = to_tensor(S, v);
    S->depth--;
    t[side] = none[side] ? (Type){0} : ty_of(S, v);
    S->line = n->line;
    S->col = n->col;
    if (side && (none[0] != none[1] || (!none[0] && !type_eq(t[0], t[1]))))
      ERR(S, "Ternary expression with dynamic condition has inconsistent types %s and %s",
          none[0] ? "void" : type_str(&S->c->arena, t[0]), none[1] ? "void" : type_str(&S->c->arena, t[1]));
    mk_insv(S, O_YIELD, (Type){0}, none[side] ? 0 : 1, &v.id);
  }
  S->blk = outer;
  if (none[0]) return v_none();
  int id = mk_ins(S, O_RESULT, t[0], 0, 0, 0, 0);
  S->fn->ins.v[id].aux = 0;
  S->fn->ins.v[id].imm = op;
  return tensor(id);
}

static Val eval(Sema *S, Node *n) {
  S->line = n->line;
  S->col = n->col;
  switch (n->kind) {
  case N_INT: {
    Val v = v_int(n->ival);
    v.u64 = n->op != NULL; /* a literal in [2**63, 2**64) */
    return v;
  }
  case N_FLOAT: return v_float(n->fval);
  case N_STR: return (Val){.k = V_STR, .s = n->str};
  case N_TRUE: return v_bool(true);
  case N_FALSE: return v_bool(false);
  case N_NONE: return v_none();
  case N_NAME: return lookup(S, n->name);
  case N_TUPLE: case N_LIST: {
    Val t = {.k = V_TUPLE, .n = n->list.n};
    t.items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(t.n + 1));
    for (int i = 0; i < t.n; i++) t.items[i] = eval(S, n->list.v[i]);
    return t;
  }
  case N_ATTR: {
    Val o = eval(S, n->a);
    S->line = n->line;
    S->col = n->col;
    return attribute(S, o, n->name);
  }
  case N_CALL: return call(S, n);
  case N_BINOP: {
    Val a = eval(S, n->a), b = eval(S, n->b);
    S->line = n->line;
    S->col = n->col;
    return arith(S, n->op, a, b, true);
  }
  case N_UNARY: {
    Val a = eval(S, n->a);
    S->line = n->line;
    S->col = n->col;
    if (!strcmp(n->op, "-") && S->c->req->debug && a.k == V_TENSOR && !ty_of(S, a).ptr &&
        dt_is_int((tm_dtype)ty_of(S, a).dt) && ty_of(S, a).dt != TM_I1) /* upstream: 0 - x, sanitized */
      return arith(S, "-", cast_to(S, to_tensor(S, v_int(0)), (tm_dtype)ty_of(S, a).dt), a, true);
    return unary(S, n->op, a);
  }
  case N_COMPARE: {
    Val a = eval(S, n->a), b = eval(S, n->b);
    S->line = n->line;
    S->col = n->col;
    return compare(S, n->op, a, b);
  }
  case N_BOOLOP: {
    bool is_and = n->op[0] == 'a';
    Val acc = eval(S, n->list.v[0]);
    for (int i = 1; i < n->list.n; i++) {
      if (acc.k != V_TENSOR) {
        if (truthy(S, acc) != is_and) return acc; /* Python short-circuit */
        acc = eval(S, n->list.v[i]);
        continue;
      }
      Val b = eval(S, n->list.v[i]);
      S->line = n->line;
      S->col = n->col;
      acc = binop(S, is_and ? "&" : "|", acc, b);
    }
    return acc;
  }
  case N_IFEXP: {
    Val c = eval(S, n->a);
    S->line = n->line;
    S->col = n->col;
    if (c.k == V_TENSOR) return ifexp_device(S, n, c);
    return eval(S, truthy(S, c) ? n->b : n->c);
  }
  case N_SUBSCRIPT: {
    Val o = eval(S, n->a);
    S->line = n->line;
    S->col = n->col;
    if (o.k == V_TENSOR) return subscript(S, o, n->b);
    if (o.k == V_TUPLE && n->b->kind == N_SLICE) { /* t[a:b:c] with compile-time bounds */
      Node *sl = n->b;
      int64_t step = sl->c ? const_int(S, eval(S, sl->c), "a slice step") : 1;
      if (step == 0) ERR(S, "slice step cannot be zero");
      int64_t len = o.n, lo, hi;
      int64_t dlo = step > 0 ? 0 : len - 1, dhi = step > 0 ? len : -1;
      lo = sl->a ? const_int(S, eval(S, sl->a), "a slice bound") : dlo;
      hi = sl->b ? const_int(S, eval(S, sl->b), "a slice bound") : dhi;
      if (sl->a && lo < 0) lo += len;
      if (sl->b && hi < 0) hi += len;
      if (step > 0) {
        lo = lo < 0 ? 0 : lo > len ? len : lo;
        hi = hi < 0 ? 0 : hi > len ? len : hi;
      } else {
        lo = lo < -1 ? -1 : lo > len - 1 ? len - 1 : lo;
        hi = hi < -1 ? -1 : hi > len - 1 ? len - 1 : hi;
      }
      Val r = {.k = V_TUPLE};
      r.items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(len + 1));
      for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step) r.items[r.n++] = o.items[i];
      return r;
    }
    Val idx = n->b->kind == N_SLICE ? (Val){.k = V_SLICE} : eval(S, n->b);
    S->line = n->line;
    S->col = n->col;
    if (o.k == V_TUPLE) {
      int64_t i = const_int(S, idx, "a tuple index");
      if (i < 0) i += o.n;
      if (i < 0 || i >= o.n) ERR(S, "tuple index out of range");
      return o.items[i];
    }
    if (o.k == V_TENSOR) return subscript(S, o, n->b);
    ERR(S, "%s is not subscriptable", vk_name(S, o));
  }
  case N_SLICE: ERR(S, "slices are only valid inside []");
  case N_KWARG: case N_STARRED: break;
  default: break;
  }
  ERR(S, "this expression is not supported in kernels");
}

/* ------------------------------------------------------------ statements */

static void assign(Sema *S, Node *target, Val v) {
  S->line = target->line;
  S->col = target->col;
  if (target->kind == N_NAME) {
    bind(S, target->name, v);
    return;
  }
  if (target->kind == N_TUPLE || target->kind == N_LIST) {
    if (v.k != V_TUPLE) ERR(S, "cannot unpack %s", vk_name(S, v));
    if (v.n != target->list.n) ERR(S, "cannot unpack %d values into %d names", v.n, target->list.n);
    for (int i = 0; i < v.n; i++) assign(S, target->list.v[i], v.items[i]);
    return;
  }
  if (target->kind == N_SUBSCRIPT && target->b->kind != N_SLICE) {
    /* t[i] = v on a tuple: the name (or outer item) holding t is rebound to a
     * copy with item i replaced (upstream's tuples are mutable objects of the
     * frontend; a callee's tuple is its own copy, as here) */
    Val o = eval(S, target->a);
    if (o.k == V_TUPLE) {
      Val idx = eval(S, target->b);
      S->line = target->line;
      S->col = target->col;
      int64_t i = const_int(S, idx, "a tuple index");
      if (i < 0) i += o.n;
      if (i < 0 || i >= o.n) ERR(S, "tuple index out of range");
      Val t = o;
      t.items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)o.n);
      memcpy(t.items, o.items, sizeof(Val) * (size_t)o.n);
      t.items[i] = v;
      assign(S, target->a, t);
      return;
    }
  }
  if (target->kind == N_SUBSCRIPT) ERR(S, "blocks are immutable: item assignment is not supported");
  ERR(S, "cannot assign to this expression");
}

/* ---- runtime control flow ----
 * Bindings are saved before a region and restored after it; names the region
 * assigns that were bound before it are carried through the op's storage
 * (BLOCKARG inside, RESULT after). */

typedef struct Snapshot {
  Binding *v;
  int n;
} Snapshot;

static Snapshot snapshot(Sema *S) {
  Snapshot sn = {.n = S->scope->vars.n};
  sn.v = arena_alloc(&S->c->arena, sizeof(Binding) * (size_t)(sn.n + 1));
  if (sn.n) memcpy(sn.v, S->scope->vars.v, sizeof(Binding) * (size_t)sn.n);
  return sn;
}

static void restore(Sema *S, Snapshot sn) {
  S->scope->vars.n = 0;
  for (int i = 0; i < sn.n; i++) vec_push(&S->c->arena, S->scope->vars, sn.v[i]);
}

static Val *snap_lookup(Snapshot sn, const char *name) {
  for (int i = sn.n - 1; i >= 0; i--)
    if (!strcmp(sn.v[i].name, name)) return &sn.v[i].v;
  return NULL;
}

typedef VEC(const char *) Names;

static void add_name(Sema *S, Names *ns, const char *n) {
  for (int i = 0; i < ns->n; i++)
    if (!strcmp(ns->v[i], n)) return;
  vec_push(&S->c->arena, *ns, n);
}

static void assigned_in_target(Sema *S, Node *t, Names *ns) {
  if (t->kind == N_NAME) add_name(S, ns, t->name);
  if (t->kind == N_TUPLE || t->kind == N_LIST)
    for (int i = 0; i < t->list.n; i++) assigned_in_target(S, t->list.v[i], ns);
}

/* Names a statement list may assign, in first-assignment order. */
static void assigned_names(Sema *S, NodeVec body, Names *ns) {
  for (int i = 0; i < body.n; i++) {
    Node *n = body.v[i];
    switch (n->kind) {
    case N_ASSIGN:
      for (int k = 0; k < n->list.n; k++) assigned_in_target(S, n->list.v[k], ns);
      break;
    case N_AUGASSIGN: case N_ANNASSIGN: assigned_in_target(S, n->a, ns); break;
    case N_FOR: assigned_in_target(S, n->a, ns); /* fallthrough */
    case N_WHILE: assigned_names(S, n->list, ns); break;
    case N_IF:
      assigned_names(S, n->list, ns);
      assigned_names(S, n->list2, ns);
      break;
    default: break;
    }
  }
}

static bool same_val(Val a, Val b) {
  if (a.k != b.k) return false;
  switch (a.k) {
  case V_TENSOR: return a.id == b.id;
  case V_INT: case V_BOOL: case V_DTYPE: return a.i == b.i;
  case V_FLOAT: return a.f == b.f || (a.f != a.f && b.f != b.f);
  case V_NONE: return true;
  case V_STR: case V_MODULE: case V_FUNC: return !strcmp(a.s, b.s);
  case V_JITFN: return a.fn == b.fn;
  case V_HOSTFN: return a.i == b.i;
  case V_TUPLE: case V_BLOCKPTR: case V_TENSORDESC: /* aggregates: the same parts */
    if (a.n != b.n || a.i != b.i) return false;
    if (a.items == b.items) return true;
    {
      int m = a.k == V_TUPLE ? a.n : a.k == V_BLOCKPTR ? 1 + 5 * a.n : 1 + 3 * a.n;
      for (int i = 0; i < m; i++)
        if (!same_val(a.items[i], b.items[i])) return false;
    }
    return true;
  default: return false;
  }
}

/* ---- carried values ----
 * A name a loop carries may hold a scalar or block, or an aggregate (tuple,
 * block pointer, tensor descriptor): its device values are the slots that
 * travel through the loop's storage; its compile-time parts must not change. */

static bool is_aggregate(Val v) { return v.k == V_TUPLE || v.k == V_BLOCKPTR || v.k == V_TENSORDESC; }

static Val deep_copy(Sema *S, Val v) {
  if (!is_aggregate(v)) return v;
  int n = v.k == V_TUPLE ? v.n : v.k == V_BLOCKPTR ? 1 + 5 * v.n : 1 + 3 * v.n;
  Val c = v;
  c.items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(n + 1));
  for (int i = 0; i < n; i++) c.items[i] = deep_copy(S, v.items[i]);
  return c;
}

/* Pointers to the device-value slots of v (itself when it is one); returns the count. */
static int slots_of(Sema *S, Val *v, Val ***out) {
  VEC(Val *) acc = {0};
  Val *stack[256];
  int sp = 0;
  stack[sp++] = v;
  while (sp) {
    Val *x = stack[--sp];
    if (x->k == V_TENSOR || is_const(*x)) {
      if (x != v && is_const(*x)) continue; /* constants inside aggregates stay compile-time */
      vec_push(&S->c->arena, acc, x);
      continue;
    }
    if (!is_aggregate(*x)) continue;
    int n = x->k == V_TUPLE ? x->n : 1 + 3 * x->n; /* block ptr/desc: base, shape, strides, offsets */
    for (int i = n - 1; i >= 0; i--) {
      if (sp == 256) ERR(S, "aggregate too deep to carry through a loop");
      stack[sp++] = &x->items[i];
    }
  }
  *out = acc.v;
  return acc.n;
}

typedef struct Carried {
  Names names;
  Val *templ;  /* per name: its value before the region (a private copy) */
  int *first;  /* per name: its first slot */
  int nslots;
  Type *types; /* per slot */
  int *inits;  /* per slot: the value entering the region */
} Carried;

/* The names a region carries: assigned inside, bound before to a value with device slots. */
static Carried carried_prepare(Sema *S, NodeVec body, Snapshot before) {
  Names all = {0};
  Carried C = {0};
  assigned_names(S, body, &all);
  for (int i = 0; i < all.n; i++) {
    Val *v = snap_lookup(before, all.v[i]);
    if (v && (v->k == V_TENSOR || is_const(*v) || is_aggregate(*v))) vec_push(&S->c->arena, C.names, all.v[i]);
  }
  int n = C.names.n;
  C.templ = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(n + 1));
  C.first = arena_alloc(&S->c->arena, sizeof(int) * (size_t)(n + 1));
  VEC(int) inits = {0};
  VEC(Type) types = {0};
  for (int i = 0; i < n; i++) {
    C.templ[i] = deep_copy(S, *snap_lookup(before, C.names.v[i]));
    C.first[i] = inits.n;
    Val **sl;
    int k = slots_of(S, &C.templ[i], &sl);
    for (int j = 0; j < k; j++) {
      Val t = to_tensor(S, *sl[j]);
      vec_push(&S->c->arena, inits, t.id);
      vec_push(&S->c->arena, types, ty_of(S, t));
    }
  }
  C.first[n] = inits.n;
  C.nslots = inits.n;
  C.inits = inits.v;
  C.types = types.v;
  return C;
}

/* Binds each carried name to its value with the slots replaced: by BLOCKARGs
 * (index 1 + slot) or by RESULTs of op (index slot). */
static void carried_bind(Sema *S, Carried *C, int op, Op kind) {
  for (int i = 0; i < C->names.n; i++) {
    Val v = deep_copy(S, C->templ[i]);
    Val **sl;
    int k = slots_of(S, &v, &sl);
    for (int j = 0; j < k; j++) {
      int slot = C->first[i] + j;
      int id = mk_ins(S, kind, C->types[slot], 0, 0, 0, 0);
      S->fn->ins.v[id].aux = (int16_t)(kind == O_BLOCKARG ? slot + 1 : slot);
      S->fn->ins.v[id].imm = op;
      *sl[j] = tensor(id);
    }
    bind(S, C->names.v[i], v);
  }
}

static bool same_shape_aggregate(Val a, Val b) {
  if (a.k != b.k) return false;
  if (!is_aggregate(a)) return true;
  if (a.n != b.n) return false;
  if (a.k == V_BLOCKPTR) {
    for (int i = 1 + 3 * a.n; i < 1 + 5 * a.n; i++)
      if (a.items[i].i != b.items[i].i) return false;
    return true;
  }
  if (a.k == V_TENSORDESC) return a.i == b.i;
  for (int i = 0; i < a.n; i++) {
    Val x = a.items[i], y = b.items[i];
    bool xs = x.k == V_TENSOR || is_aggregate(x), ys = y.k == V_TENSOR || is_aggregate(y);
    if (xs != ys) return false;
    if (xs ? !same_shape_aggregate(x, y) : !same_val(x, y)) return false;
  }
  return true;
}

/* Yields the carried names' current values, checked against their types on entry. */
static void carried_yield(Sema *S, Carried *C, const char *what) {
  int *args = arena_alloc(&S->c->arena, sizeof(int) * (size_t)(C->nslots + 1));
  for (int i = 0; i < C->names.n; i++) {
    Val v = lookup(S, C->names.v[i]);
    const char *nm = C->names.v[i];
    if (is_aggregate(C->templ[i]) || is_aggregate(v)) {
      if (!same_shape_aggregate(C->templ[i], v))
        ERR(S, "'%s' is %s before the %s but changes its structure or compile-time parts inside it", nm,
            vk_name(S, C->templ[i]), what);
    } else if (v.k != V_TENSOR && !is_const(v)) {
      ERR(S, "%s variable '%s' became %s inside the %s", what, nm, vk_name(S, v), what);
    }
    Val copy = deep_copy(S, v);
    Val **sl;
    int k = slots_of(S, &copy, &sl);
    for (int j = 0; j < k; j++) {
      int slot = C->first[i] + j;
      Type want = C->types[slot];
      Val x = *sl[j];
      if (x.k != V_TENSOR) {
        x = cast_to(S, x, (tm_dtype)want.dt);
        if (want.rank) x = broadcast_to(S, x, want);
      }
      Type t = ty_of(S, x);
      if (!type_eq(t, want))
        ERR(S, "loop-carried variable '%s' has type %s before the %s but %s at the end of its body", nm,
            type_str(&S->c->arena, want), what, type_str(&S->c->arena, t));
      args[slot] = x.id;
    }
  }
  mk_insv(S, O_YIELD, (Type){0}, C->nslots, args);
}

static int region_op(Sema *S, Op op, int nargs, const int *args, int nregions) {
  int id = mk_insv(S, op, (Type){0}, nargs, args);
  Ins *in = &S->fn->ins.v[id];
  in->nregions = (uint8_t)nregions;
  for (int r = 0; r < nregions; r++) in->regions[r] = ir_block(S->c);
  return id;
}

static Val blockarg(Sema *S, int op, int index, Type ty) {
  int id = mk_ins(S, O_BLOCKARG, ty, 0, 0, 0, 0);
  S->fn->ins.v[id].aux = (int16_t)index;
  S->fn->ins.v[id].imm = op;
  return tensor(id);
}

/* Runs a region body; a `return` inside leaves the kernel (emitted as O_RETURN). */
static bool exec_region(Sema *S, Block *b, NodeVec body) {
  Block *outer = S->blk;
  S->blk = b;
  S->depth++;
  exec_block(S, body);
  bool ret = S->scope->returned;
  S->scope->returned = false;
  S->depth--;
  S->blk = outer;
  return ret;
}

static void bind_results(Sema *S, int op, Names names, const Type *types) {
  for (int i = 0; i < names.n; i++) {
    int id = mk_ins(S, O_RESULT, types[i], 0, 0, 0, 0);
    S->fn->ins.v[id].aux = (int16_t)i;
    S->fn->ins.v[id].imm = op;
    bind(S, names.v[i], tensor(id));
  }
}

/* A loop's body (region r of op), its yield, and the carried names bound to
 * the loop's results after it. */
static void finish_loop(Sema *S, Node *n, Carried *C, int op, int r, const char *what, Snapshot before) {
  Block *outer = S->blk;
  S->scope->loop_depth++;
  exec_region(S, S->fn->ins.v[op].regions[r], n->list);
  S->scope->loop_depth--;
  S->blk = S->fn->ins.v[op].regions[r];
  S->line = n->line;
  S->col = n->col;
  carried_yield(S, C, what);
  S->blk = outer;
  restore(S, before);
  carried_bind(S, C, op, O_RESULT);
}

static void unrolled_for(Sema *S, Node *n, const char *fname, Val *b, int np) {
  int64_t lo = np > 1 ? const_int(S, b[0], "range start") : 0;
  int64_t hi = const_int(S, b[np > 1 ? 1 : 0], "range end");
  int64_t step = np > 2 ? const_int(S, b[2], "range step") : 1;
  if (step == 0) ERR(S, "%s() step must not be zero", fname);
  int64_t trips = step > 0 ? (hi > lo ? (hi - lo + step - 1) / step : 0) : (lo > hi ? (lo - hi - step - 1) / -step : 0);
  if (trips > 4096) ERR(S, "static_range of %lld iterations is too long to unroll; use range()", (long long)trips);
  S->scope->unroll_depth++;
  for (int64_t k = 0; k < trips && !S->scope->returned; k++) {
    assign(S, n->a, v_int(lo + k * step));
    exec_block(S, n->list);
  }
  S->scope->unroll_depth--;
}

/* for i in range(lo, hi, step) / tl.range(...): a device loop; tl.static_range: unrolled. */
static void exec_for(Sema *S, Node *n) {
  if (n->b->kind != N_CALL) ERR(S, "for loops must iterate over range(), tl.range() or tl.static_range()");
  Val f = eval(S, n->b->a);
  S->line = n->b->line;
  S->col = n->b->col;
  const char *fname = f.k == V_FUNC ? strrchr(f.s, '.') + 1 : "";
  if (f.k != V_FUNC || (strcmp(fname, "range") && strcmp(fname, "static_range")))
    ERR(S, "for loops must iterate over range(), tl.range() or tl.static_range()");
  int np = n->b->list.n;
  if (np < 1 || np > 3) ERR(S, "%s() takes 1 to 3 positional arguments", fname);
  Val b[3];
  for (int i = 0; i < np; i++) b[i] = eval(S, n->b->list.v[i]);
  for (int i = 0; i < n->b->list2.n; i++) {
    const char *kw = n->b->list2.v[i]->name;
    if (strcmp(kw, "num_stages") && strcmp(kw, "loop_unroll_factor") && strcmp(kw, "warp_specialize") &&
        strcmp(kw, "disallow_acc_multi_buffer") && strcmp(kw, "flatten") && strcmp(kw, "step"))
      ERR(S, "%s() got an unexpected keyword argument '%s'", fname, kw);
    Val kv = eval(S, n->b->list2.v[i]->a);
    if (!strcmp(kw, "step")) { /* range(end, step=s) and range(start, end, step=s) */
      if (np == 3) ERR(S, "%s() got multiple values for argument 'step'", fname);
      if (np == 1) {
        b[1] = b[0];
        b[0] = v_int(0);
      }
      b[2] = kv;
      np = 3;
    }
  }
  S->line = n->b->line;
  S->col = n->b->col;
  if (!strcmp(fname, "static_range")) {
    for (int i = 0; i < np; i++)
      if (b[i].k == V_TENSOR) ERR(S, "static_range() bounds must be compile-time constants");
    unrolled_for(S, n, fname, b, np);
    return;
  }
  if (n->a->kind != N_NAME) ERR(S, "the loop variable must be a single name");
  /* bounds: the induction variable is int32 unless a bound needs int64 */
  Val lo = np > 1 ? b[0] : v_int(0), hi = b[np > 1 ? 1 : 0], step = np > 2 ? b[2] : v_int(1);
  tm_dtype ivt = TM_I32;
  Val bs[3] = {lo, hi, step};
  for (int i = 0; i < 3; i++) {
    if (bs[i].k == V_TENSOR) {
      Type t = ty_of(S, bs[i]);
      if (t.rank || t.ptr || !dt_is_int((tm_dtype)t.dt) || t.dt == TM_I1) ERR(S, "range() bounds must be integer scalars");
      if (dt_bits((tm_dtype)t.dt) == 64) ivt = TM_I64;
    } else if (bs[i].k != V_INT) {
      ERR(S, "range() bounds must be integers, got %s", vk_name(S, bs[i]));
    } else if (bs[i].i < INT32_MIN || bs[i].i > INT32_MAX) {
      ivt = TM_I64;
    }
  }
  if (step.k == V_INT && step.i == 0) ERR(S, "range() step must not be zero");
  int args0[3];
  for (int i = 0; i < 3; i++) args0[i] = cast_to(S, bs[i], ivt).id;

  Snapshot before = snapshot(S);
  Carried C = carried_prepare(S, n->list, before);
  int *args = arena_alloc(&S->c->arena, sizeof(int) * (size_t)(C.nslots + 3));
  memcpy(args, args0, sizeof args0);
  for (int i = 0; i < C.nslots; i++) args[3 + i] = C.inits[i];
  int op = region_op(S, O_FOR, 3 + C.nslots, args, 1);
  Ins *fi = &S->fn->ins.v[op];
  fi->ty = type_scalar(ivt);
  Block *outer = S->blk;
  S->blk = fi->regions[0];
  bind(S, n->a->name, blockarg(S, op, 0, type_scalar(ivt)));
  carried_bind(S, &C, op, O_BLOCKARG);
  S->blk = outer;
  finish_loop(S, n, &C, op, 0, "loop", before);
}

static void exec_while(Sema *S, Node *n) {
  Snapshot before = snapshot(S);
  Carried C = carried_prepare(S, n->list, before);
  int op = region_op(S, O_WHILE, C.nslots, C.inits, 2);
  Block *outer = S->blk;
  /* condition region */
  S->blk = S->fn->ins.v[op].regions[0];
  carried_bind(S, &C, op, O_BLOCKARG);
  Val c = eval(S, n->a);
  S->line = n->a->line;
  S->col = n->a->col;
  if (c.k != V_TENSOR) ERR(S, "a while loop's condition must depend on values the loop changes");
  if (ty_of(S, c).rank) ERR(S, "a while loop's condition must be a scalar");
  c = cast_to(S, c, TM_I1);
  mk_ins(S, O_CONDITION, (Type){0}, 1, c.id, 0, 0);
  /* body region */
  S->blk = S->fn->ins.v[op].regions[1];
  carried_bind(S, &C, op, O_BLOCKARG);
  S->blk = outer;
  finish_loop(S, n, &C, op, 1, "while loop", before);
}

static void exec_if(Sema *S, Node *n, Val c) {
  Type ct = ty_of(S, c);
  if (ct.rank) ERR(S, "an 'if' condition must be a scalar, not a block; use tl.where for blocks");
  c = cast_to(S, c, TM_I1);
  Snapshot before = snapshot(S);
  Block *outer = S->blk;
  int op = region_op(S, O_IF, 1, &c.id, 2);
  Block *rb[2] = {S->fn->ins.v[op].regions[0], S->fn->ins.v[op].regions[1]};
  bool ret[2];
  Snapshot after[2];
  ret[0] = exec_region(S, rb[0], n->list);
  after[0] = snapshot(S);
  restore(S, before);
  ret[1] = exec_region(S, rb[1], n->list2);
  after[1] = snapshot(S);
  restore(S, before);
  /* names whose value after the if depends on the branch taken */
  Names names = {0};
  for (int side = 0; side < 2; side++) {
    if (ret[side]) continue;
    for (int i = 0; i < after[side].n; i++) {
      const char *nm = after[side].v[i].name;
      Val *o = snap_lookup(after[!side], nm), *b0 = snap_lookup(before, nm);
      Val v = *snap_lookup(after[side], nm);
      if (ret[!side]) {
        if (!b0 || !same_val(*b0, v)) add_name(S, &names, nm);
      } else if (o && !same_val(*o, v)) {
        add_name(S, &names, nm);
      }
    }
  }
  Type *types = arena_alloc(&S->c->arena, sizeof(Type) * (size_t)(names.n + 1));
  for (int side = 0; side < 2; side++) {
    S->blk = rb[side];
    S->line = n->line;
    S->col = n->col;
    if (ret[side]) {
      mk_insv(S, O_YIELD, (Type){0}, 0, NULL);
      continue;
    }
    int *args = arena_alloc(&S->c->arena, sizeof(int) * (size_t)(names.n + 1));
    for (int i = 0; i < names.n; i++) {
      Val v = *snap_lookup(after[side], names.v[i]);
      if (!is_const(v) && v.k != V_TENSOR)
        ERR(S, "'%s' is %s in one branch of the if; both branches must give it a device value", names.v[i], vk_name(S, v));
      v = to_tensor(S, v);
      Type t = ty_of(S, v);
      if (side == 0 || ret[0]) types[i] = t;
      else if (!type_eq(t, types[i]))
        ERR(S, "Mismatched type for %s between then block (%s) and else block (%s)", names.v[i],
            type_str(&S->c->arena, types[i]), type_str(&S->c->arena, t));
      args[i] = v.id;
    }
    mk_insv(S, O_YIELD, (Type){0}, names.n, args);
  }
  S->blk = outer;
  restore(S, before);
  bind_results(S, op, names, types);
  if (ret[0] && ret[1]) S->scope->returned = true;
}
/* ---- reductions ----
 * O_REDUCE combines along one axis with a region that works on scalars:
 * blockargs 1..n are the left operands, n+1..2n the right ones. */


static Val combine(Sema *S, Combine cb, JitFn *fn, Val *a, Val *b, int n, bool tie_left) {
  switch (cb) {
  case CB_SUM: return binop(S, "+", a[0], b[0]);
  case CB_PROD: return binop(S, "*", a[0], b[0]);
  case CB_XOR: return binop(S, "^", a[0], b[0]);
  case CB_OR: return binop(S, "|", a[0], b[0]);
  case CB_MAX: case CB_MIN:
    return tensor(mk_ins(S, cb == CB_MAX ? O_MAX : O_MIN, ty_of(S, a[0]), 2, a[0].id, b[0].id, 0));
  case CB_ARGMAX: case CB_ARGMIN: {
    /* leftmost index on ties; a NaN never wins over a number, so the result
     * does not depend on the combine order */
    Val gt = compare(S, cb == CB_ARGMAX ? ">" : "<", a[0], b[0]);
    if (tie_left) gt = binop(S, "|", gt, binop(S, "&", compare(S, "==", a[0], b[0]), compare(S, "<", a[1], b[1])));
    if (dt_is_float((tm_dtype)ty_of(S, a[0]).dt))
      gt = binop(S, "|", gt, binop(S, "&", compare(S, "!=", b[0], b[0]), compare(S, "==", a[0], a[0])));
    Val r = {.k = V_TUPLE, .n = 2};
    r.items = arena_alloc(&S->c->arena, sizeof(Val) * 2);
    r.items[0] = tensor(mk_ins(S, O_SELECT, ty_of(S, a[0]), 3, gt.id, a[0].id, b[0].id));
    r.items[1] = tensor(mk_ins(S, O_SELECT, ty_of(S, a[1]), 3, gt.id, a[1].id, b[1].id));
    return r;
  }
  case CB_USER: {
    Args A = {0};
    A.npos = 2 * n;
    A.pos = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(2 * n));
    for (int i = 0; i < n; i++) {
      A.pos[i] = a[i];
      A.pos[n + i] = b[i];
    }
    A.kwused = arena_alloc(&S->c->arena, sizeof(bool));
    return call_jitfn(S, fn, &A);
  }
  }
  return v_none();
}

static Val combine_op(Sema *S, Op kind, Val *in, int n, int axis, Combine cb, JitFn *fn, bool tie_left, bool reverse);

/* Reduces inputs (same shape) along axis; returns one value or a tuple. */
static Val reduce_axis(Sema *S, Val *in, int n, int axis, Combine cb, JitFn *fn, bool tie_left) {
  return combine_op(S, O_REDUCE, in, n, axis, cb, fn, tie_left, false);
}

/* Inclusive scan along axis (reverse: from the end); results keep the shape. */
static Val scan_axis(Sema *S, Val *in, int n, int axis, Combine cb, JitFn *fn, bool reverse) {
  return combine_op(S, O_SCAN, in, n, axis, cb, fn, true, reverse);
}

static Val combine_op(Sema *S, Op kind, Val *in, int n, int axis, Combine cb, JitFn *fn, bool tie_left, bool reverse) {
  Type t = ty_of(S, in[0]);
  if (!t.rank) ERR(S, "cannot reduce a scalar");
  if (axis < 0) axis += t.rank;
  if (axis < 0 || axis >= t.rank) ERR(S, "reduction axis %d is out of range for a block of rank %d", axis, t.rank);
  int *ids = arena_alloc(&S->c->arena, sizeof(int) * (size_t)n);
  for (int i = 0; i < n; i++) {
    if (!type_eq(type_block(type_elem(ty_of(S, in[i])), t.rank, t.shape), ty_of(S, in[i])))
      ERR(S, "all inputs of a reduction must have the same shape");
    if (ty_of(S, in[i]).ptr) ERR(S, "reductions over pointers are not supported");
    ids[i] = in[i].id;
  }
  int op = region_op(S, kind, n, ids, 1);
  S->fn->ins.v[op].aux = (int16_t)axis;
  S->fn->ins.v[op].imm = reverse;
  Block *outer = S->blk;
  S->blk = S->fn->ins.v[op].regions[0];
  S->depth++;
  Val *a = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(2 * n));
  for (int i = 0; i < 2 * n; i++) a[i] = blockarg(S, op, i + 1, type_elem(ty_of(S, in[i % n])));
  Val r = combine(S, cb, fn, a, a + n, n, tie_left);
  Val *outs = r.k == V_TUPLE ? r.items : &r;
  int nout = r.k == V_TUPLE ? r.n : 1;
  if (nout != n) ERR(S, "the combine function returns %d values for %d inputs", nout, n);
  int *yargs = arena_alloc(&S->c->arena, sizeof(int) * (size_t)n);
  for (int i = 0; i < n; i++) {
    Val o = cast_to(S, outs[i], (tm_dtype)ty_of(S, in[i]).dt);
    if (ty_of(S, o).rank) ERR(S, "the combine function must return scalars");
    yargs[i] = o.id;
  }
  mk_insv(S, O_YIELD, (Type){0}, n, yargs);
  S->depth--;
  S->blk = outer;
  int32_t shape[TM_MAX_RANK];
  for (int i = 0, k = 0; i < t.rank; i++)
    if (i != axis) shape[k++] = t.shape[i];
  Val res = {.k = V_TUPLE, .n = n};
  res.items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)n);
  for (int i = 0; i < n; i++) {
    Type et = type_elem(ty_of(S, in[i]));
    Type rt = kind == O_SCAN ? ty_of(S, in[i]) : t.rank > 1 ? type_block(et, t.rank - 1, shape) : et;
    int id = mk_ins(S, O_RESULT, rt, 0, 0, 0, 0);
    S->fn->ins.v[id].aux = (int16_t)i;
    S->fn->ins.v[id].imm = op;
    res.items[i] = tensor(id);
  }
  return n == 1 ? res.items[0] : res;
}

static Val keep(Sema *S, Val r, int axis, int rank) {
  if (r.k == V_TUPLE) {
    for (int i = 0; i < r.n; i++) r.items[i] = keep(S, r.items[i], axis, rank);
    return r;
  }
  if (axis < 0) { /* all dims */
    for (int i = 0; i < rank; i++) r = expand_dims(S, r, 0);
    return r;
  }
  return expand_dims(S, r, axis);
}

/* int32 indices along `axis`, broadcast to the shape of t. */
static Val axis_indices(Sema *S, Type t, int axis) {
  int32_t one[1] = {t.shape[axis]};
  int id = mk_ins(S, O_RANGE, type_block(type_scalar(TM_I32), 1, one), 0, 0, 0, 0);
  Val r = tensor(id);
  for (int i = 0; i < axis; i++) r = expand_dims(S, r, 0);
  for (int i = axis + 1; i < t.rank; i++) r = expand_dims(S, r, ty_of(S, r).rank);
  return broadcast_to(S, r, type_block(type_scalar(TM_I32), t.rank, t.shape));
}

static bool call_scan(Sema *S, const char *name, Args *A, Val *out) {
  bool assoc = !strcmp(name, "associative_scan");
  if (!assoc && strcmp(name, "cumsum") && strcmp(name, "cumprod")) return false;
  Val x = arg_req(S, A, 0, "input"), axv = v_int(0), fnv = v_none(), rev = v_bool(false), dtv = v_none();
  if (assoc) {
    axv = arg_req(S, A, 1, "axis");
    fnv = arg_req(S, A, 2, "combine_fn");
    arg_opt(S, A, 3, "reverse", &rev);
    args_done(S, A, 4);
    if (fnv.k != V_JITFN) ERR(S, "associative_scan()'s combine_fn must be a @jit function");
  } else {
    arg_opt(S, A, 1, "axis", &axv);
    arg_opt(S, A, 2, "reverse", &rev);
    if (!strcmp(name, "cumsum")) arg_opt(S, A, 3, "dtype", &dtv);
    args_done(S, A, name[3] == 's' ? 4 : 3);
  }
  int n = x.k == V_TUPLE ? x.n : 1;
  Val *in = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(n + 1));
  for (int i = 0; i < n; i++) in[i] = to_tensor(S, x.k == V_TUPLE ? x.items[i] : x);
  Type t = ty_of(S, in[0]);
  if (!t.rank) ERR(S, "%s() needs a block", name);
  tm_dtype dt = (tm_dtype)t.dt;
  if (!assoc && dt == TM_BF16) in[0] = cast_to(S, in[0], TM_F32); /* upstream scans bf16 in fp32 */
  if (!strcmp(name, "cumsum")) {
    if (dtv.k != V_NONE) in[0] = cast_to(S, in[0], dtype_arg(S, dtv, "dtype"));
    else if (dt_is_int(dt) && dt_bits(dt) < 32) in[0] = cast_to(S, in[0], dt_is_signed(dt) ? TM_I32 : TM_U32);
  }
  int axis = (int)const_int(S, axv, "axis");
  if (axis < 0) axis += t.rank;
  if (axis < 0 || axis >= t.rank) ERR(S, "axis %d is out of range for a block of rank %d", axis, t.rank);
  Combine cb = assoc ? CB_USER : !strcmp(name, "cumsum") ? CB_SUM : CB_PROD;
  *out = scan_axis(S, in, n, axis, cb, assoc ? fnv.fn : NULL, truthy(S, rev));
  return true;
}

static bool call_reduction(Sema *S, const char *name, Args *A, Val *out) {
  if (call_scan(S, name, A, out)) return true;
  static const struct {
    const char *name;
    Combine cb;
  } fns[] = {{"sum", CB_SUM}, {"max", CB_MAX}, {"min", CB_MIN}, {"xor_sum", CB_XOR}, {"reduce_or", CB_OR},
             {"argmax", CB_ARGMAX}, {"argmin", CB_ARGMIN}, {"reduce", CB_USER}};
  int which = -1;
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (!strcmp(name, fns[i].name)) which = (int)i;
  if (which < 0) return false;
  Combine cb = fns[which].cb;
  Val x = arg_req(S, A, 0, "input");
  Val axv = v_none(), kd = v_bool(false), dtv = v_none(), fnv = v_none(), ri = v_bool(false), tl = v_bool(true);
  arg_opt(S, A, 1, "axis", &axv);
  int npos = 2;
  if (cb == CB_USER) {
    fnv = arg_req(S, A, 2, "combine_fn");
    arg_opt(S, A, 3, "keep_dims", &kd);
    npos = 4;
  } else if (cb == CB_SUM) {
    arg_opt(S, A, 2, "keep_dims", &kd);
    arg_opt(S, A, 3, "dtype", &dtv);
    npos = 4;
  } else if (cb == CB_MAX || cb == CB_MIN) {
    arg_opt(S, A, 2, "return_indices", &ri);
    arg_opt(S, A, 3, "return_indices_tie_break_left", &tl);
    arg_opt(S, A, 4, "keep_dims", &kd);
    npos = 5;
  } else if (cb == CB_ARGMAX || cb == CB_ARGMIN) {
    arg_opt(S, A, 2, "tie_break_left", &tl);
    arg_opt(S, A, 3, "keep_dims", &kd);
    npos = 4;
  } else {
    arg_opt(S, A, 2, "keep_dims", &kd);
    npos = 3;
  }
  args_done(S, A, npos);
  int n = x.k == V_TUPLE ? x.n : 1;
  Val *in = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)(n + 1));
  for (int i = 0; i < n; i++) in[i] = to_tensor(S, x.k == V_TUPLE ? x.items[i] : x);
  if (n > 1 && cb != CB_USER) ERR(S, "%s() takes a single tensor", name);
  if (cb == CB_USER && fnv.k != V_JITFN) ERR(S, "reduce()'s combine_fn must be a @jit function");
  Type t = ty_of(S, in[0]);
  if (!t.rank) ERR(S, "%s() needs a block, got a scalar", name);
  tm_dtype dt = (tm_dtype)t.dt;
  if ((cb == CB_XOR || cb == CB_OR) && !dt_is_int(dt)) ERR(S, "%s() needs integers, got %s", name, tm_dtype_name(dt));
  if (cb == CB_SUM) {
    if (dtv.k != V_NONE) in[0] = cast_to(S, in[0], dtype_arg(S, dtv, "dtype"));
    else if (dt_is_int(dt) && dt_bits(dt) < 32) in[0] = cast_to(S, in[0], dt_is_signed(dt) ? TM_I32 : TM_U32);
  }
  /* max/min as upstream: bfloat16 becomes float32 (indices or not); without
   * indices, narrower floats become float32 and narrower integers int32 */
  if ((cb == CB_MAX || cb == CB_MIN) && dt == TM_BF16) in[0] = cast_to(S, in[0], TM_F32);
  else if ((cb == CB_MAX || cb == CB_MIN) && !truthy(S, ri) && dt_bits(dt) < 32)
    in[0] = cast_to(S, in[0], dt_is_float(dt) ? TM_F32 : TM_I32);
  if ((cb == CB_MAX || cb == CB_MIN) && truthy(S, ri)) cb = cb == CB_MAX ? CB_ARGMAX : CB_ARGMIN;
  bool with_index = cb == CB_ARGMAX || cb == CB_ARGMIN;
  bool keep_dims = truthy(S, kd);
  if (axv.k == V_NONE && t.rank > 1) {
    if (with_index || cb == CB_USER)
      ERR(S, "%s() with axis=None over a block of rank %d is not supported yet; reduce one axis at a time", name, t.rank);
    Val r = in[0];
    for (int ax = t.rank - 1; ax >= 0; ax--) r = reduce_axis(S, &r, 1, ax, cb, NULL, true);
    *out = keep_dims ? keep(S, r, -1, t.rank) : r;
    return true;
  }
  int axis = axv.k == V_NONE ? 0 : (int)const_int(S, axv, "axis");
  if (axis < 0) axis += t.rank;
  if (axis < 0 || axis >= t.rank) ERR(S, "axis %d is out of range for a block of rank %d", axis, t.rank);
  Val r;
  if (with_index) {
    Val pair[2] = {in[0], axis_indices(S, t, axis)};
    r = reduce_axis(S, pair, 2, axis, cb, NULL, truthy(S, tl));
    if (!strcmp(name, "argmax") || !strcmp(name, "argmin")) r = r.items[1];
  } else {
    r = reduce_axis(S, in, n, axis, cb, cb == CB_USER ? fnv.fn : NULL, true);
  }
  *out = keep_dims ? keep(S, r, axis, t.rank) : r;
  return true;
}

static void exec_stmt(Sema *S, Node *n) {
  S->line = n->line;
  S->col = n->col;
  switch (n->kind) {
  case N_EXPR_STMT:
    if (n->a->kind == N_STR) return; /* docstring */
    eval(S, n->a);
    return;
  case N_ASSIGN: { /* a Python value assigned to a name is a typed constant (typed()) */
    Val v = typed(S, eval(S, n->a));
    for (int i = 0; i < n->list.n; i++) assign(S, n->list.v[i], v);
    return;
  }
  case N_ANNASSIGN: /* `x: tl.constexpr = v` keeps v a Python value */
    if (n->c) {
      Val v = eval(S, n->c);
      assign(S, n->a, is_constexpr_annotation(S, n->b) ? v : typed(S, v));
    }
    return;
  case N_AUGASSIGN: {
    Val cur = eval(S, n->a), rhs = eval(S, n->b);
    S->line = n->line;
    S->col = n->col;
    assign(S, n->a, typed(S, arith(S, n->op, cur, rhs, true)));
    return;
  }
  case N_IF: {
    Val c = eval(S, n->a);
    S->line = n->a->line;
    S->col = n->a->col;
    if (c.k == V_TENSOR) exec_if(S, n, c);
    else exec_block(S, truthy(S, c) ? n->list : n->list2);
    return;
  }
  case N_FOR: exec_for(S, n); return;
  case N_WHILE: exec_while(S, n); return;
  case N_RETURN: /* a helper's Python result is a typed constant, as upstream's is a tensor */
    S->scope->ret = n->a ? typed(S, eval(S, n->a)) : v_none();
    S->line = n->line;
    S->col = n->col;
    if (S->scope->is_kernel && S->scope->ret.k != V_NONE) ERR(S, "a kernel cannot return a value");
    if (!S->scope->is_kernel && S->scope->loop_depth)
      ERR(S, "'return' inside a loop of a @jit helper is not supported (as upstream: Triton cannot return from inside "
             "'for' or 'while')");
    if (S->scope->is_kernel && S->depth > S->scope->base_depth) mk_ins(S, O_RETURN, (Type){0}, 0, 0, 0, 0);
    S->scope->returned = true;
    return;
  case N_PASS: return;
  case N_BREAK: ERR(S, "'break' is not supported in Triton kernels");
  case N_CONTINUE: ERR(S, "'continue' is not supported in Triton kernels");
  case N_ASSERT: {
    Val c = eval(S, n->a);
    S->line = n->line;
    S->col = n->col;
    if (c.k != V_TENSOR) {
      if (!truthy(S, c)) {
        Val m = n->b ? eval(S, n->b) : v_none();
        ERR(S, "assertion failed%s%s", m.k == V_STR ? ": " : "", m.k == V_STR ? m.s : "");
      }
      return;
    }
    Val m = n->b ? eval(S, n->b) : v_none();
    device_assert(S, c, m.k == V_STR ? m.s : "", v_none());
    return;
  }
  case N_RAISE:
    S->line = n->line;
    S->col = n->col;
    ERR(S, "the kernel raises here: kernels may only raise in branches their compile-time values never take");
  default: ERR(S, "this statement is not supported in kernels");
  }
}

/* ---- `return` inside device control flow of a @jit helper ----
 * Upstream's helpers are functions, and may return from inside an `if` on a
 * device value (not from inside a loop). Ours are inlined, so such an `if`
 * becomes an if op that yields the function's result: each branch runs its own
 * statements and then, unless it returned, the rest of the function (every
 * enclosing statement list's remainder, innermost first). Both paths must
 * return values of one type ("Inconsistent return types"). */

static bool contains_return(NodeVec body) {
  for (int i = 0; i < body.n; i++) {
    Node *st = body.v[i];
    if (st->kind == N_RETURN) return true;
    if (st->kind == N_IF && (contains_return(st->list) || contains_return(st->list2))) return true;
  }
  return false;
}

static void exec_continuation(Sema *S) {
  Scope *sc = S->scope;
  int saved = sc->nframes;
  for (int k = saved - 1; k >= 0 && !sc->returned; k--) {
    Frame f = sc->frames[k];
    sc->nframes = k;
    exec_block(S, (NodeVec){.v = f.body.v + f.i + 1, .n = f.body.n - f.i - 1});
  }
  sc->nframes = saved;
}

/* The values a returned value flattens to (a tuple's items, each a tensor). */
static int flatten_return(Sema *S, Val v, int *ids, Type *tys, int max) {
  if (v.k == V_NONE) return 0;
  Val *items = v.k == V_TUPLE ? v.items : &v;
  int n = v.k == V_TUPLE ? v.n : 1;
  if (n > max) ERR(S, "a helper returning from inside device control flow may return at most %d values", max);
  for (int i = 0; i < n; i++) {
    if (items[i].k == V_TUPLE || (!is_const(items[i]) && items[i].k != V_TENSOR))
      ERR(S, "a helper returning from inside device control flow must return tensors, numbers or a tuple of them, not %s",
          vk_name(S, items[i]));
    Val t = to_tensor(S, items[i]);
    ids[i] = t.id;
    tys[i] = ty_of(S, t);
  }
  return n;
}

static void exec_if_returning(Sema *S, Node *n, Val c) {
  if (ty_of(S, c).rank) ERR(S, "an 'if' condition must be a scalar, not a block; use tl.where for blocks");
  c = cast_to(S, c, TM_I1);
  Snapshot before = snapshot(S);
  Block *outer = S->blk;
  int op = region_op(S, O_IF, 1, &c.id, 2);
  enum { MAXR = 16 };
  int ids[2][MAXR], nv[2];
  Type tys[2][MAXR];
  bool tuple[2];
  Val shape_of = v_none();
  for (int side = 0; side < 2; side++) {
    S->blk = S->fn->ins.v[op].regions[side];
    S->depth++;
    exec_block(S, side ? n->list2 : n->list);
    if (!S->scope->returned) exec_continuation(S);
    Val r = S->scope->returned ? S->scope->ret : v_none();
    S->scope->returned = false;
    S->line = n->line;
    S->col = n->col;
    nv[side] = flatten_return(S, r, ids[side], tys[side], MAXR);
    tuple[side] = r.k == V_TUPLE;
    if (!side) shape_of = r;
    S->depth--;
    restore(S, before);
  }
  bool same = nv[0] == nv[1] && tuple[0] == tuple[1];
  for (int i = 0; same && i < nv[0]; i++) same = type_eq(tys[0][i], tys[1][i]);
  if (!same) {
    const char *t[2];
    for (int side = 0; side < 2; side++) {
      t[side] = nv[side] ? "" : "void";
      for (int i = 0; i < nv[side]; i++)
        t[side] = arena_printf(&S->c->arena, "%s%s%s", t[side], i ? ", " : "", type_str(&S->c->arena, tys[side][i]));
    }
    ERR(S, "Inconsistent return types: %s and %s", t[0], t[1]);
  }
  for (int side = 0; side < 2; side++) {
    S->blk = S->fn->ins.v[op].regions[side];
    mk_insv(S, O_YIELD, (Type){0}, nv[side], ids[side]);
  }
  S->blk = outer;
  Val res = v_none();
  if (nv[0]) {
    Val *items = arena_alloc(&S->c->arena, sizeof(Val) * (size_t)nv[0]);
    for (int i = 0; i < nv[0]; i++) {
      int id = mk_ins(S, O_RESULT, tys[0][i], 0, 0, 0, 0);
      S->fn->ins.v[id].aux = (int16_t)i;
      S->fn->ins.v[id].imm = op;
      items[i] = tensor(id);
    }
    res = tuple[0] ? (Val){.k = V_TUPLE, .n = nv[0], .items = items} : items[0];
  }
  (void)shape_of;
  S->scope->ret = res;
  S->scope->returned = true;
}

static void exec_block(Sema *S, NodeVec body) {
  Scope *sc = S->scope;
  if (sc->nframes == MAX_FRAMES) ERR(S, "statements nested too deeply");
  int fi = sc->nframes++;
  sc->frames[fi].body = body;
  for (int i = 0; i < body.n && !sc->returned; i++) {
    Node *st = body.v[i];
    sc->frames[fi].i = i;
    if (st->kind == N_IF && !sc->is_kernel && !sc->loop_depth && (contains_return(st->list) || contains_return(st->list2))) {
      Val c = eval(S, st->a);
      S->line = st->a->line;
      S->col = st->a->col;
      if (c.k == V_TENSOR) {
        if (sc->unroll_depth)
          ERR(S, "'return' under an 'if' on a device value inside tl.static_range is not supported; "
                 "compute the value with tl.where and return it after the loop");
        exec_if_returning(S, st, c);
        break;
      }
      exec_block(S, truthy(S, c) ? st->list : st->list2);
      continue;
    }
    exec_stmt(S, st);
  }
  sc->nframes = fi;
}

/* ------------------------------------------------------------ functions */

/* `tl.const` (upstream: a pointer to data the kernel only reads; its pointer
 * type differs from the plain one, and storing through it is an error). */
static bool is_const_annotation(Node *ann) {
  if (!ann) return false;
  if (ann->kind == N_ATTR || ann->kind == N_NAME) return !strcmp(ann->name, "const");
  return ann->kind == N_STR && (!strcmp(ann->str, "tl.const") || !strcmp(ann->str, "const"));
}

static bool is_constexpr_annotation(Sema *S, Node *ann) {
  if (!ann) return false;
  if (ann->kind == N_STR) return strstr(ann->str, "constexpr") != NULL;
  if (ann->kind == N_ATTR) return !strcmp(ann->name, "constexpr");
  if (ann->kind == N_NAME) return !strcmp(ann->name, "constexpr");
  (void)S;
  return false;
}

static Node *jitfn_def(Sema *S, JitFn *f) {
  if (!f->def) {
    Src saved = S->c->src;
    S->c->src = f->src;
    f->def = parse_def_at(S->c, f->toks, f->tok_index);
    S->c->src = saved;
  }
  return f->def;
}

static Val call_jitfn(Sema *S, JitFn *f, Args *A) {
  if (f->active) ERR(S, "recursive call of @jit function '%s' is not supported", f->name);
  Src saved_src = S->c->src;
  int line = S->line, col = S->col;
  Node *def = jitfn_def(S, f);
  S->c->src = saved_src;
  A->fname = f->name;
  Scope sc = {0};
  /* bind arguments in the caller's context (for located errors) */
  for (int i = 0; i < def->list.n; i++) {
    Node *p = def->list.v[i];
    Val v;
    if (!arg_opt(S, A, i, p->name, &v)) {
      if (!p->b) ERR(S, "%s() missing required argument '%s'", f->name, p->name);
      Scope *saved = S->scope;
      Scope empty = {0};
      Node *saved_mod = S->module;
      TokVec saved_toks = S->toks;
      bool saved_std = S->in_stdlib;
      S->scope = &empty;
      S->c->src = f->src;
      S->module = f->module;
      S->toks = f->toks;
      S->in_stdlib = f->stdlib;
      v = eval(S, p->b);
      S->c->src = saved_src;
      S->scope = saved;
      S->module = saved_mod;
      S->toks = saved_toks;
      S->in_stdlib = saved_std;
      S->line = line;
      S->col = col;
    }
    if (is_constexpr_annotation(S, p->a) && is_const(v)) v.tdt = 0; /* a constexpr parameter holds a Python value */
    Binding b = {p->name, v};
    vec_push(&S->c->arena, sc.vars, b);
  }
  args_done(S, A, def->list.n);
  Scope *saved = S->scope;
  Node *saved_mod = S->module;
  TokVec saved_toks = S->toks;
  bool saved_std = S->in_stdlib;
  S->scope = &sc;
  sc.base_depth = S->depth;
  S->c->src = f->src;
  S->module = f->module;
  S->toks = f->toks;
  S->in_stdlib = f->stdlib;
  f->active = 1;
  exec_block(S, def->list2);
  f->active = 0;
  S->c->src = saved_src;
  S->scope = saved;
  S->module = saved_mod;
  S->toks = saved_toks;
  S->in_stdlib = saved_std;
  S->line = line;
  S->col = col;
  return sc.returned ? sc.ret : v_none();
}

/* The value of the parameter entry at *at (a tuple parameter's entry is
 * followed by its items' entries); advances *at past it. name spells the
 * parameter or the tuple item ("Ptrs[1]") for errors, mname its MSL name. */
static Val bind_param_entry(Sema *S, Node *p, int *at, const char *name, const char *mname, int depth) {
  const tm_compile_request *r = S->c->req;
  if (*at >= r->nparams) ERR(S, "kernel parameter '%s': missing argument specification", name);
  int i = (*at)++;
  const tm_param_spec *ps = &r->params[i];
  if (ps->kind == TM_PARAM_CONSTEXPR) return from_tm_value(S, ps->value);
  if (ps->kind == TM_PARAM_TUPLE) {
    if (depth > 16) ERR(S, "parameter '%s': tuple arguments nest too deeply", name);
    if (ps->value.i < 0 || ps->value.i > r->nparams - *at) ERR(S, "parameter '%s': invalid specification", name);
    Val t = {.k = V_TUPLE, .n = (int)ps->value.i};
    t.items = t.n ? arena_alloc(&S->c->arena, sizeof(Val) * (size_t)t.n) : NULL;
    if (ps->value.kind == TM_V_TUPLE) { /* a named tuple: value.items are its field names */
      t.fields = arena_alloc(&S->c->arena, sizeof(char *) * (size_t)(t.n + 1));
      for (int k = 0; k < t.n; k++) {
        if (ps->value.items[k].kind != TM_V_STR) ERR(S, "parameter '%s': invalid specification", name);
        t.fields[k] = arena_strdup(&S->c->arena, ps->value.items[k].s);
      }
    }
    for (int k = 0; k < t.n; k++) {
      const char *iname = arena_printf(&S->c->arena, "%s[%d]", name, k);
      const char *imname = arena_printf(&S->c->arena, "%s_%d", mname, k);
      t.items[k] = bind_param_entry(S, p, at, iname, imname, depth + 1);
    }
    return t;
  }
  if (depth == 0 && is_constexpr_annotation(S, p->a))
    ERR(S, "parameter '%s' is annotated tl.constexpr but was given a runtime %s", name,
        ps->kind == TM_PARAM_POINTER ? "pointer" : "scalar");
  if (ps->kind != TM_PARAM_POINTER && ps->kind != TM_PARAM_SCALAR) ERR(S, "parameter '%s': invalid specification", name);
  if (ps->dtype == TM_F64 && ps->kind != TM_PARAM_POINTER)
    ERR(S, "parameter '%s' is float64, which is not supported on the device (Metal has no double)", name);
  if (ps->dtype == TM_VOID || ps->dtype >= TM_NDTYPES) ERR(S, "parameter '%s': invalid dtype", name);
  if (ps->dtype != TM_F64) check_device_dtype(S, ps->dtype); /* float64 memory: refused where it is read or written */
  Param par = {.name = mname, .index = i, .kind = ps->kind, .flags = ps->flags,
               .ty = ps->kind == TM_PARAM_POINTER ? type_ptr(ps->dtype) : type_scalar(ps->dtype)};
  if (depth == 0 && ps->kind == TM_PARAM_POINTER && is_const_annotation(p->a)) par.ty.ptr = PTR_CONST; /* `x: tl.const` */
  vec_push(&S->c->arena, S->fn->params, par);
  int id = mk_ins(S, O_ARG, par.ty, 0, 0, 0, 0);
  S->fn->ins.v[id].aux = (int16_t)(S->fn->params.n - 1);
  return tensor(id);
}

static void bind_kernel_params(Sema *S, Node *def) {
  const tm_compile_request *r = S->c->req;
  int at = 0, i = 0;
  for (; i < def->list.n && at < r->nparams; i++) {
    Node *p = def->list.v[i];
    S->line = p->line;
    S->col = p->col;
    bind(S, p->name, bind_param_entry(S, p, &at, p->name, p->name, 0));
  }
  if (i != def->list.n || at != r->nparams)
    ERR(S, "kernel '%s' has %d parameters but %d argument specifications were given (a tuple's entry "
           "counts with its items)", def->name, def->list.n, r->nparams);
}

Fn *sema(Ctx *c, TokVec toks, Node *module, const char *kernel_name) {
  Sema S = {.c = c, .module = module, .toks = toks};
  S.line = c->src.first_line;
  S.col = 1;
  Node *stub = NULL;
  for (int i = 0; i < module->list.n; i++) {
    Node *e = module->list.v[i];
    if (e->kind == N_DEF && (!kernel_name || !strcmp(e->name, kernel_name))) {
      stub = e;
      break;
    }
  }
  if (!stub) {
    if (kernel_name) error_at(c, c->src.first_line, 1, "no function named '%s' in the source", kernel_name);
    error_at(c, c->src.first_line, 1, "no function definition in the source");
  }
  JitFn *kf = jitfn_new(&S, stub->name, c->src, toks, (int)stub->ival, module);
  Node *def = jitfn_def(&S, kf);
  Fn *fn = arena_alloc(&c->arena, sizeof(Fn));
  fn->name = def->name;
  fn->line = def->line;
  fn->col = def->col;
  fn->num_warps = c->req->num_warps > 0 ? c->req->num_warps : c->target->default_num_warps > 0 ? c->target->default_num_warps : 4;
  if (fn->num_warps * 32 > c->target->max_threads_per_threadgroup && c->target->max_threads_per_threadgroup > 0)
    error_at(c, def->line, def->col, "num_warps=%d needs %d threads per threadgroup; the target '%s' allows %d", fn->num_warps,
             fn->num_warps * 32, c->target->name, c->target->max_threads_per_threadgroup);
  S.fn = fn;
  fn->body = ir_block(c);
  S.blk = fn->body;
  Scope sc = {.is_kernel = true};
  S.scope = &sc;
  S.line = def->line;
  S.col = def->col;
  bind_kernel_params(&S, def);
  kf->active = 1;
  exec_block(&S, def->list2);
  kf->active = 0;
  if (fn->sites.n) { /* device_print / device_assert records go to a hidden buffer the host binds */
    Param dbg = {.name = "tm_dbg", .index = -1, .kind = TM_PARAM_POINTER, .ty = type_ptr(TM_U32), .written = true};
    vec_push(&c->arena, fn->params, dbg);
  }
  return fn;
}
