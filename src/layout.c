/*
 * layout.c: distributed layouts for block values (see the picture in tm.h).
 *
 * Expects: typed IR from sema. Guarantees: every block value (and every block
 * store) has a Layout; each instruction's block operands are in a layout it can
 * read thread-locally (same layout for elementwise work; a mapped one for
 * broadcast, expand_dims and reductions), else an O_CONVERT through
 * threadgroup memory is inserted before it.
 *
 * All layouts of a kernel belong to one parent family, chosen for the largest
 * block of the highest rank. Which parent dims a lower-rank value uses is
 * decided backwards from its uses (x[:, None] wants the rows, x[None, :] the
 * columns), so the usual index arithmetic needs no data movement. Values tied
 * by control flow (a loop's init, block argument, yielded value and result)
 * share one layout.
 *
 * Ownership (tested exhaustively in tests/unit/test_compiler.c): every element
 * is held by exactly one (thread, slot) that is not a duplicate, and
 * layout_coords inverts the owner map.
 */
#include <stdlib.h>
#include <string.h>

#include "tm.h"

/* ------------------------------------------------------------ families */

Layout *layout_blocked(Ctx *c, int rank, const int32_t *shape, int num_warps, int vec) {
  return layout_blocked_along(c, rank, shape, num_warps, vec, rank - 1);
}

Layout *layout_blocked_along(Ctx *c, int rank, const int32_t *shape, int num_warps, int vec, int fastest) {
  Layout f = {.prank = rank};
  for (int d = 0; d < rank; d++) {
    f.spt[d] = 1;
    f.tpw[d] = 1;
    f.wpc[d] = 1;
  }
  /* `fastest` first, then the others from the last dim down (row-major when
   * fastest is the last dim) */
  f.order[0] = fastest;
  for (int d = rank - 1, k = 1; d >= 0; d--)
    if (d != fastest) f.order[k++] = d;
  /* vec consecutive elements per thread along the fastest dim, so loads and
   * stores can move them as one vector; then lanes along the fastest dims
   * first, then SIMD-groups; leftovers replicate */
  int64_t numel = 1;
  for (int d = 0; d < rank; d++) numel *= shape[d];
  /* no wider than the block, and narrow enough that every thread has its own
   * elements (a replicated layout could not move vectors) */
  while (vec > 1 && (vec > shape[fastest] || numel < (int64_t)vec * 32 * num_warps)) vec /= 2;
  f.spt[fastest] = vec > 1 ? vec : 1;
  int lanes = 32, warps = num_warps;
  for (int k = 0; k < rank; k++) {
    int d = f.order[k];
    while (lanes > 1 && f.spt[d] * f.tpw[d] * 2 <= shape[d]) {
      f.tpw[d] *= 2;
      lanes /= 2;
    }
  }
  f.tpw[f.order[rank - 1]] *= lanes;
  for (int k = 0; k < rank; k++) {
    int d = f.order[k];
    while (warps > 1 && f.spt[d] * f.tpw[d] * f.wpc[d] * 2 <= shape[d]) {
      f.wpc[d] *= 2;
      warps /= 2;
    }
  }
  f.wpc[f.order[rank - 1]] *= warps;
  int dims[TM_MAX_RANK];
  for (int d = 0; d < rank; d++) dims[d] = d;
  return layout_in(c, &f, rank, dims, shape);
}

/* The family of tl.dot's 8x8 matrix tiles (emit_dot.c, a plan with `frag`):
 * per tile, 8 lanes down the rows and 4 across the columns, two neighbouring
 * columns a thread; the SIMD-groups stacked down the rows, each holding
 * every column, the tiles of a value repeating down the rows every 8 *
 * num_warps and along the columns every 8.
 *
 *            cols 0-1  2-3  4-5  6-7        rows 0-7: SIMD-group 0, 8-15: 1, ...
 *   row 0       0    1    2    3  (lanes)   rows 8 * num_warps on: SIMD-group 0
 *   row 1       4    5    6    7            again (the thread's next slots)
 *   ...
 *
 * which is the element layout of PTX's mma.sync fragments (the CUDA
 * dialect's simdgroup_matrix) and, up to a fixed permutation of the lanes
 * (TM_SGM_PULL / TM_SGM_PUSH), of Metal's simdgroup_matrix thread_elements().
 * Values in it reach and leave the matrices through registers. */
Layout *layout_frag(Ctx *c, int num_warps) {
  Layout f = {.prank = 2};
  f.spt[0] = 1, f.spt[1] = 2;
  f.tpw[0] = 8, f.tpw[1] = 4;
  f.wpc[0] = num_warps, f.wpc[1] = 1;
  f.order[0] = 1, f.order[1] = 0;
  int dims[2] = {0, 1};
  int32_t shape[2] = {8 * num_warps, 8};
  return layout_in(c, &f, 2, dims, shape);
}

bool layout_is_frag(const Layout *l, int num_warps) {
  return l && l->prank == 2 && l->rank == 2 && l->dims[0] == 0 && l->dims[1] == 1 && !l->replicated && l->order[0] == 1 &&
         l->spt[0] == 1 && l->spt[1] == 2 && l->tpw[0] == 8 && l->tpw[1] == 4 && l->wpc[0] == num_warps && l->wpc[1] == 1;
}

Layout *layout_in(Ctx *c, const Layout *fam, int rank, const int *dims, const int32_t *shape) {
  Layout *l = arena_alloc(&c->arena, sizeof(Layout));
  l->prank = fam->prank;
  memcpy(l->spt, fam->spt, sizeof l->spt);
  memcpy(l->tpw, fam->tpw, sizeof l->tpw);
  memcpy(l->wpc, fam->wpc, sizeof l->wpc);
  memcpy(l->order, fam->order, sizeof l->order);
  l->rank = rank;
  for (int d = 0; d < l->prank; d++) l->size[d] = 1;
  for (int i = 0; i < rank; i++) {
    l->dims[i] = dims[i];
    l->shape[i] = shape[i];
    l->size[dims[i]] = shape[i];
  }
  l->per_thread = 1;
  l->replicated = false;
  for (int k = 0; k < l->prank; k++) {
    int d = l->order[k];
    int tile = l->spt[d] * l->tpw[d] * l->wpc[d];
    l->espt[d] = l->spt[d] < l->size[d] ? l->spt[d] : l->size[d];
    l->reps[d] = l->size[d] > tile ? l->size[d] / tile : 1;
    l->per[d] = l->espt[d] * l->reps[d];
    l->stride[d] = l->per_thread;
    l->per_thread *= l->per[d];
    if (l->size[d] < tile) l->replicated = true;
  }
  return l;
}

void layout_coords(const Layout *l, int lane, int warp, int slot, int *coords, bool *dup) {
  *dup = false;
  int pc[TM_MAX_RANK];
  for (int k = 0; k < l->prank; k++) {
    int d = l->order[k];
    int ln = lane % l->tpw[d], wp = warp % l->wpc[d];
    lane /= l->tpw[d];
    warp /= l->wpc[d];
    int j = (slot / l->stride[d]) % l->per[d];
    int tile = l->spt[d] * l->tpw[d] * l->wpc[d];
    int e = (j / l->espt[d]) * tile + (wp * l->tpw[d] + ln) * l->spt[d] + j % l->espt[d];
    if (e >= l->size[d]) *dup = true;
    pc[d] = e % l->size[d];
  }
  for (int i = 0; i < l->rank; i++) coords[i] = pc[l->dims[i]];
}

bool layout_same_family(const Layout *a, const Layout *b) {
  if (a->prank != b->prank) return false;
  for (int d = 0; d < a->prank; d++)
    if (a->spt[d] != b->spt[d] || a->tpw[d] != b->tpw[d] || a->wpc[d] != b->wpc[d] || a->order[d] != b->order[d])
      return false;
  return true;
}

bool layout_eq(const Layout *a, const Layout *b) {
  if (a == b) return true;
  if (!layout_same_family(a, b) || a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i] || a->shape[i] != b->shape[i]) return false;
  return true;
}

bool layout_maps(const Layout *from, const Layout *to) {
  if (!layout_same_family(from, to)) return false;
  for (int d = 0; d < from->prank; d++)
    if (from->size[d] != 1 && from->size[d] != to->size[d]) return false;
  /* value dims must line up with the same parent dims, in order */
  int last = -1;
  for (int i = 0; i < from->rank; i++) {
    int pos = -1;
    for (int j = 0; j < to->rank; j++)
      if (to->dims[j] == from->dims[i]) pos = j;
    if (from->shape[i] != 1 && pos < 0) return false;
    if (pos >= 0 && pos < last) return false;
    if (pos >= 0) last = pos;
  }
  return true;
}

/* ------------------------------------------------------------ assignment */

typedef struct Assign {
  Ctx *c;
  Fn *f;
  Layout *family;
  int R;            /* parent rank */
  int *cls;         /* union-find over values that must share a layout */
  int **hint;       /* per class: parent dims of the value dims, or NULL */
  int vec;          /* elements per thread the family wanted along its fastest dim */
  bool frag;        /* the family is layout_frag's */
} Assign;

static int find(Assign *A, int x) {
  while (A->cls[x] != x) x = A->cls[x] = A->cls[A->cls[x]];
  return x;
}

static void unite(Assign *A, int a, int b) {
  a = find(A, a);
  b = find(A, b);
  if (a != b) A->cls[b] = a;
}

static Type value_type(Fn *f, int id) {
  Ins *in = &f->ins.v[id];
  return in->op == O_STORE ? f->ins.v[in->args[0]].ty : in->ty;
}

/* Ties carried values: inits, block arguments, yields and results of region ops. */
static void tie_regions(Assign *A, Block *b) {
  Fn *f = A->f;
  for (int bi = 0; bi < b->ins.n; bi++) {
    int id = b->ins.v[bi];
    Ins *in = &f->ins.v[id];
    for (int r = 0; r < in->nregions; r++) tie_regions(A, in->regions[r]);
    if (in->op == O_BLOCKARG && in->aux > 0) {
      Ins *op = &f->ins.v[in->imm];
      int first = op->op == O_FOR ? 3 : 0;
      unite(A, op->args[first + in->aux - 1], id);
    }
    if (in->op == O_RESULT && f->ins.v[in->imm].op != O_REDUCE && f->ins.v[in->imm].op != O_SCAN) {
      Ins *op = &f->ins.v[in->imm];
      for (int r = 0; r < op->nregions; r++) {
        Block *rb = op->regions[r];
        Ins *y = &f->ins.v[rb->ins.v[rb->ins.n - 1]];
        if (y->op == O_YIELD && y->nargs > in->aux) unite(A, y->args[in->aux], id);
      }
      if (op->op == O_FOR) unite(A, op->args[3 + in->aux], id);
      if (op->op == O_WHILE) unite(A, op->args[in->aux], id);
    }
  }
}

static int *hint_of(Assign *A, int id) { return A->hint[find(A, id)]; }

static void set_hint(Assign *A, int id, const int *dims, int rank) {
  Type t = value_type(A->f, id);
  if (!t.rank || t.rank != rank || hint_of(A, id)) return;
  int *h = arena_alloc(&A->c->arena, sizeof(int) * TM_MAX_RANK);
  memcpy(h, dims, sizeof(int) * (size_t)rank);
  A->hint[find(A, id)] = h;
}

static bool elementwise(Op op) {
  return (op >= O_ADD && op <= O_ADDPTR) || op == O_MATH || op == O_HINT || op == O_LOAD || op == O_STORE || op == O_SPLAT || op == O_BROADCAST;
}

/* One backward sweep: operands learn which parent dims they should use. */
static void hint_sweep(Assign *A) {
  Fn *f = A->f;
  for (int id = f->ins.n - 1; id >= 0; id--) {
    Ins *in = &f->ins.v[id];
    Type t = value_type(f, id);
    int *h = t.rank ? hint_of(A, id) : NULL;
    if ((in->op == O_STORE || in->op == O_ATOMIC) && !h) { /* learns from any operand */
      for (int k = 0; k < in->nargs && !h; k++) h = hint_of(A, in->args[k]);
      if (h) set_hint(A, id, h, t.rank);
    }
    if (!h) continue;
    if (elementwise((Op)in->op) || in->op == O_ATOMIC) {
      for (int k = 0; k < in->nargs; k++) set_hint(A, in->args[k], h, t.rank);
    } else if (in->op == O_DOT) {
      set_hint(A, in->args[2], h, t.rank);
    } else if (in->op == O_EXPAND_DIMS) {
      int d[TM_MAX_RANK], n = 0;
      for (int i = 0; i < t.rank; i++)
        if (i != in->aux) d[n++] = h[i];
      set_hint(A, in->args[0], d, n);
    }
  }
}

static Layout *layout_for(Assign *A, int id, Type t) {
  int *h = hint_of(A, id);
  int dims[TM_MAX_RANK];
  if (h) memcpy(dims, h, sizeof dims);
  else
    for (int i = 0; i < t.rank; i++) dims[i] = A->R - t.rank + i; /* trailing parent dims */
  return layout_in(A->c, A->family, t.rank, dims, t.shape);
}

/* What an instruction needs of operand k, given its own layout; NULL: anything. */
static Layout *required(Assign *A, Ins *in, int k) {
  Fn *f = A->f;
  Ins *a = &f->ins.v[in->args[k]];
  if (!a->ty.rank) return NULL;
  Layout *own = in->layout;
  switch ((Op)in->op) {
  case O_BROADCAST: return layout_maps(a->layout, own) ? a->layout : layout_in(A->c, own, a->ty.rank, own->dims, a->ty.shape);
  case O_EXPAND_DIMS: {
    int d[TM_MAX_RANK], n = 0;
    for (int i = 0; i < own->rank; i++)
      if (i != in->aux) d[n++] = own->dims[i];
    return layout_in(A->c, own, n, d, a->ty.shape);
  }
  case O_STORE: /* a store of its own family (access_layouts) moves its pointers too */
    if (k == 0) return layout_same_family(own, A->family) ? NULL : own;
    return f->ins.v[in->args[0]].layout;
  case O_REDUCE: return k == 0 ? NULL : f->ins.v[in->args[0]].layout;
  case O_SCAN: return k == 0 ? NULL : f->ins.v[in->args[0]].layout;
  case O_DOT: return k == 2 ? own : NULL;
  case O_ATOMIC: return own;
  case O_SHUFFLE: return in->aux == SH_GATHER && k == 1 ? own : NULL;
  case O_PRINT: return k == 0 ? NULL : f->ins.v[in->args[0]].layout; /* all in the first value's layout */
  case O_YIELD: case O_FOR: case O_WHILE: case O_IF: case O_CONDITION: case O_CONVERT: return NULL;
  default: return elementwise((Op)in->op) ? own : NULL;
  }
}

static bool remat_op(Op op) {
  return op == O_RANGE || op == O_SPLAT || op == O_EXPAND_DIMS || op == O_BROADCAST || op == O_HINT || op == O_ADDPTR ||
         (op >= O_ADD && op <= O_CAST && op != O_DIV && op != O_REM);
}

/* Whether remat can rebuild value id (blocks only; scalars are shared),
 * visiting at most *budget nodes (shared subexpressions are visited again). */
static bool remat_walk(Fn *f, int id, int depth, int *budget) {
  Ins *in = &f->ins.v[id];
  if (!in->ty.rank) return true;
  if (depth > TM_REMAT_DEPTH || --*budget < 0 || !remat_op((Op)in->op)) return false;
  for (int k = 0; k < in->nargs; k++)
    if (!remat_walk(f, in->args[k], depth + 1, budget)) return false;
  return true;
}

static bool rematerializable(Fn *f, int id, int depth) {
  int budget = 4096;
  return remat_walk(f, id, depth, &budget);
}

/* Recomputes a cheap pure value (aranges, splats, constants and elementwise
 * arithmetic, expand_dims and broadcasts of them) in layout `want` instead of
 * moving it through threadgroup memory: offsets used as rows in one place and
 * as columns in another then cost nothing. Returns the new value, or -1. The
 * clones go to nb, before the user. */
static int remat(Assign *A, int id, Layout *want, Block *nb, int depth) {
  Fn *f = A->f;
  Ins *in = &f->ins.v[id];
  if (!in->ty.rank || layout_eq(in->layout, want)) return id;
  if (depth > TM_REMAT_DEPTH) return -1;
  Op op = (Op)in->op;
  if (!remat_op(op)) return -1;
  int args[3];
  for (int k = 0; k < in->nargs; k++) {
    Ins *a = &f->ins.v[in->args[k]];
    args[k] = in->args[k];
    if (!a->ty.rank) continue;
    Layout *need;
    if (op == O_EXPAND_DIMS) {
      int d[TM_MAX_RANK], n = 0;
      for (int i = 0; i < want->rank; i++)
        if (i != in->aux) d[n++] = want->dims[i];
      need = layout_in(A->c, want, n, d, a->ty.shape);
    } else if (op == O_BROADCAST) {
      need = layout_in(A->c, want, a->ty.rank, want->dims, a->ty.shape);
    } else {
      need = want;
    }
    if ((args[k] = remat(A, in->args[k], need, nb, depth + 1)) < 0) return -1;
  }
  Ins c = *in;
  c.args = args;
  int nid = ir_add(A->c, f, nb, c);
  f->ins.v[nid].layout = want;
  return nid;
}

/* Inserts conversions where an operand's layout is not what its user needs. */
static void fix_block(Assign *A, Block *b) {
  Fn *f = A->f;
  Block nb = {0};
  for (int bi = 0; bi < b->ins.n; bi++) {
    int id = b->ins.v[bi];
    for (int r = 0; r < f->ins.v[id].nregions; r++) fix_block(A, f->ins.v[id].regions[r]);
    for (int k = 0; k < f->ins.v[id].nargs; k++) {
      Ins *in = &f->ins.v[id];
      Layout *want = required(A, in, k);
      Ins *a = &f->ins.v[in->args[k]];
      if (!want || layout_eq(want, a->layout)) continue;
      if (in->op == O_BROADCAST && layout_maps(a->layout, in->layout)) continue;
      Block clones = {0};
      int r = remat(A, in->args[k], want, &clones, 0);
      if (r >= 0) {
        for (int i = 0; i < clones.ins.n; i++) vec_push(&A->c->arena, nb.ins, clones.ins.v[i]);
        f->ins.v[id].args[k] = r;
        continue;
      }
      Ins cv = {.op = O_CONVERT, .nargs = 1, .ty = a->ty, .line = in->line, .col = in->col, .args = &in->args[k]};
      Block tmp = {0};
      int cid = ir_add(A->c, f, &tmp, cv);
      f->ins.v[cid].layout = want;
      vec_push(&A->c->arena, nb.ins, cid);
      f->ins.v[id].args[k] = cid;
    }
    vec_push(&A->c->arena, nb.ins, id);
  }
  *b = nb;
}

/* Whether value id is used only as an operand of tl.dot (which stages its
 * operands through threadgroup memory from whatever layout they are in);
 * with `views`, also through tl.trans / tl.permute views that feed only tl.dot. */
static bool feeds_only_dots(Fn *f, int id, bool views) {
  bool used = false;
  for (int j = 0; j < f->ins.n; j++) {
    Ins *u = &f->ins.v[j];
    for (int k = 0; k < u->nargs; k++) {
      if (u->args[k] != id) continue;
      bool view = views && u->op == O_SHUFFLE && u->aux == SH_PERMUTE && !u->ty.ptr && feeds_only_dots(f, j, false);
      if (!view && (u->op != O_DOT || k > 1)) return false;
      used = true;
    }
  }
  return used;
}

static bool tied(Assign *A, int id) {
  for (int j = 0; j < A->f->ins.n; j++)
    if (j != id && find(A, j) == find(A, id)) return true;
  return false;
}

/* Layouts of their own for loads and stores the family serves badly:
 *  - pointers that run along another dim than the last (x.T, a column-major
 *    tensor, a permuted batch): a layout with that dim fastest, so
 *    neighbouring lanes touch neighbouring addresses and each thread moves a
 *    vector where alignment allows; the data goes through threadgroup memory
 *    once (a stored value before, a loaded one after);
 *  - a load feeding only tl.dot whose tile is smaller than the family's (the
 *    family would replicate it, and move no vectors), or any load feeding
 *    only tl.dot (directly or through tl.trans) when the family is the
 *    matrices' (two elements a thread along the rows): a layout built for
 *    the tile, at no cost, since tl.dot reads its operands from any layout.
 * Pointers and masks are recomputed in the new layout, so only where they
 * can be; a loop-carried load keeps the loop's layout. */
static void access_layouts(Assign *A) {
  Fn *f = A->f;
  int R = A->R;
  if (R < 2) return;
  int dims[TM_MAX_RANK];
  for (int d = 0; d < R; d++) dims[d] = d;
  for (int id = 0; id < f->ins.n; id++) {
    Ins *in = &f->ins.v[id];
    if (in->op != O_LOAD && in->op != O_STORE) continue;
    Ins *p = &f->ins.v[in->args[0]];
    if (p->ty.rank != R || !in->layout) continue;
    bool whole = true; /* the access uses the family's dims as they are */
    for (int d = 0; d < R; d++) whole = whole && in->layout->dims[d] == d;
    if (!whole || (in->op == O_LOAD && tied(A, id))) continue;
    int64_t div = 1;
    int bytes = tm_dtype_bytes((tm_dtype)p->ty.dt);
    int fastest = -1, vec = A->vec;
    if (axis_contig_along(f, in->args[0], R - 1, &div) >= 2) { /* along the rows */
      if (R != 2 || vec < 2 || in->op != O_LOAD) continue;
      if (!(in->layout->replicated && feeds_only_dots(f, id, false)) && !(A->frag && feeds_only_dots(f, id, true))) continue;
      fastest = R - 1;
    } else {
      /* along another dim (a transpose, a column-major tensor, a permuted
       * batch): lanes along it make neighbouring accesses; each thread moves a
       * vector where the runs are aligned for one, else one element (still
       * coalesced: as upstream, order from contiguity, vector width from
       * alignment) */
      for (int d = R - 2; d >= 0 && fastest < 0; d--)
        if (axis_contig_along(f, in->args[0], d, &div) >= 2) fastest = d;
      if (fastest < 0) continue;
      if (div < 2 * bytes) vec = 1;
    }
    if (!rematerializable(f, in->args[0], 0)) continue;
    Layout *fam = layout_blocked_along(A->c, R, p->ty.shape, f->num_warps, vec, fastest);
    if ((vec > 1 && fam->spt[fastest] < 2) || fam->replicated) continue;
    in->layout = layout_in(A->c, fam, R, dims, p->ty.shape);
  }
}

/* tl.trans / tl.permute of a value that feeds only tl.dot: the input's layout
 * with its dims permuted, so each thread keeps the elements it holds, now
 * named by the permuted coordinates, and nothing moves (emit.c copies the
 * slots); tl.dot stages its operands from any layout. (Run after
 * access_layouts, which may give the input a layout of its own.) */
static void permute_views(Assign *A) {
  Fn *f = A->f;
  for (int id = 0; id < f->ins.n; id++) {
    Ins *in = &f->ins.v[id];
    if (in->op != O_SHUFFLE || in->aux != SH_PERMUTE || in->ty.ptr || !in->layout || !feeds_only_dots(f, id, false) || tied(A, id))
      continue;
    Layout *x = f->ins.v[in->args[0]].layout;
    if (!x || x->rank != in->ty.rank) continue;
    int dims[TM_MAX_RANK];
    for (int o = 0; o < in->ty.rank; o++) dims[o] = x->dims[(in->imm >> (4 * o)) & 15];
    in->layout = layout_in(A->c, x, in->ty.rank, dims, in->ty.shape);
  }
}

/* Removes the pure values nothing uses any more (originals that a user now
 * reads rematerialized in another layout), innermost users first. */
static void drop_from(Fn *f, Block *b, int *uses) {
  int n = 0;
  for (int bi = b->ins.n - 1; bi >= 0; bi--) {
    int id = b->ins.v[bi];
    Ins *in = &f->ins.v[id];
    if (in->ty.rank && !uses[id] && (remat_op((Op)in->op) || in->op == O_CONVERT)) {
      for (int k = 0; k < in->nargs; k++) uses[in->args[k]]--;
      in->layout = NULL; /* gone: explain does not list it */
      b->ins.v[bi] = -1;
      continue;
    }
    for (int r = 0; r < in->nregions; r++) drop_from(f, in->regions[r], uses);
  }
  for (int bi = 0; bi < b->ins.n; bi++)
    if (b->ins.v[bi] >= 0) b->ins.v[n++] = b->ins.v[bi];
  b->ins.n = n;
}

static void drop_unused(Fn *f) {
  int *uses = calloc((size_t)f->ins.n, sizeof(int));
  if (!uses) return; /* keeping them is harmless */
  for (int i = 0; i < f->ins.n; i++)
    for (int k = 0; k < f->ins.v[i].nargs; k++) uses[f->ins.v[i].args[k]]++;
  drop_from(f, f->body, uses);
  free(uses);
}

/* Whether the kernel's family should be the matrices' (layout_frag): a
 * rank-2 kernel whose tl.dot takes the simdgroup_matrix path with tiles that
 * fill whole 8-row bands of every SIMD-group (two bands a SIMD-group where
 * the target multiplies 16x8 A tiles), and which reduces rank-2 values along
 * their rows (flash attention's scores: max and sum of each row, then the
 * probabilities fed to the next dot). Its dot results then reach the
 * reductions and the next dot's A operand in registers, where the blocked
 * family takes them through threadgroup memory. emit_dot.c sg_plan keeps
 * the rest of the conditions; a dot it refuses still works from this family
 * (through threadgroup memory, as from any layout). */
static bool want_frag(Ctx *c, Fn *f, int R) {
  const tm_target *t = c->target;
  int nw = f->num_warps, band = t->has_mma_16x8 ? 16 : 8;
  if (R != 2 || !t->has_simdgroup_matrix || c->opt == TM_OPT_NONE) return false;
  bool dot = false, rows = false;
  for (int i = 0; i < f->ins.n; i++) {
    Ins *in = &f->ins.v[i];
    if (in->op == O_REDUCE && in->aux == 1 && f->ins.v[in->args[0]].ty.rank == 2) rows = true;
    if (in->op != O_DOT || in->ty.rank != 2) continue;
    Ins *a = &f->ins.v[in->args[0]], *b = &f->ins.v[in->args[1]];
    tm_dtype din = (tm_dtype)a->ty.dt, dout = (tm_dtype)in->ty.dt;
    if (a->ty.dt != b->ty.dt || !(din == TM_F32 || din == TM_F16 || (din == TM_BF16 && t->has_bfloat))) continue;
    if (!(dout == TM_F32 || (dout == TM_F16 && din == TM_F16))) continue;
    int M = in->ty.shape[0], N = in->ty.shape[1], K = a->ty.shape[1];
    if (M % (band * nw) == 0 && N % 8 == 0 && K % 8 == 0) dot = true;
  }
  return dot && rows;
}

void layout_assign(Ctx *c, Fn *f) {
  int R = 0, best = -1;
  int64_t best_numel = 0;
  for (int i = 0; i < f->ins.n; i++) {
    Type t = value_type(f, i);
    if (t.rank > R || (t.rank == R && t.rank && type_numel(t) > best_numel)) {
      R = t.rank;
      best = i;
      best_numel = type_numel(t);
    }
  }
  if (!R) return;
  Type bt = value_type(f, best);
  Assign A = {.c = c, .f = f, .R = R};
  /* elements per thread along the last dim: one 16-byte vector of the widest
   * block access (at most 8 elements: MSL vectors have 4 components, so 8
   * narrow ones move as a uint4 or uint2, emit.c emit_vector_access) */
  int vec = 1;
  if (c->opt != TM_OPT_NONE && c->opt != TM_OPT_BASIC) {
    int bytes = 0;
    for (int i = 0; i < f->ins.n; i++) {
      Ins *in = &f->ins.v[i];
      if ((in->op == O_LOAD || in->op == O_STORE) && value_type(f, i).rank) {
        int b = tm_dtype_bytes((tm_dtype)f->ins.v[in->args[0]].ty.dt);
        if (b > bytes) bytes = b;
      }
    }
    int maxb = c->target->max_vector_bytes > 0 ? c->target->max_vector_bytes : 16;
    if (bytes) vec = maxb / bytes;
    if (vec > 8) vec = 8;
    if (vec < 1) vec = 1;
  }
  A.frag = want_frag(c, f, R);
  A.family = A.frag ? layout_frag(c, f->num_warps) : layout_blocked(c, R, bt.shape, f->num_warps, vec);
  A.cls = arena_alloc(&c->arena, sizeof(int) * (size_t)f->ins.n);
  A.hint = arena_alloc(&c->arena, sizeof(int *) * (size_t)f->ins.n);
  for (int i = 0; i < f->ins.n; i++) A.cls[i] = i;
  tie_regions(&A, f->body);
  int ident[TM_MAX_RANK];
  for (int d = 0; d < R; d++) ident[d] = d;
  for (int i = 0; i < f->ins.n; i++)
    if (value_type(f, i).rank == R) set_hint(&A, i, ident, R);
  for (int sweep = 0; sweep < 3; sweep++) hint_sweep(&A);
  int n = f->ins.n;
  for (int i = 0; i < n; i++) {
    Type t = value_type(f, i);
    if (t.rank) f->ins.v[i].layout = layout_for(&A, i, t);
  }
  /* a reduction's results are the slice of its input's layout along the axis */
  for (int i = 0; i < n; i++) {
    Ins *in = &f->ins.v[i];
    if (in->op != O_RESULT || !in->ty.rank) continue;
    Ins *red = &f->ins.v[in->imm];
    if (red->op == O_SCAN) { /* a scan's results are laid out like its inputs */
      in->layout = f->ins.v[red->args[in->aux]].layout;
      continue;
    }
    if (red->op != O_REDUCE) continue;
    Layout *src = f->ins.v[red->args[0]].layout;
    int dims[TM_MAX_RANK], r = 0;
    for (int k = 0; k < src->rank; k++)
      if (k != red->aux) dims[r++] = src->dims[k];
    in->layout = layout_in(c, src, r, dims, in->ty.shape);
  }
  A.vec = vec;
  access_layouts(&A);
  permute_views(&A);
  fix_block(&A, f->body);
  drop_unused(f);
}
