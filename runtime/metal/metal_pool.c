/*
 * metal_pool.c: the buffer pool of a metal device (staging copies, scratch,
 * tm_buffer_new).
 *
 * Sizes are rounded to a class: whole pages, and above four pages a quarter of
 * the size's power of two (so a class wastes at most 25%):
 *
 *   n <= page        -> page
 *   n <= 4 pages     -> pages(n)
 *   otherwise        -> multiple of 2^floor(log2 n) / 4
 *
 * A request takes a cached buffer of exactly its class when there is one;
 * otherwise it asks the device. Every buffer is accounted (in use + cached)
 * against `limit` (recommendedMaxWorkingSetSize): a request that would pass it
 * first releases the cached buffers, then is refused with TM_ERR_NOMEM. Cached
 * bytes beyond cache_cap are released oldest first. The caller holds the
 * device's lock; the pool has none of its own.
 */
#include <stdlib.h>

#include "mtl.h"

void bufpool_init(BufPool *p, const MtlApi *api, void *dev, size_t page, uint64_t limit) {
  *p = (BufPool){.api = api, .dev = dev, .page = page ? page : 4096, .limit = limit};
  p->cache_cap = limit / 4;
}

size_t bufpool_class(const BufPool *p, size_t n) {
  size_t pg = p->page;
  if (n <= pg) return pg;
  size_t pages = (n + pg - 1) / pg * pg;
  if (pages <= 4 * pg) return pages;
  size_t top = (size_t)1 << (63 - __builtin_clzll((unsigned long long)n));
  size_t q = top / 4;
  return (n + q - 1) / q * q;
}

static void release_cached(BufPool *p, PoolBuf **link) {
  PoolBuf *b = *link;
  *link = b->next;
  p->cached -= b->size;
  p->api->release(p->dev, b->buf);
  free(b);
}

void bufpool_trim(BufPool *p) {
  while (p->free_list) release_cached(p, &p->free_list);
}

static void note_peak(BufPool *p) {
  if (p->in_use + p->cached > p->peak) p->peak = p->in_use + p->cached;
}

tm_status bufpool_get(BufPool *p, size_t n, void **buf, char **err) {
  *buf = NULL;
  size_t size = bufpool_class(p, n);
  if (size < n) return rt_error(TM_ERR_NOMEM, err, "buffer pool: %zu bytes is too large", n);
  for (PoolBuf **l = &p->free_list; *l; l = &(*l)->next) {
    if ((*l)->size != size) continue;
    PoolBuf *b = *l;
    *l = b->next;
    p->cached -= size;
    p->in_use += size;
    p->reused++;
    b->next = p->used;
    p->used = b;
    *buf = b->buf;
    return TM_OK;
  }
  if (p->in_use + p->cached + size > p->limit) bufpool_trim(p);
  if (p->in_use + size > p->limit)
    return rt_error(TM_ERR_NOMEM, err,
                    "buffer pool: %zu more bytes would pass the device's working-set limit "
                    "(recommendedMaxWorkingSetSize %llu bytes, %llu in use)",
                    size, (unsigned long long)p->limit, (unsigned long long)p->in_use);
  PoolBuf *b = malloc(sizeof *b);
  if (!b) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  tm_status st = p->api->buffer_new(p->dev, size, &b->buf, err);
  if (st) {
    free(b);
    return st;
  }
  b->size = size;
  b->next = p->used;
  p->used = b;
  p->in_use += size;
  p->created++;
  note_peak(p);
  *buf = b->buf;
  return TM_OK;
}

int bufpool_put(BufPool *p, void *buf) {
  for (PoolBuf **l = &p->used; *l; l = &(*l)->next) {
    if ((*l)->buf != buf) continue;
    PoolBuf *b = *l;
    *l = b->next;
    p->in_use -= b->size;
    p->cached += b->size;
    b->next = p->free_list;
    p->free_list = b;
    /* over the cap: drop the oldest (the tail) */
    while (p->cached > p->cache_cap && p->free_list) {
      PoolBuf **t = &p->free_list;
      while ((*t)->next) t = &(*t)->next;
      release_cached(p, t);
    }
    return 1;
  }
  return 0;
}

void bufpool_destroy(BufPool *p) {
  bufpool_trim(p);
  while (p->used) {
    PoolBuf *b = p->used;
    p->used = b->next;
    p->api->release(p->dev, b->buf);
    free(b);
  }
  p->in_use = 0;
}
