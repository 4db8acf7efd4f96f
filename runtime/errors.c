/*
 * errors.c: error messages of the runtime. Library code never prints: a failing
 * call returns a tm_status and a malloc'd message that the caller frees with
 * tm_free. Out of memory while formatting leaves *err NULL, never crashes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

void tm_free(void *p) { free(p); }

char *rt_vstrfmt(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) return NULL;
  char *s = malloc((size_t)n + 1);
  if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

char *rt_strfmt(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = rt_vstrfmt(fmt, ap);
  va_end(ap);
  return s;
}

tm_status rt_error(tm_status st, char **err, const char *fmt, ...) {
  if (!err) return st;
  va_list ap;
  va_start(ap, fmt);
  *err = rt_vstrfmt(fmt, ap);
  va_end(ap);
  return st;
}

char *rt_strdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}
