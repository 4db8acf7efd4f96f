/*
 * arena.c: per-compilation memory and growable text buffers.
 *
 * Everything the compiler allocates for one kernel lives in one Arena and is
 * released by a single arena_free, on success and on error alike. Allocation
 * failure is the one error that does not carry a source location.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm.h"

struct ArenaChunk {
  ArenaChunk *next;
  size_t used, cap;
  max_align_t data[];
};

enum { CHUNK = 64 * 1024 };

void *arena_alloc(Arena *a, size_t n) {
  n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
  ArenaChunk *h = a->head;
  if (!h || h->used + n > h->cap) {
    size_t cap = n > CHUNK ? n : CHUNK;
    h = malloc(sizeof(ArenaChunk) + cap);
    if (!h) {
      if (a->oom) longjmp(*a->oom, 1);
      return NULL;
    }
    h->next = a->head;
    h->used = 0;
    h->cap = cap;
    a->head = h;
  }
  void *p = (char *)h->data + h->used;
  h->used += n;
  memset(p, 0, n);
  return p;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  if (p) memcpy(p, s, n);
  return p;
}

char *arena_strdup(Arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

char *arena_printf(Arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = arena_alloc(a, (size_t)n + 1);
  if (!p) return NULL;
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

void arena_free(Arena *a) {
  ArenaChunk *h = a->head;
  while (h) {
    ArenaChunk *n = h->next;
    free(h);
    h = n;
  }
  a->head = NULL;
}

void buf_put(Buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 1024;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true; /* checked by the owner once the text is complete */
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

void buf_puts(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

void buf_printf(Buf *b, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < (int)sizeof small) {
    buf_put(b, small, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    b->oom = true;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  buf_put(b, big, (size_t)n);
  free(big);
}

void buf_free(Buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}
