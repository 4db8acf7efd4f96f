/*
 * diag.c: located diagnostics.
 *
 *   vector_add.py:12:17: error: unsupported dtype float64 for a device value
 *       x = tl.load(x_ptr + offsets, mask=mask)
 *                   ^
 *
 * The message is malloc'd into the context and the compilation unwinds to the
 * boundary in compile.c; nothing is printed here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm.h"

static char *vformat(const char *fmt, va_list ap) {
  va_list aq;
  va_copy(aq, ap);
  int n = vsnprintf(NULL, 0, fmt, aq);
  va_end(aq);
  char *p = malloc((size_t)n + 1);
  if (p) vsnprintf(p, (size_t)n + 1, fmt, ap);
  return p;
}

/* The text of file line `line` (without newline), or NULL when outside the source. */
static const char *source_line(const Src *s, int line, int *len) {
  int want = line - s->first_line;
  const char *p = s->text;
  if (!p || want < 0) return NULL;
  for (int i = 0; i < want; i++) {
    p = strchr(p, '\n');
    if (!p) return NULL;
    p++;
  }
  const char *e = strchr(p, '\n');
  *len = e ? (int)(e - p) : (int)strlen(p);
  return p;
}

void error_at(Ctx *c, int line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = vformat(fmt, ap);
  va_end(ap);
  Buf b = {0};
  buf_printf(&b, "%s:%d:%d: error: %s\n", c->src.filename ? c->src.filename : "<kernel>",
             line, col, msg ? msg : "(out of memory)");
  free(msg);
  int len;
  const char *text = source_line(&c->src, line, &len);
  if (text) {
    buf_printf(&b, "    %.*s\n    ", len, text);
    for (int i = 1; i < col && i <= len; i++) buf_put(&b, text[i - 1] == '\t' ? "\t" : " ", 1);
    buf_puts(&b, "^\n");
  }
  c->err = b.oom ? NULL : b.p;
  if (b.oom) buf_free(&b);
  c->status = TM_ERR_COMPILE;
  longjmp(c->jb, 1);
}

void internal_error(Ctx *c, const char *pass, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = vformat(fmt, ap);
  va_end(ap);
  Buf b = {0};
  buf_printf(&b, "internal compiler error in pass '%s': %s (please report this with the kernel)\n",
             pass, msg ? msg : "(out of memory)");
  free(msg);
  c->err = b.oom ? NULL : b.p;
  if (b.oom) buf_free(&b);
  c->status = TM_ERR_INTERNAL;
  longjmp(c->jb, 1);
}

void ctx_own_buf(Ctx *c, Buf *b) {
  if (c->nbufs < (int)(sizeof c->bufs / sizeof c->bufs[0])) c->bufs[c->nbufs++] = b;
  else internal_error(c, "diag", "too many owned buffers");
}

void ctx_free_bufs(Ctx *c) {
  for (int i = 0; i < c->nbufs; i++) buf_free(c->bufs[i]);
  c->nbufs = 0;
}
