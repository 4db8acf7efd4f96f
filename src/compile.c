/*
 * compile.c: the compiler's public entry point and its pass list.
 *
 *   lex -> parse -> sema -> loopptr -> layout -> pipeline -> order -> axis -> emit
 *
 * One Arena per call; every error (user or internal) longjmps back here, the
 * arena is freed, and the message is returned. The resulting tm_kernel owns
 * malloc'd copies of what outlives the arena.
 */
#include <stdlib.h>
#include <string.h>

#include "tm.h"

struct tm_kernel {
  char *msl;
  char *dump;
  tm_kernel_info info;
  tm_kernel_arg *args;
  char **strings; /* every string the info points to */
  int nstrings;
};


static char *keep(tm_kernel *k, const char *s) {
  char *p = strdup(s ? s : "");
  if (!p) return NULL;
  char **ns = realloc(k->strings, sizeof(char *) * (size_t)(k->nstrings + 1));
  if (!ns) {
    free(p);
    return NULL;
  }
  k->strings = ns;
  k->strings[k->nstrings++] = p;
  return p;
}

void tm_kernel_free(tm_kernel *k) {
  if (!k) return;
  for (int i = 0; i < k->nstrings; i++) free(k->strings[i]);
  free(k->strings);
  free(k->args);
  free(k->msl);
  free(k->dump);
  free(k);
}

const char *tm_kernel_msl(const tm_kernel *k) { return k->msl; }
const tm_kernel_info *tm_kernel_get_info(const tm_kernel *k) { return &k->info; }
const char *tm_kernel_dump(const tm_kernel *k) { return k->dump; }

static tm_kernel *export_kernel(Ctx *c, Fn *f, const char *msl, const tm_kernel_info *info, const char *dump) {
  tm_kernel *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->info = *info;
  k->msl = strdup(msl);
  k->dump = dump ? strdup(dump) : NULL;
  k->args = calloc((size_t)f->params.n + 1, sizeof(tm_kernel_arg));
  k->info.name = keep(k, info->name);
  k->info.source_file = keep(k, c->src.filename);
  k->info.source_name = keep(k, info->source_name ? info->source_name : info->name);
  bool ok = k->msl && k->args && k->info.name && k->info.source_file && k->info.source_name && (!dump || k->dump);
  for (int i = 0; ok && i < f->params.n; i++) {
    Param *p = &f->params.v[i];
    tm_kernel_arg *a = &k->args[i];
    a->name = keep(k, p->name);
    a->param_index = p->index;
    a->role = p->kind == TM_PARAM_POINTER ? TM_ARG_BUFFER : TM_ARG_BYTES;
    a->dtype = (tm_dtype)p->ty.dt;
    a->writable = p->written;
    ok = a->name != NULL;
  }
  k->info.nargs = f->params.n;
  k->info.args = k->args;
  if (!ok) {
    tm_kernel_free(k);
    return NULL;
  }
  return k;
}

static bool dump_is(const tm_compile_request *r, const char *stage) { return r->dump && !strcmp(r->dump, stage); }

tm_status tm_compile(const tm_compile_request *req, tm_kernel **out, char **err) {
  if (out) *out = NULL;
  if (err) *err = NULL;
  if (!req || !out || !req->source) {
    if (err) *err = strdup("tm_compile: request, source and out are required");
    return TM_ERR_INVALID;
  }
  if (req->nparams < 0 || (req->nparams && !req->params) || req->nglobals < 0 || (req->nglobals && !req->globals) ||
      req->num_warps < 0 || req->num_warps > 32 || (req->num_warps & (req->num_warps - 1))) {
    if (err) *err = strdup("tm_compile: invalid request (parameter/global tables, or num_warps not a power of two in 1..32)");
    return TM_ERR_INVALID;
  }
  const tm_target *target = req->target;
  if (!target && tm_target_get(&target, err) != TM_OK) return TM_ERR_INVALID; /* a bad TRITON_METAL_HW */
  tm_opt_level opt;
  if (tm_opt_level_resolve(req->opt_level, &opt, err) != TM_OK) return TM_ERR_INVALID;
  Ctx *c = calloc(1, sizeof *c);
  if (!c) return TM_ERR_NOMEM;
  c->req = req;
  c->target = target;
  c->opt = opt;
  c->src = (Src){.text = req->source, .filename = req->filename ? req->filename : "<kernel>",
                 .first_line = req->first_line > 0 ? req->first_line : 1};
  jmp_buf oom;
  c->arena.oom = &oom;
  volatile tm_status st = TM_OK;
  if (setjmp(oom)) {
    ctx_free_bufs(c);
    st = TM_ERR_NOMEM;
    if (err) *err = NULL;
  } else if (setjmp(c->jb)) {
    ctx_free_bufs(c);
    st = c->status;
    if (err) *err = c->err;
    else free(c->err);
  } else {
    TokVec toks = lex(c);
    Node *mod = parse_module(c, toks);
    Fn *f = sema(c, toks, mod, req->kernel_name);
    const char *dump = NULL;
    if (dump_is(req, "ast")) {
      for (int i = 0; i < mod->list.n; i++)
        if (mod->list.v[i]->kind == N_DEF && !strcmp(mod->list.v[i]->name, f->name))
          dump = ast_print(c, parse_def_at(c, toks, (int)mod->list.v[i]->ival));
    }
    if (dump_is(req, "ir")) dump = ir_print(c, f);
    loop_pointers(c, f);
    layout_assign(c, f);
    pipeline_dot_loads(c, f);
    order_memory(c, f);
    axis_analyze(c, f);
    tm_kernel_info info = {0};
    char *msl = emit(c, f, dialect_for(c->target), &info);
    if (dump_is(req, "explain")) dump = explain(c, f, msl, &info);
    if (req->dump && !dump && strcmp(req->dump, "msl"))
      error_at(c, c->src.first_line, 1, "unknown dump stage '%s' (known: ast, ir, msl, explain)", req->dump);
    *out = export_kernel(c, f, msl, &info, dump);
    if (!*out) st = TM_ERR_NOMEM;
  }
  arena_free(&c->arena);
  free(c);
  return st;
}

static bool annotated_constexpr(Node *ann) {
  if (!ann) return false;
  if (ann->kind == N_STR) return strstr(ann->str, "constexpr") != NULL;
  return (ann->kind == N_ATTR || ann->kind == N_NAME) && !strcmp(ann->name, "constexpr");
}

tm_status tm_parse_params(const char *source, const char *filename, int first_line, const char *kernel_name,
                          char ***names, int **constexpr_annotated, int *n, char **err) {
  *names = NULL;
  *constexpr_annotated = NULL;
  *n = 0;
  if (err) *err = NULL;
  tm_compile_request req = {.source = source, .filename = filename, .first_line = first_line};
  Ctx *c = calloc(1, sizeof *c);
  if (!c) return TM_ERR_NOMEM;
  c->req = &req;
  c->src = (Src){.text = source, .filename = filename ? filename : "<kernel>", .first_line = first_line > 0 ? first_line : 1};
  jmp_buf oom;
  c->arena.oom = &oom;
  volatile tm_status st = TM_OK;
  if (setjmp(oom)) {
    st = TM_ERR_NOMEM;
  } else if (setjmp(c->jb)) {
    st = c->status;
    if (err) *err = c->err;
    else free(c->err);
  } else {
    TokVec toks = lex(c);
    Node *mod = parse_module(c, toks), *def = NULL;
    for (int i = 0; i < mod->list.n && !def; i++)
      if (mod->list.v[i]->kind == N_DEF && (!kernel_name || !strcmp(mod->list.v[i]->name, kernel_name)))
        def = parse_def_at(c, toks, (int)mod->list.v[i]->ival);
    if (!def) error_at(c, c->src.first_line, 1, "no function named '%s' in the source", kernel_name ? kernel_name : "(any)");
    *names = calloc((size_t)def->list.n + 1, sizeof(char *));
    *constexpr_annotated = calloc((size_t)def->list.n + 1, sizeof(int));
    if (!*names || !*constexpr_annotated) {
      st = TM_ERR_NOMEM;
    } else {
      for (int i = 0; i < def->list.n; i++) {
        (*names)[i] = strdup(def->list.v[i]->name);
        (*constexpr_annotated)[i] = annotated_constexpr(def->list.v[i]->a);
        (*n)++;
        if (!(*names)[i]) st = TM_ERR_NOMEM;
      }
    }
  }
  arena_free(&c->arena);
  free(c);
  if (st != TM_OK) {
    tm_params_free(*names, *constexpr_annotated, *n);
    *names = NULL;
    *constexpr_annotated = NULL;
    *n = 0;
  }
  return st;
}

void tm_params_free(char **names, int *constexpr_annotated, int n) {
  for (int i = 0; names && i < n; i++) free(names[i]);
  free(names);
  free(constexpr_annotated);
}
