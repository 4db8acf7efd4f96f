/*
 * msl_lint.c: what Metal rejects in MSL but C++ accepts, found in the MSL text
 * itself before the cpu emulator compiles it against runtime/cpu/metal_stdlib.
 *
 * The shim refuses most of what Metal refuses by itself (no double, no standard
 * library, real address spaces under clang, deleted bfloat overloads...). A
 * header cannot refuse the constructs below, so this lint does, over the MSL
 * only (never over the shim, which may use them), with messages in the
 * compiler's format, `FILE:LINE:COL: error: goto is not supported in Metal`:
 *
 *   goto; `long long` / `long double`; lambdas before MSL 3.2 (the version the
 *   kernel is built for; the compiler never emits them); `static` locals;
 *   recursion (the call graph of the functions defined here, by name);
 *   function pointers (`(*name)(`, `(*)(`, `(&name)(` declarators, `&f` of a
 *   function defined here); kernel arguments of type size_t / ptrdiff_t and
 *   pointer or reference kernel arguments without a device, constant or
 *   threadgroup address space; `threadgroup` variables outside a kernel, at
 *   program scope or with an initializer.
 *
 * It also does the one thing the shim cannot tell by itself: whether a
 * `threadgroup` starts a variable declaration (`threadgroup float a[64];`,
 * storage shared by the threadgroup) or qualifies a pointer, reference or
 * template argument type (`threadgroup float *p`). The output text is the MSL
 * with `tm_threadgroup_var ` put before the first kind (the shim: static
 * thread_local, so the threads of a threadgroup share the variable; the
 * `threadgroup` after it puts it in threadgroup space) and ` = {}` after each
 * of its declarators (see tg_rewrite), nothing else changed.
 *
 * Method: one pass makes tokens (comments, strings and preprocessor lines
 * skipped, so macro bodies are not looked at); a second walks them with a
 * stack of braces (namespace/class, function body, block, initializer), which
 * tells program scope from function scope and finds each function definition
 * (a `{` after a `)` outside functions), its name, whether it is a kernel, its
 * parameters and the names it calls. Limits, by design of a lexical check:
 * macros are not expanded, and both branches of an #if are read (each must
 * balance its braces, as the compiler's output does); calls resolve by name,
 * and a name defined several times (overloads) may call itself (`f(int)`
 * calling `f(uint)` is common), so recursion through such a name is not seen;
 * calls of template-ids (`f<T>(x)`) and member functions are not followed; a
 * function used as a value other than by `&f` (passed to a template, say) is
 * not seen.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

typedef enum { T_ID, T_NUM, T_STR, T_PUNCT } TokKind;

typedef struct Tok {
  TokKind kind;
  const char *s;
  int len, line, col;
} Tok;

typedef struct Fn {
  const char *name;
  int len, ndefs;
  int body0, body1; /* token range of the (last) body: { ... } */
  int tok;          /* the name's token */
  bool visiting, done;
} Fn;

typedef struct Edit {
  const char *at;   /* inserted before this place of the MSL */
  const char *text;
} Edit;

typedef struct Lint {
  const char *file, *src;
  int msl_version;
  Tok *t;
  int n, cap;
  Fn *fn;
  int nfn, capfn;
  char *msgs; /* "FILE:L:C: error: ...\n" lines */
  size_t nmsgs_bytes;
  int nerr;
  Edit *edits; /* insertions for threadgroup variable declarations, in text order */
  int nedits;
  bool oom;
} Lint;

enum { MAX_ERRORS = 20 };

static void error_at(Lint *L, const Tok *t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void error_at(Lint *L, const Tok *t, const char *fmt, ...) {
  if (L->nerr++ >= MAX_ERRORS) return;
  va_list ap;
  va_start(ap, fmt);
  char *m = rt_vstrfmt(fmt, ap);
  va_end(ap);
  char *line = m ? rt_strfmt("%s:%d:%d: error: %s\n", L->file, t->line, t->col, m) : NULL;
  free(m);
  size_t k = line ? strlen(line) : 0;
  char *grown = line ? realloc(L->msgs, L->nmsgs_bytes + k + 1) : NULL;
  if (!grown) {
    L->oom = true;
    free(line);
    return;
  }
  memcpy(grown + L->nmsgs_bytes, line, k + 1);
  L->msgs = grown;
  L->nmsgs_bytes += k;
  free(line);
}

/* ------------------------------------------------------------ tokens */

static bool is(const Tok *t, const char *s) { return (int)strlen(s) == t->len && !memcmp(t->s, s, (size_t)t->len); }
static bool id(const Tok *t, const char *s) { return t->kind == T_ID && is(t, s); }
static bool pu(const Tok *t, const char *s) { return t->kind == T_PUNCT && is(t, s); }

static void push(Lint *L, TokKind k, const char *s, int len, int line, int col) {
  if (L->n == L->cap) {
    int cap = L->cap ? 2 * L->cap : 1024;
    Tok *g = realloc(L->t, (size_t)cap * sizeof *g);
    if (!g) {
      L->oom = true;
      return;
    }
    L->t = g, L->cap = cap;
  }
  L->t[L->n++] = (Tok){k, s, len, line, col};
}

static const char *const puncts[] = {"<<=", ">>=", "...", "->*", "::", "->", "&&", "||", "==", "!=", "<=", ">=",
                                     "+=",  "-=",  "*=",  "/=",  "%=", "&=", "|=", "^=", "<<", "++", "--"};

static void tokenize(Lint *L) {
  const char *p = L->src, *bol = p;
  int line = 1;
  bool line_start = true; /* only blanks so far on this line */
  while (*p && !L->oom) {
    if (*p == '\n') {
      p++, line++, bol = p, line_start = true;
      continue;
    }
    if (isspace((unsigned char)*p)) {
      p++;
      continue;
    }
    if (p[0] == '/' && p[1] == '/') {
      while (*p && *p != '\n') p++;
      continue;
    }
    if (p[0] == '/' && p[1] == '*') {
      for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
        if (*p == '\n') line++, bol = p + 1;
      if (*p) p += 2;
      continue;
    }
    int col = (int)(p - bol) + 1;
    if (*p == '#' && line_start) { /* a preprocessor line, with its continuations */
      for (; *p && *p != '\n'; p++)
        if (p[0] == '\\' && p[1] == '\n') p++, line++, bol = p + 1;
      continue;
    }
    line_start = false;
    const char *s = p;
    if (isalpha((unsigned char)*p) || *p == '_') {
      while (isalnum((unsigned char)*p) || *p == '_') p++;
      push(L, T_ID, s, (int)(p - s), line, col);
    } else if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
      for (p++; isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '\'' ||
                ((*p == '+' || *p == '-') && strchr("eEpP", p[-1]));
           p++) {
      }
      push(L, T_NUM, s, (int)(p - s), line, col);
    } else if (*p == '"' || *p == '\'') {
      char q = *p++;
      while (*p && *p != q && *p != '\n') p += p[0] == '\\' && p[1] ? 2 : 1;
      if (*p == q) p++;
      push(L, T_STR, s, (int)(p - s), line, col);
    } else {
      int k = 1;
      for (size_t i = 0; i < sizeof puncts / sizeof *puncts; i++)
        if (!strncmp(p, puncts[i], strlen(puncts[i]))) {
          k = (int)strlen(puncts[i]);
          break;
        }
      push(L, T_PUNCT, s, k, line, col);
      p += k;
    }
  }
}

/* The index of the token closing the bracket at i (or L->n). */
static int match(const Lint *L, int i) {
  const char *open = L->t[i].s, *close = *open == '(' ? ")" : *open == '[' ? "]" : "}";
  int depth = 0;
  for (int j = i; j < L->n; j++) {
    if (L->t[j].kind != T_PUNCT) continue;
    if (L->t[j].len == 1 && L->t[j].s[0] == *open) depth++;
    else if (is(&L->t[j], close) && --depth == 0) return j;
  }
  return L->n;
}

/* The index of the token opening the bracket closed at i (or -1). */
static int match_back(const Lint *L, int i) {
  char close = L->t[i].s[0], open = close == ')' ? '(' : close == ']' ? '[' : '{';
  int depth = 0;
  for (int j = i; j >= 0; j--) {
    if (L->t[j].kind != T_PUNCT || L->t[j].len != 1) continue;
    if (L->t[j].s[0] == close) depth++;
    else if (L->t[j].s[0] == open && --depth == 0) return j;
  }
  return -1;
}

/* ------------------------------------------------------------ functions */

static Fn *fn_find(Lint *L, const Tok *name) {
  for (int i = 0; i < L->nfn; i++)
    if (L->fn[i].len == name->len && !memcmp(L->fn[i].name, name->s, (size_t)name->len)) return &L->fn[i];
  return NULL;
}

static void fn_add(Lint *L, int name, int body0, int body1) {
  Fn *f = fn_find(L, &L->t[name]);
  if (!f) {
    if (L->nfn == L->capfn) {
      int cap = L->capfn ? 2 * L->capfn : 64;
      Fn *g = realloc(L->fn, (size_t)cap * sizeof *g);
      if (!g) {
        L->oom = true;
        return;
      }
      L->fn = g, L->capfn = cap;
    }
    f = &L->fn[L->nfn++];
    *f = (Fn){.name = L->t[name].s, .len = L->t[name].len};
  }
  f->ndefs++;
  f->body0 = body0, f->body1 = body1, f->tok = name;
}

/* Whether the `{` at i opens a function body, seen from outside any function:
 * `) {`, `) const {`, `) [[attr]] {`, `) -> type {` do; the name is the token
 * before the matching `(` (its index in *name, -1 when it is not an identifier). */
static bool function_body(const Lint *L, int i, int *name, int *rparen) {
  int j = i - 1;
  for (;;) {
    while (j >= 0 && (id(&L->t[j], "const") || id(&L->t[j], "noexcept") || id(&L->t[j], "override") ||
                      id(&L->t[j], "volatile") || pu(&L->t[j], "&") || pu(&L->t[j], "&&")))
      j--;
    if (j >= 1 && pu(&L->t[j], "]") && pu(&L->t[j - 1], "]")) { /* ) [[attr]] { */
      j = match_back(L, j) - 1;
      continue;
    }
    break;
  }
  /* `) -> type {`: look back for `->` right after a `)` */
  for (int k = j; j >= 0 && !pu(&L->t[j], ")") && k > 0 && k > j - 12; k--)
    if (pu(&L->t[k], "->") && pu(&L->t[k - 1], ")")) {
      j = k - 1;
      break;
    } else if (pu(&L->t[k], ";") || pu(&L->t[k], "{") || pu(&L->t[k], "}")) {
      break;
    }
  if (j < 0 || !pu(&L->t[j], ")")) return false;
  int lp = match_back(L, j);
  if (lp < 1) return false;
  *rparen = j;
  *name = L->t[lp - 1].kind == T_ID ? lp - 1 : -1;
  return true;
}

/* Whether the declaration whose name is at token `name` says `kernel` (or
 * [[kernel]]): looks back to the previous `;`, `{` or `}`. */
static bool is_kernel(const Lint *L, int name) {
  for (int j = name - 1; j >= 0; j--) {
    if (pu(&L->t[j], ";") || pu(&L->t[j], "{") || pu(&L->t[j], "}")) break;
    if (id(&L->t[j], "kernel")) return true;
  }
  return false;
}

/* The address spaces (and image-block / ray-tracing spaces) a kernel's pointer
 * and reference arguments may have. */
static bool kernel_space(const Tok *t) {
  return id(t, "device") || id(t, "constant") || id(t, "threadgroup") || id(t, "threadgroup_imageblock") ||
         id(t, "ray_data") || id(t, "object_data");
}

/* Kernel parameters in (lp, rp): size_t / ptrdiff_t, and pointers or
 * references without an address space. */
static void check_kernel_params(Lint *L, int lp, int rp) {
  int a = lp + 1;
  while (a < rp) {
    int depth = 0, e = a, type_end = -1;
    for (; e < rp; e++) {
      const Tok *t = &L->t[e];
      if (pu(t, "(") || pu(t, "[") || pu(t, "<")) {
        if (pu(t, "[") && type_end < 0) type_end = e; /* [[buffer(0)]] */
        depth++;
      } else if (pu(t, ")") || pu(t, "]") || pu(t, ">")) {
        depth--;
      } else if (depth == 0 && pu(t, ",")) {
        break;
      }
    }
    if (type_end < 0) type_end = e;
    int name = -1;
    for (int k = type_end - 1; k >= a && name < 0; k--)
      if (L->t[k].kind == T_ID) name = k;
    bool space = false, ptr = false;
    const Tok *bad = NULL;
    for (int k = a; k < type_end; k++) {
      const Tok *t = &L->t[k];
      if (kernel_space(t)) space = true;
      if ((pu(t, "*") || pu(t, "&") || pu(t, "&&")) && !space) ptr = true;
      if ((id(t, "size_t") || id(t, "ptrdiff_t")) && !bad) bad = t;
    }
    const Tok *nt = name >= 0 ? &L->t[name] : &L->t[a];
    if (bad)
      error_at(L, bad, "kernel argument '%.*s' is of type %.*s: Metal does not allow size_t or ptrdiff_t kernel "
               "arguments (use uint or ulong)", nt->len, nt->s, bad->len, bad->s);
    if (ptr)
      error_at(L, nt, "kernel argument '%.*s' is a pointer or reference without an address space: Metal needs "
               "device, constant or threadgroup", nt->len, nt->s);
    a = e + 1;
  }
}

/* ------------------------------------------------------------ threadgroup */

/* At token i, `threadgroup`: whether it starts a variable declaration (then
 * *decl_name and *init are set) or qualifies a pointer/reference/template type. */
static bool tg_variable(const Lint *L, int i, int *decl_name, bool *init) {
  int angle = 0, ids = 0, last_id = -1;
  for (int j = i + 1; j < L->n; j++) {
    const Tok *t = &L->t[j];
    if (pu(t, "<")) {
      angle++;
      continue;
    }
    if (pu(t, ">")) {
      if (angle-- == 0) return false; /* the end of a template argument */
      continue;
    }
    if (angle) continue;
    if ((id(t, "__attribute__") || id(t, "alignas")) && j + 1 < L->n && pu(&L->t[j + 1], "(")) {
      j = match(L, j + 1); /* threadgroup __attribute__((aligned(16))) float a[64]; */
      continue;
    }
    if (t->kind == T_ID) {
      ids++, last_id = j;
      continue;
    }
    if (pu(t, "::")) {
      ids--; /* a::b is one name */
      continue;
    }
    if (pu(t, "*") || pu(t, "&") || pu(t, "&&") || pu(t, ")")) return false;
    if (pu(t, ",")) {
      if (ids < 2) return false; /* tensor<threadgroup half, ...> */
      *decl_name = last_id, *init = false;
      return true;
    }
    if (pu(t, ";") || pu(t, "[") || pu(t, "=") || pu(t, "{") || pu(t, "(")) {
      if (ids < 2) return false;
      *decl_name = last_id;
      *init = pu(t, "=") || pu(t, "{") || pu(t, "(");
      if (pu(t, "[")) { /* an array: an initializer may follow its extents */
        int k = j;
        while (k < L->n && pu(&L->t[k], "[")) k = match(L, k) + 1;
        *init = k < L->n && (pu(&L->t[k], "=") || pu(&L->t[k], "{"));
      }
      return true;
    }
    return false;
  }
  return false;
}

static void edit(Lint *L, const char *at, const char *text) {
  Edit *g = realloc(L->edits, (size_t)(L->nedits + 1) * sizeof *g);
  if (!g) {
    L->oom = true;
    return;
  }
  L->edits = g;
  L->edits[L->nedits++] = (Edit){at, text};
}

/* The declaration at `threadgroup` token i becomes
 *   tm_threadgroup_var threadgroup T a[N] = {}, b = {};
 * static thread_local storage in threadgroup space, aggregate-initialized to
 * zero (what static storage holds anyway): clang constructs no class object
 * in another address space (threadgroup atomic_int), but initializes an
 * aggregate there. */
static void tg_rewrite(Lint *L, int i) {
  edit(L, L->t[i].s, "tm_threadgroup_var ");
  int depth = 0;
  for (int j = i + 1; j < L->n && !L->oom; j++) {
    const Tok *t = &L->t[j];
    if (pu(t, "(") || pu(t, "[") || pu(t, "{") || pu(t, "<")) depth++;
    else if (pu(t, ")") || pu(t, "]") || pu(t, "}") || pu(t, ">")) depth--;
    else if (depth == 0 && (pu(t, ",") || pu(t, ";"))) edit(L, t->s, " = {}");
    if (depth == 0 && pu(t, ";")) break;
  }
}

/* ------------------------------------------------------------ the walk */

typedef enum { S_OUTER, S_FUNC, S_BLOCK } Scope;

/* Whether `[` at i starts a lambda: not an attribute `[[`, not a subscript
 * (after a name, a literal, `)`, `]` or `>`). */
static bool lambda_at(const Lint *L, int i) {
  if (i + 1 < L->n && pu(&L->t[i + 1], "[")) return false;
  if (i > 0 && pu(&L->t[i - 1], "[")) return false;
  if (i == 0) return true;
  const Tok *p = &L->t[i - 1];
  if (p->kind == T_ID) return id(p, "return") || id(p, "case");
  if (p->kind == T_NUM || p->kind == T_STR) return false;
  return !(pu(p, ")") || pu(p, "]") || pu(p, ">"));
}

static void walk(Lint *L) {
  enum { MAXD = 256 };
  Scope stack[MAXD];
  int depth = 0, fn_name = -1;
  bool fn_kernel = false;
  for (int i = 0; i < L->n && !L->oom; i++) {
    const Tok *t = &L->t[i];
    Scope here = depth ? stack[depth - 1] : S_OUTER;
    bool in_fn = here != S_OUTER;
    if (pu(t, "{")) {
      Scope s = S_BLOCK;
      int name, rp;
      if (!in_fn) {
        if (function_body(L, i, &name, &rp)) {
          s = S_FUNC;
          fn_name = name;
          fn_kernel = name >= 0 && is_kernel(L, name);
          if (fn_kernel) check_kernel_params(L, match_back(L, rp), rp);
          if (name >= 0) fn_add(L, name, i, match(L, i));
        } else {
          s = S_OUTER; /* namespace, class, enum, initializer at program scope */
        }
      }
      if (depth < MAXD) stack[depth++] = s;
      continue;
    }
    if (pu(t, "}")) {
      if (depth) depth--;
      if (here == S_FUNC) fn_name = -1, fn_kernel = false;
      continue;
    }
    if (id(t, "goto")) error_at(L, t, "goto is not supported in Metal");
    if (id(t, "long") && i + 1 < L->n && (id(&L->t[i + 1], "long") || id(&L->t[i + 1], "double")))
      error_at(L, t, "long %.*s is not supported in Metal%s", L->t[i + 1].len, L->t[i + 1].s,
               id(&L->t[i + 1], "long") ? " (long is 64-bit)" : "");
    if (in_fn && id(t, "static")) error_at(L, t, "static local variables are not supported in Metal");
    if (pu(t, "[") && lambda_at(L, i) && L->msl_version < 320) {
      if (L->msl_version > 0)
        error_at(L, t, "lambda expressions need MSL 3.2; this kernel is built for MSL %d.%d", L->msl_version / 100,
                 L->msl_version / 10 % 10);
      else
        error_at(L, t, "lambda expressions need MSL 3.2 (the target's MSL version is unknown)");
    }
    /* (*name)(, (*)(, (&name)(: a function pointer or reference declarator */
    if (pu(t, "(") && i + 2 < L->n && (pu(&L->t[i + 1], "*") || pu(&L->t[i + 1], "&"))) {
      int k = i + 2;
      while (k < L->n && (id(&L->t[k], "const") || id(&L->t[k], "volatile"))) k++;
      if (k < L->n && L->t[k].kind == T_ID) k++;
      if (k + 1 < L->n && pu(&L->t[k], ")") && pu(&L->t[k + 1], "("))
        error_at(L, t, "function pointers are not supported in Metal");
    }
    if (id(t, "threadgroup")) {
      int name = -1;
      bool init = false;
      if (tg_variable(L, i, &name, &init)) {
        const Tok *nt = &L->t[name];
        if (!in_fn)
          error_at(L, t, "threadgroup variable '%.*s' at program scope: Metal allocates threadgroup memory in a "
                   "kernel only", nt->len, nt->s);
        else if (!fn_kernel)
          error_at(L, t, "threadgroup variable '%.*s' in function '%.*s', which is not a kernel: Metal allocates "
                   "threadgroup memory in a kernel only (pass a threadgroup pointer)", nt->len, nt->s,
                   fn_name >= 0 ? L->t[fn_name].len : 1, fn_name >= 0 ? L->t[fn_name].s : "?");
        else if (init)
          error_at(L, t, "threadgroup variable '%.*s' has an initializer: Metal does not allow one (assign it, "
                   "then threadgroup_barrier)", nt->len, nt->s);
        if (!init) tg_rewrite(L, i);
      }
    }
  }
}

/* &f of a function defined here: a function pointer. */
static void check_function_values(Lint *L) {
  for (int i = 1; i + 1 < L->n; i++) {
    const Tok *t = &L->t[i];
    if (t->kind != T_ID || !pu(&L->t[i - 1], "&") || !fn_find(L, t)) continue;
    const Tok *nx = &L->t[i + 1];
    if (pu(nx, "(") || pu(nx, "[") || pu(nx, ".") || pu(nx, "->") || pu(nx, "::")) continue;
    if (i >= 2 && (L->t[i - 2].kind == T_ID || pu(&L->t[i - 2], ")") || pu(&L->t[i - 2], "]") ||
                   L->t[i - 2].kind == T_NUM))
      continue; /* a & f: a bitwise and (or a reference declarator) */
    error_at(L, t, "function pointers are not supported in Metal ('&%.*s')", t->len, t->s);
  }
}

/* Depth-first over calls by name; a cycle is recursion. Reports the function
 * whose call closes the cycle. */
static bool dfs(Lint *L, Fn *f) {
  if (f->done) return false;
  if (f->visiting) return true;
  f->visiting = true;
  bool cycle = false;
  for (int i = f->body0 + 1; i < f->body1 && !cycle; i++) {
    const Tok *t = &L->t[i];
    if (t->kind != T_ID || i + 1 >= L->n || !pu(&L->t[i + 1], "(")) continue;
    if (pu(&L->t[i - 1], ".") || pu(&L->t[i - 1], "->")) continue; /* a member function */
    Fn *g = fn_find(L, t);
    if (!g || (g == f && f->ndefs > 1)) continue; /* overloads forward to each other */
    if (g->visiting || dfs(L, g)) {
      error_at(L, t, "recursion is not supported in Metal: '%.*s' calls '%.*s'%s", f->len, f->name, g->len, g->name,
               g == f ? "" : ", which calls back");
      cycle = true;
    }
  }
  f->visiting = false;
  f->done = true;
  return false; /* reported once, here */
}

static char *rewrite(const Lint *L) {
  size_t n = strlen(L->src), extra = 0;
  for (int k = 0; k < L->nedits; k++) extra += strlen(L->edits[k].text);
  char *out = malloc(n + extra + 1), *o = out;
  if (!out) return NULL;
  const char *p = L->src;
  for (int k = 0; k < L->nedits; k++) { /* in text order: made in one pass over the tokens */
    const Edit *e = &L->edits[k];
    memcpy(o, p, (size_t)(e->at - p));
    o += e->at - p;
    memcpy(o, e->text, strlen(e->text));
    o += strlen(e->text);
    p = e->at;
  }
  strcpy(o, p);
  return out;
}

tm_status msl_lint(const char *msl, int msl_version, const char *file, char **out, char **err) {
  Lint L = {.file = file ? file : "msl", .src = msl, .msl_version = msl_version};
  *out = NULL;
  tokenize(&L);
  if (!L.oom) walk(&L);
  if (!L.oom) check_function_values(&L);
  for (int i = 0; i < L.nfn && !L.oom; i++) dfs(&L, &L.fn[i]);
  tm_status st = TM_OK;
  if (L.oom) {
    st = rt_error(TM_ERR_NOMEM, err, "out of memory");
  } else if (L.nerr) {
    st = rt_error(TM_ERR_DEVICE, err, "%s%s", L.msgs,
                  L.nerr > MAX_ERRORS ? "(more errors not shown)\n" : "");
  } else if (!(*out = rewrite(&L))) {
    st = rt_error(TM_ERR_NOMEM, err, "out of memory");
  }
  free(L.t), free(L.fn), free(L.msgs), free(L.edits);
  return st;
}
