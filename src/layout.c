/*
 * layout.c: distributed layouts for block values.
 *
 * Every block value gets a blocked layout saying which thread of which
 * SIMD-group holds which element. This first pass gives all blocks of one
 * shape the same default layout (one element per thread per tile, lanes then
 * SIMD-groups along the fastest dims), so elementwise code needs no data
 * movement between threads. For a <1024xf32> block and 4 SIMD-groups:
 *
 *   element e = r*128 + w*32 + l   held by lane l of SIMD-group w, slot r (r < 8)
 *
 * Guarantees (tested exhaustively in tests/unit/test_layout.c): every element
 * is held by exactly one (thread, slot) that is not marked duplicate, and
 * layout_coords inverts the owner map.
 */
#include <string.h>

#include "tm.h"

Layout *layout_blocked(Ctx *c, int rank, const int32_t *shape, int num_warps) {
  Layout *l = arena_alloc(&c->arena, sizeof(Layout));
  l->rank = rank;
  for (int d = 0; d < rank; d++) {
    l->shape[d] = shape[d];
    l->spt[d] = 1;
    l->tpw[d] = 1;
    l->wpc[d] = 1;
    l->order[d] = rank - 1 - d; /* row-major: last dim fastest */
  }
  /* lanes along the fastest dims first, then SIMD-groups */
  int lanes = 32, warps = num_warps;
  for (int k = 0; k < rank; k++) {
    int d = l->order[k];
    while (lanes > 1 && l->tpw[d] * 2 <= shape[d]) {
      l->tpw[d] *= 2;
      lanes /= 2;
    }
  }
  l->tpw[l->order[rank - 1]] *= lanes; /* leftover lanes replicate along the slowest dim */
  for (int k = 0; k < rank; k++) {
    int d = l->order[k];
    while (warps > 1 && l->tpw[d] * l->wpc[d] * 2 <= shape[d]) {
      l->wpc[d] *= 2;
      warps /= 2;
    }
  }
  l->wpc[l->order[rank - 1]] *= warps;
  l->per_thread = 1;
  l->replicated = false;
  for (int d = 0; d < rank; d++) {
    int tile = l->spt[d] * l->tpw[d] * l->wpc[d];
    l->reps[d] = shape[d] > tile ? shape[d] / tile : 1;
    if (tile > shape[d]) l->replicated = true;
    l->per_thread *= l->spt[d] * l->reps[d];
  }
  return l;
}

void layout_coords(const Layout *l, int lane, int warp, int slot, int *coords, bool *dup) {
  *dup = false;
  for (int k = 0; k < l->rank; k++) {
    int d = l->order[k];
    int ln = lane % l->tpw[d], wp = warp % l->wpc[d];
    lane /= l->tpw[d];
    warp /= l->wpc[d];
    int per = l->spt[d] * l->reps[d];
    int j = slot % per;
    slot /= per;
    int tile = l->spt[d] * l->tpw[d] * l->wpc[d];
    int e = (j / l->spt[d]) * tile + (wp * l->tpw[d] + ln) * l->spt[d] + j % l->spt[d];
    if (e >= l->shape[d]) *dup = true;
    coords[d] = e % l->shape[d];
  }
}

bool layout_eq(const Layout *a, const Layout *b) {
  if (a->rank != b->rank) return false;
  for (int d = 0; d < a->rank; d++)
    if (a->spt[d] != b->spt[d] || a->tpw[d] != b->tpw[d] || a->wpc[d] != b->wpc[d] ||
        a->order[d] != b->order[d] || a->shape[d] != b->shape[d])
      return false;
  return true;
}

void layout_assign(Ctx *c, Fn *f) {
  for (int i = 0; i < f->ins.n; i++) {
    Ins *in = &f->ins.v[i];
    Type t = in->op == O_STORE ? f->ins.v[in->args[0]].ty : in->ty;
    if (!t.rank) continue;
    /* one layout per distinct shape */
    for (int j = 0; j < i && !in->layout; j++) {
      Ins *o = &f->ins.v[j];
      if (o->layout && o->layout->rank == t.rank && !memcmp(o->layout->shape, t.shape, sizeof(int) * (size_t)t.rank))
        in->layout = o->layout;
    }
    if (!in->layout) in->layout = layout_blocked(c, t.rank, t.shape, f->num_warps);
  }
}
