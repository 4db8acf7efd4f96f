/* test_compiler.c: unit tests of the compiler's front half: lexer, parser,
 * IR printer, diagnostics, and the blocked layout's ownership map. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tm.h"

static Ctx *new_ctx(const char *src, tm_compile_request *req) {
  Ctx *c = calloc(1, sizeof *c);
  memset(req, 0, sizeof *req);
  req->source = src;
  c->req = req;
  c->src = (Src){.text = src, .filename = "t.py", .first_line = 1};
  return c;
}

static void free_ctx(Ctx *c) {
  arena_free(&c->arena);
  free(c->err);
  free(c);
}

/* Lexes src; returns "KIND:text KIND:text ..." or "error: <first line>". */
static char *lex_str(const char *src) {
  tm_compile_request req;
  Ctx *c = new_ctx(src, &req);
  static char out[4096];
  out[0] = 0;
  if (setjmp(c->jb)) {
    snprintf(out, sizeof out, "error: %.*s", (int)strcspn(c->err, "\n"), c->err);
    free_ctx(c);
    return out;
  }
  TokVec t = lex(c);
  static const char *names[] = {"EOF", "NL", "IN", "DE", "N", "I", "F", "S", "O", "K"};
  size_t n = 0;
  for (int i = 0; i < t.n; i++) {
    Tok *k = &t.v[i];
    if (k->kind == T_INT) n += (size_t)snprintf(out + n, sizeof out - n, "I:%lld ", (long long)k->ival);
    else if (k->kind == T_FLOAT) n += (size_t)snprintf(out + n, sizeof out - n, "F:%g ", k->fval);
    else if (k->kind == T_STR) n += (size_t)snprintf(out + n, sizeof out - n, "S:%s ", k->str);
    else if (k->len) n += (size_t)snprintf(out + n, sizeof out - n, "%s:%.*s ", names[k->kind], k->len, k->s);
    else n += (size_t)snprintf(out + n, sizeof out - n, "%s ", names[k->kind]);
  }
  if (n) out[n - 1] = 0;
  free_ctx(c);
  return out;
}

static void test_lexer(void) {
  CHECK_STR(lex_str("x = a + 1\n"), "N:x O:= N:a O:+ I:1 NL EOF");
  CHECK_STR(lex_str("def f(a,\n      b):\n    return a  # c\n"),
            "K:def N:f O:( N:a O:, N:b O:) O:: NL IN K:return N:a NL DE EOF");
  CHECK_STR(lex_str("x = 0x1F + 0b101 + 1_000 + 0o17\n"), "N:x O:= I:31 O:+ I:5 O:+ I:1000 O:+ I:15 NL EOF");
  CHECK_STR(lex_str("y = 1.5e-3 + .5 + 2.\n"), "N:y O:= F:0.0015 O:+ F:0.5 O:+ F:2 NL EOF");
  CHECK_STR(lex_str("s = 'a\\tb' \"q\"\n"), "N:s O:= S:a\tb S:q NL EOF");
  CHECK_STR(lex_str("x //= 2 ** 3 >> 1\n"), "N:x O://= I:2 O:** I:3 O:>> I:1 NL EOF");
  CHECK_STR(lex_str("if a:\n\n  # only a comment\n  b\nc\n"), "K:if N:a O:: NL IN N:b NL DE N:c NL EOF");
  CHECK_STR(lex_str("a = (1 +\n  2)\n"), "N:a O:= O:( I:1 O:+ I:2 O:) NL EOF");
  CHECK_STR(lex_str("a = 1 + \\\n  2\n"), "N:a O:= I:1 O:+ I:2 NL EOF");
  CHECK_STR(lex_str("\"\"\"doc\nstring\"\"\"\n"), "S:doc\nstring NL EOF");
  CHECK_STR(lex_str("x = 99999999999999999999\n"), "error: t.py:1:5: error: integer literal 99999999999999999999 does not fit in 64 bits");
  CHECK_STR(lex_str("x = 'open\n"), "error: t.py:1:5: error: unterminated string literal");
  CHECK_STR(lex_str("x = 1 $ 2\n"), "error: t.py:1:7: error: unexpected character '$'");
  CHECK_STR(lex_str("if a:\n    b\n  c\n"), "error: t.py:3:3: error: unindent does not match any outer indentation level");
}

/* Parses the first def of src and prints its AST, or the first error line. */
static char *parse_str(const char *src) {
  tm_compile_request req;
  Ctx *c = new_ctx(src, &req);
  char *res;
  if (setjmp(c->jb)) {
    res = strndup(c->err, strcspn(c->err, "\n"));
    free_ctx(c);
    return res;
  }
  TokVec t = lex(c);
  Node *m = parse_module(c, t);
  Node *d = NULL;
  for (int i = 0; i < m->list.n && !d; i++)
    if (m->list.v[i]->kind == N_DEF) d = parse_def_at(c, t, (int)m->list.v[i]->ival);
  res = strdup(d ? ast_print(c, d) : "no def");
  free_ctx(c);
  return res;
}

static void test_parser(void) {
  char *s = parse_str("@jit\ndef f(a, B: tl.constexpr = 4):\n    x = a + B * 2\n");
  CHECK_STR(s,
            "Def f @2:5\n"
            "  List @1:1\n"
            "    Name jit @1:2\n"
            "  Param a @2:7\n"
            "  Param B @2:10\n"
            "    Attr constexpr @2:13\n"
            "      Name tl @2:13\n"
            "    Int 4 @2:28\n"
            "  --\n"
            "  Assign @3:7\n"
            "    BinOp + @3:11\n"
            "      Name a @3:9\n"
            "      BinOp * @3:15\n"
            "        Name B @3:13\n"
            "        Int 2 @3:17\n"
            "    Name x @3:5\n");
  free(s);
  /* precedence: comparison binds looser than |, 'not' looser than comparison */
  s = parse_str("def f(a):\n    return not a | 1 < 2\n");
  CHECK_CONTAINS(s, "Unary not @2:12\n      Compare < @2:22\n        BinOp | @2:18");
  free(s);
  s = parse_str("def f(a):\n    x = a[:, None]\n    y = -a ** 2\n    z = b if c else d\n");
  CHECK_CONTAINS(s, "Subscript @2:10\n      Name a @2:9\n      Tuple @2:10\n        Slice @2:11\n        None @2:14");
  CHECK_CONTAINS(s, "Unary - @3:9\n      BinOp ** @3:12");
  CHECK_CONTAINS(s, "IfExp @4:11\n      Name c @4:14\n      Name b @4:9\n      Name d @4:21");
  free(s);
  s = parse_str("def f(a):\n    tl.store(a, 1, mask=m)\n");
  CHECK_CONTAINS(s, "Call @2:5\n      Attr store @2:5\n        Name tl @2:5\n      Name a @2:14\n      Int 1 @2:17\n      --\n      Kwarg mask @2:20");
  free(s);
  s = parse_str("def f(a):\n    if a:\n        pass\n    elif b:\n        x = 1\n    else:\n        x = 2\n");
  CHECK_CONTAINS(s, "  If @2:5\n    Name a @2:8\n    Pass @3:9\n    --\n    If @4:5\n      Name b @4:10");
  free(s);
  /* host code around the kernel is skipped, not parsed */
  s = parse_str("import numpy as np\nx = [i for i in range(3)]\nclass A:\n    pass\ndef f(a):\n    return a\n");
  CHECK_CONTAINS(s, "Def f @5:5");
  free(s);
  s = parse_str("def f(a):\n    x = [i for i in a]\n");
  CHECK_STR(s, "t.py:2:12: error: comprehensions are not supported in kernels");
  free(s);
  s = parse_str("def f(*a):\n    pass\n");
  CHECK_STR(s, "t.py:1:7: error: '*' in a kernel's parameter list is not supported");
  free(s);
  s = parse_str("def f(a):\n    x = (1, 2\n");
  CHECK_STR(s, "t.py:3:1: error: expected ')', found end of line");
  free(s);
  s = parse_str("def f(a):\n    with a:\n        pass\n");
  CHECK_STR(s, "t.py:2:5: error: 'with' statements are not supported in kernels");
  free(s);
  s = parse_str("def f(a, a):\n    pass\n");
  CHECK_STR(s, "t.py:1:10: error: duplicate parameter 'a'");
  free(s);
}

static const char *KERNEL =
    "import triton_metal.language as tl\n"
    "def k(x_ptr, n, B: tl.constexpr):\n"
    "    offs = tl.arange(0, B)\n"
    "    tl.store(x_ptr + offs, offs * 2, mask=offs < n)\n";

static void test_ir_print(void) {
  tm_param_spec p[3] = {{.kind = TM_PARAM_POINTER, .dtype = TM_I64, .flags = TM_PF_DIV16},
                        {.kind = TM_PARAM_SCALAR, .dtype = TM_I32},
                        {.kind = TM_PARAM_CONSTEXPR, .value = {.kind = TM_V_INT, .i = 32}}};
  tm_compile_request req = {.source = KERNEL, .filename = "k.py", .params = p, .nparams = 3, .dump = "ir"};
  tm_kernel *k = NULL;
  char *err = NULL;
  CHECK(tm_compile(&req, &k, &err) == TM_OK);
  if (!k) {
    fprintf(stderr, "%s\n", err);
    return;
  }
  CHECK_STR(tm_kernel_dump(k),
            "func k(x_ptr: *i64 {div16}, n: i32) num_warps=4 {\n"
            "  %0 = arg x_ptr : *i64                          @2:7\n"
            "  %1 = arg n : i32                               @2:14\n"
            "  %2 = range 0 : <32xi32>                        @3:12\n"
            "  %3 = splat %0 : <32x*i64>                      @4:20\n"
            "  %4 = addptr %3, %2 : <32x*i64>                 @4:20\n"
            "  %5 = const 2 : i32                             @4:33\n"
            "  %6 = splat %5 : <32xi32>                       @4:33\n"
            "  %7 = mul %2, %6 : <32xi32>                     @4:33\n"
            "  %8 = splat %1 : <32xi32>                       @4:48\n"
            "  %9 = cmp lt %2, %8 : <32xi1>                   @4:48\n"
            "  %10 = cast %7 : <32xi64>                       @4:5\n"
            "  store %4, %10, %9 : <32x*i64>                  @4:5\n"
            "}\n");
  const tm_kernel_info *info = tm_kernel_get_info(k);
  CHECK(info->nargs == 2);
  CHECK_STR(info->args[0].name, "x_ptr");
  CHECK(info->args[0].role == TM_ARG_BUFFER && info->args[0].writable == 1 && info->args[0].dtype == TM_I64);
  CHECK(info->args[1].role == TM_ARG_BYTES && info->args[1].param_index == 1);
  CHECK(info->threads_per_threadgroup == 128);
  CHECK_STR(info->source_file, "k.py");
  tm_kernel_free(k);

  /* errors come back as located messages, nothing leaks (run under ASan) */
  req.nparams = 2;
  CHECK(tm_compile(&req, &k, &err) == TM_ERR_COMPILE);
  CHECK_CONTAINS(err, "kernel 'k' has 3 parameters but 2 argument specifications were given");
  tm_free(err);
  req.num_warps = 3;
  CHECK(tm_compile(&req, &k, &err) == TM_ERR_INVALID);
  tm_free(err);
}

static void test_parse_params(void) {
  char **names;
  int *ce, n;
  char *err;
  CHECK(tm_parse_params(KERNEL, "k.py", 1, "k", &names, &ce, &n, &err) == TM_OK);
  CHECK(n == 3);
  if (n == 3) {
    CHECK_STR(names[0], "x_ptr");
    CHECK_STR(names[2], "B");
    CHECK(!ce[0] && !ce[1] && ce[2]);
  }
  tm_params_free(names, ce, n);
  CHECK(tm_parse_params(KERNEL, "k.py", 1, "missing", &names, &ce, &n, &err) == TM_ERR_COMPILE);
  CHECK_CONTAINS(err, "no function named 'missing'");
  tm_free(err);
}

/* Every element of a block is owned by exactly one non-duplicate (thread, slot). */
static void check_layout_along(int rank, const int32_t *shape, int num_warps, int vec, int fastest) {
  tm_compile_request req;
  Ctx *c = new_ctx("", &req);
  Layout *l = layout_blocked_along(c, rank, shape, num_warps, vec, fastest);
  CHECK(l->order[0] == fastest && l->stride[fastest] == 1);
  int64_t numel = 1;
  for (int d = 0; d < rank; d++) numel *= shape[d];
  int *owners = calloc((size_t)numel, sizeof(int));
  bool ok = true;
  for (int w = 0; w < num_warps; w++)
    for (int lane = 0; lane < 32; lane++)
      for (int s = 0; s < l->per_thread; s++) {
        int coords[TM_MAX_RANK];
        bool dup;
        layout_coords(l, lane, w, s, coords, &dup);
        int64_t flat = 0;
        for (int d = 0; d < rank; d++) {
          ok &= coords[d] >= 0 && coords[d] < shape[d];
          flat = flat * shape[d] + coords[d];
        }
        if (!dup) owners[flat]++;
      }
  for (int64_t i = 0; i < numel; i++) ok &= owners[i] == 1;
  if (!ok) fprintf(stderr, "layout ownership broken for rank %d shape[0]=%d warps=%d\n", rank, shape[0], num_warps);
  CHECK(ok);
  CHECK(l->per_thread * 32 * num_warps >= numel);
  free(owners);
  free_ctx(c);
}

static void check_layout(int rank, const int32_t *shape, int num_warps, int vec) {
  for (int f = 0; f < rank; f++) check_layout_along(rank, shape, num_warps, vec, f);
}

static void test_layouts(void) {
  for (int v = 1; v <= 4; v *= 2) {
    for (int w = 1; w <= 16; w *= 2)
      for (int n = 1; n <= 8192; n *= 2) check_layout(1, (int32_t[]){n}, w, v);
    for (int w = 1; w <= 8; w *= 2)
      for (int a = 1; a <= 256; a *= 4)
        for (int b = 1; b <= 256; b *= 2) check_layout(2, (int32_t[]){a, b}, w, v);
    check_layout(3, (int32_t[]){4, 8, 16}, 4, v);
    check_layout(3, (int32_t[]){2, 1, 64}, 2, v);
  }
}

/* layout_frag: each element owned once, and where the 8x8 matrix tiles'
 * element layout puts it (PTX's mma.sync accumulator fragment): SIMD-group w's
 * tile rows 8 * w + 8 * num_warps * i, lane l at row l / 4 of a tile and
 * columns 2 * (l % 4) + e, slot (i * TN + j) * 2 + e for tile column j. Rows
 * and columns that are no whole tiles replicate. */
static void test_frag_layout(void) {
  for (int w = 1; w <= 8; w *= 2)
    for (int rows = 1; rows <= 4; rows++)
      for (int cols = 1; cols <= 16; cols *= 2) {
        tm_compile_request req;
        Ctx *c = new_ctx("", &req);
        int32_t shape[2] = {8 * w * rows, 8 * cols};
        int dims[2] = {0, 1};
        Layout *l = layout_in(c, layout_frag(c, w), 2, dims, shape);
        CHECK(layout_is_frag(l, w) && l->per_thread == 2 * rows * cols);
        int *owners = calloc((size_t)shape[0] * (size_t)shape[1], sizeof(int));
        bool ok = true;
        for (int wp = 0; wp < w; wp++)
          for (int lane = 0; lane < 32; lane++)
            for (int s = 0; s < l->per_thread; s++) {
              int coords[TM_MAX_RANK];
              bool dup;
              layout_coords(l, lane, wp, s, coords, &dup);
              int i = s / (2 * cols), j = s / 2 % cols, e = s % 2;
              ok &= !dup && coords[0] == 8 * w * i + 8 * wp + lane / 4 && coords[1] == 8 * j + 2 * (lane % 4) + e;
              owners[coords[0] * shape[1] + coords[1]]++;
            }
        for (int k = 0; k < shape[0] * shape[1]; k++) ok &= owners[k] == 1;
        if (!ok) fprintf(stderr, "layout_frag broken: warps %d, shape %dx%d\n", w, shape[0], shape[1]);
        CHECK(ok);
        free(owners);
        /* fewer rows than a band of every SIMD-group: not whole, replicated */
        int32_t small[2] = {8 * w / 2 > 0 ? 8 * w / 2 : 4, 8};
        Layout *r = layout_in(c, layout_frag(c, w), 2, dims, small);
        CHECK(r->replicated && !layout_is_frag(r, w));
        free_ctx(c);
      }
}

int main(void) {
  test_lexer();
  test_parser();
  test_ir_print();
  test_parse_params();
  test_layouts();
  test_frag_layout();
  return check_report("test_compiler");
}
