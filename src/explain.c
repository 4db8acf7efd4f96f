/*
 * explain.c: what the compiler decided for a kernel, as text
 * (`triton-metal explain`, `kernel.explain(...)`, request dump "explain").
 *
 * Read from the compiled function itself (layouts, vector widths, the emitted
 * MSL), so the report cannot disagree with the code: threads per threadgroup,
 * the layout family and each block value's layout, every block memory access
 * with its vector width, reductions with their strategy (in-thread, SIMD-group
 * shuffles, SIMD-groups through threadgroup memory), dot paths, threadgroup
 * memory and barriers.
 */
#include <stdio.h>
#include <string.h>

#include "tm.h"

static const char *ints(Arena *a, const int *v, int n) {
  char buf[128] = "[";
  size_t len = 1;
  for (int i = 0; i < n; i++) len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%d", i ? ", " : "", v[i]);
  snprintf(buf + len, sizeof buf - len, "]");
  return arena_strdup(a, buf);
}

static const char *layout_str(Arena *a, const Layout *l) {
  int pdims[TM_MAX_RANK];
  for (int i = 0; i < l->rank; i++) pdims[i] = l->dims[i];
  const char *kind = l->rank == l->prank ? "blocked" : "slice";
  const char *fast = l->order[0] != l->prank - 1 ? arena_printf(a, ", dim %d fastest", l->order[0]) : "";
  return arena_printf(a, "%s dims %s, %d per thread%s%s", kind, ints(a, pdims, l->rank), l->per_thread, fast,
                      l->replicated ? ", replicated" : "");
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

/* The instructions in the kernel's blocks (a pass may leave a replaced one
 * in f->ins, in no block: it is not emitted, and not explained). */
static void mark_live(Fn *f, Block *blk, bool *live) {
  for (int i = 0; i < blk->ins.n; i++) {
    Ins *in = &f->ins.v[blk->ins.v[i]];
    live[blk->ins.v[i]] = true;
    for (int r = 0; r < in->nregions; r++) mark_live(f, in->regions[r], live);
  }
}

char *explain(Ctx *c, Fn *f, const char *msl, const tm_kernel_info *info) {
  Arena *a = &c->arena;
  bool *live = arena_alloc(a, sizeof(bool) * (size_t)(f->ins.n + 1));
  mark_live(f, f->body, live);
  Buf b = {0};
  static const char *opts[] = {"default", "none", "basic", "standard", "aggressive"};
  buf_printf(&b, "kernel %s (target %s, MSL %d.%d, optimization %s)\n", f->name, c->target->name,
             c->target->msl_version / 100, c->target->msl_version / 10 % 10, opts[c->opt]);
  buf_printf(&b, "threads per threadgroup: %d (%d SIMD-groups of 32)\n", info->threads_per_threadgroup, f->num_warps);
  const Layout *fam = NULL;
  for (int i = 0; i < f->ins.n && !fam; i++)
    if (f->ins.v[i].layout) fam = f->ins.v[i].layout;
  if (fam)
    buf_printf(&b, "layout family: rank %d, sizePerThread %s, threadsPerWarp %s, warpsPerCTA %s, order %s\n", fam->prank,
               ints(a, fam->spt, fam->prank), ints(a, fam->tpw, fam->prank), ints(a, fam->wpc, fam->prank),
               ints(a, fam->order, fam->prank));
  buf_puts(&b, "block values:\n");
  for (int i = 0; i < f->ins.n; i++) {
    Ins *in = &f->ins.v[i];
    if (!in->layout || in->op == O_STORE || !live[i]) continue;
    buf_printf(&b, "  %%%-4d %-12s %-22s @%d:%d  %s\n", i, op_name((Op)in->op), type_str(a, in->ty), in->line, in->col,
               layout_str(a, in->layout));
  }
  buf_puts(&b, "memory accesses:\n");
  for (int i = 0; i < f->ins.n; i++) {
    Ins *in = &f->ins.v[i];
    if ((in->op != O_LOAD && in->op != O_STORE && in->op != O_ATOMIC) || !in->layout || !live[i]) continue;
    const char *ahead = in->op == O_LOAD && in->note ? arena_printf(a, "; %s", in->note) : "";
    Ins *p = &f->ins.v[in->args[0]];
    int bytes = p->ty.dt == TM_I1 ? 1 : tm_dtype_bytes((tm_dtype)p->ty.dt);
    bool masked = in->op == O_STORE ? in->nargs == 3 : in->nargs >= 2;
    const Layout *l = in->layout;
    const char *down = l->order[0] != l->prank - 1 ? arena_printf(a, ", along dim %d", l->order[0]) : "";
    if (in->vec > 1)
      buf_printf(&b, "  %-6s @%d:%d  %s  vector of %d (%d bytes)%s%s%s\n", op_name((Op)in->op), in->line, in->col,
                 type_str(a, p->ty), in->vec, in->vec * bytes,
                 !masked ? "" : in->vmask ? ", mask the same over each vector (read once)" : ", mask checked per vector", down,
                 ahead);
    else
      buf_printf(&b, "  %-6s @%d:%d  %s  scalar (%d bytes)%s [contiguity %d, alignment %lld]%s\n", op_name((Op)in->op),
                 in->line, in->col, type_str(a, p->ty), bytes, masked ? ", masked" : "", p->contig, (long long)p->div, ahead);
  }
  for (int i = 0; i < f->ins.n; i++) {
    Ins *in = &f->ins.v[i];
    if (in->op != O_REDUCE && in->op != O_SCAN) continue;
    Layout *l = f->ins.v[in->args[0]].layout;
    int pd = l->dims[in->aux];
    if (in->op == O_SCAN && in->path == SCAN_PARALLEL) {
      buf_printf(&b, "scan @%d:%d axis %d: input (%s); in-thread over runs of %d, %s, %s%s\n",
                 in->line, in->col, in->aux, layout_str(a, l), l->espt[pd],
                 l->tpw[pd] > 1 ? arena_printf(a, "%s over %d lanes", in->note ? in->note : "SIMD-group shuffles", l->tpw[pd])
                                : "no lanes along the axis (no SIMD-group step)",
                 l->wpc[pd] > 1 ? arena_printf(a, "%d SIMD-groups through threadgroup memory (2 barriers)", l->wpc[pd])
                                : "no threadgroup memory",
                 l->reps[pd] > 1 ? arena_printf(a, ", %d tiles carried in order", l->reps[pd]) : "");
      continue;
    }
    if (in->op == O_SCAN) {
      buf_printf(&b, "scan @%d:%d axis %d: sequential, through threadgroup memory, one line per thread\n", in->line, in->col, in->aux);
      continue;
    }
    buf_printf(&b, "reduction @%d:%d axis %d: COALESCED input (%s); in-thread over %d, %s, "
               "%s\n", in->line, in->col, in->aux, layout_str(a, l), l->per[pd],
               l->tpw[pd] > 1 ? arena_printf(a, "SIMD-group %s over %d lanes", in->note ? in->note : "xor-shuffles", l->tpw[pd])
                              : "no lanes along the axis (no SIMD-group step)",
               l->wpc[pd] > 1 ? arena_printf(a, "%d SIMD-groups through threadgroup memory (2 barriers)", l->wpc[pd])
                              : "no threadgroup memory");
  }
  for (int i = 0; i < f->ins.n; i++) {
    Ins *in = &f->ins.v[i];
    if (in->op != O_DOT) continue;
    int base = in->path & 7;
    const char *path = base == DOT_SIMDGROUP_CARRIED ? "simdgroup_matrix 8x8, accumulator in simdgroup matrices across the loop"
                       : base == DOT_SIMDGROUP        ? "simdgroup_matrix 8x8"
                                                      : "portable (threadgroup memory, FMA)";
    if (in->path & DOT_MATMUL2D)
      path = base == DOT_SIMDGROUP_CARRIED
                 ? "matmul2d (Metal 4 tensor ops), accumulator in a cooperative tensor across the loop; "
                   "simdgroup_matrix 8x8 where the OS lacks tensor ops"
                 : "matmul2d (Metal 4 tensor ops); simdgroup_matrix 8x8 where the OS lacks tensor ops";
    buf_printf(&b, "dot @%d:%d %s: %s%s%s\n", in->line, in->col, type_str(a, in->ty), path, in->note ? "; " : "",
               in->note ? in->note : "");
  }
  for (int i = 0; i < f->ins.n; i++) {
    Ins *in = &f->ins.v[i];
    if (in->op == O_CONVERT)
      buf_printf(&b, "layout conversion @%d:%d %s: through threadgroup memory (2 barriers)\n", in->line, in->col, type_str(a, in->ty));
    if (in->op == O_SHUFFLE)
      buf_printf(&b, "shape op @%d:%d %s: %s\n", in->line, in->col, type_str(a, in->ty), in->note ? in->note : "through threadgroup memory");
  }
  buf_printf(&b, "threadgroup memory: %d bytes\n", info->threadgroup_mem_bytes);
  buf_printf(&b, "barriers in the MSL: %d\n", count(msl, "threadgroup_barrier("));
  char *s = arena_strdup(a, b.p ? b.p : "");
  buf_free(&b);
  return s;
}
